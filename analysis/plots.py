"""The report's figures. Each function returns a matplotlib ``Figure`` built without pyplot (no global state, no
GUI backend: PNG and SVG go through Agg); :func:`save` writes both formats.

Every attention keeps its colour (:mod:`analysis.style`) in every figure; a peer implementation of an attention
takes that attention's colour with its own line style. A failed, incomplete or missing result is drawn as a
labelled mark, never as a zero.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Annotation
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator
from matplotlib.transforms import Bbox

from analysis.references import LRA_TABLE1, NYSTROMFORMER_TABLE3, Reference
from analysis.style import (
    ATTENTION_ORDER,
    PEER_LINESTYLES,
    PEER_MARKERS,
    TASK_ORDER,
    attention_label,
    colour,
    linestyle,
    marker,
    ordered,
    task_label,
)
from analysis.tables import AVERAGED_TASKS, STATUS_TEXT

MODE_LABELS = {"fwd": "forward", "fwd_bwd": "forward + backward", "train_step": "training step"}
_REFERENCE_STYLE = {NYSTROMFORMER_TABLE3.key: "-", LRA_TABLE1.key: ":"}


def save(figure: Figure, stem: Path) -> list[Path]:
    """``<stem>.png`` (150 dpi) and ``<stem>.svg``, without timestamps so reruns give identical files."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    figure.savefig(png, dpi=150, bbox_inches="tight", metadata={"Software": None})
    figure.savefig(svg, bbox_inches="tight", metadata={"Date": None, "Creator": None})
    return [png, svg]


def _average(cells: pd.DataFrame, metric: str) -> tuple[float, bool]:
    """Mean over the successful averaged tasks of ``cells`` (one attention) and whether any task was left out."""
    averaged = cells[cells["task"].isin(AVERAGED_TASKS)]
    ok = averaged[(averaged["status"] == "ok") & (averaged[f"{metric}_n"] > 0)]
    value = 100 * ok[f"{metric}_mean"].mean() if len(ok) else float("nan")
    return value, len(ok) < len(averaged)


def _bar(mine: pd.DataFrame, task: str, metric: str) -> tuple[float, float, bool, str]:
    """One attention's bar for ``task`` (or "avg"): height, error, whether the average leaves tasks out, and the
    status to print instead when there is no bar."""
    if task == "avg":
        value, partial = _average(mine, metric)
        return value, float("nan"), partial, ""
    cell = mine[mine["task"] == task].iloc[0]
    if cell["status"] == "ok" and cell[f"{metric}_n"] > 0:
        return 100 * cell[f"{metric}_mean"], 100 * cell[f"{metric}_std"], False, ""
    return float("nan"), float("nan"), False, STATUS_TEXT.get(cell["status"], "not measured")


def _published(reference: Reference, attention: str, task: str, mine: pd.DataFrame) -> float | None:
    """The published value for a bar; for "avg", over the same tasks as our average."""
    published = reference.for_attention(attention)
    if published is None or task != "avg":
        return None if published is None else published.get(task)
    done = mine.loc[(mine["status"] == "ok") & mine["task"].isin(AVERAGED_TASKS), "task"].tolist()
    return sum(published[t] for t in done) / len(done) if done else None


def accuracy_bars(
    cells: pd.DataFrame,
    metric: str = "test_accuracy",
    references: tuple[Reference, ...] = (NYSTROMFORMER_TABLE3, LRA_TABLE1),
    title: str = "",
) -> Figure:
    """Grouped bars, one group per task (plus the average when there are several tasks), one bar per attention,
    error bars = standard deviation over seeds; published values as short horizontal marks on the bars."""
    tasks = ordered(cells["task"], TASK_ORDER)
    attentions = ordered(cells["attention"], ATTENTION_ORDER)
    groups = tasks + (["avg"] if len([task for task in tasks if task in AVERAGED_TASKS]) > 1 else [])
    width = 0.8 / len(attentions)
    figure = Figure(figsize=(max(6.5, 0.55 * len(groups) * len(attentions) + 3.5), 4.2), layout="constrained")
    ax = figure.add_subplot()
    marks: dict[str, list[tuple[float, float]]] = {reference.key: [] for reference in references}
    top, hatched = 10.0, False
    for index, attention in enumerate(attentions):
        mine = cells[cells["attention"] == attention]
        xs, heights, errors, hatches = [], [], [], []
        for position, task in enumerate(groups):
            x = position + (index - (len(attentions) - 1) / 2) * width
            value, error, partial, status = _bar(mine, task, metric)
            if status:
                ax.text(
                    x, 1, status, rotation=90, ha="center", va="bottom", fontsize=7, color=colour(attention),
                    gid=f"status:{task}:{attention}",
                )  # fmt: skip
            if math.isnan(value):
                continue
            xs.append(x)
            heights.append(value)
            errors.append(error)
            hatches.append("//" if partial else None)
            top = max(top, value + (0 if math.isnan(error) else error))
            for reference in references:
                published = _published(reference, attention, task, mine)
                if published is not None:
                    marks[reference.key].append((x, published))
                    top = max(top, published)
        bars = ax.bar(
            xs, heights, width * 0.92, yerr=errors, capsize=2.5, color=colour(attention),
            label=attention_label(attention), error_kw={"elinewidth": 1, "ecolor": "#222222"},
        )  # fmt: skip
        for bar, hatch in zip(bars, hatches, strict=True):
            if hatch:
                bar.set_hatch(hatch)
                bar.set_edgecolor("white")
                hatched = True
    for reference in references:
        if marks[reference.key]:
            xs, ys = zip(*marks[reference.key], strict=True)
            ax.hlines(
                ys, [x - width / 2 for x in xs], [x + width / 2 for x in xs], colors="black",
                linestyles=_REFERENCE_STYLE.get(reference.key, "--"), linewidth=1.6, zorder=4,
                label=f"published: {reference.label}",
            )  # fmt: skip
    ax.set_xticks(range(len(groups)), [task_label(task) if task != "avg" else "Avg" for task in groups])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, top * 1.12)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title or "LRA test accuracy")
    # explicit handles: an attention without a single bar (all failed) still shows its colour
    handles = [Patch(facecolor=colour(attention), label=attention_label(attention)) for attention in attentions]
    handles += [c for c in ax.collections if c.get_label().startswith("published")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    if hatched:
        figure.text(0.01, -0.02, "hatched Avg: over fewer tasks (some failed or missing)", fontsize=7)
    return figure


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def bubble_chart(cells: pd.DataFrame, metric: str = "test_accuracy", title: str = "") -> Figure:
    """The LRA trade-off chart: x = training speed relative to softmax (tokens/s, geometric mean over tasks),
    y = average accuracy, bubble area = peak memory (mean over tasks)."""
    softmax = cells[(cells["attention"] == "softmax") & (cells["status"] == "ok")].set_index("task")
    relative = len(softmax) > 0
    points = []
    for attention in ordered(cells["attention"], ATTENTION_ORDER):
        mine = cells[cells["attention"] == attention]
        accuracy, partial = _average(mine, metric)
        ok = mine[mine["status"] == "ok"].set_index("task")
        speeds = [
            ok.loc[task, "train_tokens_per_s_mean"] / (softmax.loc[task, "train_tokens_per_s_mean"] if relative else 1)
            for task in ok.index
            if (not relative or task in softmax.index) and ok.loc[task, "train_tokens_per_s_n"] > 0
        ]
        speed, memory = _geomean([s for s in speeds if s > 0 and not math.isnan(s)]), ok["peak_memory_mb_mean"].mean()
        if not (math.isnan(accuracy) or math.isnan(speed) or math.isnan(memory)):
            points.append((attention, speed, accuracy, memory, partial))
    figure = Figure(figsize=(6.5, 4.6), layout="constrained")
    ax = figure.add_subplot()
    largest = max((p[3] for p in points), default=1.0)
    for attention, speed, accuracy, memory, partial in points:
        area = 2400 * memory / largest
        ax.scatter(
            [speed], [accuracy], s=area, color=colour(attention), alpha=0.55, edgecolors=colour(attention),
            linewidths=1.5, label=attention_label(attention), zorder=3,
        )  # fmt: skip
        ax.annotate(
            attention_label(attention) + ("*" if partial else ""), (speed, accuracy),
            xytext=(0, math.sqrt(area) / 2 + 3), textcoords="offset points", ha="center", va="bottom", fontsize=9,
        )  # fmt: skip
    if points:
        speeds, accuracies = [p[1] for p in points], [p[2] for p in points]
        low, high = min(speeds) / 1.8, max(speeds) * 1.8
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32) if low <= t <= high] if relative else []
        if ticks:
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))
        spread = max(max(accuracies) - min(accuracies), 2.0)
        ax.set_ylim(max(0.0, min(accuracies) - 0.6 * spread), min(100.0, max(accuracies) + 0.9 * spread))
        if relative:
            ax.axvline(1, color="#999999", linestyle=":", linewidth=1, zorder=1)
    ax.set_xlabel("training speed relative to softmax (tokens/s)" if relative else "training tokens/s")
    ax.set_ylabel("average test accuracy (%)")
    ax.grid(alpha=0.3, which="major")
    ax.set_title(title or "Accuracy, speed and memory")
    notes = [f"bubble area ∝ peak memory (largest {largest:,.0f} MB)"]
    if any(p[4] for p in points):
        notes.append("* average over fewer tasks")
    ax.text(0.01, 0.01, "; ".join(notes), transform=ax.transAxes, fontsize=7, color="#555555")
    _separate_labels(figure, ax)
    return figure


def _separate_labels(figure: Figure, ax) -> None:
    """Places each bubble's label above, below, left or right of its bubble: the first side where it overlaps no
    label placed before it and no other bubble (close bubbles); above when every side is taken."""
    figure.draw_without_rendering()  # the final layout, so extents are where the labels will be drawn
    bubbles = [_bubble_box(c, figure.dpi) for c in ax.collections if isinstance(c, PathCollection)]
    labels = [t for t in ax.texts if isinstance(t, Annotation)]  # one per bubble, in the same order
    placed = []
    for index, label in enumerate(labels):
        others = bubbles[:index] + bubbles[index + 1 :]
        gap = label.xyann[1]  # the bubble's radius plus a margin, in points
        sides = [((0, gap), "center", "bottom"), ((0, -gap), "center", "top"), ((-gap, 0), "right", "center"),
                 ((gap, 0), "left", "center")]  # fmt: skip
        for offset, ha, va in [*sides, sides[0]]:
            label.xyann = offset
            label.set_horizontalalignment(ha)
            label.set_verticalalignment(va)
            box = label.get_window_extent()
            if not any(box.overlaps(other) for other in [*placed, *others]):
                break
        placed.append(box)


def _bubble_box(bubble: PathCollection, dpi: float) -> Bbox:
    """The display-space box of a one-point scatter: its marker area is in points², its offset in data units."""
    x, y = bubble.get_offset_transform().transform(bubble.get_offsets()[0])
    radius = math.sqrt(bubble.get_sizes()[0]) / 2 * dpi / 72
    return Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)


def validation_curves(runs: pd.DataFrame, curves: pd.DataFrame, title: str = "") -> Figure:
    """Validation accuracy against training step, one panel per task, one line per attention (mean over seeds,
    the band spans the seeds' minimum to maximum). Each attention has its own marker and line style besides its
    colour, so that attentions with identical curves (e.g. all at chance) do not hide each other."""
    data = curves.merge(runs[["run_id", "task", "attention"]], on="run_id")
    tasks = ordered(data["task"], TASK_ORDER)
    columns = min(3, max(1, len(tasks)))
    rows = math.ceil(len(tasks) / columns) if tasks else 1
    figure = Figure(figsize=(4.6 * columns + 0.6, 3.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, task in zip(axes, tasks, strict=False):
        for_task = data[data["task"] == task]
        for attention in ordered(for_task["attention"], ATTENTION_ORDER):
            mine = for_task[for_task["attention"] == attention]
            stats = mine.groupby("step")["val_accuracy"].agg(["mean", "min", "max"]) * 100
            seeds = mine["run_id"].nunique()
            ax.plot(
                stats.index, stats["mean"], color=colour(attention), marker=marker(attention), markersize=4,
                linestyle=linestyle(attention), linewidth=1.6, markerfacecolor="none",
                label=f"{attention_label(attention)} ({seeds} seed{'s' if seeds != 1 else ''})",
            )  # fmt: skip
            if seeds > 1:
                ax.fill_between(stats.index, stats["min"], stats["max"], color=colour(attention), alpha=0.15, lw=0)
        ax.set_title(task_label(task))
        ax.set_xlabel("training step")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(tasks) :]:
        ax.set_visible(False)
    figure.suptitle(title or "Validation accuracy during training")
    return figure


def _plain_log_labels(ax) -> None:
    """Log-axis labels as plain numbers (0.1, 60, 2000), with 2 and 5 between decades on short ranges."""
    low, high = ax.get_ylim()
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    if high / low < 100:
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _n_label(n: float, _: object = None) -> str:
    return f"{n / 1024:g}K" if n >= 1024 else f"{n:g}"


def _impl_label(impl: str) -> str:
    return f"{impl.removeprefix('peer:')} (peer)" if impl.startswith("peer:") else attention_label(impl)


def _styles(impls: list[str], family_of: pd.Series) -> dict[str, tuple[object, str]]:
    """Ours: solid lines with circles; the k-th peer of an attention: the k-th peer line style and marker."""
    styles: dict[str, tuple[object, str]] = {}
    peers_seen: dict[str, int] = {}
    for impl in impls:
        if impl.startswith("peer:"):
            k = peers_seen.get(family_of[impl], 0)
            peers_seen[family_of[impl]] = k + 1
            styles[impl] = (PEER_LINESTYLES[k % len(PEER_LINESTYLES)], PEER_MARKERS[k % len(PEER_MARKERS)])
        else:
            styles[impl] = ("-", "o")
    return styles


def efficiency_curves(bench: pd.DataFrame, title: str = "") -> Figure:
    """Time and peak memory against sequence length (log–log), one row of panels per mode, one line per
    implementation (peers dashed in their attention's colour); failed points (OOM, error, timeout) and points the
    sweep's time budget skipped are crosses on the panel's top edge, labelled with their status."""
    modes = ordered(bench["mode"], tuple(MODE_LABELS))
    family_of = bench.drop_duplicates("impl").set_index("impl")["family"]
    families = ordered(family_of, ATTENTION_ORDER)
    impls = sorted(family_of.index, key=lambda i: (families.index(family_of[i]), i.startswith("peer:"), i))
    styles = _styles(impls, family_of)
    figure = Figure(figsize=(11.5, 3.7 * len(modes) + 0.4), layout="constrained")
    axes = figure.subplots(len(modes), 2, squeeze=False)
    lengths = sorted(bench["n"].unique())
    handles: dict[str, Line2D] = {}
    for row, mode in enumerate(modes):
        for column, (metric, what) in enumerate((("median_ms", "time (ms)"), ("peak_mb", "peak memory (MB)"))):
            ax = axes[row][column]
            failed_at: dict[int, int] = {}
            for impl in impls:
                points = bench[(bench["mode"] == mode) & (bench["impl"] == impl)].sort_values("n")
                if points.empty:
                    continue
                family = family_of[impl]
                linestyle, marker = styles[impl]
                ok = points[(points["status"] == "ok") & (points[metric] > 0)]
                (line,) = ax.plot(
                    ok["n"], ok[metric], color=colour(family), linestyle=linestyle, marker=marker, markersize=4,
                    linewidth=1.6, label=_impl_label(impl),
                )  # fmt: skip
                handles.setdefault(_impl_label(impl), line)
                for point in points[points["status"] != "ok"].itertuples():
                    stack = failed_at.get(point.n, 0)
                    failed_at[point.n] = stack + 1
                    ax.plot(
                        [point.n], [0.95 - 0.07 * stack], transform=ax.get_xaxis_transform(), marker="X",
                        markersize=8, color=colour(family), linestyle="none", clip_on=False, label="_nolegend_",
                        gid=f"failed:{impl}:{point.n}:{point.status}",
                    )  # fmt: skip
                    ax.annotate(
                        point.status.upper(), (point.n, 0.95 - 0.07 * stack), xycoords=ax.get_xaxis_transform(),
                        xytext=(6, -3), textcoords="offset points", fontsize=6, color=colour(family),
                    )  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(FixedLocator(lengths))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(_n_label))
            if failed_at:
                low, high = ax.get_ylim()
                ax.set_ylim(low, high * 6)  # room for the failure marks above the data
            _plain_log_labels(ax)
            ax.set_xlabel("sequence length n")
            ax.set_ylabel(what)
            ax.set_title(f"{MODE_LABELS.get(mode, mode)}: {what.split(' (')[0]}")
            ax.grid(alpha=0.3, which="both")
    labels = list(handles)
    if (bench["status"] != "ok").any():
        handles["failed"] = Line2D([], [], marker="X", color="#333333", linestyle="none", markersize=8)
        skipped = (bench["status"] == "skipped").any()
        labels.append(
            "failed or skipped (OOM / error / timeout / skipped)" if skipped else "failed (OOM / error / timeout)"
        )
    figure.legend(list(handles.values()), labels, loc="outside right upper", fontsize=8, frameon=False)
    figure.suptitle(title or "Attention efficiency")
    return figure
