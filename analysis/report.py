"""Build the report directory: tables (Markdown, LaTeX, CSV), figures (PNG, SVG), ``runs.csv`` and ``report.md``.

Layout of ``out/`` (with several experiments, each gets ``tables/<slug>/`` and ``figures/<slug>/``)::

    report.md                 everything below, embedded, plus warnings and the failed runs
    runs.csv                  the runs table (analysis.runs), one row per job
    cells.csv                 the aggregated cells (analysis.aggregate)
    tables/accuracy.{md,tex,csv}   tables/efficiency.{md,tex,csv}
    figures/accuracy_bars.{png,svg}  figures/lra_bubble.{png,svg}  figures/val_curves.{png,svg}
    figures/efficiency_<i>.{png,svg}  (one per benchmark setup given with --bench)
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from analysis.aggregate import aggregate
from analysis.collect import Collection
from analysis.formats import to_markdown, write_tables
from analysis.plots import accuracy_bars, bubble_chart, efficiency_curves, save, validation_curves
from analysis.references import ACCURACY_REFERENCES, NYSTROMFORMER_TABLE1, NYSTROMFORMER_TABLE1_SOURCE
from analysis.tables import Table, accuracy_table, efficiency_tables
from lra.io import atomic_write_text


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "experiment"


def _figure(figure: Figure, stem: Path, out: Path, alt: str) -> str:
    """Save ``figure`` as ``stem``.png/.svg; returns the Markdown that embeds it (paths relative to ``out``)."""
    save(figure, stem)
    png, svg = stem.with_suffix(".png").relative_to(out), stem.with_suffix(".svg").relative_to(out)
    return f"![{alt}]({png.as_posix()})\n\n[SVG]({svg.as_posix()})"


def _experiment_section(
    label: str, collection: Collection, cells: pd.DataFrame, out: Path, sub: str
) -> tuple[Table, list[str]]:
    """Tables and figures of one experiment under ``tables/<sub>`` and ``figures/<sub>``; its Markdown parts."""
    runs = collection.runs[collection.runs["experiment_label"] == label]
    mine = cells[cells["experiment_label"] == label]
    tables_dir, figures_dir = out / "tables" / sub, out / "figures" / sub
    accuracy = accuracy_table(mine, experiment=label)
    efficiency = efficiency_tables(mine, runs, experiment=label)
    write_tables([accuracy], tables_dir / "accuracy")
    write_tables(efficiency, tables_dir / "efficiency")
    statuses = runs["status"].value_counts()
    counts = ", ".join(f"{statuses.get(status, 0)} {status}" for status in ("ok", "failed", "incomplete"))
    seeds = ", ".join(map(str, sorted(runs["seed"].dropna().unique())))
    bars = accuracy_bars(mine, title=f"LRA test accuracy — {label}")
    parts = [
        f"Runs: {len(runs)} ({counts}); seeds {seeds}.",
        "### Accuracy",
        to_markdown(accuracy),
        _figure(bars, figures_dir / "accuracy_bars", out, "test accuracy per task"),
        "### Efficiency",
        "\n\n".join(to_markdown(table, title=True) for table in efficiency),
    ]
    if (mine["train_tokens_per_s_n"] > 0).any():
        bubble = bubble_chart(mine, title=f"Accuracy, speed and memory — {label}")
        parts.append(_figure(bubble, figures_dir / "lra_bubble", out, "accuracy vs speed and memory"))
    curves = collection.curves[collection.curves["run_id"].isin(runs.loc[runs["status"] == "ok", "run_id"])]
    if len(curves):
        figure = validation_curves(runs, curves, title=f"Validation accuracy — {label}")
        parts += ["### Validation accuracy", _figure(figure, figures_dir / "val_curves", out, "validation accuracy")]
    return accuracy, parts


def _failed_runs(runs: pd.DataFrame) -> str:
    bad = runs[runs["status"] != "ok"].sort_values(["experiment_label", "task", "attention", "seed"])
    lines = ["| experiment | task | attention | seed | status | error | where |", "|---|---|---|---|---|---|---|"]
    for run in bad.itertuples():
        error = run.error.replace("|", "\\|")[:160]
        seed = "" if pd.isna(run.seed) else run.seed
        where = run.job_dir or run.path
        row = [run.experiment_label, run.task, run.attention, seed, run.status, error, where]
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines)


def _bench_section(bench: pd.DataFrame, out: Path) -> list[str]:
    parts = ["## Attention efficiency (micro-benchmark)"]
    for index, (setup, rows) in enumerate(bench.groupby("setup", sort=True)):
        figure = efficiency_curves(rows, title=setup)
        parts.append(_figure(figure, out / "figures" / f"efficiency_{index}", out, f"efficiency, {setup}"))
        failed = rows[rows["status"] != "ok"]
        if len(failed):
            listed = "; ".join(f"{r.impl} {r.mode} n={r.n}: {r.status}" for r in failed.itertuples())
            parts.append(f"Failed points (crosses on the top edge): {listed}.")
        parts.append(f"Source: {', '.join(sorted(rows['file'].unique()))}.")
    lengths = sorted({n for row in NYSTROMFORMER_TABLE1.values() for n in row})
    table = ["| model | " + " | ".join(f"n={n}" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
    for model, cells in NYSTROMFORMER_TABLE1.items():
        table.append(f"| {model} | " + " | ".join(f"{cells[n][0]:g} MB / {cells[n][1]:g} ms" for n in lengths) + " |")
    parts += [f"For context, published (different machine and protocol): {NYSTROMFORMER_TABLE1_SOURCE}.", *table]
    return parts


def build_report(collection: Collection, out: Path, bench: pd.DataFrame | None = None) -> str:
    """Write the report for ``collection`` (and the benchmark rows of :func:`analysis.bench.read_bench`) into
    ``out``; returns the main table(s) in Markdown, for the terminal."""
    out.mkdir(parents=True, exist_ok=True)
    runs = collection.runs
    cells = aggregate(runs)
    labels = sorted(runs["experiment_label"].unique())
    runs_csv, cells_csv = out / "runs.csv", out / "cells.csv"
    atomic_write_text(runs_csv, runs.drop(columns=["config"]).to_csv(index=False))
    atomic_write_text(cells_csv, cells.to_csv(index=False))

    sources = runs["source"].value_counts()
    header = [
        "# LRA report",
        f"Built {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from {len(runs)} runs "
        f"({', '.join(f'{count} from {source}' for source, count in sources.items()) or 'none'}).",
    ]
    if collection.warnings:
        header += ["## Warnings", "\n".join(f"- {warning}" for warning in collection.warnings)]
    body, summaries = [], []
    for label in labels:
        sub = slug(label) if len(labels) > 1 else ""
        accuracy, parts = _experiment_section(label, collection, cells, out, sub)
        body += [f"## Experiment: {label}", *parts]
        summaries.append(to_markdown(accuracy, title=True))
    if (runs["status"] != "ok").any():
        body += ["## Failed and incomplete runs", _failed_runs(runs)]
    if bench is not None and len(bench):
        body += _bench_section(bench, out)
    if len(runs):
        body += [
            "## Published references",
            "\n".join(f"- **{r.label}**: {r.source}. {r.note}." for r in ACCURACY_REFERENCES),
        ]
    report = out / "report.md"
    atomic_write_text(report, "\n\n".join(header + body) + "\n")
    return "\n\n".join(summaries)
