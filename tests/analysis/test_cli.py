"""``lra-report`` end to end: the report directory, the terminal table, warnings and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main


def test_the_report_is_built_from_the_valid_runs(grid: list[Path], tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "result.json").write_text('{"schema": "lra-result", "schema_version": 1, "status": "ok"')
    bench = tmp_path / "bench.json"
    row = {"impl": "softmax", "n": 1024, "mode": "fwd", "status": "ok", "median_ms": 1.0, "peak_mb": 5.0}
    bench.write_text(json.dumps({"machine": {"cpu": "CPU"}, "rows": [row, {**row, "n": 2048, "status": "oom"}]}))
    out = tmp_path / "report"

    assert main([*map(str, grid), str(broken), "--out", str(out), "--bench", str(bench)]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("**LRA test accuracy (%), experiment smoke**")
    assert "| Performer | ours | FAILED | missing | — |" in printed.out
    assert f"warning: {broken / 'result.json'}: not valid JSON" in printed.err

    report = (out / "report.md").read_text()
    for expected in (
        "## Warnings",
        "not valid JSON",
        "## Experiment: smoke",
        "| Performer | ours | FAILED | missing | — |",
        "**Efficiency on ListOps, experiment smoke**",
        "![test accuracy per task](figures/accuracy_bars.png)",
        "figures/lra_bubble.png",
        "figures/val_curves.png",
        "## Failed and incomplete runs",
        "NonFiniteLossError: loss is nan at step 4",
        "ConfigError:",
        "## Attention efficiency (micro-benchmark)",
        "softmax fwd n=2048: oom",
        "## Published references",
    ):
        assert expected in report, expected
    for name in ("accuracy_bars", "lra_bubble", "val_curves", "efficiency_0"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (out / "figures" / f"{name}.svg").exists()
    for name in ("accuracy", "efficiency"):
        assert {p.suffix for p in (out / "tables").glob(f"{name}.*")} == {".md", ".tex", ".csv"}
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 7


def test_mixed_experiments_get_a_section_each(sweep: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "other" / "job"
    other.mkdir(parents=True)
    result = json.loads((sweep / "0_listops_softmax_s0" / "result.json").read_text())
    (other / "result.json").write_text(json.dumps({**result, "experiment": "lra_paper", "group": "other"}))
    out = tmp_path / "report"
    assert main([str(sweep), str(other.parent), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "## Experiment: lra_paper" in report and "## Experiment: smoke" in report
    assert "2 experiments found, each reported on its own" in capsys.readouterr().err
    assert (out / "figures" / "lra_paper" / "accuracy_bars.png").exists()
    assert (out / "tables" / "smoke" / "accuracy.tex").exists()
    assert main([str(sweep), str(other.parent), "--out", str(out), "--experiment", "lra_paper"]) == 0
    assert "## Experiment: smoke" not in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--experiment", "nope"], "no runs of experiment 'nope'"),
        ([], "nothing to report"),
    ],
)
def test_nothing_to_report_is_an_error(sweep: Path, tmp_path: Path, capsys, arguments, message) -> None:
    target = sweep if arguments else tmp_path
    assert main([str(target), "--out", str(tmp_path / "report"), *arguments]) == 1
    assert message in capsys.readouterr().err


def test_the_command_is_installed(sweep: Path, tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "lra-report"
    done = subprocess.run([command, str(sweep), "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| Nyström | ours |" in done.stdout and (tmp_path / "report.md").exists()


def test_benchmark_results_alone_make_a_report(tmp_path: Path) -> None:
    bench = tmp_path / "micro" / "results.json"
    bench.parent.mkdir()
    row = {"impl": "nystrom", "n": 1024, "mode": "fwd_bwd", "status": "ok", "median_ms": 2.0, "peak_mb": 7.0}
    bench.write_text(json.dumps({"machine": {"cpu": "CPU"}, "rows": [row, {**row, "impl": "peer:hf-nystrom"}]}))
    assert main(["--bench", str(bench.parent), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "from 0 runs" in report and "![efficiency, CPU" in report and "## Experiment" not in report
