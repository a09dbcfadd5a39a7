"""Benchmark tables: side-by-side cells, ratios against softmax and against peers, log–log slopes."""

from __future__ import annotations

import math
from typing import Any

from lra.bench.sweep import ours_of

Row = dict[str, Any]


def _ok(row: Row | None) -> bool:
    return row is not None and row["status"] == "ok"


def _index(rows: list[Row]) -> dict[tuple, Row]:
    return {(r["mode"], r["dtype"], r["n"], r["impl"]): r for r in rows}


def _cell(row: Row | None) -> str:
    if row is None:
        return "—"
    return f"{row['median_ms']:.1f} ms / {row['peak_mb']:.0f} MB" if _ok(row) else row["status"].upper()


def speedup(baseline: Row | None, mine: Row | None, key: str = "median_ms") -> float | None:
    """``baseline[key] / mine[key]`` when both cells were measured (a failed cell has no ratio)."""
    if not (_ok(baseline) and _ok(mine)) or mine[key] <= 0:
        return None
    return baseline[key] / mine[key]


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


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
            measured = [p for p in peers if _ok(p)]
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
    """Nyströmformer Table 1 style: per implementation and length, memory (MB) / time (ms) with the ratio
    against softmax in parentheses (× smaller / × faster)."""
    impls = list(dict.fromkeys(r["impl"] for r in rows if r["mode"] == mode))
    index = _index(rows)
    lines = []
    for dtype in dict.fromkeys(r["dtype"] for r in rows if r["mode"] == mode):
        lengths = list(dict.fromkeys(r["n"] for r in rows if r["mode"] == mode and r["dtype"] == dtype))
        lines += [f"{mode}, {dtype}: memory MB / time ms (ratio vs softmax)", ""]
        lines += ["| attention | " + " | ".join(f"n = {n}" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
        for impl in impls:
            cells = []
            for n in lengths:
                mine, base = index.get((mode, dtype, n, impl)), index.get((mode, dtype, n, "softmax"))
                if not _ok(mine):
                    cells.append("—" if mine is None else mine["status"].upper())
                    continue
                memory, time = speedup(base, mine, "peak_mb"), speedup(base, mine)
                mem = f"{mine['peak_mb']:.0f}" + (f" ({memory:.1f}×)" if memory and impl != "softmax" else "")
                ms = f"{mine['median_ms']:.1f}" + (f" ({time:.1f}×)" if time and impl != "softmax" else "")
                cells.append(f"{mem} / {ms}")
            lines.append(f"| {impl} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def lra_table2(rows: list[Row]) -> str:
    """LRA Table 2 style: training steps/s and peak memory of the whole model, relative to softmax."""
    steps = [r for r in rows if r["mode"] == "train_step"]
    if not steps:
        return ""
    impls = list(dict.fromkeys(r["impl"] for r in steps))
    lengths = list(dict.fromkeys(r["n"] for r in steps))
    index = _index(steps)
    lines = []
    for dtype in dict.fromkeys(r["dtype"] for r in steps):
        lines += [
            f"training step, {dtype}: steps/s (× softmax) | peak memory MB (× softmax)",
            "",
            "| attention | " + " | ".join(f"steps/s n = {n}" for n in lengths) + " | "
            + " | ".join(f"memory n = {n}" for n in lengths) + " |",
            "|---|" + "---|" * 2 * len(lengths),
        ]  # fmt: skip
        for impl in impls:
            speed, memory = [], []
            for n in lengths:
                mine, base = index.get(("train_step", dtype, n, impl)), index.get(("train_step", dtype, n, "softmax"))
                if not _ok(mine):
                    status = "—" if mine is None else mine["status"].upper()
                    speed.append(status)
                    memory.append(status)
                    continue
                time, mem = speedup(base, mine), speedup(base, mine, "peak_mb")
                speed.append(
                    f"{1e3 / mine['median_ms']:.2f} ({time:.1f}×)" if time else f"{1e3 / mine['median_ms']:.2f}"
                )
                memory.append(f"{mine['peak_mb']:.0f} ({1 / mem:.2f}×)" if mem else f"{mine['peak_mb']:.0f}")
            lines.append(f"| {impl} | " + " | ".join(speed + memory) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def loglog_slope(rows: list[Row], impl: str, mode: str, dtype: str, key: str, lo: int, hi: int) -> float | None:
    """Slope of log(key) against log(n) between lengths lo and hi (1 = linear, 2 = quadratic)."""
    points = {r["n"]: r for r in rows if r["impl"] == impl and r["mode"] == mode and r["dtype"] == dtype}
    a, b = points.get(lo), points.get(hi)
    if not (_ok(a) and _ok(b)) or a[key] <= 0 or b[key] <= 0:
        return None
    return math.log(b[key] / a[key]) / math.log(hi / lo)
