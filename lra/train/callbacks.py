"""Callbacks: throughput, peak memory, and a CSV of the metric history in the job directory."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from lra.bench.measure import peak_rss_mb, reset_peak_rss


def stream(trainer: pl.Trainer, metrics: dict[str, float]) -> None:
    """Send metrics to the job's loggers (W&B, CSV) at the current step; rank 0 only."""
    if metrics and trainer.global_rank == 0:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


def _positions(batch: dict[str, torch.Tensor]) -> int:
    """Token positions the model processes (padded length × batch; × 2 for Retrieval pairs)."""
    return batch["input_ids"].numel()


class ThroughputMonitor(pl.Callback):
    """Training tokens/s and optimiser steps/s, evaluation tokens/s; the first ``skip`` steps are warm-up.

    Time is wall-clock between batch boundaries with the device synchronised, so it includes data loading,
    the optimiser and logging: what a user waits for.
    """

    def __init__(self, skip: int = 3) -> None:
        self.skip = skip
        self.train_positions = 0
        self.train_seconds = 0.0
        self.train_steps = 0
        self.eval_positions = 0
        self.eval_seconds = 0.0
        self._batch_started = 0.0
        self._counted_batches = 0

    @staticmethod
    def _now(trainer: pl.Trainer) -> float:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)
        return time.perf_counter()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int):
        self._batch_started = self._now(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int):
        elapsed = self._now(trainer) - self._batch_started
        self._counted_batches += 1
        accumulate = trainer.accumulate_grad_batches
        if self._counted_batches <= self.skip * accumulate:
            return
        self.train_positions += _positions(batch) * trainer.world_size
        self.train_seconds += elapsed
        if self._counted_batches % accumulate == 0:
            self.train_steps += 1

    def _eval_start(self, trainer: pl.Trainer) -> None:
        self._batch_started = self._now(trainer)

    def _eval_end(self, trainer: pl.Trainer, batch: Any) -> None:
        self.eval_seconds += self._now(trainer) - self._batch_started
        self.eval_positions += _positions(batch) * trainer.world_size

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_start(trainer)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_end(trainer, batch)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_start(trainer)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_end(trainer, batch)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stream(trainer, {f"perf/{name}": value for name, value in self.metrics().items()})

    def metrics(self) -> dict[str, float]:
        """Only what was measured: a run too short to pass warm-up reports no training throughput."""
        found = {}
        if self.train_seconds > 0:
            found["train_tokens_per_s"] = self.train_positions / self.train_seconds
            found["train_steps_per_s"] = self.train_steps / self.train_seconds
        if self.eval_seconds > 0:
            found["eval_tokens_per_s"] = self.eval_positions / self.eval_seconds
        return found


class PeakMemoryMonitor(pl.Callback):
    """Peak memory of the job in MB: CUDA max allocated on GPU, process peak RSS on CPU (reset at the start,
    so a worker process reused by the joblib launcher does not report its previous job's peak)."""

    def __init__(self) -> None:
        self.peak_mb: float | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(trainer.strategy.root_device)
        else:
            reset_peak_rss()

    def _record(self, trainer: pl.Trainer) -> None:
        device = trainer.strategy.root_device
        current = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mb()
        self.peak_mb = max(self.peak_mb or 0.0, current)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)
        stream(trainer, {"perf/peak_memory_mb": self.peak_mb})

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)


class MetricsHistory(pl.Callback):
    """Appends training steps (every ``every_n_steps``) and every validation to ``metrics.csv`` as it happens.

    Rank 0 only. Appending line by line keeps the history of a run that crashes. ``lr`` is the learning rate
    the step trained with (for a validation row: the last training step's).
    """

    COLUMNS = ("step", "split", "loss", "accuracy", "lr")

    def __init__(self, path: Path, every_n_steps: int = 10) -> None:
        self.path, self.every_n_steps = path, every_n_steps
        self.step_lr: float | None = None

    def _append(self, trainer: pl.Trainer, split: str) -> None:
        if trainer.global_rank != 0:
            return
        metrics = trainer.callback_metrics
        row = {"step": trainer.global_step, "split": split, "lr": "" if self.step_lr is None else f"{self.step_lr:.6g}"}
        for name in ("loss", "accuracy"):
            value = metrics.get(f"{split}/{name}")
            row[name] = f"{float(value):.6g}" if value is not None else ""
        new = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx % trainer.accumulate_grad_batches == 0 and trainer.optimizers:
            self.step_lr = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches == 0 and trainer.global_step % self.every_n_steps == 0:
            self._append(trainer, "train")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._append(trainer, "val")
