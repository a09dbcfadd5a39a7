"""One measurement (implementation × length × mode), run in a fresh process so that memory is honest.

Modes: ``fwd`` and ``fwd_bwd`` time the attention core on given q, k, v (ours or a peer package's);
``train_step`` times one training step (forward, backward, AdamW) of the whole LRA classifier with one of our
attentions. Peak memory is that of a warm call (:mod:`lra.bench.measure`): for ``train_step`` it is above the
state kept between steps (weights, AdamW moments), i.e. activations, gradients and temporaries of one step.
``python -m lra.bench.case '<json case>'`` measures one case and prints one JSON line; the sweep drivers call
:func:`run_isolated`, which records a crash, a kill or a timeout as a failed cell.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from lra.bench.measure import cuda_peak, peak_rss_delta, time_cpu, time_cuda
from lra.bench.peers import build_runner
from lra.model import build_model

MODES = ("fwd", "fwd_bwd", "train_step")
TEXT_TASK = {"vocab_size": 257, "num_classes": 2}  # the byte-level Text task (LRA Table 2 measures on it)


@dataclass(frozen=True)
class BenchCase:
    """What to measure: ``impl`` is an attention_zoo name or ``peer:<package>``; ``model`` holds the LRA model's
    sizes (``conf/model`` keys) for ``train_step``, where ``batch`` is the training batch."""

    impl: str
    n: int
    mode: str = "fwd"
    batch: int = 1
    heads: int = 2
    head_dim: int = 32
    dtype: str = "float32"
    device: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def _is_oom(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in text or "out of memory" in text


def attention_step(case: BenchCase, device: torch.device, dtype: torch.dtype) -> Callable[[], None]:
    """One call of the attention core of ``case`` (ours or a peer) on fixed q, k, v: forward under no_grad, or
    forward and backward with a fixed upstream gradient."""
    runner = build_runner(case.impl, case.heads, case.head_dim, case.n, case.options)
    runner.module.to(device)  # type: ignore[attr-defined]
    shape = (case.batch, case.n, 3, case.heads, case.head_dim)
    qkv = torch.randn(shape, device=device, dtype=dtype, requires_grad=case.mode == "fwd_bwd")
    grads: dict[torch.Size, torch.Tensor] = {}  # an upstream gradient of the output's shape, made once

    def step() -> None:
        if case.mode == "fwd":
            with torch.no_grad():
                runner(qkv)
            return
        qkv.grad = None
        out = runner(qkv)
        if out.shape not in grads:
            grads[out.shape] = torch.randn_like(out)
        out.backward(grads[out.shape])

    return step


def _train_step(case: BenchCase, device: torch.device, dtype: torch.dtype) -> Callable[[], None]:
    """One optimiser step of the LRA classifier on a Text-shaped batch (bf16/fp16 through autocast)."""
    if case.impl.startswith("peer:") or case.model is None:
        raise ValueError(
            "train_step measures our attentions inside the LRA model (give model sizes); peers are "
            "measured at the attention core (fwd, fwd_bwd)"
        )
    model = build_model(
        **TEXT_TASK,
        max_length=case.n,
        dual=False,
        model=case.model,
        attention={"name": case.impl, "options": case.options},
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(1, TEXT_TASK["vocab_size"], (case.batch, case.n), device=device)
    lengths = torch.full((case.batch,), case.n, device=device)
    labels = torch.randint(0, TEXT_TASK["num_classes"], (case.batch,), device=device)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits = model(ids, lengths)
        F.cross_entropy(logits.float(), labels).backward()
        optimizer.step()

    return step


def run_case(case: BenchCase, min_run_time: float = 1.0) -> dict[str, Any]:
    """Measure ``case`` in this process: peak memory of a warm call (after one unmeasured call), then the median
    time after warm-up. ``memory_method`` says how the peak was read (``reset``, ``high-water`` or ``cuda``)."""
    if case.mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {case.mode!r}")
    device, dtype = torch.device(case.device), getattr(torch, case.dtype)
    try:
        step = (_train_step if case.mode == "train_step" else attention_step)(case, device, dtype)
        if device.type == "cuda":
            peak = cuda_peak(step)
            timing = time_cuda(step)
        else:
            peak = peak_rss_delta(step)
            timing = time_cpu(step, min_run_time=min_run_time)
    except Exception as error:  # recorded as a cell, never as a number
        return {"status": "oom" if _is_oom(error) else "error", "error": f"{type(error).__name__}: {error}"}
    return {"status": "ok", "peak_mb": peak.mb, "memory_method": peak.method, **dataclasses.asdict(timing)}


def run_json_process(
    command: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[Any, dict[str, str] | None]:
    """Run ``command`` (with ``env`` added to this process's environment) and parse the last line it prints as
    JSON: ``(value, None)``, or ``(None, failure)`` where the failure (``status`` and ``error``) says why: a
    timeout, a kill (likely out of memory) or a crash."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
        )
    except subprocess.TimeoutExpired:
        return None, {"status": "timeout", "error": f"no result within {timeout:.1f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        if done.returncode in (-9, 137):
            return None, {"status": "oom", "error": "killed (likely out of memory)"}
        tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return None, {"status": "error", "error": tail[0]}
    return json.loads(lines[-1]), None


def run_isolated(case: BenchCase, min_run_time: float = 1.0, timeout: float = 600.0) -> dict[str, Any]:
    """Run ``case`` in a fresh Python process; a crash, kill or timeout becomes a failed cell with the reason."""
    command = [sys.executable, "-m", "lra.bench.case", case.to_json(), str(min_run_time)]
    result, failure = run_json_process(command, timeout)
    return {**dataclasses.asdict(case), **(failure or result)}


def main() -> None:
    case = BenchCase(**json.loads(sys.argv[1]))
    min_run_time = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    print(json.dumps(run_case(case, min_run_time)))


if __name__ == "__main__":
    main()
