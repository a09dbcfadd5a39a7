"""The parts of one training job, built from its composed config: model, DataModule, LightningModule, callbacks
and Trainer. ``lra-train`` (``app.py``) and the harness-overhead benchmark both build jobs here, so the benchmark
times exactly what a job runs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger

from lra.model import build_model
from lra.train.callbacks import MetricsHistory, PeakMemoryMonitor, ThroughputMonitor
from lra.train.datamodule import DataView, LRADataModule
from lra.train.module import LRAClassifier
from lra.train.plan import BatchPlan


def attention_label(cfg: DictConfig) -> str:
    """The name a run's attention is reported under: ``attention.label`` for a variant config (e.g.
    ``performer_relu``, which builds ``performer`` with other options), else the registry name."""
    return cfg.attention.get("label") or cfg.attention.name


def sequence_length(cfg: DictConfig) -> int:
    """The length the model sees: ``task.view.max_length`` if set, else the cache's ``task.data.max_length``."""
    from lra.data import TASKS

    view = cfg.task.get("view") or {}
    return view.get("max_length") or cfg.task.data.get("max_length", TASKS[cfg.task.name].max_length)


def task_model(cfg: DictConfig, attention: dict[str, Any], device: str | None = None) -> torch.nn.Module:
    """The classifier for ``cfg.task`` with ``attention`` (``{"name", "options"}``), on ``device`` if given."""
    from lra.data import TASKS

    spec = TASKS[cfg.task.name]
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    with torch.device(device) if device else contextlib.nullcontext():
        return build_model(
            vocab_size=spec.vocab_size,
            num_classes=spec.num_classes,
            max_length=sequence_length(cfg),
            dual=spec.dual,
            model=model_cfg,
            attention=attention,
        )


def data_view(cfg: DictConfig) -> DataView:
    """``task.view`` (subset sizes, truncation, subset seed) plus the validation limit: ``task.val_batches``
    counts batches of the effective ``task.batch_size``, so validation covers ``val_batches × batch_size`` examples
    whatever the micro-batch or evaluation batch (null: the whole split)."""
    view = cfg.task.get("view") or {}
    val_batches = cfg.task.get("val_batches")
    return DataView(
        sizes={split: view.get(f"{split}_size") for split in ("train", "val", "test")},
        max_length=view.get("max_length"),
        seed=int(view.get("seed", 0)),
        eval_examples={"val": None if val_batches is None else int(val_batches) * int(cfg.task.batch_size)},
    )


def build_datamodule(cfg: DictConfig, plan: BatchPlan, data_dir: Path) -> LRADataModule:
    return LRADataModule(
        task=cfg.task.name,
        data_dir=data_dir,
        settings=OmegaConf.to_container(cfg.task.data, resolve=True),
        micro_batch_size=plan.micro_batch_size,
        accumulate=plan.accumulate,
        max_steps=cfg.task.max_steps,
        seed=cfg.seed,
        num_workers=cfg.trainer.get("num_workers", 0),
        eval_batch_size=cfg.trainer.get("eval_batch_size"),
        view=data_view(cfg),
    )


def build_module(cfg: DictConfig, model: torch.nn.Module) -> LRAClassifier:
    return LRAClassifier(
        model,
        lr=cfg.task.lr,
        weight_decay=cfg.task.weight_decay,
        warmup_steps=cfg.task.warmup_steps,
        max_steps=cfg.task.max_steps,
        label=f"task {cfg.task.name}, attention {attention_label(cfg)}, seed {cfg.seed}",
    )


@dataclass
class JobCallbacks:
    """The callbacks of a job: the best-validation checkpoint (and ``last.ckpt``), throughput, peak memory and the
    ``metrics.csv`` history."""

    best: pl.callbacks.ModelCheckpoint
    throughput: ThroughputMonitor
    memory: PeakMemoryMonitor
    history: MetricsHistory

    def all(self) -> list[pl.Callback]:
        return [self.best, self.throughput, self.memory, self.history]


def build_callbacks(cfg: DictConfig, job_dir: Path) -> JobCallbacks:
    best = pl.callbacks.ModelCheckpoint(
        dirpath=job_dir / "checkpoints",
        filename="best-step{step}",
        monitor="val/accuracy",
        mode="max",
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
    )
    history = MetricsHistory(job_dir / "metrics.csv", cfg.trainer.get("log_every_n_steps", 10))
    return JobCallbacks(best, ThroughputMonitor(), PeakMemoryMonitor(), history)


def build_trainer(
    cfg: DictConfig, plan: BatchPlan, job_dir: Path, callbacks: JobCallbacks, loggers: list[Logger]
) -> pl.Trainer:
    """Validation every ``task.val_every`` optimiser steps over the examples the DataModule's view selects."""
    return pl.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        max_steps=cfg.task.max_steps,
        val_check_interval=cfg.task.val_every * plan.accumulate,
        check_val_every_n_epoch=None,
        limit_val_batches=1.0,  # the view limits validation in examples (data_view), not in batches
        num_sanity_val_steps=0,
        accumulate_grad_batches=plan.accumulate,
        gradient_clip_val=cfg.trainer.get("gradient_clip_val"),
        deterministic=cfg.deterministic,
        use_distributed_sampler=False,  # the resumable batch sampler shards by rank itself
        logger=loggers or False,
        callbacks=callbacks.all(),
        enable_progress_bar=cfg.trainer.get("progress_bar", True),
        log_every_n_steps=cfg.trainer.get("log_every_n_steps", 10),
        default_root_dir=job_dir,
    )
