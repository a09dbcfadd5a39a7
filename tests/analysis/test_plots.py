"""The figures, checked through matplotlib's objects: series, labels, colours, failure marks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.transforms import Bbox

from analysis.aggregate import aggregate
from analysis.bench import read_bench
from analysis.collect import collect
from analysis.plots import accuracy_bars, bubble_chart, efficiency_curves, save, validation_curves
from analysis.style import colour

FOOTNOTE = "hatched Avg: over fewer tasks (some failed or missing)"


@pytest.fixture
def cells(grid: list[Path]):
    return aggregate(collect(grid).runs)


def test_accuracy_bars(cells) -> None:
    ax = accuracy_bars(cells).axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    assert list(bars) == ["softmax", "Nyström", "Performer"]
    assert [len(bars[name]) for name in bars] == [3, 2, 0]  # ListOps, Text, Avg | ListOps, Avg | nothing
    softmax = cells[(cells["attention"] == "softmax") & (cells["task"] == "listops")].iloc[0]
    assert bars["softmax"][0].get_height() == pytest.approx(100 * softmax["test_accuracy_mean"])
    assert to_hex(bars["Nyström"][0].get_facecolor()) == colour("nystrom").lower()
    assert bars["Nyström"][1].get_hatch() == "//" and bars["softmax"][2].get_hatch() is None  # partial average
    marks = {t.get_gid(): t.get_text() for t in ax.texts}
    assert marks == {
        "status:listops:performer": "FAILED",
        "status:text:nystrom": "missing",
        "status:text:performer": "missing",
    }
    published = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label().startswith("published")]
    assert [c.get_label() for c in published] == ["published: Nyströmformer Table 3", "published: LRA Table 1"]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["ListOps", "Text", "Avg"]


def test_error_bars_span_one_standard_deviation_each_way() -> None:
    """Known means and standard deviations (the tiny real sweep's seeds agree exactly, std 0)."""
    stats = {
        ("softmax", "listops"): (0.30, 0.02),
        ("softmax", "text"): (0.60, 0.05),
        ("nystrom", "listops"): (0.35, 0.01),
    }
    stats[("nystrom", "text")] = (0.62, 0.0)
    cells = pd.DataFrame(
        [{"attention": attention, "task": task, "status": "ok", "test_accuracy_mean": mean, "test_accuracy_std": std,
          "test_accuracy_n": 3} for (attention, task), (mean, std) in stats.items()]
    )  # fmt: skip
    ax = accuracy_bars(cells).axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    for name, attention in (("softmax", "softmax"), ("Nyström", "nystrom")):
        errorbar = bars[name].errorbar
        assert isinstance(errorbar, ErrorbarContainer)
        segments = errorbar.lines[2][0].get_segments()  # one vertical line per bar with an error (not the Avg)
        for task, segment, bar in zip(("listops", "text"), segments, bars[name], strict=False):
            mean, std = (100 * value for value in stats[(attention, task)])
            assert segment[:, 1] == pytest.approx([mean - std, mean + std])
            assert segment[0, 0] == pytest.approx(bar.get_x() + bar.get_width() / 2)
            assert bar.get_height() == pytest.approx(mean)


def test_the_hatch_footnote_only_when_a_bar_is_hatched(cells) -> None:
    partial = accuracy_bars(cells)  # Nyström's Avg leaves Text out: hatched
    assert FOOTNOTE in [t.get_text() for t in partial.texts]
    complete = accuracy_bars(cells[cells["attention"] == "softmax"])  # an Avg bar, over every task: not hatched
    bars = [c for c in complete.axes[0].containers if isinstance(c, BarContainer)]
    assert len(bars[0]) == 3 and all(bar.get_hatch() is None for bar in bars[0])
    assert FOOTNOTE not in [t.get_text() for t in complete.texts]


def test_bubble_chart(cells) -> None:
    ax = bubble_chart(cells).axes[0]
    bubbles = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    assert list(bubbles) == ["softmax", "Nyström"]  # Performer has no successful run: no bubble
    assert bubbles["softmax"].get_offsets()[0][0] == pytest.approx(1.0)  # softmax is the speed reference
    listops = cells[cells["task"] == "listops"].set_index("attention")
    speed = listops.loc["nystrom", "train_tokens_per_s_mean"] / listops.loc["softmax", "train_tokens_per_s_mean"]
    assert bubbles["Nyström"].get_offsets()[0][0] == pytest.approx(speed)
    assert [t.get_text() for t in ax.texts if t.get_text() in ("softmax", "Nyström*")] == ["softmax", "Nyström*"]
    assert ax.get_xlabel() == "training speed relative to softmax (tokens/s)"
    # y: the average accuracy over the tasks with a successful run; area: proportional to mean peak memory
    softmax = cells[cells["attention"] == "softmax"]
    assert bubbles["softmax"].get_offsets()[0][1] == pytest.approx(100 * softmax["test_accuracy_mean"].mean())
    assert bubbles["Nyström"].get_offsets()[0][1] == pytest.approx(100 * listops.loc["nystrom", "test_accuracy_mean"])
    memory = {
        "softmax": softmax["peak_memory_mb_mean"].mean(),
        "Nyström": listops.loc["nystrom", "peak_memory_mb_mean"],
    }
    sizes = {name: bubbles[name].get_sizes()[0] for name in bubbles}
    assert sizes["Nyström"] / sizes["softmax"] == pytest.approx(memory["Nyström"] / memory["softmax"])
    assert max(sizes.values()) == pytest.approx(2400)  # the largest memory gets the largest bubble


def test_bubble_labels_of_close_bubbles_overlap_no_label_and_no_other_bubble() -> None:
    rows = [
        {"attention": name, "task": "listops", "status": "ok", "test_accuracy_mean": accuracy, "test_accuracy_n": 1,
         "train_tokens_per_s_mean": speed, "train_tokens_per_s_n": 1, "peak_memory_mb_mean": 100.0}
        for name, speed, accuracy in (("softmax", 100.0, 0.3), ("linformer", 800.0, 0.3), ("performer", 820.0, 0.3),
                                      ("reformer", 810.0, 0.32))
    ]  # fmt: skip
    figure = bubble_chart(pd.DataFrame(rows))
    figure.draw_without_rendering()
    ax = figure.axes[0]
    bubbles = {}  # display-space box of each bubble: centre from its data offset, diameter sqrt(area) points
    for bubble in (c for c in ax.collections if isinstance(c, PathCollection)):
        x, y = ax.transData.transform(bubble.get_offsets()[0])
        r = math.sqrt(bubble.get_sizes()[0]) / 2 * figure.dpi / 72
        bubbles[bubble.get_label()] = Bbox.from_extents(x - r, y - r, x + r, y + r)
    labels = {t.get_text(): t.get_window_extent() for t in ax.texts if t.get_text() in bubbles}
    assert set(labels) == set(bubbles) == {"softmax", "Linformer", "Performer", "Reformer"}
    for name, box in labels.items():
        assert not any(box.overlaps(other) for other_name, other in labels.items() if other_name != name), name
        assert not any(box.overlaps(other) for other_name, other in bubbles.items() if other_name != name), name


def test_validation_curves(grid: list[Path]) -> None:
    collection = collect(grid)
    figure = validation_curves(collection.runs, collection.curves)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["ListOps"]  # the hand-written Text job has no history
    lines = visible[0].get_lines()
    assert [line.get_label() for line in lines] == ["softmax (2 seeds)", "Nyström (2 seeds)"]
    assert list(lines[0].get_xdata()) == [3, 6]
    curves = collection.curves.merge(collection.runs[["run_id", "attention"]], on="run_id")
    for line, attention in zip(lines, ["softmax", "nystrom"], strict=True):
        mean = curves[curves["attention"] == attention].groupby("step")["val_accuracy"].mean() * 100
        assert list(line.get_ydata()) == pytest.approx(mean.tolist())  # the mean over seeds, per step
    # identical curves must stay distinguishable: each attention has its own marker and line style
    styles = {(line.get_marker(), str(line.get_linestyle())) for line in lines}
    assert len(styles) == len(lines)


def test_an_all_incomplete_cell_is_a_mark_not_a_bar_or_bubble(grid_with_incomplete: list[Path]) -> None:
    cells = aggregate(collect(grid_with_incomplete).runs)
    linformer = cells[cells["attention"] == "linformer"]
    assert linformer.set_index("task").loc["listops", "status"] == "incomplete"
    ax = accuracy_bars(cells).axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}
    assert len(bars["Linformer"]) == 0  # no bar (and no zero-height bar) for it
    marks = {t.get_gid(): t.get_text() for t in ax.texts}
    assert marks["status:listops:linformer"] == "incomplete" and marks["status:text:linformer"] == "missing"
    bubbles = bubble_chart(cells).axes[0].collections
    assert "Linformer" not in [c.get_label() for c in bubbles if isinstance(c, PathCollection)]


def _bench(tmp_path: Path) -> Path:
    rows = []
    for impl, times in {"softmax": [1.0, 4.0, None], "nystrom": [2.0, 3.0, 4.5], "peer:hf-nystrom": [5, 9, 20]}.items():
        for n, ms in zip([1024, 2048, 4096], times, strict=True):
            ok = {"status": "ok", "median_ms": ms, "p20_ms": ms, "p80_ms": ms, "peak_mb": 10.0 * n / 1024}
            rows.append({"impl": impl, "n": n, "mode": "fwd", "batch": 1, "heads": 2, "head_dim": 32,
                         "dtype": "float32", "device": "cpu", "options": {},
                         **(ok if ms else {"status": "oom", "error": "OutOfMemoryError"})})  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"machine": {"cpu": "Test CPU", "gpu": None}, "rows": rows}))
    return path


def test_efficiency_curves_mark_out_of_memory_points(tmp_path: Path) -> None:
    warnings: list[str] = []
    bench = read_bench([_bench(tmp_path)], warnings)
    assert warnings == [] and set(bench["setup"]) == {"Test CPU · cpu · float32 · batch 1, heads 2, head dim 32"}
    figure = efficiency_curves(bench)
    time_ax, memory_ax = figure.axes[:2]
    series = {line.get_label(): line for line in time_ax.get_lines() if not line.get_label().startswith("_")}
    assert list(series) == ["softmax", "Nyström", "hf-nystrom (peer)"]
    assert list(series["softmax"].get_xdata()) == [1024, 2048]  # the OOM point is not plotted as a value
    assert series["hf-nystrom (peer)"].get_color() == series["Nyström"].get_color() == colour("nystrom")
    assert series["hf-nystrom (peer)"].get_linestyle() == "--" and series["Nyström"].get_linestyle() == "-"
    for ax in (time_ax, memory_ax):
        failed = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("failed:")]
        assert [line.get_gid() for line in failed] == ["failed:softmax:4096:oom"]
        assert failed[0].get_marker() == "X"
        assert "OOM" in [t.get_text() for t in ax.texts]
    assert time_ax.get_xscale() == "log" and time_ax.get_yscale() == "log"
    assert figure.legends[0].get_texts()[-1].get_text() == "failed (OOM / error / timeout)"


def test_bad_benchmark_files_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "other.json").write_text(
        '{"rows": [{"impl": "softmax"}, {"impl": "x", "n": 8, "mode": "fwd", "status": "ok"}]}'
    )
    warnings: list[str] = []
    bench = read_bench([tmp_path / "broken.json", tmp_path / "other.json", tmp_path / "nowhere.json"], warnings)
    assert len(bench) == 1 and bench["status"].item() == "error"  # ok without a time cannot be drawn as one
    assert len(warnings) == 4 and "unreadable benchmark result" in warnings[0]


def test_save_writes_png_and_svg(cells, tmp_path: Path) -> None:
    paths = save(accuracy_bars(cells), tmp_path / "figures" / "bars")
    assert [p.name for p in paths] == ["bars.png", "bars.svg"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and b"<svg" in paths[1].read_bytes()[:500]


def test_cells_skipped_by_the_time_budget_are_marks_not_values(tmp_path: Path) -> None:
    row = {"impl": "nystrom", "mode": "fwd", "status": "ok", "median_ms": 2.0, "p20_ms": 2.0, "p80_ms": 2.0,
           "peak_mb": 1.0, "dtype": "float32", "device": "cpu"}  # fmt: skip
    skipped = {"impl": "nystrom", "n": 2048, "mode": "fwd", "status": "skipped", "error": "budget spent"}
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"machine": {"cpu": "CPU"}, "rows": [{**row, "n": 1024}, {**row, **skipped}]}))
    warnings: list[str] = []
    bench = read_bench([path], warnings)
    assert warnings == [] and bench["status"].tolist() == ["ok", "skipped"] and bench["median_ms"].isna().tolist()[1]
    figure = efficiency_curves(bench)
    ax = figure.axes[0]
    assert [line.get_gid() for line in ax.get_lines() if line.get_gid()] == ["failed:nystrom:2048:skipped"]
    assert "SKIPPED" in [t.get_text() for t in ax.texts]
    assert figure.legends[0].get_texts()[-1].get_text() == "failed or skipped (OOM / error / timeout / skipped)"
