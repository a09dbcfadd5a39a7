"""Harness overhead and CPU training speed: the Lightning harness against a bare PyTorch loop.

    python -m lra.bench.harness_overhead [--steps 30] [--repeats 3] --out runs/bench/harness

Part 1 trains the same model on the same batches of a prepared ListOps cache twice, alternating: a bare loop
(forward, loss, backward, AdamW, one-cycle step) and the harness (``LRAClassifier`` in a Lightning ``Trainer``
with the job's callbacks: throughput, peak memory, metrics history, progress bar off, W&B offline). The overhead
is the ratio of median per-step times. Part 2 reports training steps/s of every attention at the smoke shape
(batch 16) and the ``lra_paper`` ListOps shape (batch 32), n = 2000, with the bare loop.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from attention_zoo import available_attentions
from lra.data import load_split, prepare, resolve_data_dir
from lra.io import atomic_write_json, atomic_write_text
from lra.machine import describe
from lra.model import build_model
from lra.train.callbacks import MetricsHistory, PeakMemoryMonitor, ThroughputMonitor
from lra.train.datamodule import ResumableBatchSampler
from lra.train.module import LRAClassifier

DATA = {"train_size": 2000, "val_size": 200, "test_size": 200}
SIZES = {"dim": 64, "depth": 2, "num_heads": 2, "head_dim": 32, "ffn_dim": 128, "dropout": 0.1}
SHAPES = {"smoke": 16, "lra_paper": 32}  # batch sizes at n = 2000 (conf/scale/smoke.yaml, conf/task/listops.yaml)


def _model(attention: str) -> torch.nn.Module:
    options = {"softmax": {"dropout": 0.1}}.get(attention, {})
    return build_model(
        vocab_size=16,
        num_classes=10,
        max_length=2000,
        dual=False,
        model={**SIZES, "pooling": "mean", "head_hidden": 128},
        attention={"name": attention, "options": options},
    )


def _batches(data_dir: Path, batch: int, steps: int) -> list[dict[str, torch.Tensor]]:
    split = load_split("listops", "train", data_dir, **DATA)
    return [split.batch(b) for b in ResumableBatchSampler(len(split), batch, seed=0, start=0, stop=steps)]


def bare_loop(attention: str, batches: list[dict[str, torch.Tensor]], warmup: int) -> list[float]:
    """Per-step seconds of a plain PyTorch loop with the harness's optimiser and schedule."""
    torch.manual_seed(0)
    module = LRAClassifier(_model(attention), lr=1e-3, weight_decay=0.0, warmup_steps=2, max_steps=len(batches))
    config = module.configure_optimizers()
    optimizer, schedule = config["optimizer"], config["lr_scheduler"]["scheduler"]
    module.train()
    times = []
    for batch in batches:
        started = time.perf_counter()
        logits = module(batch["input_ids"], batch["length"])
        loss = F.cross_entropy(logits.float(), batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        times.append(time.perf_counter() - started)
    return times[warmup:]


class _StepTimes(pl.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter() - self._started)


def harness_loop(attention: str, batches: list[dict[str, torch.Tensor]], warmup: int, workdir: Path) -> list[float]:
    """Per-step seconds inside the harness's Trainer (its callbacks and W&B offline logger attached)."""
    from pytorch_lightning.loggers import WandbLogger

    torch.manual_seed(0)
    module = LRAClassifier(_model(attention), lr=1e-3, weight_decay=0.0, warmup_steps=2, max_steps=len(batches))
    steps = _StepTimes()
    trainer = pl.Trainer(
        max_steps=len(batches),
        logger=WandbLogger(project="overhead", save_dir=str(workdir), mode="offline"),
        callbacks=[steps, ThroughputMonitor(), PeakMemoryMonitor(), MetricsHistory(workdir / "metrics.csv")],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        log_every_n_steps=10,
        default_root_dir=workdir,
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    import wandb

    wandb.finish()
    return steps.times[warmup:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--attention", default="nystrom", help="the attention used for the overhead comparison")
    parser.add_argument("--attentions", nargs="+", default=available_attentions(), help="for the steps/s table")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/bench") / time.strftime("harness-%Y%m%d-%H%M%S"))
    args = parser.parse_args(argv)
    data_dir = resolve_data_dir(args.data_dir)
    prepare("listops", data_dir, generate=True, **DATA)

    total = args.steps + args.warmup
    batches = _batches(data_dir, SHAPES["smoke"], total)
    bare, harness = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # alternate, so drifting machine load hits both alike
            bare.append(statistics.median(bare_loop(args.attention, batches, args.warmup)))
            harness.append(
                statistics.median(harness_loop(args.attention, batches, args.warmup, Path(tmp) / str(repeat)))
            )
    overhead = statistics.median(harness) / statistics.median(bare) - 1

    speeds: list[dict[str, Any]] = []
    for shape, batch in SHAPES.items():
        shaped = _batches(data_dir, batch, total)
        for attention in args.attentions:
            step = statistics.median(bare_loop(attention, shaped, args.warmup))
            speeds.append({"shape": shape, "batch": batch, "attention": attention, "steps_per_s": 1 / step})
            print(f"{shape:9s} batch {batch:3d} {attention:10s} {1 / step:6.2f} steps/s", flush=True)

    machine = describe()
    lines = [
        f"{machine['cpu']}, {machine['torch_threads']} threads; ListOps n = 2000, batch 16, {args.attention}",
        "",
        f"harness overhead per step: {100 * overhead:+.1f}% (median step {statistics.median(harness) * 1e3:.0f} ms "
        f"vs bare {statistics.median(bare) * 1e3:.0f} ms, {args.repeats} alternating repeats of {args.steps} steps)",
        "",
        "| attention | " + " | ".join(f"{shape} (batch {batch}) steps/s" for shape, batch in SHAPES.items()) + " |",
        "|---|" + "---|" * len(SHAPES),
    ]
    for attention in args.attentions:
        cells = [f"{row['steps_per_s']:.2f}" for row in speeds if row["attention"] == attention]
        lines.append(f"| {attention} | " + " | ".join(cells) + " |")
    report = "\n".join(lines)
    atomic_write_json(
        args.out / "results.json",
        {"machine": machine, "bare_s": bare, "harness_s": harness, "overhead": overhead, "speeds": speeds},
    )
    atomic_write_text(args.out / "table.md", report + "\n")
    print("\n" + report)


if __name__ == "__main__":
    main()
