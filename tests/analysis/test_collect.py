"""Collection from a real multirun: result.json, offline W&B runs, the W&B API, and damaged or mixed input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from analysis.collect import CURVE_COLUMNS, collect
from analysis.runs import COLUMNS, METRICS
from analysis.wandb_offline import offline_runs, read_offline_run
from lra.results import read_result

JOBS = ["0_listops_softmax_s0", "1_listops_softmax_s1", "2_listops_nystrom_s0", "3_listops_nystrom_s1"]


def test_every_job_of_a_real_multirun_becomes_one_row(sweep: Path) -> None:
    collection = collect([sweep])
    runs = collection.runs.set_index("job_name")
    assert collection.warnings == []
    assert list(collection.runs.columns) == list(COLUMNS)
    assert sorted(runs.index) == [*JOBS, "4_listops_nystrom_s2"]
    for job in JOBS:
        result = read_result(sweep / job / "result.json")
        assert set(result["metrics"]) <= set(METRICS), "result.json has metrics the analysis does not know"
        row = runs.loc[job]
        assert (row["status"], row["source"], row["task"]) == ("ok", "result.json", "listops")
        assert (row["attention"], row["seed"], row["experiment"]) == (result["attention"], result["seed"], "smoke")
        assert row["run_id"] == f"sweep/{job}" and row["experiment_label"] == "smoke"
        for metric, value in result["metrics"].items():
            assert row[metric] == pytest.approx(value), metric
    failed = runs.loc["4_listops_nystrom_s2"]
    assert failed["status"] == "failed" and failed["error"].startswith("ConfigError: ")
    assert "must divide the per-device batch 8" in failed["error"]
    assert pd.isna(failed["test_accuracy"]) and pd.isna(failed["train_tokens_per_s"])  # not measured, not zero
    assert runs["seed"].dtype == "Int64" and runs["test_accuracy"].dtype == "float64"


def test_validation_curves_come_from_metrics_csv(sweep: Path) -> None:
    curves = collect([sweep]).curves
    assert list(curves.columns) == list(CURVE_COLUMNS)
    job = curves[curves["run_id"] == "sweep/2_listops_nystrom_s0"]
    rows = pd.read_csv(sweep / "2_listops_nystrom_s0" / "metrics.csv")
    val = rows[rows["split"] == "val"]
    assert job["step"].tolist() == val["step"].tolist() == [3, 6]
    assert job["val_accuracy"].tolist() == pytest.approx(val["accuracy"].tolist())
    assert set(job["source"]) == {"metrics.csv"}
    assert "sweep/4_listops_nystrom_s2" not in set(curves["run_id"])  # failed runs have no curve


def test_an_offline_wandb_run_stands_in_for_a_missing_result(sweep: Path, copy_job) -> None:
    job = copy_job("1_listops_softmax_s1", "elsewhere/1_listops_softmax_s1")
    (job / "result.json").unlink()
    (job / "metrics.csv").unlink()
    shutil.rmtree(job / ".hydra")
    collection = collect([job.parent])
    row = collection.runs.iloc[0]
    result = read_result(sweep / "1_listops_softmax_s1" / "result.json")
    assert (row["source"], row["status"], row["run_id"]) == ("wandb-offline", "ok", "sweep/1_listops_softmax_s1")
    assert (row["task"], row["attention"], row["seed"], row["experiment"]) == ("listops", "softmax", 1, "smoke")
    for metric, value in result["metrics"].items():
        assert row[metric] == pytest.approx(value), metric
    curve = collection.curves
    assert set(curve["source"]) == {"wandb"} and len(curve) == 2  # two validations, from the W&B history
    # the same job, found both as its directory and as a copy of its W&B run, counts once: result.json wins
    both = collect([sweep, job.parent]).runs
    assert (both["run_id"] == "sweep/1_listops_softmax_s1").sum() == 1
    assert both.loc[both["run_id"] == "sweep/1_listops_softmax_s1", "source"].item() == "result.json"


def test_damaged_input_gives_warnings_and_the_valid_runs_remain(sweep: Path, copy_job, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    truncated = bad / "truncated"
    truncated.mkdir(parents=True)
    text = (sweep / JOBS[0] / "result.json").read_text()
    (truncated / "result.json").write_text(text[: len(text) // 2])
    future = bad / "future"
    future.mkdir()
    (future / "result.json").write_text(json.dumps({**json.loads(text), "schema_version": 2}))
    killed = copy_job("2_listops_nystrom_s0", "bad/killed")  # a job that died before writing its result
    for path in [killed / "result.json", *killed.glob("wandb")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    unreadable_wandb = copy_job("3_listops_nystrom_s1", "bad/garbled")
    (unreadable_wandb / "result.json").write_text("{")
    for run in offline_runs(unreadable_wandb):
        run.write_bytes(b"not a wandb file")
    empty = tmp_path / "empty"
    empty.mkdir()

    collection = collect([sweep, bad, empty, tmp_path / "nowhere"])
    warnings = "\n".join(collection.warnings)
    assert f"{truncated / 'result.json'}: not valid JSON" in warnings
    assert f"{future / 'result.json'}: unknown schema_version 2 (this version reads 1); skipped" in warnings
    assert f"{unreadable_wandb / 'result.json'}: not valid JSON" in warnings
    assert "listed as incomplete from its Hydra config" in warnings
    assert f"{empty}: no runs found" in warnings
    assert f"{tmp_path / 'nowhere'}: no such file or directory" in warnings
    assert "not a W&B transaction log" in warnings
    runs = collection.runs.set_index("job_name")
    assert runs.loc["killed", "status"] == "incomplete" and runs.loc["killed", "source"] == "job-dir"
    assert "no result.json" in runs.loc["killed", "error"]
    assert runs.loc["garbled", "status"] == "incomplete" and runs.loc["garbled", "error"] == "unreadable result.json"
    assert runs.loc[JOBS, "status"].eq("ok").all()  # the valid runs are all still there
    assert "truncated" not in runs.index and "future" not in runs.index  # nothing to identify them by


def test_the_same_job_found_twice_is_one_row_with_a_warning(sweep: Path, copy_job) -> None:
    assert len(collect([sweep, sweep / JOBS[0]]).runs) == 5  # overlapping paths: no warning, no duplicate
    copy = copy_job(JOBS[0], "copy")
    collection = collect([sweep, copy])
    assert len(collection.runs) == 5
    assert any(f"job sweep/{JOBS[0]} found twice" in warning for warning in collection.warnings)


def _edit(job: Path, task: dict | None = None, **fields) -> None:
    """Change top-level fields and task settings of a copied job's result.json."""
    path = job / "result.json"
    result = json.loads(path.read_text())
    result.update(fields)
    result["config"]["task"].update(task or {})
    path.write_text(json.dumps(result))


def test_runs_of_different_experiments_are_labelled_apart(sweep: Path, copy_job) -> None:
    longer = copy_job(JOBS[2], "longer/job")
    _edit(longer, task={"max_steps": 60}, group="longer")
    paper = copy_job(JOBS[0], "paper/job")
    _edit(paper, experiment="lra_paper", group="paper")
    collection = collect([sweep, longer.parent, paper.parent])
    labels = collection.runs.set_index("run_id")["experiment_label"]
    assert labels[f"longer/{JOBS[2]}"] == "smoke [task.max_steps=60]"  # run_id: <group>/<job_name> of result.json
    assert labels[f"sweep/{JOBS[2]}"] == "smoke [task.max_steps=6]"
    assert labels[f"paper/{JOBS[0]}"] == "lra_paper"
    assert labels["sweep/4_listops_nystrom_s2"] == "smoke [task.max_steps=6]"  # micro-batch size is not a setting
    warnings = "\n".join(collection.warnings)
    assert "runs of experiment 'smoke' differ in task.max_steps" in warnings
    assert "3 experiments found, each reported on its own" in warnings


class _FakeRun(SimpleNamespace):
    def scan_history(self, keys: list[str]):
        return [row for row in self.history if all(key in row for key in keys)]


def test_a_wandb_project_is_read_through_the_api(sweep: Path) -> None:
    offline = read_offline_run(offline_runs(sweep / JOBS[3])[0])
    run = _FakeRun(
        url="https://wandb.ai/me/lra/runs/abc", config=offline.config, summary=offline.summary, group="remote",
        name=JOBS[3], state="finished", history=offline.history,
    )  # fmt: skip
    crashed = _FakeRun(
        url="https://wandb.ai/me/lra/runs/def", config=offline.config, summary={}, group="remote", name="x",
        state="crashed", history=[],
    )  # fmt: skip
    api = SimpleNamespace(runs=lambda path: [run, crashed] if path == "me/lra" else [])
    collection = collect([], wandb_project="me/lra", wandb_api=api)
    runs = collection.runs.set_index("run_id")
    assert runs.loc[f"remote/{JOBS[3]}", "source"] == "wandb-api"
    assert runs.loc[f"remote/{JOBS[3]}", "test_accuracy"] == pytest.approx(offline.summary["result/test_accuracy"])
    assert runs.loc["remote/x", "status"] == "failed" and pd.isna(runs.loc["remote/x", "test_accuracy"])
    assert len(collection.curves) == 2

    def refuse(path: str):
        raise RuntimeError("No API key configured")

    refused = collect([sweep], wandb_project="me/lra", wandb_api=SimpleNamespace(runs=refuse))
    assert len(refused.runs) == 5  # the local runs are still reported
    assert any("W&B project me/lra: cannot be read (RuntimeError: No API key" in w for w in refused.warnings)


def test_a_truncated_offline_wandb_run_is_read_up_to_the_cut(sweep: Path, tmp_path: Path) -> None:
    whole = read_offline_run(offline_runs(sweep / JOBS[0])[0])
    raw = offline_runs(sweep / JOBS[0])[0].read_bytes()
    cut = tmp_path / "run-cut.wandb"
    cut.write_bytes(raw[: len(raw) * 2 // 3])  # a job killed while W&B was writing
    partial = read_offline_run(cut)
    assert 0 < len(partial.history) < len(whole.history)
    assert partial.history == whole.history[: len(partial.history)]


def test_unknown_metrics_keep_the_run_with_a_warning(sweep: Path, copy_job) -> None:
    """A result.json written by a newer version (a metric this one does not know): the run stays, its known
    metrics intact, the unknown metric is not interpreted, and ``read_result``'s warning reaches the report."""
    job = copy_job(JOBS[0], "newer/job")
    result = json.loads((job / "result.json").read_text())
    result["metrics"]["future_metric"] = 1.5
    (job / "result.json").write_text(json.dumps(result))
    collection = collect([job.parent])
    row = collection.runs.iloc[0]
    assert (row["status"], row["source"]) == ("ok", "result.json")
    assert row["test_accuracy"] == pytest.approx(result["metrics"]["test_accuracy"])
    assert "future_metric" not in collection.runs.columns
    (warning,) = collection.warnings
    assert warning.startswith(f"{job / 'result.json'}: unknown metric(s) future_metric")
