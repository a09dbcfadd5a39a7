"""The report's tables, as content (cells and notes) independent of the output format (:mod:`analysis.formats`).

- :func:`accuracy_table`: the LRA table, attentions × tasks plus the average, each of our rows followed by the
  published rows for the same attention and our difference to them.
- :func:`efficiency_tables`: per task, training tokens/s and steps/s, peak memory and parameters, each also
  relative to softmax.

Cells without a successful run read ``FAILED``, ``incomplete`` or ``missing``, never a number, and are left out
of averages with a note naming them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from analysis.references import ACCURACY_REFERENCES, TASKS5, Reference
from analysis.style import ATTENTION_ORDER, TASK_ORDER, attention_label, ordered, task_label

STATUS_TEXT = {"failed": "FAILED", "incomplete": "incomplete", "missing": "missing"}
AVERAGED_TASKS = TASKS5  # LRA averages leave Path-X out


@dataclass
class Table:
    """``rows`` of display strings under ``header``; ``data`` holds the numbers behind them (the CSV);
    ``rules`` are the row indices before which a horizontal rule separates groups (LaTeX)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    rules: list[int] = field(default_factory=list)


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _cell_text(cell: pd.Series, metric: str, usual_n: int) -> str:
    if cell["status"] != "ok" or cell[f"{metric}_n"] == 0:
        return STATUS_TEXT.get(cell["status"], "not measured")
    mean, std, n = 100 * cell[f"{metric}_mean"], 100 * cell[f"{metric}_std"], int(cell[f"{metric}_n"])
    text = f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"
    if n != usual_n:
        text += f" (n={n})"
    if cell["failed"] or cell["incomplete"]:
        text += " †"
    return text


@dataclass
class _Ours:
    """One attention's successful means (percent) by task, and the average over the averaged tasks."""

    values: dict[str, float]
    averaged: list[str]
    average: float
    marker: str  # "*" when the average leaves out a task


Records = list[dict[str, object]]


def _our_row(
    attention: str, tasks: list[str], cells: dict[tuple[str, str], pd.Series], metric: str, usual_n: int
) -> tuple[list[str], _Ours, Records]:
    row, values, data = [attention_label(attention), "ours"], {}, []
    for task in tasks:
        cell = cells[(task, attention)]
        row.append(_cell_text(cell, metric, usual_n))
        value = 100 * cell[f"{metric}_mean"] if cell["status"] == "ok" else float("nan")
        if not math.isnan(value):
            values[task] = value
        data.append(
            {"attention": attention, "row": "ours", "model": row[0], "task": task, "value": value,
             "std": 100 * cell[f"{metric}_std"], "n": cell[f"{metric}_n"], "status": cell["status"]}
        )  # fmt: skip
    expected = [task for task in tasks if task in AVERAGED_TASKS]
    averaged = [task for task in expected if task in values]
    ours = _Ours(values, averaged, _mean([values[t] for t in averaged]), "*" if len(averaged) < len(expected) else "")
    row.append(f"{ours.average:.2f}{ours.marker}" if averaged else "—")
    data.append({"attention": attention, "row": "ours", "model": row[0], "task": "avg", "value": ours.average})
    return row, ours, data


def _reference_rows(
    attention: str, tasks: list[str], ours: _Ours, reference: Reference
) -> tuple[list[str], list[str], Records]:
    """The published row and our difference to it (``Δ``), with their numbers for the CSV."""
    model = reference.rows[attention]
    published = reference.accuracy[model]
    averaged = [task for task in tasks if task in AVERAGED_TASKS]
    full = set(AVERAGED_TASKS) <= set(tasks)
    ref_avg = published["avg"] if full else _mean([published[t] for t in averaged])
    row = [model, reference.label, *(f"{published[t]:.2f}" if t in published else "—" for t in tasks)]
    row.append(f"{ref_avg:.2f}" if averaged else "—")
    deltas = {t: ours.values[t] - published[t] for t in tasks if t in ours.values and t in published}
    common = [t for t in ours.averaged if t in published]
    delta_avg = ours.average - _mean([published[t] for t in common]) if common else float("nan")
    delta = [f"Δ vs {model}", reference.label, *(_signed(deltas[t]) if t in deltas else "—" for t in tasks)]
    delta.append(f"{_signed(delta_avg)}{ours.marker}" if common else "—")
    data = [
        {"attention": attention, "row": kind, "model": model, "task": task, "value": value}
        for kind, values, average in (
            (reference.key, published, ref_avg),
            (f"delta:{reference.key}", deltas, delta_avg),
        )
        for task, value in [*((t, values.get(t, float("nan"))) for t in tasks), ("avg", average)]
    ]
    return row, delta, data


def accuracy_table(
    cells: pd.DataFrame,
    metric: str = "test_accuracy",
    references: Sequence[Reference] = ACCURACY_REFERENCES,
    experiment: str = "",
) -> Table:
    """The LRA accuracy table (percent) of one experiment's cells (:func:`analysis.aggregate.aggregate`): per
    attention our row, then each published row for it, then our difference to each."""
    tasks = ordered(cells["task"], TASK_ORDER)
    ok_n = cells.loc[cells["status"] == "ok", f"{metric}_n"]
    usual_n = int(ok_n.mode().iloc[0]) if len(ok_n) else 0
    by_key = {(row["task"], row["attention"]): row for _, row in cells.iterrows()}
    rows: list[list[str]] = []
    rules: list[int] = []
    data: Records = []
    partial: list[str] = []
    for attention in ordered(cells["attention"], ATTENTION_ORDER):
        rules.append(len(rows))
        row, ours, numbers = _our_row(attention, tasks, by_key, metric, usual_n)
        rows.append(row)
        data += numbers
        if ours.marker and ours.averaged:
            left = [f"{task_label(t)} {by_key[(t, attention)]['status']}" for t in tasks if t not in ours.values]
            partial.append(f"{attention_label(attention)} over {len(ours.averaged)} tasks ({', '.join(left)})")
        deltas = []
        for reference in references:
            if reference.for_attention(attention) is not None:
                published, delta, numbers = _reference_rows(attention, tasks, ours, reference)
                rows.append(published)
                deltas.append(delta)
                data += numbers
        rows += deltas
    return Table(
        title=f"LRA test accuracy (%), experiment {experiment}".strip(),
        header=["model", "source", *(task_label(task) for task in tasks), "Avg"],
        rows=rows,
        data=pd.DataFrame(data).astype({"n": "Int64"}),
        notes=_accuracy_notes(cells, tasks, usual_n, partial, references, experiment),
        rules=rules[1:],
    )


def _where(task: str, attention: str) -> str:
    return f"{task_label(task)}/{attention_label(attention)}"


def _accuracy_notes(
    cells: pd.DataFrame,
    tasks: list[str],
    usual_n: int,
    partial: list[str],
    references: Sequence[Reference],
    experiment: str,
) -> list[str]:
    spread = (
        f"mean ± sample standard deviation over {usual_n} seeds per cell unless marked (n=…)"
        if usual_n > 1
        else "one seed per cell (no spread)"
    )
    notes = [f"Test accuracy (%) of the best-validation checkpoint; ours: {spread}. Δ: ours − published, in points."]
    not_ok = cells[cells["status"] != "ok"]
    if len(not_ok):
        listed = ", ".join(f"{_where(r.task, r.attention)} {STATUS_TEXT[r.status]}" for r in not_ok.itertuples())
        notes.append(f"No successful run (never counted as zero, left out of Avg): {listed}.")
    some_failed = cells[(cells["status"] == "ok") & ((cells["failed"] > 0) | (cells["incomplete"] > 0))]
    if len(some_failed):
        listed = "; ".join(
            f"{_where(r.task, r.attention)}: " + (f"failed seeds {r.failed_seeds}" if r.failed_seeds else "unfinished")
            for r in some_failed.itertuples()
        )
        notes.append(f"† some runs failed or did not finish; the mean is over the others: {listed}.")
    if partial:
        notes.append(f"* Avg over fewer tasks: {'; '.join(partial)}; its Δ is against the same tasks.")
    averaged = [task for task in tasks if task in AVERAGED_TASKS]
    if averaged and not set(AVERAGED_TASKS) <= set(tasks):
        notes.append(
            f"Avg is over the LRA tasks shown ({', '.join(task_label(t) for t in averaged)}); the published rows' "
            "Avg is recomputed over the same tasks (their five-task averages are in analysis/references.py)."
        )
    if "pathx" in tasks:
        notes.append("Avg leaves Path-X out, as LRA does.")
    if experiment and not experiment.startswith("lra_paper"):
        notes.append(
            f"Experiment '{experiment}' is not the paper protocol (experiment=lra_paper): the published rows are "
            "context, not a target."
        )
    notes.append("Published: " + "; ".join(f"{reference.label} ({reference.cite})" for reference in references) + ".")
    return notes


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}×" if baseline and not (math.isnan(value) or math.isnan(baseline)) else "—"


def _number(value: float, pattern: str) -> str:
    return "—" if math.isnan(value) else pattern.format(value)


EFFICIENCY = (
    ("train tokens/s", "train_tokens_per_s", "{:,.0f}"),
    ("train steps/s", "train_steps_per_s", "{:.2f}"),
    ("peak memory (MB)", "peak_memory_mb", "{:,.0f}"),
)


def efficiency_tables(cells: pd.DataFrame, runs: pd.DataFrame, experiment: str = "") -> list[Table]:
    """Per task of one experiment: throughput, steps/s, peak memory and parameters, each also vs softmax."""
    tables = []
    for task in ordered(cells["task"], TASK_ORDER):
        task_cells = cells[cells["task"] == task].set_index("attention")
        softmax = task_cells.loc["softmax"] if "softmax" in task_cells.index else None
        header = ["attention", "runs"]
        for label, _, _ in EFFICIENCY:
            header += [label, "× softmax"]
        header += ["parameters", "× softmax"]
        rows, data = [], []
        for attention in ordered(task_cells.index, ATTENTION_ORDER):
            cell = task_cells.loc[attention]
            row = [attention_label(attention), f"{cell['ok']}/{cell['runs']}"]
            record: dict[str, object] = {"task": task, "attention": attention, "status": cell["status"]}
            for _, metric, pattern in EFFICIENCY:
                mean = cell[f"{metric}_mean"]
                base = softmax[f"{metric}_mean"] if softmax is not None else float("nan")
                ratio = _ratio(mean, base)
                row += [_number(mean, pattern), ratio]
                record[metric] = mean
                record[f"{metric}_vs_softmax"] = mean / base if ratio != "—" else float("nan")
            params, param_ratio = cell["num_parameters_mean"], cell["parameter_ratio_vs_softmax_mean"]
            row += [_number(params, "{:,.0f}"), _number(param_ratio, "{:.2f}×")]
            record |= {"num_parameters": params, "parameter_ratio_vs_softmax": param_ratio}
            if cell["status"] != "ok":
                row[2:] = [STATUS_TEXT[cell["status"]]] + ["—"] * (len(row) - 3)
            rows.append(row)
            data.append(record)
        tables.append(
            Table(
                title=f"Efficiency on {task_label(task)}, experiment {experiment}".strip(),
                header=header,
                rows=rows,
                data=pd.DataFrame(data),
                notes=_efficiency_notes(
                    runs[(runs["task"] == task) & (runs["status"] == "ok")],
                    "absent" if softmax is None else str(softmax["status"]),
                ),
            )
        )
    return tables


def _efficiency_notes(runs: pd.DataFrame, softmax_status: str) -> list[str]:
    """The table's notes; ``softmax_status`` is the softmax cell's status, or ``absent`` when it has none."""
    notes = []
    if softmax_status == "absent":
        notes.append("No softmax run for this task: no ratios.")
    elif softmax_status != "ok":
        notes.append(
            f"softmax has no successful run on this task ({STATUS_TEXT.get(softmax_status, softmax_status)}): the "
            "speed and memory × softmax columns are empty (—); parameters × softmax come from each run's own count."
        )
    notes += [
        "Means over successful runs. Throughput is wall-clock training time per optimiser step after 3 warm-up "
        "steps, data loading and logging included; × softmax > 1 is faster for tokens/s and steps/s, < 1 is "
        "smaller for memory. Parameters × softmax: against the softmax model of the same sizes."
    ]
    machines = sorted({f"{r.device} ({r.accelerator}, {r.precision})" for r in runs.itertuples()})
    if len(machines) > 1:
        notes.append(f"Warning: these runs mix hardware, so speed ratios are unreliable: {'; '.join(machines)}.")
    elif machines:
        notes.append(f"Measured on {machines[0]}.")
    if (runs["accelerator"] == "cpu").any():
        notes.append(
            "On CPU, peak memory is the process's peak resident set (interpreter and libraries included), so "
            "memory ratios understate the attention's own difference; on GPU it is CUDA max allocated."
        )
    return notes
