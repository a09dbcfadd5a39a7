"""Mean ± std over seeds from the real multirun; failed and missing cells are counted, never zero-filled."""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd
import pytest

from analysis.aggregate import aggregate
from analysis.collect import collect
from lra.results import read_result


def _metric(sweep: Path, jobs: list[str], metric: str) -> list[float]:
    return [read_result(sweep / job / "result.json")["metrics"][metric] for job in jobs]


def test_mean_std_and_count_over_seeds(sweep: Path) -> None:
    cells = aggregate(collect([sweep]).runs).set_index(["task", "attention"])
    softmax = cells.loc[("listops", "softmax")]
    for metric in ("test_accuracy", "train_tokens_per_s", "peak_memory_mb", "best_val_accuracy"):
        values = _metric(sweep, ["0_listops_softmax_s0", "1_listops_softmax_s1"], metric)
        assert softmax[f"{metric}_mean"] == pytest.approx(statistics.mean(values)), metric
        assert softmax[f"{metric}_std"] == pytest.approx(statistics.stdev(values), abs=1e-12), metric
        assert softmax[f"{metric}_n"] == 2
    assert (softmax["status"], softmax["ok"], softmax["failed"], softmax["seeds"]) == ("ok", 2, 0, "0,1")
    nystrom = cells.loc[("listops", "nystrom")]
    values = _metric(sweep, ["2_listops_nystrom_s0", "3_listops_nystrom_s1"], "train_tokens_per_s")
    assert nystrom["train_tokens_per_s_mean"] == pytest.approx(statistics.mean(values))  # the failed seed is out
    assert (nystrom["status"], nystrom["runs"], nystrom["ok"], nystrom["failed"]) == ("ok", 3, 2, 1)
    assert (nystrom["seeds"], nystrom["failed_seeds"]) == ("0,1", "2")


def test_failed_and_missing_cells_have_no_numbers(grid: list[Path]) -> None:
    cells = aggregate(collect(grid).runs).set_index(["task", "attention"])
    assert len(cells) == 6  # 2 tasks × 3 attentions: every cell of the grid, run or not
    assert cells["status"].to_dict() == {
        ("listops", "softmax"): "ok",
        ("listops", "nystrom"): "ok",
        ("listops", "performer"): "failed",
        ("text", "softmax"): "ok",
        ("text", "nystrom"): "missing",
        ("text", "performer"): "missing",
    }
    for cell in [("listops", "performer"), ("text", "nystrom"), ("text", "performer")]:
        assert pd.isna(cells.loc[cell, "test_accuracy_mean"]) and cells.loc[cell, "test_accuracy_n"] == 0
    assert cells.loc[("text", "nystrom"), "runs"] == 0
    assert cells.loc[("listops", "performer"), "failed"] == 1
    single = cells.loc[("text", "softmax")]
    assert single["test_accuracy_mean"] == pytest.approx(0.6) and pd.isna(single["test_accuracy_std"])
