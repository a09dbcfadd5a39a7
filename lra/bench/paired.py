"""Paired comparison of one of our attentions with its peer packages: the same q, k, v, in one process, timed in
alternating blocks, so that what the machine does meanwhile (other tenants, frequency changes) hits both sides.

The cells of the sweep time each implementation in its own process, one after the other; on a shared VM their
medians can drift by ±30 % between cells a minute apart, which decides an "ours vs peer" ratio near 1. Here each
group (ours and every peer of it, at one length, mode and dtype) is built once; each side is warmed up and sized
to a block of about ``block_s`` seconds; then ``rounds`` rounds time one block per side, the side that goes first
rotating each round. A round gives one ratio per peer (peer per-call time ÷ ours, > 1: ours faster); the figure is
the median of those ratios, with their p20–p80 spread.

The group's process keeps a warm heap (:data:`WARM_HEAP`: glibc neither maps large blocks fresh nor hands freed
memory back). With the default allocator, a temporary above the mmap threshold is mapped and page-faulted anew on
every call, unless the heap already holds enough free memory, which in a shared process the side with the larger
footprint leaves behind for the other: the smaller side then skips page faults it pays alone (measured: ours
31–33 ms paired against 40–43 ms alone, Reformer fwd+bwd at 4K). On a warm heap neither side pays them, alone or
paired, and the two agree (30 ms). The figure is therefore compute on a warm heap; the cells, with the default
allocator, include the page faults. Elsewhere than glibc the variables are ignored.

``python -m lra.bench.paired '<json group>'`` measures one group and prints one JSON line; :func:`run_paired`
runs it in a fresh process and records a failure as a row.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch

from lra.bench.case import BenchCase, attention_step, run_json_process
from lra.bench.sweep import ours_of

Row = dict[str, Any]
# glibc malloc tunables: no mmap for large blocks, never trim the heap (see the module docstring)
WARM_HEAP = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**62)}


def _block(step: Callable[[], None], calls: int) -> float:
    """Seconds per call over ``calls`` back-to-back calls."""
    started = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - started) / calls


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    """Median, p20 and p80 (inclusive method, as the cells' timings)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=5, method="inclusive")
    return statistics.median(values), cuts[0], cuts[3]


def summarise(ours: str, per_call: dict[str, list[float]]) -> list[Row]:
    """One row per peer from the per-round per-call seconds of every side: the median of the per-round ratios
    (peer ÷ ours) with their p20/p80, and each side's median per-call time in ms."""
    mine = per_call[ours]
    rows = []
    for peer, theirs in per_call.items():
        if peer == ours:
            continue
        ratio, low, high = _quantiles([t / o for t, o in zip(theirs, mine, strict=True)])
        rows.append({
            "peer": peer, "status": "ok", "ratio": ratio, "ratio_p20": low, "ratio_p80": high, "rounds": len(mine),
            "ours_ms": statistics.median(mine) * 1e3, "peer_ms": statistics.median(theirs) * 1e3,
        })  # fmt: skip
    return rows


def measure_group(cases: list[BenchCase], rounds: int, block_s: float) -> list[Row]:
    """Time ``cases[0]`` (ours) against the rest (its peers) in alternating blocks; see the module docstring.
    A side that cannot be built or run is an ``error`` row for that peer (for every peer when it is ours)."""
    steps: dict[str, Callable[[], None]] = {}
    failures: dict[str, str] = {}
    for case in cases:
        try:
            step = attention_step(case, torch.device(case.device), getattr(torch, case.dtype))
            step()  # warm-up: lazy initialisation, allocator
            steps[case.impl] = step
        except Exception as error:  # recorded as a row, never as a number
            failures[case.impl] = f"{type(error).__name__}: {error}"
    ours = cases[0].impl
    if ours in failures:
        return [{"peer": c.impl, "status": "error", "error": f"{ours}: {failures[ours]}"} for c in cases[1:]]
    calls = {impl: max(1, round(block_s / _block(step, 1))) for impl, step in steps.items()}
    per_call: dict[str, list[float]] = {impl: [] for impl in steps}
    order = list(steps)
    for round_index in range(rounds):
        shift = round_index % len(order)
        for impl in order[shift:] + order[:shift]:
            per_call[impl].append(_block(steps[impl], calls[impl]))
    failed = [{"peer": impl, "status": "error", "error": message} for impl, message in failures.items()]
    return summarise(ours, per_call) + failed


def groups(cases: Iterable[BenchCase]) -> list[list[BenchCase]]:
    """The sweep's attention-core cases grouped for pairing: per (mode, dtype, n) and attention of ours that has
    peers in the sweep, ours first then its peers."""
    grouped: dict[tuple, list[BenchCase]] = {}
    for case in cases:
        if case.mode == "train_step":
            continue
        key = (case.mode, case.dtype, case.n, ours_of(case.impl))
        grouped.setdefault(key, []).append(case)
    result = []
    for members in grouped.values():
        ours = [c for c in members if not c.impl.startswith("peer:")]
        peers = [c for c in members if c.impl.startswith("peer:")]
        if ours and peers:
            result.append(ours + peers)
    return result


def _where(group: list[BenchCase]) -> Row:
    return {"ours": group[0].impl, "mode": group[0].mode, "dtype": group[0].dtype, "n": group[0].n}


def run_paired(group: list[BenchCase], rounds: int, block_s: float, timeout: float) -> list[Row]:
    """:func:`measure_group` in a fresh Python process; each row carries the group's ours, mode, dtype and n. A
    crash, kill or timeout becomes an ``error``, ``oom`` or ``timeout`` row for every peer of the group."""
    payload = json.dumps({"cases": [dataclasses.asdict(c) for c in group], "rounds": rounds, "block_s": block_s})
    where = _where(group)
    rows, failure = run_json_process([sys.executable, "-m", "lra.bench.paired", payload], timeout, env=WARM_HEAP)
    if failure is not None:  # the process failed: the reason for every pair
        return [{**where, "peer": c.impl, **failure} for c in group[1:]]
    return [{**where, **row} for row in rows]


def run_groups(
    cases: Iterable[BenchCase],
    lengths: Iterable[int],
    rounds: int,
    block_s: float,
    timeout: float,
    budget_s: float | None = None,
) -> list[Row]:
    """Every pairing group of ``cases`` at ``lengths`` (:func:`groups`), one fresh process each, printing a line
    per pair as it lands; once ``budget_s`` seconds are spent the remaining groups' rows are ``skipped``."""
    wanted, rows, started = set(lengths), [], time.monotonic()
    for group in (g for g in groups(cases) if g[0].n in wanted):
        left = None if budget_s is None else budget_s - (time.monotonic() - started)
        if left is not None and left <= 0:
            spent = {"status": "skipped", "error": "the sweep's time budget was spent"}
            landed = [{**_where(group), "peer": c.impl, **spent} for c in group[1:]]
        else:
            landed = run_paired(group, rounds, block_s, timeout if left is None else min(timeout, left))
        for row in landed:
            shown = (
                f"{row['ratio']:.2f}× ({row['ratio_p20']:.2f}–{row['ratio_p80']:.2f})"
                if row["status"] == "ok"
                else row["status"]
            )
            print(f"paired {row['mode']:8s} {row['dtype']:9s} n={row['n']:<6d} {row['ours']} vs {row['peer']:28s} "
                  f"{shown}", flush=True)  # fmt: skip
        rows += landed
    return rows


def main() -> None:
    spec = json.loads(sys.argv[1])
    cases = [BenchCase(**case) for case in spec["cases"]]
    print(json.dumps(measure_group(cases, spec["rounds"], spec["block_s"])))


if __name__ == "__main__":
    main()
