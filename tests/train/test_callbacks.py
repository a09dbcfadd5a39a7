"""Callbacks: peak memory where /proc is missing, throughput over whole steps."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from lra.bench import measure
from lra.train.callbacks import PeakMemoryMonitor, ThroughputMonitor
from lra.train.module import LRAClassifier


def test_peak_memory_without_proc_does_not_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(measure, "_CLEAR_REFS", tmp_path / "no_proc" / "clear_refs")  # as on macOS
    monkeypatch.setattr(measure, "_STATUS", tmp_path / "no_proc" / "status")
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    monitor = PeakMemoryMonitor()
    monitor.setup(trainer, None, "fit")
    assert "counts from the process start" in caplog.text
    monitor.on_train_end(trainer, None)
    assert 10 < monitor.metrics()["peak_memory_mb"] < 1e6  # this process's high-water mark (getrusage)


class SlowStep(pl.Callback):
    """50 ms of work after the throughput monitor's batch hooks (where the scheduler step, logging and the other
    callbacks run)."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(0.05)


class TinyModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding, self.head = torch.nn.Embedding(8, 4), torch.nn.Linear(16, 2)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(input_ids).flatten(1))


def test_throughput_counts_the_whole_step_including_what_follows_the_batch_hooks() -> None:
    batch = {"input_ids": torch.randint(0, 8, (2, 4)), "length": torch.full((2,), 4), "label": torch.tensor([0, 1])}
    throughput = ThroughputMonitor(skip=1)
    trainer = pl.Trainer(
        max_steps=6,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[throughput, SlowStep()],
    )
    module = LRAClassifier(TinyModel(), lr=1e-3, weight_decay=0.0, warmup_steps=2, max_steps=6)
    trainer.fit(module, train_dataloaders=DataLoader([batch] * 6, batch_size=None))
    metrics = throughput.metrics()
    # 6 steps: the first period is warm-up, the last batch has no successor: 4 periods of at least 50 ms each
    assert throughput.train_batches == 4
    assert metrics["train_steps_per_s"] < 1 / 0.05
    assert metrics["train_tokens_per_s"] == pytest.approx(8 * metrics["train_steps_per_s"])


def test_peak_memory_monitor_reports_only_what_it_measured() -> None:
    assert PeakMemoryMonitor().metrics() == {}
