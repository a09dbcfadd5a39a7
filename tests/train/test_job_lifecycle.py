"""How a job ends and resumes: result.json and the W&B run are always closed without hiding the job's own error;
a requeued SLURM job resumes from its last checkpoint; a resumed history drops the rows of the lost continuation."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from lra.train import app
from lra.train.callbacks import MetricsHistory
from lra.train.plan import ConfigError


@pytest.fixture
def closing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the closing steps; result.json writing fails."""
    calls: list[str] = []

    def failing_write(job_dir: Path, result: dict) -> None:
        calls.append("write")
        raise OSError("disk full")

    monkeypatch.setattr(app, "write_result", failing_write)
    monkeypatch.setattr(app, "finish_wandb", lambda: calls.append("finish"))
    return calls


def test_after_a_failed_job_a_failing_write_neither_skips_wandb_nor_hides_the_error(
    closing: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app._close(tmp_path, {}, job_error=ValueError("the job's own error"))  # must not raise: the job's error follows
    assert closing == ["write", "finish"]
    assert "disk full" in caplog.text


def test_after_a_successful_job_a_failing_write_is_raised_after_wandb_is_finished(
    closing: list[str], tmp_path: Path
) -> None:
    with pytest.raises(OSError, match="disk full"):
        app._close(tmp_path, {}, job_error=None)
    assert closing == ["write", "finish"]


def test_a_requeued_slurm_job_resumes_from_its_last_checkpoint(tmp_path: Path, monkeypatch) -> None:
    cfg = OmegaConf.create({"ckpt_path": None})
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert app._resume_path(cfg, tmp_path) is None
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert app._resume_path(cfg, tmp_path) is None  # requeued before its first checkpoint: starts afresh
    (tmp_path / "last.ckpt").write_bytes(b"x")
    assert app._resume_path(cfg, tmp_path) == str(tmp_path / "last.ckpt")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert app._resume_path(cfg, tmp_path) is None
    with pytest.raises(ConfigError, match="does not exist"):
        app._resume_path(OmegaConf.create({"ckpt_path": "last"}), tmp_path / "elsewhere")


def test_a_resumed_history_drops_the_rows_after_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    rows = [(4, "train"), (4, "val"), (5, "train"), (6, "train")]
    torn = "4,va"  # the line the interrupted job was writing when it was killed (at the checkpoint step)
    path.write_text("step,split,loss,accuracy,lr\r\n" + "".join(f"{s},{k},1,0.5,0.1\r\n" for s, k in rows) + torn)
    trainer = SimpleNamespace(global_rank=0, global_step=4)  # resumed from the checkpoint of step 4
    MetricsHistory(path).on_train_start(trainer, None)
    with path.open(newline="") as handle:
        assert [(int(r["step"]), r["split"]) for r in csv.DictReader(handle)] == rows[:2]
