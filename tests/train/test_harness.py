"""End to end through the real ``lra-train`` command: multirun, W&B offline runs, failures, resume, DDP, config errors.

Every test runs the Hydra app in a subprocess, exactly as a user would, on a tiny generated ListOps cache.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import MissingConfigException

from analysis.wandb_offline import offline_runs, read_offline_run
from lra.results import read_result
from lra.train.plan import ConfigError, check_config
from tests.train.harness import REPO, TINY, csv_rows, finish, lra_train, results_under


def assert_tested_once_after_validation(history: list[dict], key: str, value_key: str) -> None:
    """``history`` rows in order: exactly one test row, after the last validation row."""
    tests = [i for i, row in enumerate(history) if row.get(key) == "test" or "test/accuracy" in row]
    vals = [i for i, row in enumerate(history) if row.get(key) == "val" or "val/accuracy" in row]
    assert len(tests) == 1, f"the test split was evaluated {len(tests)} times"
    assert vals and tests[0] > vals[-1], "the test split was evaluated before the last validation"
    assert value_key in history[tests[0]]


def test_parallel_multirun_writes_a_result_and_an_offline_wandb_run_per_job(data_dir: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    process = lra_train(
        "-m", "attention=nystrom,performer_relu", "hydra/launcher=parallel", f"hydra.sweep.dir={sweep}",
        data_dir=data_dir, runs=tmp_path,
    )  # fmt: skip
    code, output = finish(process)
    assert code == 0, output
    results = results_under(sweep)
    # a variant config is reported under its own label, apart from the attention it builds
    assert sorted(results) == ["0_listops_nystrom_s0", "1_listops_performer_relu_s0"]
    assert results["1_listops_performer_relu_s0"]["attention"] == "performer_relu"
    assert results["1_listops_performer_relu_s0"]["config"]["attention"]["name"] == "performer"
    runs = [read_offline_run(path) for path in offline_runs(sweep)]
    assert len(runs) == 2  # one W&B run per job, not one shared run (wandb#1314)
    for job, result in results.items():
        assert result["status"] == "ok"
        assert result["hardware"]["torch_threads"] == max(1, (os.cpu_count() or 1) // 2)  # cores / n_jobs
        metrics = result["metrics"]
        assert 0 <= metrics["test_accuracy"] <= 1 and 0 <= metrics["best_val_accuracy"] <= 1
        for key in ("train_tokens_per_s", "eval_tokens_per_s", "peak_memory_mb", "num_parameters"):
            assert metrics[key] > 0, key
        assert result["data"]["examples"] == {"train": 64, "val": 16, "test": 16}
        rows = csv_rows(sweep / job / "metrics.csv")
        assert_tested_once_after_validation(rows, "split", "accuracy")
        assert float(rows[-1]["accuracy"]) == pytest.approx(metrics["test_accuracy"], abs=1e-5)
        run = next(r for r in runs if r.path.is_relative_to(sweep / job))
        assert_tested_once_after_validation(run.history, "", "test/accuracy")
        assert run.summary["test/accuracy"] == pytest.approx(metrics["test_accuracy"])
        assert run.summary["result/num_parameters"] == metrics["num_parameters"]
        assert f"attention:{result['attention']}" in run.tags and "task:listops" in run.tags
        assert run.group == sweep.name and run.job_type == "listops"
        assert any("train/loss" in row for row in run.history)


def test_a_failing_job_is_recorded_and_the_next_job_still_runs(data_dir: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    process = lra_train("-m", "task.lr=1e30,0.001", f"hydra.sweep.dir={sweep}", data_dir=data_dir, runs=tmp_path)
    code, output = finish(process)
    assert code != 0, output  # the sweep reports the failure ...
    results = results_under(sweep)
    assert sorted(results) == ["0_listops_nystrom_s0", "1_listops_nystrom_s0"], output
    failed, sibling = results["0_listops_nystrom_s0"], results["1_listops_nystrom_s0"]
    assert failed["status"] == "failed" and sibling["status"] == "ok", output  # ... after the next job ran
    error = failed["error"]
    assert error["type"] == "NonFiniteLossError"
    assert "at step 1 (batch 1) for task listops, attention nystrom, seed 0" in error["message"]
    assert "test_accuracy" not in failed["metrics"]  # never a number for a failed run
    assert sibling["metrics"]["steps"] == 6 and 0 <= sibling["metrics"]["test_accuracy"] <= 1
    assert len(offline_runs(sweep)) == 2  # jobs in one process: the failed job's W&B run was finished too


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task=nope"], "Could not find 'task/nope'"),  # Hydra composition
        (["attention.options.num_landmarks=0"], "num_landmarks must be a positive integer"),  # building the model
        (["task.data.train_size=65"], "lra-data prepare listops"),  # opening the data
        (["-m", "trainer=ddp", "trainer.accelerator=cpu", "trainer.precision=32-true"], "hydra/launcher=slurm"),
    ],
)
def test_bad_configurations_are_rejected_before_training(
    data_dir: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    """Through the real command, one case per stage that rejects; the config checks' other messages are
    tested in process below."""
    code, output = finish(lra_train(*overrides, data_dir=data_dir, runs=tmp_path))
    assert code != 0
    assert message in output
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing trained


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+attention.options.landmarks=8"], "unknown option(s) landmarks for attention 'nystrom'"),
        (["task=image", "task.data.max_length=2048"], "images hold exactly 1024 pixels"),
        (["trainer.micro_batch_size=3"], "must divide the per-device batch 8"),
        (["trainer.threads=0"], "trainer.threads must be a positive integer or null"),
        (["task.warmup_steps=6"], "task.warmup_steps=6 must lie between 2 and task.max_steps - 1 = 5"),
    ],
)
def test_config_checks_explain_the_fix(overrides: list[str], message: str) -> None:
    tiny = [o for o in TINY if not (o.startswith("task.data.") and "task=image" in overrides)]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*tiny, *overrides])
    with pytest.raises(ConfigError) as raised:
        check_config(cfg)
    assert message in str(raised.value)


def test_an_unknown_attention_is_rejected_with_the_options() -> None:
    with (
        initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"),
        pytest.raises(MissingConfigException, match="Could not find 'attention/nope'") as raised,
    ):
        compose(config_name="train", overrides=["attention=nope"])
    assert "nystrom" in str(raised.value)  # Hydra lists the available options


def wait_for_a_complete_checkpoint(process, job: Path, timeout: float = 240) -> None:
    """Until ``last.ckpt`` exists after a validation row in ``metrics.csv`` and its size has stopped changing."""
    last, history = job / "checkpoints" / "last.ckpt", job / "metrics.csv"
    deadline, size = time.time() + timeout, -1
    while process.poll() is None and time.time() < deadline:
        validated = history.exists() and ",val," in history.read_text()
        now = last.stat().st_size if last.exists() else -1
        if validated and now > 0 and now == size:
            return
        size = now
        time.sleep(0.1)


def test_a_resumed_run_ends_like_an_uninterrupted_one(data_dir: Path, tmp_path: Path) -> None:
    longer = ["task.max_steps=24", "task.val_every=4", "attention=nystrom", "model.dropout=0.1"]
    uninterrupted = tmp_path / "straight"
    code, output = finish(lra_train(*longer, f"hydra.run.dir={uninterrupted}", data_dir=data_dir, runs=tmp_path))
    assert code == 0, output

    resumed = tmp_path / "resumed"
    process = lra_train(*longer, f"hydra.run.dir={resumed}", data_dir=data_dir, runs=tmp_path)
    wait_for_a_complete_checkpoint(process, resumed)
    process.send_signal(signal.SIGKILL)  # preempted after a complete checkpoint, mid-run
    process.communicate()
    assert not (resumed / "result.json").exists(), "the run finished before it could be killed"

    code, output = finish(
        lra_train(*longer, f"hydra.run.dir={resumed}", "ckpt_path=last", data_dir=data_dir, runs=tmp_path)
    )
    assert code == 0, output
    straight, again = read_result(uninterrupted / "result.json"), read_result(resumed / "result.json")
    for key in ("test_accuracy", "test_loss", "best_val_accuracy", "best_val_step", "final_train_loss", "steps"):
        assert again["metrics"][key] == pytest.approx(straight["metrics"][key], rel=1e-6), key
    # the rows the killed run logged after its checkpoint were dropped on resume: the same history
    assert csv_rows(resumed / "metrics.csv") == csv_rows(uninterrupted / "metrics.csv")


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
