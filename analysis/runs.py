"""The runs table: one row per training job, whatever it was read from (``result.json``, a W&B run).

Columns (``COLUMNS``; every row has all of them):

- ``run_id``: ``<group>/<job_name>``, the job's identity across sources (a job found twice is one job).
- ``source``: ``result.json``, ``wandb-offline``, ``wandb-api`` or ``job-dir`` (a job directory without a usable
  result, identified by its Hydra config); ``path``: the file or URL read; ``job_dir``: the job directory or "".
- ``experiment``: the experiment config name (``smoke``, ``lra_paper``; ``none`` when unset); ``experiment_label``:
  that name plus the settings that set its runs apart when runs of different settings were mixed
  (:mod:`analysis.experiments`); ``group`` (the sweep), ``job_name``.
- ``task``, ``attention``, ``seed`` (nullable integer).
- ``status``: ``ok``, ``failed`` (the job said so), or ``incomplete`` (no final result: still running, killed,
  or a W&B run without ``result/`` metrics); ``error``: ``<type>: <first line>`` for failed and incomplete runs.
- ``METRICS``: floats, NaN when not measured, never zero-filled. Accuracies are fractions (0–1), as in
  ``result.json``; tables and plots show percent.
- ``device`` (GPU name, else CPU model), ``accelerator``, ``precision``, ``duration_s``, ``finished_at``,
  ``git_commit``; ``metrics_csv``: path of the job's metric history or ""; ``config``: the resolved config (dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lra.results import METRICS

IDENTITY = ("run_id", "source", "path", "job_dir", "experiment", "experiment_label", "group", "job_name")
COLUMNS = (
    *IDENTITY,
    "task",
    "attention",
    "seed",
    "status",
    "error",
    *METRICS,
    "device",
    "accelerator",
    "precision",
    "duration_s",
    "finished_at",
    "git_commit",
    "metrics_csv",
    "config",
)
_TEXT = (*IDENTITY, "task", "attention", "status", "error", "device", "accelerator", "precision", "finished_at")


def _first_line(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    message = str(error.get("message") or "").strip().splitlines()
    return f"{error.get('type') or 'Error'}: {message[0] if message else ''}".strip()


def _number(value: Any) -> float:
    """A metric as float; a missing or non-numeric value (None, text, bool) is NaN, never zero."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return float("nan")
    return float(value)


def _device(hardware: Mapping[str, Any] | None, accelerator: str) -> str:
    """The GPU a run used (``lra.machine.describe``), else its CPU model."""
    hardware = hardware or {}
    if hardware.get("gpu") and accelerator != "cpu":
        return str(hardware["gpu"])
    return str(hardware.get("cpu") or "")


def make_row(
    *,
    source: str,
    path: str,
    job_dir: str,
    identity: Mapping[str, Any],
    status: str,
    error: str,
    metrics: Mapping[str, Any],
    config: Mapping[str, Any] | None,
    hardware: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the runs table; ``identity`` holds task, attention, seed, experiment, group, job_name."""
    config = dict(config or {})
    trainer = config.get("trainer") if isinstance(config.get("trainer"), Mapping) else {}
    group, job_name = str(identity.get("group") or ""), str(identity.get("job_name") or Path(job_dir or path).name)
    experiment = identity.get("experiment") or "none"
    row = {
        "run_id": f"{group}/{job_name}" if group else job_name,
        "source": source,
        "path": path,
        "job_dir": job_dir,
        "experiment": str(experiment),
        "experiment_label": str(experiment),
        "group": group,
        "job_name": job_name,
        "task": str(identity.get("task") or ""),
        "attention": str(identity.get("attention") or ""),
        "seed": identity.get("seed"),
        "status": status,
        "error": error,
        **{name: _number(metrics.get(name)) for name in METRICS},
        "device": _device(hardware, str(trainer.get("accelerator") or "")),
        "accelerator": str(trainer.get("accelerator") or ""),
        "precision": str(trainer.get("precision") or ""),
        "duration_s": float("nan"),
        "finished_at": "",
        "git_commit": "",
        "metrics_csv": "",
        "config": config,
    }
    row.update(extra or {})
    return row


def row_from_result(result: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A validated ``result.json`` (``lra.results.read_result``) as a row."""
    job_dir = path.parent
    csv = job_dir / str((result.get("paths") or {}).get("metrics_csv") or "metrics.csv")
    return make_row(
        source="result.json",
        path=str(path),
        job_dir=str(job_dir),
        identity=result,
        status=result["status"],
        error=_first_line(result.get("error")) if result["status"] != "ok" else "",
        metrics=result["metrics"],
        config=result.get("config"),
        hardware=result.get("hardware"),
        extra={
            "duration_s": _number(result.get("duration_s")),
            "finished_at": str(result.get("finished_at") or ""),
            "git_commit": str(result.get("git_commit") or ""),
            "metrics_csv": str(csv) if csv.is_file() else "",
        },
    )


def _identity_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Task, attention, seed and experiment of a job from its resolved config (W&B config, Hydra config)."""

    def name(key: str) -> Any:
        value = config.get(key)
        return (value.get("label") or value.get("name")) if isinstance(value, Mapping) else value

    return {
        "task": name("task"),
        "attention": name("attention"),
        "seed": config.get("seed"),
        "experiment": config.get("experiment_name"),
    }


def row_from_wandb(
    *,
    source: str,
    path: str,
    job_dir: str,
    config: Mapping[str, Any],
    summary: Mapping[str, Any],
    group: str,
    name: str,
    state: str = "",
) -> dict[str, Any]:
    """A W&B run as a row: metrics from the summary's ``result/`` keys (the harness logs them last, on success).

    Without them the run is ``failed`` when W&B says it failed or crashed, else ``incomplete``.
    """
    config = {key: value for key, value in config.items() if not str(key).startswith("_")}
    metrics = {key.removeprefix("result/"): value for key, value in summary.items() if key.startswith("result/")}
    if "test_accuracy" in metrics:
        status, error = "ok", ""
    elif state in ("failed", "crashed"):
        status, error = "failed", f"W&B run {state} before logging its result"
    else:
        status, error = "incomplete", "no result/ metrics in the W&B run (failed, killed or still running)"
    identity = {**_identity_from_config(config), "group": group, "job_name": name}
    return make_row(
        source=source,
        path=path,
        job_dir=job_dir,
        identity=identity,
        status=status,
        error=error,
        metrics=metrics,
        config=config,
    )


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The runs table with its documented columns and dtypes (empty input gives an empty table)."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in _TEXT:
        frame[column] = frame[column].fillna("").astype(str)
    for column in (*METRICS, "duration_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["metrics_csv"] = frame["metrics_csv"].fillna("").astype(str)
    frame["git_commit"] = frame["git_commit"].fillna("").astype(str)
    return frame
