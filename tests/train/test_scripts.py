"""CPU smoke tests of the scripts the README documents: the GPU ListOps check (with wandb missing), the main job,
and the harness-overhead benchmark, each on tiny data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lra.results import read_result
from tests.train.harness import TINY_SCHEDULE, quiet_env, run, without_wandb


def test_gpu_listops_runs_on_cpu_without_wandb(tmp_path: Path) -> None:
    out = tmp_path / "listops"
    command = [
        sys.executable, "-m", "lra.bench.gpu_listops", "--out", str(out), "--steps", "9", "--attentions", "nystrom",
        "--data-dir", str(tmp_path / "data"), "--train-size", "64", "--eval-size", "16",
        "trainer=cpu", "task.batch_size=8", "model.depth=1",
    ]  # fmt: skip
    code, output = run(command, without_wandb(tmp_path))
    assert code == 0, output
    (result,) = [read_result(path) for path in out.rglob("result.json")]
    assert result["status"] == "ok" and result["config"]["logger"] == {}
    assert result["metrics"]["steps"] == 9 and result["data"]["examples"] == {"train": 64, "val": 16, "test": 16}
    steps_per_s = result["metrics"]["train_steps_per_s"]
    assert f"| nystrom | ok | {steps_per_s:.2f} |" in (out / "table.md").read_text()


def test_main_job_runs_the_sweep_prints_the_table_and_builds_the_report(tmp_path: Path) -> None:
    out = tmp_path / "main"
    command = [
        sys.executable, "-m", "lra.main_job", "--tasks", "listops", "--attentions", "softmax", "nystrom",
        "--out", str(out), *TINY_SCHEDULE,
        "task.data.train_size=64", "task.data.val_size=16", "task.data.test_size=16",
    ]  # fmt: skip
    code, output = run(command, quiet_env(LRA_DATA_DIR=str(tmp_path / "data")))
    assert code == 0, output
    assert "| listops | nystrom | 0 |" in output and "| listops | softmax | 0 |" in output  # the comparison table
    assert len(list(out.glob("*/result.json"))) == 2
    report = out / "report"
    assert (report / "report.md").is_file() and (report / "tables" / "accuracy.md").is_file()


def test_harness_overhead_times_the_job_against_the_bare_loop(tmp_path: Path) -> None:
    out = tmp_path / "overhead"
    command = [
        sys.executable, "-m", "lra.bench.harness_overhead", "--steps", "2", "--warmup", "1", "--repeats", "1",
        "--attentions", "nystrom", "--data-dir", str(tmp_path / "data"), "--out", str(out),
        "task.warmup_steps=2", "task.val_every=2", "task.val_batches=1", "model.depth=1",
        "task.data.train_size=64", "task.data.val_size=16", "task.data.test_size=16",
    ]  # fmt: skip
    code, output = run(command, quiet_env())
    assert code == 0, output
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["task"]["batch_size"] == 8  # the smoke batch, read from conf/
    assert len(payload["bare_s_per_step"]) == len(payload["harness_s_per_step"]) == 1
    assert payload["bare_s_per_step"][0] > 0 and payload["harness_s_per_step"][0] > 0
    assert {(row["shape"], row["batch"]) for row in payload["speeds"]} == {("smoke", 8), ("lra_paper", 32)}
    assert "harness overhead per step" in (out / "table.md").read_text()
