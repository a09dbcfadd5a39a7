"""Benchmark tables: side-by-side cells, ratios against softmax and against peers, log–log slopes."""

from __future__ import annotations

import math
from typing import Any

from lra.bench.sweep import ours_of

Row = dict[str, Any]


def is_ok(row: Row | None) -> bool:
    return row is not None and row["status"] == "ok"


def _index(rows: list[Row]) -> dict[tuple, Row]:
    return {(r["mode"], r["dtype"], r["n"], r["impl"]): r for r in rows}


def mb(value: float) -> str:
    """Peak memory with the digits that matter: a warm attention call can need well under 1 MB."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _cell(row: Row | None) -> str:
    if row is None:
        return "—"
    return f"{row['median_ms']:.1f} ms / {mb(row['peak_mb'])} MB" if is_ok(row) else row["status"].upper()


def speedup(baseline: Row | None, mine: Row | None, key: str = "median_ms") -> float | None:
    """``baseline[key] / mine[key]`` when both cells were measured (a failed cell, or a zero, has no ratio)."""
    if not (is_ok(baseline) and is_ok(mine)) or mine[key] <= 0 or baseline[key] <= 0:
        return None
    return baseline[key] / mine[key]


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def _times(value: float) -> str:
    """A ratio with one decimal, or two significant digits below 0.1 (0.04×, not 0.0×)."""
    return f"{value:.1f}×" if value >= 0.1 else f"{value:.2g}×"


def _groups(rows: list[Row]) -> list[tuple[str, str, int]]:
    return list(dict.fromkeys((r["mode"], r["dtype"], r["n"]) for r in rows))


def ratio_table(rows: list[Row]) -> str:
    """One line per (mode, dtype, n): every implementation's cell, and each of ours vs softmax and vs its
    fastest peer package."""
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    ours = [i for i in impls if not i.startswith("peer:") and i != "softmax"]
    index = _index(rows)
    header = ["mode", "dtype", "n", *impls]
    for name in ours:
        header += [f"{name} vs softmax", f"{name} vs fastest peer"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for mode, dtype, n in _groups(rows):
        cells = [mode, dtype, str(n), *(_cell(index.get((mode, dtype, n, i))) for i in impls)]
        for name in ours:
            mine = index.get((mode, dtype, n, name))
            peers = [index.get((mode, dtype, n, p)) for p in impls if p.startswith("peer:") and ours_of(p) == name]
            measured = [p for p in peers if is_ok(p)]
            fastest = min(measured, key=lambda p: p["median_ms"]) if measured else None
            cells += [_ratio(speedup(index.get((mode, dtype, n, "softmax")), mine)), _ratio(speedup(fastest, mine))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def family_tables(rows: list[Row]) -> str:
    """One small table per attention of ours: it, its peers, softmax, and the speed-up against each peer."""
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    index = _index(rows)
    tables = []
    for name in (i for i in impls if not i.startswith("peer:") and i != "softmax"):
        peers = [p for p in impls if p.startswith("peer:") and ours_of(p) == name]
        columns = [name, *peers, *(["softmax"] if "softmax" in impls else [])]
        header = ["mode", "dtype", "n", *columns, *(f"{name} vs {p.removeprefix('peer:')}" for p in peers)]
        lines = [f"**{name}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for mode, dtype, n in _groups([r for r in rows if r["impl"] in columns]):
            cells = [mode, dtype, str(n), *(_cell(index.get((mode, dtype, n, c))) for c in columns)]
            cells += [_ratio(speedup(index.get((mode, dtype, n, p)), index.get((mode, dtype, n, name)))) for p in peers]
            lines.append("| " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def paper_table1(rows: list[Row], mode: str = "fwd") -> str:
    """Nyströmformer Table 1 style: per implementation and length, memory (MB) / time (ms), each with softmax ÷
    this in parentheses (> 1: less memory / faster), the direction of the paper's Table 1."""
    impls = list(dict.fromkeys(r["impl"] for r in rows if r["mode"] == mode))
    index = _index(rows)
    lines = []
    for dtype in dict.fromkeys(r["dtype"] for r in rows if r["mode"] == mode):
        lengths = list(dict.fromkeys(r["n"] for r in rows if r["mode"] == mode and r["dtype"] == dtype))
        lines += [
            f"{mode}, {dtype}: memory MB / time ms; in parentheses softmax ÷ this (> 1: less memory / faster, as in "
            "the Nyströmformer paper's Table 1)",
            "",
        ]
        lines += ["| attention | " + " | ".join(f"n = {n}" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
        for impl in impls:
            cells = []
            for n in lengths:
                mine, base = index.get((mode, dtype, n, impl)), index.get((mode, dtype, n, "softmax"))
                if not is_ok(mine):
                    cells.append("—" if mine is None else mine["status"].upper())
                    continue
                memory, time = speedup(base, mine, "peak_mb"), speedup(base, mine)
                mem = mb(mine["peak_mb"]) + (f" ({_times(memory)})" if memory and impl != "softmax" else "")
                ms = f"{mine['median_ms']:.1f}" + (f" ({_times(time)})" if time and impl != "softmax" else "")
                cells.append(f"{mem} / {ms}")
            lines.append(f"| {impl} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def lra_table2(rows: list[Row]) -> str:
    """LRA Table 2 style: training steps/s and peak memory of the whole model, each as this ÷ softmax (steps/s
    > 1: faster, as LRA Table 2 reports speed; memory < 1: less memory)."""
    steps = [r for r in rows if r["mode"] == "train_step"]
    if not steps:
        return ""
    impls = list(dict.fromkeys(r["impl"] for r in steps))
    lengths = list(dict.fromkeys(r["n"] for r in steps))
    index = _index(steps)
    lines = []
    for dtype in dict.fromkeys(r["dtype"] for r in steps):
        lines += [
            f"training step, {dtype}: steps/s (this ÷ softmax, > 1: faster, as in LRA Table 2) | peak memory MB "
            "(this ÷ softmax, < 1: less memory)",
            "",
            "| attention | " + " | ".join(f"steps/s n = {n}" for n in lengths) + " | "
            + " | ".join(f"memory n = {n}" for n in lengths) + " |",
            "|---|" + "---|" * 2 * len(lengths),
        ]  # fmt: skip
        for impl in impls:
            speed, memory = [], []
            for n in lengths:
                mine, base = index.get(("train_step", dtype, n, impl)), index.get(("train_step", dtype, n, "softmax"))
                if not is_ok(mine):
                    status = "—" if mine is None else mine["status"].upper()
                    speed.append(status)
                    memory.append(status)
                    continue
                time, mem = speedup(base, mine), speedup(base, mine, "peak_mb")
                speed.append(
                    f"{1e3 / mine['median_ms']:.2f} ({time:.1f}×)" if time else f"{1e3 / mine['median_ms']:.2f}"
                )
                memory.append(f"{mb(mine['peak_mb'])} ({1 / mem:.2f}×)" if mem else mb(mine["peak_mb"]))
            lines.append(f"| {impl} | " + " | ".join(speed + memory) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def loglog_slope(rows: list[Row], impl: str, mode: str, dtype: str, key: str, lo: int, hi: int) -> float | None:
    """Slope of log(key) against log(n) between lengths lo < hi (1 = linear, 2 = quadratic); None without two
    measured lengths."""
    if lo >= hi:
        return None
    points = {r["n"]: r for r in rows if r["impl"] == impl and r["mode"] == mode and r["dtype"] == dtype}
    a, b = points.get(lo), points.get(hi)
    if not (is_ok(a) and is_ok(b)) or a[key] <= 0 or b[key] <= 0:
        return None
    return math.log(b[key] / a[key]) / math.log(hi / lo)
