"""Runs of a W&B project through the W&B API (online; needs ``wandb login``). ``wandb`` is imported only here,
only when asked for, and a project that cannot be read is a warning: the local runs are still reported."""

from __future__ import annotations

from typing import Any

from analysis.runs import row_from_wandb

_CURVE_KEYS = ["trainer/global_step", "val/accuracy"]


def project_runs(
    project: str, warnings: list[str], api: Any | None = None, skip: frozenset[str] = frozenset()
) -> tuple[list[dict[str, Any]], list[tuple[str, int, float, str]]]:
    """Rows (:mod:`analysis.runs`) and validation-curve points of the runs in ``ENTITY/PROJECT`` whose
    ``run_id`` is not in ``skip`` (jobs already read from their directories).

    ``api`` stands in for ``wandb.Api()`` (tests pass an object with the same ``runs(path)`` method).
    """
    try:
        if api is None:
            import wandb

            api = wandb.Api()
        runs = list(api.runs(project))
    except Exception as error:  # no key, no network, no such project: the W&B client raises many kinds
        warnings.append(f"W&B project {project}: cannot be read ({type(error).__name__}: {error}); skipped")
        return [], []
    rows, points = [], []
    for run in runs:
        row = row_from_wandb(
            source="wandb-api",
            path=str(run.url),
            job_dir="",
            config=dict(run.config),
            summary=dict(run.summary),
            group=run.group or "",
            name=run.name,
            state=run.state,
        )
        if row["run_id"] in skip:
            continue
        rows.append(row)
        if row["status"] == "ok":
            points += [
                (row["run_id"], int(entry["trainer/global_step"]), float(entry["val/accuracy"]), "wandb")
                for entry in run.scan_history(keys=_CURVE_KEYS)
            ]
    return rows, points
