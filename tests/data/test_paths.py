"""The data root: explicit argument > $LRA_DATA_DIR > ./data."""

from __future__ import annotations

from pathlib import Path

import pytest

from lra.data import resolve_data_dir


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(None) == tmp_path / "data"
    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir("") == tmp_path / "env"  # an empty Hydra value counts as unset
    monkeypatch.setenv("LRA_DATA_DIR", "")
    assert resolve_data_dir(None) == tmp_path / "data"
    assert resolve_data_dir("rel") == tmp_path / "rel"  # made absolute against the current directory
