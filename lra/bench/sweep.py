"""The measurement grid and its driver: which implementations, with which options, in which order, within which
time limits.

Limits: ``timeout`` per cell and ``max_total_s`` for the whole sweep. In a fresh process per cell (``isolated``)
a cell past its limit is killed; in this process (the GPU sweep, where CUDA memory is measured per call) the
limit is a SIGALRM deadline that interrupts the cell at the next Python instruction after it (a kernel already
running finishes first). Either way the cell becomes ``timeout``; once the total budget is spent, every cell left
becomes ``skipped``. Cells run in priority order (:func:`priority`), so a budget cuts the least important ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from lra.bench.case import BenchCase, run_case, run_isolated
from lra.bench.peers import PEER_OF

# One setting per attention for the attention-core modes, given to ours and to its peers alike (the peer
# adapters read the same names). Nyström: m = 64, 6 iterations, conv 35 (the nystrom-64 LRA model); Linformer
# k = 256 and Performer 256 features (the Nyströmformer LRA settings; features frozen while timing, the peer
# never redraws by itself); Reformer bucket 64 and 4 hashes on both sides (the setting of the reformer-pytorch
# figure in issue 3; the LRA runs used 2 hashes and the cost is linear in it).
CORE_OPTIONS: dict[str, dict[str, Any]] = {
    "nystrom": {"num_landmarks": 64, "pinv_iterations": 6, "conv_kernel_size": 35},
    "linformer": {"k": 256},
    "performer": {"num_features": 256, "redraw_interval": None},
    "reformer": {"num_hashes": 4, "bucket_size": 64},
}
HEADLINE = ("softmax", "nystrom")  # the seed paper's claim: Nyström (and its peers) against exact SDPA


def ours_of(impl: str) -> str:
    """The attention of ours that ``impl`` implements (itself, or the one a peer package implements)."""
    return PEER_OF.get(impl.removeprefix("peer:"), impl)


def core_options(impl: str) -> dict[str, Any]:
    return dict(CORE_OPTIONS.get(ours_of(impl), {}))


def priority(case: BenchCase, key_lengths: Iterable[int]) -> int:
    """0 runs first: Nyström, its peers and softmax (SDPA) forward at the key lengths; 1: the same forward+backward;
    2: the other attentions and their peers at the key lengths; 3: training steps at the key lengths; 4: every
    other attention cell; 5: every other training step."""
    key = case.n in set(key_lengths)
    if case.mode == "train_step":
        return 3 if key else 5
    if not key:
        return 4
    if ours_of(case.impl) in HEADLINE:
        return 0 if case.mode == "fwd" else 1
    return 2


class CellTimeout(BaseException):
    """Raised in the main thread when an in-process cell passes its deadline (a BaseException, so that the
    ``except Exception`` that records failed cells does not swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`CellTimeout` in this thread once ``seconds`` have passed (POSIX main thread only; elsewhere
    the limit cannot be enforced in-process and the block runs to its end)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CellTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _in_process(case: BenchCase, min_run_time: float, limit: float) -> dict[str, Any]:
    row: dict[str, Any] = dataclasses.asdict(case)
    try:
        with deadline(limit):
            row |= run_case(case, min_run_time=min_run_time)
    except CellTimeout:
        row |= {"status": "timeout", "error": f"no result within {limit:.1f} s"}
    finally:
        gc.collect()  # the cell's tensors, before the next cell measures its memory
        if torch.device(case.device).type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    return row


def run_cases(
    cases: Iterable[BenchCase],
    *,
    isolated: bool,
    min_run_time: float,
    timeout: float,
    max_total_s: float | None = None,
) -> list[dict]:
    """Measure each case in the given order (in a fresh process when ``isolated``), printing one line per cell as
    it lands; a cell past ``timeout`` is ``timeout``, and once ``max_total_s`` is spent the rest are ``skipped``."""
    rows = []
    started = time.monotonic()
    for case in cases:
        left = None if max_total_s is None else max_total_s - (time.monotonic() - started)
        if left is not None and left <= 0:
            row = {**dataclasses.asdict(case), "status": "skipped",
                   "error": f"the sweep's time budget (max_total_s = {max_total_s:g} s) was spent"}  # fmt: skip
        else:
            limit = timeout if left is None else min(timeout, left)
            if isolated:
                row = run_isolated(case, min_run_time=min_run_time, timeout=limit)
            else:
                row = _in_process(case, min_run_time, limit)
            if row["status"] == "timeout" and limit < timeout:
                row["error"] += " (the rest of the sweep's time budget)"
        row["peer_of"] = ours_of(case.impl) if case.impl.startswith("peer:") else None
        rows.append(row)
        shown = f"{row['median_ms']:10.2f} ms {row['peak_mb']:9.1f} MB" if row["status"] == "ok" else row["status"]
        print(f"{case.mode:10s} {case.dtype:9s} n={case.n:<6d} {case.impl:28s} {shown}", flush=True)
    return rows
