"""The installed commands start from any directory: the console scripts, not ``python -m`` (Hydra resolves its
config path differently for the two, see ``lra.CONF_DIR``)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

SCRIPTS = [e.name for e in distribution("lra-harness").entry_points if e.group == "console_scripts"]
HYDRA_APPS = {"lra-train": "task:", "lra-bench": "impls:"}  # command -> a key of its composed config


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_command_starts_outside_the_repository(name: str, tmp_path: Path) -> None:
    command = Path(sys.executable).parent / name
    args = ["--cfg", "job"] if name in HYDRA_APPS else ["--help"]
    done = subprocess.run([command, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert HYDRA_APPS.get(name, "usage:") in done.stdout


def test_the_readme_commands_are_installed() -> None:
    assert set(SCRIPTS) == {"lra-data", "lra-train", "lra-bench", "lra-report"}
