"""Mean ± standard deviation over seeds per (experiment, task, attention), over successful runs only.

Every cell of an experiment's grid (the tasks it ran × the attentions it ran) gets a row, with a ``status``:

- ``ok``: at least one successful run; the statistics cover those runs (``<metric>_n`` of them), and ``failed``
  / ``incomplete`` count the runs left out;
- ``failed``: runs exist and all failed; ``incomplete``: runs exist, none finished;
- ``missing``: no run at all.

Statistics of cells without a successful run are NaN: a failed or missing cell is never a zero.
"""

from __future__ import annotations

import pandas as pd

from analysis.runs import METRICS
from analysis.style import ATTENTION_ORDER, TASK_ORDER, ordered

KEYS = ("experiment_label", "task", "attention")


def _cell(runs: pd.DataFrame) -> dict[str, object]:
    ok = runs[runs["status"] == "ok"]
    counts = {status: int((runs["status"] == status).sum()) for status in ("ok", "failed", "incomplete")}
    status = next((s for s in ("ok", "failed", "incomplete") if counts[s]), "missing")
    cell: dict[str, object] = {
        "status": status,
        "runs": len(runs),
        **counts,
        "seeds": ",".join(str(seed) for seed in sorted(ok["seed"].dropna())),
        "failed_seeds": ",".join(str(seed) for seed in sorted(runs.loc[runs["status"] == "failed", "seed"].dropna())),
    }
    for metric in METRICS:
        values = ok[metric].dropna()
        cell[f"{metric}_mean"] = values.mean() if len(values) else float("nan")
        cell[f"{metric}_std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
        cell[f"{metric}_n"] = len(values)
    return cell


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per grid cell: ``KEYS``, ``status``, run counts (``runs``, ``ok``, ``failed``, ``incomplete``),
    ``seeds`` of the successful runs, ``failed_seeds``, and ``<metric>_mean``, ``_std`` (sample, ddof 1; NaN
    for fewer than two values) and ``_n`` for every metric."""
    cells = []
    for label, experiment in runs.groupby("experiment_label", sort=True):
        for task in ordered(experiment["task"], TASK_ORDER):
            for attention in ordered(experiment["attention"], ATTENTION_ORDER):
                chosen = experiment[(experiment["task"] == task) & (experiment["attention"] == attention)]
                cells.append({"experiment_label": label, "task": task, "attention": attention, **_cell(chosen)})
    columns = [*KEYS, "status", "runs", "ok", "failed", "incomplete", "seeds", "failed_seeds"]
    columns += [f"{metric}_{stat}" for metric in METRICS for stat in ("mean", "std", "n")]
    return pd.DataFrame(cells, columns=columns)
