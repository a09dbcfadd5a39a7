"""The ``lra-data`` command: prepare, info, verify, exit codes, data root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lra.data.cli import main
from tests.data.fixtures import make_aan, make_listops_release


def _run(*args: str) -> int:
    return main([*args, "--quiet"])


def test_prepare_info_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "data")
    assert (
        _run("prepare", "listops", "--generate", "--size", "30", "--val-size", "4", "--test-size", "4", "--data-dir", d)
        == 0
    )
    assert "listops: train 30 / val 4 / test 4 in" in capsys.readouterr().out
    assert _run("info", "--data-dir", d) == 0
    out = capsys.readouterr().out
    assert "listops" in out and "train_size=30" in out
    assert _run("info", "--json", "--data-dir", d) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["caches"][0]["counts"] == {"train": 30, "val": 4, "test": 4}
    assert info["raw"] and info["raw"][0].startswith(str(tmp_path / "data" / "raw" / "listops-generated"))
    assert _run("verify", "--data-dir", d) == 0
    labels = Path(info["caches"][0]["path"]) / "test.labels.npy"
    labels.write_bytes(labels.read_bytes()[:-8] + b"\x01" * 8)
    assert _run("verify", "listops", "--data-dir", d) == 1
    assert "FAILED" in capsys.readouterr().out


def test_bad_input_exits_1_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    path = tmp_path / "src" / "basic_val.tsv"
    path.write_bytes(path.read_bytes().replace(b"\t", b"\t1", 2))  # header "Source\t1Target", row 2 "…\t1<d>"
    assert _run("prepare", "listops", "--source", str(tmp_path / "src"), "--data-dir", str(tmp_path / "d")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "basic_val.tsv:1: expected the header" in err


def test_generate_where_there_is_no_generator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("prepare", "text", "--generate", "--data-dir", str(tmp_path)) == 1
    assert "--generate is not available for this task" in capsys.readouterr().err


def test_missing_source_says_how_to_get_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("prepare", "text", "--data-dir", str(tmp_path)) == 1
    assert f"run `lra-data download text --data-dir {tmp_path}` or pass --source PATH" in capsys.readouterr().err


def test_data_root_from_environment_and_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_aan(tmp_path / "tsv_data")
    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "env"))
    assert _run("prepare", "retrieval", "--source", str(tmp_path / "tsv_data")) == 0
    assert (tmp_path / "env" / "cache").is_dir()
    assert (
        main(["--data-dir", str(tmp_path / "flag"), "prepare", "retrieval", "--source", str(tmp_path / "tsv_data")])
        == 0
    )
    assert (tmp_path / "flag" / "cache").is_dir()


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("lra-data")
    result = subprocess.run(
        [str(script), "info", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LRA_DATA_DIR": ""},
    )
    assert result.returncode == 0 and f"data root: {tmp_path}" in result.stdout


def test_info_skips_a_build_in_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    building = tmp_path / "cache" / ".tmp-listops-0123456789ab-1-x"
    building.mkdir(parents=True)
    (building / "manifest.json").write_text('{"task": "listo')  # being written by a running prepare
    assert _run("info", "--data-dir", str(tmp_path)) == 0
    assert "prepared: nothing yet" in capsys.readouterr().out


def test_a_damaged_cache_is_reported_and_the_others_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path / "data")
    for size in ("30", "31"):
        assert _run("prepare", "listops", "--generate", "--size", size, "--val-size", "4", "--test-size", "4",
                    "--data-dir", d) == 0  # fmt: skip
    damaged, intact = sorted((tmp_path / "data" / "cache").iterdir())
    (damaged / "manifest.json").write_text('{"task": "listo')
    capsys.readouterr()
    assert _run("info", "--data-dir", d) == 0
    assert "DAMAGED" in capsys.readouterr().out
    assert _run("verify", "--data-dir", d) == 1
    out = capsys.readouterr().out
    assert f"FAILED {damaged}" in out and "manifest.json" in out and f"ok     {intact}" in out
