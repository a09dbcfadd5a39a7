"""``lra-bench``: a real tiny sweep through the Hydra app, failures as marked cells, the tables' ratios."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from lra.bench.case import BenchCase, run_case, run_isolated
from lra.bench.peers import PEERS, build_runner
from lra.bench.sweep import CORE_OPTIONS, core_options, ours_of
from lra.bench.tables import family_tables, loglog_slope, lra_table2, paper_table1, ratio_table


def test_tiny_sweep_through_the_command_writes_well_formed_results(tmp_path) -> None:
    impls = "[softmax,nystrom,peer:hf-nystrom]"
    command = [
        sys.executable, "-m", "lra.bench.app", f"impls={impls}", "device.lengths=[256]",
        "train_step.lengths=[128]", "train_step.include=[softmax,nystrom]", "train_step.model.depth=1",
        "min_run_time=0.01", "device.paired_lengths=[256]", "paired.rounds=2", "paired.block_s=0.005",
        f"hydra.run.dir={tmp_path}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["machine"]["cpu"] and payload["machine"]["packages"]["torch"]
    rows = payload["rows"]
    assert len(rows) == 2 * 1 * 3 + 2  # modes × lengths × implementations + training steps
    for row in rows:
        assert row["status"] == "ok", row
        assert 0 < row["p20_ms"] <= row["median_ms"] <= row["p80_ms"] and row["peak_mb"] >= 0
        assert row["memory_method"] == "reset"  # Linux: the high-water mark is reset before the warm call
    assert {r["mode"] for r in rows} == {"fwd", "fwd_bwd", "train_step"}
    with open(tmp_path / "results.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(rows)
    assert {r["peer_of"] for r in table if r["impl"].startswith("peer:")} == {"nystrom"}
    assert {r["machine_cpu"] for r in table} == {payload["machine"]["cpu"]}
    assert {r["machine_torch"] for r in table} == {payload["machine"]["packages"]["torch"]}
    assert "nystrom vs fastest peer" in (tmp_path / "table.md").read_text()
    assert "| nystrom |" in (tmp_path / "table2.md").read_text()
    summary = (tmp_path / "summary.md").read_text()
    assert "nystrom vs softmax, fwd, n = 256" in summary and "training steps/s vs softmax" in summary
    assert "| nystrom vs exact SDPA (softmax), fwd, n = 16384, float32 | issues 8, 2 | ≥ 40.00× | — |" in summary
    assert "| nystrom | hf-nystrom | fwd | float32 |" in summary  # ours vs each peer, at every length
    assert "nystrom fwd time log–log slope" in done.stdout
    # nystrom against its peer in one process, per mode at the paired length
    paired = payload["paired"]
    assert [(p["ours"], p["peer"], p["mode"], p["n"], p["status"]) for p in paired] == [
        ("nystrom", "peer:hf-nystrom", mode, 256, "ok") for mode in ("fwd", "fwd_bwd")
    ]
    assert "| nystrom | hf-nystrom | fwd_bwd | float32 | 256 |" in (tmp_path / "paired.md").read_text()
    assert "**Ours vs each peer package, paired**" in summary and "nystrom vs peer:hf-nystrom" in done.stdout


def test_a_failing_case_becomes_a_marked_cell() -> None:
    bad = BenchCase(impl="nystrom", n=64, options={"num_landmarks": 0})
    row = run_isolated(bad, min_run_time=0.01)
    assert row["status"] == "error" and "num_landmarks" in row["error"]
    assert "median_ms" not in row  # never a number for a failed cell


def test_a_killed_worker_is_recorded_as_out_of_memory(monkeypatch) -> None:
    """The kernel's OOM killer ends a worker with SIGKILL; the sweep records the cell and goes on."""
    import lra.bench.case as case

    class Killed:
        returncode, stdout, stderr = -9, "", ""

    monkeypatch.setattr(case.subprocess, "run", lambda *args, **kwargs: Killed())
    row = run_isolated(BenchCase(impl="softmax", n=64), min_run_time=0.01)
    assert row["status"] == "oom" and "killed" in row["error"]


def test_out_of_memory_is_recorded_not_raised(monkeypatch) -> None:
    import lra.bench.case as case

    def exhausted(fn):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes")

    monkeypatch.setattr(case, "peak_rss_delta", exhausted)
    row = run_case(BenchCase(impl="softmax", n=64), min_run_time=0.01)
    assert row["status"] == "oom" and "can't allocate" in row["error"]


def test_peers_cannot_be_timed_as_whole_model_training_steps() -> None:
    row = run_case(BenchCase(impl="peer:hf-nystrom", n=64, mode="train_step"), min_run_time=0.01)
    assert row["status"] == "error" and "attention core" in row["error"]


def cell(impl: str, ms: float, mode: str = "fwd", n: int = 4096, status: str = "ok", mb: float = 10.0) -> dict:
    row = {"impl": impl, "mode": mode, "dtype": "float32", "n": n, "status": status}
    return {**row, "median_ms": ms, "peak_mb": mb} if status == "ok" else row


def test_ratio_table_computes_speedups_against_softmax_and_the_fastest_peer() -> None:
    rows = [
        cell("softmax", 400.0),
        cell("nystrom", 10.0),
        cell("peer:hf-nystrom", 60.0),
        cell("peer:lucidrains-nystrom", 50.0),
    ]
    assert ratio_table(rows).splitlines()[-1].endswith("| 40.0× | 5.0× |")
    rows[3] = cell("peer:lucidrains-nystrom", 0, status="oom")  # failed peers are skipped, shown as OOM
    line = ratio_table(rows).splitlines()[-1]
    assert "OOM" in line and line.endswith("| 40.0× | 6.0× |")


def test_family_tables_give_each_attention_its_peers_and_ratios() -> None:
    rows = [cell("softmax", 80.0, mb=3), cell("reformer", 10.0, mb=3), cell("peer:lucidrains-reformer", 25.0, mb=3)]
    rows += [cell("performer", 4.0, mb=3), cell("peer:lucidrains-performer", 0, status="oom")]
    reformer, performer = family_tables(rows).split("\n\n**performer**")
    expected = "| fwd | float32 | 4096 | 10.0 ms / 3.0 MB | 25.0 ms / 3.0 MB | 80.0 ms / 3.0 MB | 2.5× |"
    assert reformer.splitlines()[-1] == expected
    assert performer.splitlines()[-1].endswith("| OOM | 80.0 ms / 3.0 MB | — |")


def test_paper_and_training_tables_show_ratios_against_softmax() -> None:
    rows = [cell("softmax", 100.0, mb=400), cell("nystrom", 5.0, mb=20)]
    assert paper_table1(rows).splitlines()[-1] == "| nystrom | 20 (20.0×) / 5.0 (20.0×) |"
    steps = [cell("softmax", 1000.0, "train_step", mb=800), cell("nystrom", 125.0, "train_step", mb=200)]
    steps.append(cell("linformer", 0, "train_step", status="oom"))
    table = lra_table2(steps).splitlines()
    assert table[-2] == "| nystrom | 8.00 (8.0×) | 200 (0.25×) |"
    assert table[-1] == "| linformer | OOM | OOM |"


def test_loglog_slope() -> None:
    rows = [cell("nystrom", 2.0, n=2048), cell("nystrom", 16.0, n=16384), cell("softmax", 1.0, n=2048)]
    rows.append(cell("softmax", 64.0, n=16384))
    assert loglog_slope(rows, "nystrom", "fwd", "float32", "median_ms", 2048, 16384) == pytest.approx(1.0)
    assert loglog_slope(rows, "softmax", "fwd", "float32", "median_ms", 2048, 16384) == pytest.approx(2.0)
    assert loglog_slope(rows, "performer", "fwd", "float32", "median_ms", 2048, 16384) is None
    assert loglog_slope(rows, "nystrom", "fwd", "float32", "median_ms", 2048, 2048) is None  # one length: no slope


def test_every_peer_gets_its_attention_settings() -> None:
    for peer in PEERS:
        assert core_options(f"peer:{peer}") == CORE_OPTIONS.get(ours_of(f"peer:{peer}"), {})
    assert core_options("peer:lucidrains-reformer") == {"num_hashes": 4, "bucket_size": 64}
    assert core_options("linformer") == {"k": 256}


@pytest.mark.parametrize("impl", ["peer:hf-nystrom", "peer:lucidrains-nystrom"])
def test_peer_adapters_compute_nystrom_attention_of_the_given_qkv(impl: str) -> None:
    """The adapters must feed the peers our q, k, v: with the same options, outputs agree to Nyström accuracy."""
    n, heads, dim = 256, 2, 16
    options = {"num_landmarks": 16, "pinv_iterations": 6, "conv_kernel_size": None}
    qkv = torch.randn(1, n, 3, heads, dim)
    ours = build_runner("nystrom", heads, dim, n, {**options, "pinv_init": "original"})
    peer = build_runner(impl, heads, dim, n, options)
    with torch.no_grad():
        expected = ours(qkv).transpose(1, 2).reshape(1, n, heads * dim)
        actual = peer(qkv)
    assert ((actual - expected).abs().max() / expected.abs().max()).item() < 1e-4
