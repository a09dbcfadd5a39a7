"""Helpers of the training tests: run the real ``lra-train`` command (and the scripts) in subprocesses."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from lra.results import read_result

REPO = Path(__file__).resolve().parents[2]
TINY_DATA = {"train_size": 64, "val_size": 16, "test_size": 16, "max_length": 2000}
TINY_SCHEDULE = [
    "task.batch_size=8",
    "task.warmup_steps=2",
    "task.max_steps=6",
    "task.val_every=3",
    "task.val_batches=2",
    "model.depth=1",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
]
TINY = ["experiment=smoke", *(f"task.data.{key}={value}" for key, value in TINY_DATA.items()), *TINY_SCHEDULE]


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: W&B offline and silent, the repository importable."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": path, **extra}


def without_wandb(tmp: Path) -> dict[str, str]:
    """An environment in which every Python process (and its children) finds no wandb: a ``sitecustomize`` sets
    ``sys.modules["wandb"] = None``, so ``import wandb`` raises ImportError, as on a machine without it."""
    site = tmp / "no_wandb_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text('import sys\n\nsys.modules["wandb"] = None\n')
    env = quiet_env()
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    return env


def lra_train(
    *overrides: str, data_dir: Path, runs: Path, tiny: bool = True, env: dict[str, str] | None = None, **popen
) -> subprocess.Popen:
    flags = [o for o in overrides if o.startswith("-")]  # e.g. -m must precede the overrides
    rest = [o for o in overrides if not o.startswith("-")]
    command = [sys.executable, "-m", "lra.train.app", *flags, *(TINY if tiny else []), *rest]
    command += [f"paths.data_dir={data_dir}", f"paths.runs_dir={runs}"]
    return subprocess.Popen(
        command, env=env or quiet_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def run(command: list[str], env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Run ``command`` (a script), returning its exit status and its output (stdout and stderr)."""
    done = subprocess.run(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    return done.returncode, done.stdout


def results_under(root: Path) -> dict[str, dict]:
    return {path.parent.name: read_result(path) for path in root.rglob("result.json")}


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
