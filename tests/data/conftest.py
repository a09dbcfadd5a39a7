"""Fixtures of the data tests: a fresh data root per test, no progress bars, no inherited $LRA_DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from lra.data import progress


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LRA_DATA_DIR", raising=False)
    progress.set_enabled(False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
