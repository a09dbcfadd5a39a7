"""A real ``lra-train`` multirun shared by the analysis tests (built once per session), and copies to damage.

The sweep: ListOps (tiny generated cache) × softmax, nystrom × seeds 0, 1, plus a job of the same sweep that fails
(an invalid micro-batch, a setting that does not define the experiment), run at the same time. Sequences are 512
long instead of ListOps' 2,000, and one torch thread per job: on a busy 2-core machine two spinning OpenMP threads
per job made the same sweep 4× slower.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lra.data import prepare
from tests.train.harness import TINY_DATA as HARNESS_TINY_DATA
from tests.train.harness import TINY_SCHEDULE, lra_train

TINY_DATA = {**HARNESS_TINY_DATA, "max_length": 512}
TINY = [
    "experiment=smoke",
    *(f"task.data.{key}={value}" for key, value in TINY_DATA.items()),
    *TINY_SCHEDULE,
    "trainer.threads=1",
]


def _lra_train(*overrides: str, data_dir: Path, runs: Path) -> subprocess.Popen:
    return lra_train(*TINY, *overrides, data_dir=data_dir, runs=runs, tiny=False)


@pytest.fixture(scope="session")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<tmp>/sweep``: jobs 0–3 (ok) from one multirun, and ``4_listops_nystrom_s2`` (failed)."""
    root = tmp_path_factory.mktemp("analysis")
    prepare("listops", root / "data", generate=True, **TINY_DATA)
    sweep_dir = root / "sweep"
    common = {"data_dir": root / "data", "runs": root / "runs"}
    multirun = _lra_train(
        "-m", "attention=softmax,nystrom", "seed=0,1", f"hydra.sweep.dir={sweep_dir}",
        **common,
    )  # fmt: skip
    failing = _lra_train(
        "attention=nystrom", "seed=2", "trainer.micro_batch_size=3", "group=sweep",
        f"hydra.run.dir={sweep_dir / '4_listops_nystrom_s2'}", **common,
    )  # fmt: skip
    output, _ = multirun.communicate(timeout=600)
    assert multirun.returncode == 0, output
    output, _ = failing.communicate(timeout=600)
    assert failing.returncode != 0 and "must divide the per-device batch 8" in output, output
    return sweep_dir


@pytest.fixture
def copy_job(sweep: Path, tmp_path: Path):
    """Copy a job directory of the sweep (without checkpoints) to ``tmp_path/<dest>``, to damage or edit."""

    def copy(job: str, dest: str) -> Path:
        target = tmp_path / dest
        shutil.copytree(sweep / job, target, ignore=shutil.ignore_patterns("checkpoints"))
        return target

    return copy


def _variant(sweep: Path, job: str, dest: Path, **changes) -> None:
    """A hand-written result next to the real ones: a real job's result.json with some fields changed."""
    result = json.loads((sweep / job / "result.json").read_text())
    result["config"]["task"]["name"] = changes.get("task", result["task"])
    result["config"]["attention"]["name"] = changes.get("attention", result["attention"])
    result.update(changes)
    dest.mkdir(parents=True)
    (dest / "result.json").write_text(json.dumps(result))


@pytest.fixture
def grid(sweep: Path, tmp_path: Path) -> list[Path]:
    """The sweep plus two hand-written jobs, making a grid of ListOps, Text × softmax, nystrom, performer with:
    ListOps/performer failed, Text/softmax one seed, Text/nystrom and Text/performer missing, and ListOps/nystrom
    two successful seeds next to the sweep's failed seed 2."""
    extra = tmp_path / "extra"
    error = {"type": "NonFiniteLossError", "message": "loss is nan at step 4\nmore", "traceback": ""}
    _variant(
        sweep, "2_listops_nystrom_s0", extra / "5_listops_performer_s0", attention="performer", job_name="5_performer",
        status="failed", error=error, metrics={},
    )  # fmt: skip
    text_metrics = {**json.loads((sweep / "0_listops_softmax_s0" / "result.json").read_text())["metrics"]}
    text_metrics["test_accuracy"] = 0.6
    _variant(
        sweep, "0_listops_softmax_s0", extra / "6_text_softmax_s0", task="text", job_name="6_text", metrics=text_metrics
    )
    return [sweep, extra]


@pytest.fixture
def grid_with_incomplete(grid: list[Path], copy_job) -> list[Path]:
    """The grid plus ListOps/Linformer whose only run never finished: a real job directory (Hydra config, no
    result.json, no W&B run, no metrics), as a job killed before its end leaves it."""
    job = copy_job("0_listops_softmax_s0", "killed/7_listops_linformer_s0")
    for path in (job / "result.json", job / "metrics.csv"):
        path.unlink()
    shutil.rmtree(job / "wandb")
    config = job / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("attention:\n  name: softmax", "attention:\n  name: linformer"))
    assert "name: linformer" in config.read_text()
    return [*grid, job.parent]
