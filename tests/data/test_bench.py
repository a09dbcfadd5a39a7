"""The benchmark script runs and reports every figure (tiny sizes here; the README figures use the defaults)."""

from __future__ import annotations

import json
from pathlib import Path

from lra.data.bench import main


def test_bench_reports_all_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    args = ["--train-size", "60", "--eval-size", "5", "--rows", "40", "--repeats", "5", "--workers", "1"]
    assert main([*args, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["listops_examples"] == 70 and figures["listops_generate_s"] > 0 and figures["listops_prepare_s"] > 0
    assert set(figures["listops_tsv_sha256"]) == {"basic_train.tsv", "basic_val.tsv", "basic_test.tsv"}
    batches = figures["random_batch_of_32"]
    assert set(batches) == {"listops", "text", "retrieval", "pathx"}
    assert batches["retrieval"]["shape"] == [2, 4000] and batches["pathx"]["dtype"] == "uint8"
    assert all(r["batch"]["median_ms"] > 0 for r in batches.values())
