"""GPU training check: ``lra_paper`` ListOps for a few hundred steps per attention, bf16, W&B disabled.

    python -m lra.bench.gpu_listops --out runs/reference/gpu-listops-<gpu> [--steps 300] [overrides ...]

Generates ListOps (a reduced training set: a few hundred steps never see more), runs one real ``lra-train`` job
per attention with the Nyströmformer protocol (batch 32, n = 2000, bf16-mixed on one GPU), and tabulates
training steps/s, tokens/s and peak memory from the jobs' ``result.json``. Needs torch, Lightning and the
carried hydra-core / omegaconf / antlr4 wheels (never wandb: the jobs run with ``logger=none``); finishes in a few
minutes on one H100. ``--train-size``/``--eval-size`` and Hydra overrides (``trainer=cpu``, a smaller model) make it
a CPU smoke test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from attention_zoo import available_attentions
from lra.data import prepare
from lra.io import atomic_write_text
from lra.train.summary import collect

TRAIN_SIZE = 20_000
EVAL_SIZE = 2_000  # the ListOps generator's validation and test sizes
COLUMNS = (  # metric, format: the table's columns after the status
    ("train_steps_per_s", "{:.2f}"),
    ("train_tokens_per_s", "{:,.0f}"),
    ("peak_memory_mb", "{:,.0f}"),
    ("num_parameters", "{:,}"),
    ("test_accuracy", "{:.3f}"),
)


def _fmt(value: float | int | None, pattern: str) -> str:
    """A measured value, or "—" for one that was not measured (never a zero)."""
    return "—" if value is None else pattern.format(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--attentions", nargs="+", default=available_attentions())
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE, help="generated ListOps training sequences")
    parser.add_argument("--eval-size", type=int, default=EVAL_SIZE, help="generated validation and test sequences")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides (e.g. trainer=cpu for a smoke run)")
    args = parser.parse_args(argv)
    started = time.time()
    sizes = {"train_size": args.train_size, "val_size": args.eval_size, "test_size": args.eval_size}
    prepare("listops", args.data_dir, generate=True, **sizes)
    command = [
        sys.executable, "-m", "lra.train.app", "-m",
        "experiment=lra_paper", "task=listops", f"attention={','.join(args.attentions)}",
        f"task.max_steps={args.steps}", f"task.val_every={args.steps // 3}", "task.val_batches=8",
        f"task.warmup_steps={max(2, args.steps // 10)}", *(f"+task.data.{key}={value}" for key, value in sizes.items()),
        "logger=none", "trainer.progress_bar=false",
        f"paths.data_dir={args.data_dir}", f"hydra.sweep.dir={args.out}",
        *args.overrides,
    ]  # fmt: skip
    sweep = subprocess.run(command)
    rows = [
        "| attention | status | steps/s | train tokens/s | peak memory (MB) | params | test acc |",
        "|---|---|---|---|---|---|---|",
    ]
    results = sorted(collect(args.out), key=lambda r: r["attention"])
    for result in results:
        m = result["metrics"]
        if result["status"] != "ok":
            rows.append(f"| {result['attention']} | FAILED: {result['error']['message'][:80]} | | | | | |")
            continue
        cells = [_fmt(m.get(key), pattern) for key, pattern in COLUMNS]  # a run too short for warm-up has no speed
        rows.append(f"| {result['attention']} | ok | " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    hardware = results[0]["hardware"] if results else {}
    device = hardware.get("gpu") or hardware.get("cpu", "unknown device")
    atomic_write_text(args.out / "table.md", f"ListOps, lra_paper protocol, {args.steps} steps, {device}\n\n{table}\n")
    print(f"{table}\n\n{time.time() - started:.0f} s; written to {args.out}")
    return sweep.returncode


if __name__ == "__main__":
    sys.exit(main())
