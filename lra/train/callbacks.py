"""Callbacks: throughput, peak memory, and a CSV of the metric history in the job directory."""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from lra.bench.measure import peak_rss_mb, reset_peak_rss
from lra.io import atomic_write_text

log = logging.getLogger(__name__)


def stream(trainer: pl.Trainer, metrics: dict[str, float]) -> None:
    """Send metrics to the job's loggers (W&B, CSV) at the current step; rank 0 only."""
    if metrics and trainer.global_rank == 0:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


def _positions(batch: dict[str, torch.Tensor]) -> int:
    """Token positions the model processes (padded length × batch; × 2 for Retrieval pairs)."""
    return batch["input_ids"].numel()


class ThroughputMonitor(pl.Callback):
    """Training tokens/s and optimiser steps/s, evaluation tokens/s; the first ``skip`` optimiser steps are warm-up.

    A training micro-batch takes the wall-clock time from its ``on_train_batch_start`` to the next batch's (device
    synchronised): forward, backward, optimiser and scheduler step, every callback and logger, and fetching the next
    batch, which is what a user waits for. A period that contains a validation (and the checkpoint saved after it)
    is left out, and so is the last batch of a fit. An evaluation batch takes the time from its start to its end
    hooks (the model only: loading and logging are not counted).
    """

    def __init__(self, skip: int = 3) -> None:
        self.skip = skip
        self.train_positions = 0
        self.train_seconds = 0.0
        self.train_batches = 0
        self.eval_positions = 0
        self.eval_seconds = 0.0
        self._accumulate = 1
        self._periods = 0
        self._started = 0.0
        self._pending: int | None = None  # positions of the running training batch, until the next one starts

    @staticmethod
    def _now(trainer: pl.Trainer) -> float:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)
        return time.perf_counter()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int):
        now = self._now(trainer)
        self._accumulate = trainer.accumulate_grad_batches
        if self._pending is not None:
            self._periods += 1
            if self._periods > self.skip * self._accumulate:
                self.train_positions += self._pending
                self.train_seconds += now - self._started
                self.train_batches += 1
        self._started, self._pending = now, _positions(batch) * trainer.world_size

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pending = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pending = None

    def _eval_start(self, trainer: pl.Trainer) -> None:
        self._eval_started = self._now(trainer)

    def _eval_end(self, trainer: pl.Trainer, batch: Any) -> None:
        self.eval_seconds += self._now(trainer) - self._eval_started
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
            found["train_steps_per_s"] = self.train_batches / self._accumulate / self.train_seconds
        if self.eval_seconds > 0:
            found["eval_tokens_per_s"] = self.eval_positions / self.eval_seconds
        return found


def _cpu_peak_mb() -> float | None:
    """The process's peak RSS in MB (``lra.bench.measure``: VmHWM, else ``ru_maxrss``); None without either."""
    try:
        return peak_rss_mb()
    except ImportError:  # no /proc and no resource module (Windows)
        return None


class PeakMemoryMonitor(pl.Callback):
    """Peak memory of the job in MB: CUDA max allocated on GPU, process peak RSS on CPU (reset at the start where
    the OS allows it, so a worker process reused by the joblib launcher does not report its previous job's peak;
    elsewhere the peak counts from the process start, with a warning)."""

    def __init__(self) -> None:
        self.peak_mb: float | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(trainer.strategy.root_device)
        elif not reset_peak_rss():  # no /proc/self/clear_refs (macOS, some containers)
            log.warning("cannot reset the peak RSS on this platform: peak_memory_mb counts from the process start")

    def _record(self, trainer: pl.Trainer) -> None:
        device = trainer.strategy.root_device
        current = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _cpu_peak_mb()
        if current is not None:
            self.peak_mb = max(self.peak_mb or 0.0, current)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)
        if self.peak_mb is not None:
            stream(trainer, {"perf/peak_memory_mb": self.peak_mb})

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)

    def metrics(self) -> dict[str, float]:
        return {} if self.peak_mb is None else {"peak_memory_mb": self.peak_mb}


class MetricsHistory(pl.Callback):
    """Appends training steps (every ``every_n_steps``), every validation and the final test to ``metrics.csv``.

    Rank 0 only. Appending line by line keeps the history of a run that crashes; a resumed run first drops the rows
    after the step it resumes from (they belong to the interrupted continuation it replaces). ``lr`` is the learning
    rate the step trained with (for a validation or test row: the last training step's).
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

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank != 0 or not self.path.exists():
            return
        with self.path.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if self._kept(row, trainer.global_step)]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self.COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, text.getvalue())

    @staticmethod
    def _kept(row: dict[str, str | None], step: int) -> bool:
        """A complete row logged at or before ``step`` (a line torn by the crash is dropped, not a new crash)."""
        logged = row.get("step") or ""
        return logged.isdigit() and int(logged) <= step and row.get("split") in ("train", "val", "test")

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx % trainer.accumulate_grad_batches == 0 and trainer.optimizers:
            self.step_lr = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches == 0 and trainer.global_step % self.every_n_steps == 0:
            self._append(trainer, "train")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._append(trainer, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._append(trainer, "test")
