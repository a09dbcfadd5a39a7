"""Gather every training job under run and multirun directories (and optionally a W&B project) into one table.

A job directory is one holding ``result.json``, a Hydra ``.hydra/`` folder or an offline W&B run. Its row comes
from ``result.json`` when that is readable, else from its offline W&B run, else (identity only, status
``incomplete``) from its Hydra config. Unreadable files, empty directories, duplicates and mixed experiments
become warnings: the collection is always built from what is valid.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis.experiments import label_experiments
from analysis.runs import row_from_result, row_from_wandb, to_frame
from analysis.wandb_offline import offline_runs, read_offline_run
from lra.results import RESULT_FILE, ResultError, read_result

CURVE_COLUMNS = ("run_id", "step", "val_accuracy", "source")
_PRIORITY = {"result.json": 0, "wandb-offline": 1, "job-dir": 2, "wandb-api": 3}


@dataclass
class Collection:
    """``runs``: the runs table (:mod:`analysis.runs`); ``curves``: validation accuracy per run and step
    (``CURVE_COLUMNS``); ``warnings``: problems with the input, for the user and the report."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def _job_dirs(root: Path) -> list[Path]:
    found = {path.parent for path in root.rglob(RESULT_FILE)}
    found |= {path.parent for path in root.rglob(".hydra") if path.is_dir()}
    for run in offline_runs(root):  # <job>/wandb/offline-run-*/run-*.wandb, or a loose offline-run-* folder
        folder = run.parent
        found.add(folder.parent.parent if folder.parent.name == "wandb" else folder)
    return sorted(found)


def _offline_run(job_dir: Path) -> Path | None:
    runs = sorted(job_dir.glob("wandb/offline-run-*/run-*.wandb")) or sorted(job_dir.glob("run-*.wandb"))
    return runs[-1] if runs else None


def _wandb_row(path: Path, job_dir: Path) -> dict[str, Any]:
    run = read_offline_run(path)
    return row_from_wandb(
        source="wandb-offline",
        path=str(path),
        job_dir=str(job_dir),
        config=run.config,
        summary=run.summary,
        group=run.group,
        name=run.name or job_dir.name,
    )


def _hydra_row(job_dir: Path, reason: str) -> dict[str, Any] | None:
    """Identity of a job without a usable result, from the config Hydra saved when it started."""
    config_file = job_dir / ".hydra" / "config.yaml"
    if not config_file.is_file():
        return None
    config = yaml.safe_load(config_file.read_text()) or {}
    multirun = (job_dir.parent / "multirun.yaml").is_file()
    row = row_from_wandb(
        source="job-dir",
        path=str(job_dir),
        job_dir=str(job_dir),
        config=config,
        summary={},
        group=config.get("group") or (job_dir.parent.name if multirun else ""),
        name=job_dir.name,
    )
    row["error"] = reason
    return row


def _fallback_row(job_dir: Path, reason: str, warnings: list[str]) -> dict[str, Any] | None:
    """A job without a usable result: its offline W&B run, else its identity from the Hydra config."""
    wandb_path = _offline_run(job_dir)
    if wandb_path:
        try:
            return _wandb_row(wandb_path, job_dir)
        except (ValueError, OSError) as error:  # not a W&B log, a corrupt record, unreadable
            warnings.append(f"{wandb_path}: unreadable W&B run ({error})")
    return _hydra_row(job_dir, reason)


def _job_row(job_dir: Path, warnings: list[str]) -> dict[str, Any] | None:
    result_path = job_dir / RESULT_FILE
    if not result_path.exists():
        return _fallback_row(job_dir, f"no {RESULT_FILE} (still running, or stopped before writing it)", warnings)
    try:
        # what reading says of a usable file (e.g. metric names this version does not know) joins the warnings
        return row_from_result(read_result(result_path, on_warning=warnings.append), result_path)
    except ResultError as error:
        row = _fallback_row(job_dir, f"unreadable {RESULT_FILE}", warnings)
        used = {"wandb-offline": "used its W&B run instead", "job-dir": "listed as incomplete from its Hydra config"}
        warnings.append(f"{error}; {used[row['source']] if row else 'skipped'}")
        return row


def _csv_curve(path: str) -> list[tuple[int, float]]:
    with open(path, newline="") as handle:
        return [
            (int(row["step"]), float(row["accuracy"]))
            for row in csv.DictReader(handle)
            if row.get("split") == "val" and row.get("accuracy") not in (None, "")
        ]


def _wandb_curve(history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return [
        (int(row["trainer/global_step"]), float(row["val/accuracy"]))
        for row in history
        if "val/accuracy" in row and "trainer/global_step" in row
    ]


def _curve(row: dict[str, Any], warnings: list[str]) -> tuple[str, list[tuple[int, float]]]:
    """Validation accuracy by step: the job's metrics.csv, else the history of its offline W&B run."""
    try:
        if row["metrics_csv"]:
            return "metrics.csv", _csv_curve(row["metrics_csv"])
        wandb_path = _offline_run(Path(row["job_dir"])) if row["job_dir"] else None
        if wandb_path:
            return "wandb", _wandb_curve(read_offline_run(wandb_path).history)
    except (OSError, ValueError, KeyError) as error:
        warnings.append(f"{row['job_dir']}: validation history unreadable ({error})")
    return "", []


def _deduplicate(rows: list[dict[str, Any]], warnings: list[str]) -> list[dict[str, Any]]:
    """One row per job: ``result.json`` beats an offline W&B run, which beats the Hydra config and the W&B API."""
    kept: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: _PRIORITY[r["source"]]):
        previous = kept.get(row["run_id"])
        if previous is None:
            kept[row["run_id"]] = row
        elif previous["source"] == row["source"]:
            warnings.append(f"job {row['run_id']} found twice: {previous['path']} and {row['path']}; kept the first")
    return list(kept.values())


def collect(paths: Sequence[Path], wandb_project: str | None = None, wandb_api: Any | None = None) -> Collection:
    """Every job under ``paths`` (directories or ``result.json`` files), plus the runs of a W&B project."""
    warnings: list[str] = []
    rows, curve_points = [], []
    seen: set[Path] = set()
    for root in paths:
        if not root.exists():
            warnings.append(f"{root}: no such file or directory")
            continue
        job_dirs = [root.parent] if root.is_file() else _job_dirs(root)
        if not job_dirs:
            warnings.append(f"{root}: no runs found (no {RESULT_FILE}, Hydra job directory or offline W&B run)")
        for job_dir in job_dirs:
            if job_dir.resolve() in seen:
                continue
            seen.add(job_dir.resolve())
            row = _job_row(job_dir, warnings)
            if row is not None:
                rows.append(row)
    if wandb_project:
        from analysis.wandb_api import project_runs

        local = frozenset(row["run_id"] for row in rows)
        api_rows, api_curves = project_runs(wandb_project, warnings, api=wandb_api, skip=local)
        rows += api_rows
        curve_points += api_curves
    named = []
    for row in rows:
        if row["task"] and row["attention"]:
            named.append(row)
        else:
            warnings.append(f"{row['path']}: no task or attention recorded (not an lra-train job?); skipped")
    named = _deduplicate(named, warnings)
    for row in named:
        if row["status"] == "ok" and row["source"] != "wandb-api":
            source, points = _curve(row, warnings)
            curve_points += [(row["run_id"], step, value, source) for step, value in points]
    runs = to_frame(named)
    runs, experiment_warnings = label_experiments(runs)
    curves = pd.DataFrame([p for p in curve_points if not math.isnan(p[2])], columns=list(CURVE_COLUMNS)).astype(
        {"step": "int64", "val_accuracy": "float64"}
    )
    return Collection(runs=runs, curves=curves, warnings=warnings + experiment_warnings)
