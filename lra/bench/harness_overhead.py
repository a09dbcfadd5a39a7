"""Harness overhead and CPU training speed: the ``lra-train`` job against a bare PyTorch loop.

    python -m lra.bench.harness_overhead [--steps 30] [--warmup 5] [--repeats 3] [--out DIR] [overrides ...]

Part 1 runs the job ``make run`` runs (``experiment=smoke task=listops attention=nystrom``, progress bar off; batch,
data, model and attention options from ``conf/``), built by ``lra.train.job`` exactly as ``lra-train`` builds it:
its DataModule, callbacks (best and last checkpoints, throughput, peak memory, ``metrics.csv``), offline W&B logger
and validation every ``task.val_every`` steps. Against it, a bare PyTorch loop trains the same model (same seed) on
the same batches (a DataModule of the same config) with the same optimiser and schedule, and validates on the same
examples at the same steps; it saves no checkpoint and logs nothing, so those count as harness overhead. Each side
is timed as a user pays it per step: wall clock from the start of step ``warmup`` to the end of the last step,
divided by the steps, so batch fetching, the scheduler, every callback, the logger, validation and checkpoints
count; ``fit``'s one-off start and teardown (amortised by any real run) do not. The two alternate ``repeats``
times; the overhead is the ratio of the medians. Part 2: training steps/s of every attention with the bare loop
at the smoke and ``lra_paper`` ListOps batch sizes (both read from ``conf/``). CPU only (``trainer=cpu``, fp32).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import Callback

from attention_zoo import available_attentions
from lra import CONF_DIR
from lra.data import prepare, resolve_data_dir
from lra.io import atomic_write_json, atomic_write_text
from lra.machine import describe
from lra.train.datamodule import LRADataModule
from lra.train.job import (
    attention_label,
    build_callbacks,
    build_datamodule,
    build_module,
    build_trainer,
    sequence_length,
    task_model,
)
from lra.train.plan import BatchPlan, check_config
from lra.train.wandb_run import finish_wandb, make_loggers

JOB = ["experiment=smoke", "task=listops", "trainer=cpu", "trainer.progress_bar=false", "logger=wandb"]


def job_config(overrides: list[str]) -> DictConfig:
    """The composed ``lra-train`` config for ``overrides`` (``conf/``, so the shapes cannot drift from the job's)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def _model(cfg: DictConfig) -> torch.nn.Module:
    torch.manual_seed(cfg.seed)
    return task_model(cfg, OmegaConf.to_container(cfg.attention, resolve=True))


def bare_loop(cfg: DictConfig, plan: BatchPlan, data_dir: Path, warmup: int) -> float:
    """Seconds per optimiser step after ``warmup`` steps of a plain PyTorch loop doing the job's work: the same
    batches, forward, loss, backward (accumulated), clipping, AdamW and one-cycle step, and validation."""
    data = _datamodule(cfg, plan, data_dir)
    model = _model(cfg)
    optimizers = build_module(cfg, model).configure_optimizers()
    optimizer, schedule = optimizers["optimizer"], optimizers["lr_scheduler"]["scheduler"]
    clip = cfg.trainer.get("gradient_clip_val")
    model.train()
    step, started = 0, time.perf_counter()
    for index, batch in enumerate(data.train_dataloader()):
        if index == warmup * plan.accumulate:
            started = time.perf_counter()
        logits = model(batch["input_ids"], batch["length"])
        (F.cross_entropy(logits.float(), batch["label"]) / plan.accumulate).backward()
        if (index + 1) % plan.accumulate:
            continue
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        step += 1
        if step % cfg.task.val_every == 0:
            model.eval()
            with torch.no_grad():
                for val in data.val_dataloader():
                    F.cross_entropy(model(val["input_ids"], val["length"]).float(), val["label"])
            model.train()
    return (time.perf_counter() - started) / (step - warmup)


class _Window(Callback):
    """Records when optimiser step ``warmup`` starts and when the last one has ended: the steps a job repeats,
    without ``fit``'s one-off start and teardown (which a bare loop does not have and a long run amortises)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.started, self.ended = warmup, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.started is None and trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == trainer.max_steps:
            self.ended = time.perf_counter()


def harness_loop(cfg: DictConfig, plan: BatchPlan, data_dir: Path, warmup: int, job_dir: Path) -> float:
    """Seconds per optimiser step after ``warmup`` steps of the job's ``trainer.fit`` (lra.train.job)."""
    data = _datamodule(cfg, plan, data_dir)
    module = build_module(cfg, _model(cfg))
    callbacks = build_callbacks(cfg, job_dir)
    identity = {"task": cfg.task.name, "attention": attention_label(cfg), "seed": cfg.seed, "group": "overhead"}
    trainer = build_trainer(cfg, plan, job_dir, callbacks, make_loggers(cfg, job_dir, {**identity, "job_name": "h"}))
    window = _Window(warmup)
    trainer.callbacks.append(window)
    try:
        trainer.fit(module, datamodule=data)
    finally:
        finish_wandb()
    return (window.ended - window.started) / (trainer.global_step - warmup)


def _datamodule(cfg: DictConfig, plan: BatchPlan, data_dir: Path) -> LRADataModule:
    """A fresh DataModule per run (a used one remembers its trainer, whose step would start the batch order)."""
    data = build_datamodule(cfg, plan, data_dir)
    data.setup()
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed optimiser steps (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--attention", default="nystrom", help="the attention used for the overhead comparison")
    parser.add_argument("--attentions", nargs="+", default=available_attentions(), help="for the steps/s table")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/bench") / time.strftime("harness-%Y%m%d-%H%M%S"))
    parser.add_argument(
        "overrides", nargs="*", help="extra Hydra overrides for every configuration (e.g. model.depth=1)"
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--steps and --repeats must be at least 1, --warmup at least 0")
    data_dir = resolve_data_dir(args.data_dir)
    total = args.warmup + args.steps
    common = [*JOB, f"task.max_steps={total}", f"paths.data_dir={data_dir}", *args.overrides]
    cfg = job_config([*common, f"attention={args.attention}"])
    if (cfg.trainer.accelerator, cfg.trainer.precision) != ("cpu", "32-true"):
        parser.error("the bare loop runs on the CPU in fp32: keep trainer.accelerator=cpu trainer.precision=32-true")
    prepare("listops", data_dir, generate=True, **OmegaConf.to_container(cfg.task.data, resolve=True))
    plan = check_config(cfg)

    bare, harness = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # alternate, so drifting machine load hits both alike
            bare.append(bare_loop(cfg, plan, data_dir, args.warmup))
            harness.append(harness_loop(cfg, plan, data_dir, args.warmup, Path(tmp) / str(repeat)))
            print(f"repeat {repeat}: bare {bare[-1] * 1e3:.0f} ms/step, harness {harness[-1] * 1e3:.0f} ms/step")
    overhead = statistics.median(harness) / statistics.median(bare) - 1

    shapes = {
        "smoke": cfg.task.batch_size,
        "lra_paper": job_config(["experiment=lra_paper", "task=listops"]).task.batch_size,
    }
    speeds: list[dict[str, Any]] = []
    for shape, batch in shapes.items():
        for attention in args.attentions:
            # training speed only: no validation within the run
            shaped = job_config(
                [*common, f"attention={attention}", f"task.batch_size={batch}", f"task.val_every={total + 1}"]
            )
            step = bare_loop(shaped, check_config(shaped), data_dir, args.warmup)
            speeds.append({"shape": shape, "batch": batch, "attention": attention, "steps_per_s": 1 / step})
            print(f"{shape:9s} batch {batch:3d} {attention:10s} {1 / step:6.2f} steps/s", flush=True)

    machine = describe()
    length = sequence_length(cfg)
    lines = [
        f"{machine['cpu']}, {machine['torch_threads']} threads; ListOps n = {length}, batch {cfg.task.batch_size}, "
        f"{args.attention}, validation every {cfg.task.val_every} steps",
        "",
        f"harness overhead per step: {100 * overhead:+.1f}% (median {statistics.median(harness) * 1e3:.0f} ms vs "
        f"bare {statistics.median(bare) * 1e3:.0f} ms per step, {args.repeats} alternating repeats of "
        f"{args.steps} steps after {args.warmup} warm-up)",
        "",
        "| attention | " + " | ".join(f"{shape} (batch {batch}) steps/s" for shape, batch in shapes.items()) + " |",
        "|---|" + "---|" * len(shapes),
    ]
    for attention in args.attentions:
        cells = [f"{row['steps_per_s']:.2f}" for row in speeds if row["attention"] == attention]
        lines.append(f"| {attention} | " + " | ".join(cells) + " |")
    report = "\n".join(lines)
    atomic_write_json(
        args.out / "results.json",
        {
            "machine": machine,
            "config": OmegaConf.to_container(cfg, resolve=True),
            "bare_s_per_step": bare,
            "harness_s_per_step": harness,
            "overhead": overhead,
            "speeds": speeds,
        },
    )
    atomic_write_text(args.out / "table.md", report + "\n")
    print("\n" + report)


if __name__ == "__main__":
    main()
