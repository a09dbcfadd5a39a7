"""Fixtures of the training tests: one tiny generated ListOps cache for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from lra.data import prepare
from tests.train.harness import TINY_DATA


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    prepare("listops", root, generate=True, **TINY_DATA)
    return root
