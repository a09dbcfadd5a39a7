"""Ours against its peers in one process, alternating blocks: the per-round ratio summary, failures as rows, the
fresh-process runner and the grouping of a sweep's cases."""

from __future__ import annotations

import pytest

from lra.bench.case import BenchCase
from lra.bench.paired import groups, measure_group, run_paired, summarise
from lra.bench.sweep import core_options


def case(impl: str, n: int = 256, mode: str = "fwd", **options) -> BenchCase:
    return BenchCase(impl=impl, n=n, mode=mode, options=options or core_options(impl))


def test_the_ratio_is_the_median_of_the_per_round_ratios() -> None:
    per_call = {"linformer": [1.0, 2.0, 1.0, 1.0, 1.0], "peer:lucidrains-linformer": [2.0, 2.0, 3.0, 2.0, 2.0]}
    (row,) = summarise("linformer", per_call)
    # per round 2, 1, 3, 2, 2: the slow second round of ours is paired with the peer's, not with its median
    assert row["ratio"] == pytest.approx(2.0) and row["rounds"] == 5 and row["peer"] == "peer:lucidrains-linformer"
    assert row["ratio_p20"] == pytest.approx(1.8) and row["ratio_p80"] == pytest.approx(2.2)
    assert row["ours_ms"] == pytest.approx(1000.0) and row["peer_ms"] == pytest.approx(2000.0)


def test_a_group_measures_ours_against_each_peer_and_a_failing_side_is_a_row() -> None:
    group = [case("nystrom"), case("peer:hf-nystrom"), case("peer:lucidrains-nystrom", num_landmarks=0)]
    rows = {row["peer"]: row for row in measure_group(group, rounds=3, block_s=0.005)}
    assert rows["peer:hf-nystrom"]["status"] == "ok" and rows["peer:hf-nystrom"]["rounds"] == 3
    assert (
        rows["peer:hf-nystrom"]["ratio_p20"] <= rows["peer:hf-nystrom"]["ratio"] <= rows["peer:hf-nystrom"]["ratio_p80"]
    )
    assert rows["peer:lucidrains-nystrom"]["status"] == "error" and "ratio" not in rows["peer:lucidrains-nystrom"]
    broken = measure_group([case("nystrom", num_landmarks=0), case("peer:hf-nystrom")], rounds=3, block_s=0.005)
    assert [row["status"] for row in broken] == ["error"] and "num_landmarks" in broken[0]["error"]


def test_a_fresh_process_per_group_and_its_failure_is_a_row_per_peer() -> None:
    (row,) = run_paired([case("linformer", mode="fwd_bwd"), case("peer:lucidrains-linformer", mode="fwd_bwd")],
                        rounds=2, block_s=0.005, timeout=120)  # fmt: skip
    assert row["status"] == "ok" and (row["ours"], row["mode"], row["n"]) == ("linformer", "fwd_bwd", 256)
    assert row["ours_ms"] > 0 and row["peer_ms"] > 0
    late = run_paired([case("nystrom"), case("peer:hf-nystrom"), case("peer:lucidrains-nystrom")], rounds=2,
                      block_s=0.005, timeout=0.01)  # fmt: skip
    assert [(r["peer"], r["status"]) for r in late] == [
        ("peer:hf-nystrom", "timeout"),
        ("peer:lucidrains-nystrom", "timeout"),
    ]


def test_groups_put_ours_first_and_skip_attentions_without_peers_and_training_steps() -> None:
    cases = [case("peer:lucidrains-performer"), case("performer"), case("softmax"), case("performer", n=512),
             BenchCase(impl="performer", n=256, mode="train_step", model={})]  # fmt: skip
    assert [[c.impl for c in g] for g in groups(cases)] == [["performer", "peer:lucidrains-performer"]]


def test_the_group_process_keeps_a_warm_heap(monkeypatch) -> None:
    """Neither side may inherit the other's page-faulted memory: the process runs with glibc's heap kept warm."""
    import lra.bench.case as case_module

    seen = {}

    class Done:
        returncode, stderr = 0, ""
        stdout = '[{"peer": "peer:hf-nystrom", "status": "ok"}]\n'

    def fake_run(command, **kwargs):
        seen.update(kwargs["env"])
        return Done()

    monkeypatch.setattr(case_module.subprocess, "run", fake_run)
    (row,) = run_paired([case("nystrom"), case("peer:hf-nystrom")], rounds=2, block_s=0.005, timeout=10)
    assert row["status"] == "ok" and row["ours"] == "nystrom"
    assert seen["MALLOC_MMAP_MAX_"] == "0" and int(seen["MALLOC_TRIM_THRESHOLD_"]) >= 2**40
    assert seen["PATH"]  # the rest of the environment is kept
