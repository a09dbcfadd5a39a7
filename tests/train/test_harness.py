"""End to end through the real ``lra-train`` command: multirun, W&B offline runs, failures, resume, DDP, config errors.

Every test runs the Hydra app in a subprocess, exactly as a user would, on a tiny generated ListOps cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.wandb_offline import offline_runs, read_offline_run
from lra.data import prepare
from lra.results import read_result

TINY_DATA = {"train_size": 64, "val_size": 16, "test_size": 16, "max_length": 2000}
TINY = [
    "experiment=smoke",
    *(f"task.data.{key}={value}" for key, value in TINY_DATA.items()),
    "task.batch_size=8",
    "task.warmup_steps=2",
    "task.max_steps=6",
    "task.val_every=3",
    "task.val_batches=2",
    "model.depth=1",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    prepare("listops", root, generate=True, **TINY_DATA)
    return root


def lra_train(*overrides: str, data_dir: Path, runs: Path, tiny: bool = True, **popen) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    flags = [o for o in overrides if o.startswith("-")]  # e.g. -m must precede the overrides
    rest = [o for o in overrides if not o.startswith("-")]
    command = [sys.executable, "-m", "lra.train.app", *flags, *(TINY if tiny else []), *rest]
    command += [f"paths.data_dir={data_dir}", f"paths.runs_dir={runs}"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def results_under(root: Path) -> dict[str, dict]:
    return {path.parent.name: read_result(path) for path in root.rglob("result.json")}


def test_multirun_writes_a_result_and_an_offline_wandb_run_per_job(data_dir: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    code, output = finish(
        lra_train("-m", "attention=softmax,nystrom", f"hydra.sweep.dir={sweep}", data_dir=data_dir, runs=tmp_path)
    )
    assert code == 0, output
    results = results_under(sweep)
    assert sorted(results) == ["0_listops_softmax_s0", "1_listops_nystrom_s0"]
    runs = [read_offline_run(path) for path in offline_runs(sweep)]
    assert len(runs) == 2  # one W&B run per job, not one shared run (wandb#1314)
    for job, result in results.items():
        assert result["status"] == "ok"
        metrics = result["metrics"]
        for key in ("test_accuracy", "best_val_accuracy", "train_tokens_per_s", "peak_memory_mb", "num_parameters"):
            assert metrics[key] > 0 or key == "test_accuracy", key
        assert (sweep / job / "metrics.csv").read_text().startswith("step,split,loss,accuracy,lr")
        run = next(r for r in runs if r.path.is_relative_to(sweep / job))
        assert run.summary["test/accuracy"] == pytest.approx(metrics["test_accuracy"])
        assert run.summary["result/num_parameters"] == metrics["num_parameters"]
        assert f"attention:{result['attention']}" in run.tags and "task:listops" in run.tags
        assert run.group == sweep.name and run.job_type == "listops"
        assert any("train/loss" in row for row in run.history)


def test_a_failing_job_is_recorded_while_its_sibling_succeeds(data_dir: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    process = lra_train("-m", "task.lr=0.001,1e30", f"hydra.sweep.dir={sweep}", data_dir=data_dir, runs=tmp_path)
    code, output = finish(process)
    assert code != 0, output  # the sweep reports the failure ...
    results = results_under(sweep)
    assert [results[job]["status"] for job in sorted(results)] == ["ok", "failed"], output  # ... after both ran
    error = results[sorted(results)[1]]["error"]
    assert error["type"] == "NonFiniteLossError"
    assert "at step" in error["message"] and "task listops, attention nystrom" in error["message"]
    assert "test_accuracy" not in results[sorted(results)[1]]["metrics"]  # never a number for a failed run


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task=nope"], "Could not find 'task/nope'"),
        (["attention=nope"], "Could not find 'attention/nope'"),
        (["attention.options.num_landmarks=0"], "num_landmarks must be a positive integer"),
        (["+attention.options.landmarks=8"], "unknown option(s) landmarks for attention 'nystrom'"),
        (["task=image", "task.data.max_length=2048"], "images hold exactly 1024 pixels"),
        (["task.data.train_size=65"], "lra-data prepare listops"),
        (["trainer.micro_batch_size=3"], "must divide the per-device batch 8"),
        (["task.warmup_steps=6"], "task.warmup_steps=6 must lie between 2 and task.max_steps - 1 = 5"),
    ],
)
def test_bad_configurations_are_rejected_before_training(
    data_dir: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    tiny = "task=image" not in overrides  # the tiny ListOps overrides do not apply to the image task
    code, output = finish(lra_train(*overrides, data_dir=data_dir, runs=tmp_path, tiny=tiny))
    assert code != 0
    assert message in output
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing trained


def test_a_resumed_run_ends_like_an_uninterrupted_one(data_dir: Path, tmp_path: Path) -> None:
    longer = ["task.max_steps=24", "task.val_every=4", "attention=nystrom", "model.dropout=0.1"]
    uninterrupted = tmp_path / "straight"
    code, output = finish(lra_train(*longer, f"hydra.run.dir={uninterrupted}", data_dir=data_dir, runs=tmp_path))
    assert code == 0, output

    resumed = tmp_path / "resumed"
    process = lra_train(*longer, f"hydra.run.dir={resumed}", data_dir=data_dir, runs=tmp_path)
    last = resumed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # preempted after its first checkpoint, mid-run
    process.communicate()
    assert last.exists() and not (resumed / "result.json").exists(), "the run finished before it could be killed"

    code, output = finish(
        lra_train(*longer, f"hydra.run.dir={resumed}", "ckpt_path=last", data_dir=data_dir, runs=tmp_path)
    )
    assert code == 0, output
    straight, again = read_result(uninterrupted / "result.json"), read_result(resumed / "result.json")
    for key in ("test_accuracy", "test_loss", "best_val_accuracy", "best_val_step", "final_train_loss", "steps"):
        assert again["metrics"][key] == pytest.approx(straight["metrics"][key], rel=1e-6), key


def test_ddp_with_two_processes_on_cpu(data_dir: Path, tmp_path: Path) -> None:
    job = tmp_path / "ddp"
    overrides = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.num_workers=0"]
    code, output = finish(
        lra_train(*overrides, f"hydra.run.dir={job}", "logger=none", data_dir=data_dir, runs=tmp_path)
    )
    assert code == 0, output
    result = read_result(job / "result.json")
    assert result["status"] == "ok" and result["config"]["trainer"]["devices"] == 2
    assert json.loads((job / "result.json").read_text())["metrics"]["steps"] == 6


def test_optuna_search_maximises_the_returned_validation_accuracy(data_dir: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    overrides = ["hparams_search=nystrom_optuna", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}", "logger=none"]
    code, output = finish(lra_train(*overrides, data_dir=data_dir, runs=tmp_path))
    assert code == 0, output
    results = results_under(sweep)
    assert len(results) == 2 and all(r["status"] == "ok" for r in results.values())
    import yaml

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(r["metrics"]["best_val_accuracy"] for r in results.values()))
    assert set(best["best_params"]) == {"task.lr", "attention.options.num_landmarks", "model.dropout"}
