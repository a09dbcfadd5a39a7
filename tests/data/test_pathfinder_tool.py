"""The Pathfinder tool: the benchmark produces every figure the README quotes (tiny sizes here), and the grid."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from lra.data.pathfinder_tool import _split, main


def test_bench_reports_every_figure_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "figures.json"
    args = ["--bench", "--count", "4", "--workers", "1", "--prepare-count", "10", "--json", str(out)]
    assert main([*args, "--grid", str(tmp_path / "grid.png")]) == 0
    figures = json.loads(out.read_text())
    assert set(figures["render"]) == {f"{s}_{d}" for s in (32, 128) for d in ("easy", "intermediate", "hard")}
    assert all(r["per_s_wall"] > 0 and r["per_s_cpu"] > 0 for r in figures["render"].values())
    assert figures["render"]["32_hard"]["images"] == 4 and figures["render"]["128_hard"]["images"] == 1
    assert figures["render"]["128_hard"]["200k_minutes_estimate"] > 0
    assert figures["one_process"]["images"] == 4 and figures["one_process"]["per_s_cpu"] > 0
    assert figures["generate"]["images"] == 4 and figures["generate"]["200k_minutes"] > 0
    prepared = figures["prepare"]
    assert (prepared["images"], prepared["train_size"], prepared["val_size"], prepared["test_size"]) == (10, 8, 1, 1)
    assert prepared["200k_minutes"] > 0 and figures["machine"]["cpus"] >= 1 and len(figures["load_after"]) == 3
    assert list(scratch.iterdir()) == []  # the generated images and the cache were removed
    assert Image.open(tmp_path / "grid.png").size == (4 * 128 + 5 * 4, 4 * 140 + 5 * 4)


def test_the_full_prepare_is_the_default_command() -> None:
    assert _split(200_000) == {"train_size": 160_000, "val_size": 20_000, "test_size": 20_000}


def test_bad_counts_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--bench", "--prepare-count", "2"])
    assert "--prepare-count must be at least 3" in capsys.readouterr().err
