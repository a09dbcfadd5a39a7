"""The attention micro-benchmark: real measurements in fresh processes, failures as cells, correct ratios."""

from __future__ import annotations

import json

import pytest

from lra.bench.attention_case import AttentionCase, run_case, run_isolated
from lra.bench.micro import main as micro_main
from lra.bench.micro import ratio_table


def test_tiny_sweep_writes_well_formed_results(tmp_path, capsys) -> None:
    impls = ["softmax", "nystrom", "peer:hf-nystrom", "peer:lucidrains-nystrom"]
    micro_main(["--impls", *impls, "--n", "128", "--min-run-time", "0.01", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["machine"]["cpu"] and payload["machine"]["packages"]["torch"]
    rows = payload["rows"]
    assert len(rows) == 2 * len(impls)  # modes × implementations
    for row in rows:
        assert row["status"] == "ok", row
        assert 0 < row["p20_ms"] <= row["median_ms"] <= row["p80_ms"]
        assert row["peak_mb"] >= 0
    table = (tmp_path / "table.md").read_text()
    assert "nystrom vs fastest peer" in table and table.count("\n| fwd |") == 1
    assert "nystrom vs softmax" in capsys.readouterr().out


def test_a_failing_case_becomes_a_marked_cell() -> None:
    bad = AttentionCase(impl="nystrom", n=64, options={"num_landmarks": 0})
    row = run_isolated(bad, min_run_time=0.01)
    assert row["status"] == "error" and "num_landmarks" in row["error"]
    assert "median_ms" not in row  # never a number for a failed cell


def test_out_of_memory_is_recorded_not_raised(monkeypatch) -> None:
    import lra.bench.attention_case as attention_case

    def exhausted(fn):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes")

    monkeypatch.setattr(attention_case, "peak_rss_delta_mb", exhausted)
    row = run_case(AttentionCase(impl="softmax", n=64), min_run_time=0.01)
    assert row["status"] == "oom" and "can't allocate" in row["error"]


def test_ratio_table_computes_speedups_against_softmax_and_the_fastest_peer() -> None:
    def cell(impl: str, ms: float, status: str = "ok") -> dict:
        row = {"impl": impl, "mode": "fwd", "n": 4096, "status": status}
        return {**row, "median_ms": ms, "peak_mb": 10.0} if status == "ok" else row

    rows = [
        cell("softmax", 400.0),
        cell("nystrom", 10.0),
        cell("peer:hf-nystrom", 60.0),
        cell("peer:lucidrains-nystrom", 50.0),
    ]
    line = ratio_table(rows).splitlines()[-1]
    assert line.endswith("| 40.0× | 5.0× |")
    rows[3] = cell("peer:lucidrains-nystrom", 0, status="oom")  # failed peers are skipped, shown as OOM
    line = ratio_table(rows).splitlines()[-1]
    assert "OOM" in line and line.endswith("| 40.0× | 6.0× |")


@pytest.mark.parametrize("impl", ["peer:hf-nystrom", "peer:lucidrains-nystrom"])
def test_peer_adapters_compute_nystrom_attention_of_the_given_qkv(impl: str) -> None:
    """The adapters must feed the peers our q, k, v: with the same options, outputs agree to Nyström accuracy."""
    import torch

    from lra.bench.peers import build_runner

    n, heads, dim = 256, 2, 16
    options = {"num_landmarks": 16, "pinv_iterations": 6, "conv_kernel_size": None}
    qkv = torch.randn(1, n, 3, heads, dim)
    ours = build_runner("nystrom", heads, dim, n, {**options, "pinv_init": "original"})
    peer = build_runner(impl, heads, dim, n, options)
    with torch.no_grad():
        expected = ours(qkv).transpose(1, 2).reshape(1, n, heads * dim)
        actual = peer(qkv)
    assert ((actual - expected).abs().max() / expected.abs().max()).item() < 1e-4
