"""The issues' targets in ``summary.md``: computed from the rows, with the p20/p80 spread, met / not met, and
"not measured" (never a number) when a cell failed or is not in the sweep."""

from __future__ import annotations

import math

import pytest

from lra.bench.targets import evaluate, paired_table, peer_ratios, targets_table


def cell(impl: str, n: int, ms: float, mode: str = "fwd", mb: float = 1.0, spread: float = 0.0) -> dict:
    return {"impl": impl, "mode": mode, "dtype": "float32", "n": n, "status": "ok", "median_ms": ms,
            "p20_ms": ms - spread, "p80_ms": ms + spread, "peak_mb": mb}  # fmt: skip


def failed(impl: str, n: int, mode: str = "fwd", status: str = "oom") -> dict:
    return {"impl": impl, "mode": mode, "dtype": "float32", "n": n, "status": status}


@pytest.fixture
def outcomes() -> dict:
    rows = [
        cell("softmax", 16384, 420, spread=20),
        cell("nystrom", 16384, 10, mb=16, spread=1),
        cell("nystrom", 2048, 2, mb=1, spread=0.5),
        cell("peer:hf-nystrom", 16384, 50),
        cell("peer:lucidrains-nystrom", 16384, 45),
        cell("nystrom", 16384, 30, "fwd_bwd"),
        cell("peer:hf-nystrom", 16384, 80, "fwd_bwd"),
        cell("peer:lucidrains-nystrom", 16384, 85, "fwd_bwd"),
        cell("linformer", 4096, 2),
        cell("peer:lucidrains-linformer", 4096, 3),
        cell("linformer", 16384, 10),
        cell("peer:lucidrains-linformer", 16384, 9),
        cell("reformer", 4096, 10),
        failed("peer:lucidrains-reformer", 4096),
    ]
    return {outcome.label.removesuffix(", float32"): outcome for outcome in evaluate(rows, "float32")}


def test_speed_ratios_with_their_spread_and_mark(outcomes: dict) -> None:
    sdpa = outcomes["nystrom vs exact SDPA (softmax), fwd, n = 16384"]
    assert sdpa.met and sdpa.measured.value == pytest.approx(42.0)
    assert (sdpa.measured.low, sdpa.measured.high) == (pytest.approx(400 / 11), pytest.approx(440 / 9))
    peer = outcomes["nystrom vs fastest peer Nyström, fwd, n = 16384"]
    assert peer.met and peer.measured.value == pytest.approx(4.5) and peer.measured.where == "peer:lucidrains-nystrom"
    backward = outcomes["nystrom vs fastest peer Nyström, fwd_bwd, n = 16384"]
    assert backward.met is False and backward.measured.value == pytest.approx(80 / 30)


def test_slopes_are_at_most_targets(outcomes: dict) -> None:
    time = outcomes["nystrom fwd time log–log slope, n = 2048…16384"]
    assert time.met and time.measured.value == pytest.approx(math.log(5) / math.log(8))
    assert time.measured.low == pytest.approx(math.log(9 / 2.5) / math.log(8))
    memory = outcomes["nystrom fwd memory log–log slope, n = 2048…16384"]
    assert memory.met is False and memory.measured.value == pytest.approx(4 / 3) and memory.measured.low is None


def test_peer_targets_take_the_worst_length_and_failures_are_not_measured(outcomes: dict) -> None:
    linformer = outcomes["linformer vs lucidrains-linformer, fwd, worst n ≥ 4096"]
    assert linformer.met is False and linformer.measured.value == pytest.approx(0.9)
    assert linformer.measured.where == "n = 16384"
    reformer = outcomes["reformer vs lucidrains-reformer, fwd, worst n ≥ 4096"]
    assert reformer.met is None and reformer.missing == "peer:lucidrains-reformer fwd n = 4096: OOM"
    train = outcomes["nystrom training steps/s vs softmax, n = 4096"]
    assert train.met is None and "not in the sweep" in train.missing
    table = targets_table(list(outcomes.values()))
    assert "| ≥ 40.00× | 42.00× | 36.36–48.89× | **met** |" in table
    assert "| ≤ 1.15 | 1.33 | — | **not met** |" in table
    assert "| — | — | not measured (peer:lucidrains-reformer fwd n = 4096: OOM) |" in table


def test_ours_vs_each_peer_at_every_length() -> None:
    rows = [cell("performer", 4096, 2), cell("peer:lucidrains-performer", 4096, 5), cell("performer", 8192, 4)]
    rows.append(failed("peer:lucidrains-performer", 8192, status="timeout"))
    lines = peer_ratios(rows).splitlines()
    assert lines[0] == "| ours | peer | mode | dtype | n = 4096 | n = 8192 |"
    assert lines[-1] == "| performer | lucidrains-performer | fwd | float32 | 2.50× | TIMEOUT |"


def pair(ours: str, peer: str, n: int, ratio: float, mode: str = "fwd", status: str = "ok") -> dict:
    where = {"ours": ours, "peer": peer, "mode": mode, "dtype": "float32", "n": n, "status": status}
    if status != "ok":
        return {**where, "error": "no result within 1.0 s"}
    return {**where, "ratio": ratio, "ratio_p20": ratio - 0.1, "ratio_p80": ratio + 0.1, "rounds": 12,
            "ours_ms": 10.0, "peer_ms": 10.0 * ratio}  # fmt: skip


def test_peer_targets_are_judged_on_the_paired_measurement_where_there_is_one() -> None:
    rows = [cell("performer", 8192, 10), cell("peer:lucidrains-performer", 8192, 9)]  # cells: 0.9×, not met
    rows += [cell("linformer", 4096, 2), cell("peer:lucidrains-linformer", 4096, 3)]  # cells only: 1.5×
    paired = [
        pair("performer", "peer:lucidrains-performer", 4096, 1.6),
        pair("performer", "peer:lucidrains-performer", 8192, 1.2),  # the worst paired length
        pair("performer", "peer:lucidrains-performer", 2048, 0.5),  # below n = 4096: not a target length
        pair("reformer", "peer:lucidrains-reformer", 8192, 0.0, status="timeout"),
    ]
    judged = {o.label.removesuffix(", float32"): o for o in evaluate(rows, "float32", paired)}
    performer = judged["performer vs lucidrains-performer, fwd, worst n ≥ 4096"]
    assert performer.met and performer.measured.value == pytest.approx(1.2)
    assert (performer.measured.low, performer.measured.high) == (pytest.approx(1.1), pytest.approx(1.3))
    assert performer.measured.where == "n = 8192, paired"
    linformer = judged["linformer vs lucidrains-linformer, fwd, worst n ≥ 4096"]
    assert linformer.met and linformer.measured.value == pytest.approx(1.5) and linformer.measured.where == "n = 4096"
    reformer = judged["reformer vs lucidrains-reformer, fwd, worst n ≥ 4096"]
    assert reformer.met is None and reformer.missing.endswith("n = 8192, paired: TIMEOUT")
    lines = paired_table(paired).splitlines()
    assert (
        lines[3]
        == "| performer | lucidrains-performer | fwd | float32 | 8192 | 10.0 | 12.0 | **1.20×** (1.10–1.30) | 12 |"
    )
    assert (
        lines[-1]
        == "| reformer | lucidrains-reformer | fwd | float32 | 8192 | — | — | TIMEOUT: no result within 1.0 s | — |"
    )
