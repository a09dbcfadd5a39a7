"""Keep runs of different experiments apart: never average a 60-step smoke run with a 5,000-step paper run.

Runs belong to the same experiment when they share the experiment name and every setting that defines the
experiment: the config minus what legitimately varies inside one sweep (seed, attention, output paths, logging,
batch splitting). Task settings (``task.*``) are compared among runs of the same task only, since each task has
its own. Runs that differ get an ``experiment_label`` naming the differing settings, e.g.
``smoke [task.max_steps=60]`` and ``smoke [task.max_steps=6]``, and a warning says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

# Config keys (and key prefixes) that may differ between runs of one experiment.
VARYING = (
    "seed",
    "attention",
    "paths",
    "logger",
    "group",
    "tags",
    "ckpt_path",
    "experiment_name",
    "deterministic",
    "hparams_search",
    "trainer.progress_bar",
    "trainer.num_workers",
    "trainer.log_every_n_steps",
    "trainer.eval_batch_size",
    "trainer.micro_batch_size",
    "trainer.threads",
)
_MAX_LABEL = 80


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"task": {"lr": 1e-3}}`` → ``{"task.lr": "0.001"}`` (values as JSON text, so they compare exactly)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value, sort_keys=True, default=str)
    return flat


def settings(config: Mapping[str, Any]) -> dict[str, str]:
    """The settings that define a run's experiment."""
    return {
        key: value
        for key, value in flatten(config).items()
        if not any(key == v or key.startswith(f"{v}.") for v in VARYING)
    }


def _differing(runs: dict[Any, dict[str, str]], tasks: Mapping[Any, str]) -> list[str]:
    """Setting keys whose value differs: among all runs for non-task keys, among runs of one task for ``task.*``."""
    differing = []
    for key in sorted(set().union(*runs.values()), key=lambda key: (key.startswith("task."), key)):
        values: dict[str, set[str]] = {}
        for index, run in runs.items():
            values.setdefault(tasks[index] if key.startswith("task.") else "", set()).add(run.get(key, "<unset>"))
        if any(len(seen) > 1 for seen in values.values()):
            differing.append(key)
    return differing


def _label(name: str, values: dict[str, str], keys: list[str]) -> str:
    parts = ", ".join(f"{key}={values.get(key, '<unset>')}" for key in keys)
    label = f"{name} [{parts}]"
    if len(label) > _MAX_LABEL:  # keep it short but unique: the digest covers every differing value
        digest = hashlib.sha1(parts.encode()).hexdigest()[:8]
        label = f"{name} [{parts[: _MAX_LABEL - len(name) - 14]}… #{digest}]"
    return label


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


def label_experiments(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Fill ``experiment_label``; returns the table and warnings about mixed experiments."""
    runs = runs.copy()
    warnings = []
    for name, group in runs.groupby("experiment", sort=True):
        known = {index: settings(config) for index, config in group["config"].items() if config}
        keys = _differing(known, group["task"]) if known else []
        if not keys:
            continue
        for index, values in known.items():
            runs.loc[index, "experiment_label"] = _label(str(name), values, keys)
        counts = runs.loc[list(known), "experiment_label"].value_counts().sort_index()
        listed = "; ".join(f"'{label}' ({_runs(count)})" for label, count in counts.items())
        warnings.append(
            f"runs of experiment '{name}' differ in {', '.join(keys)}: reported as separate experiments, "
            f"never averaged together: {listed}"
        )
    labels = runs["experiment_label"].value_counts().sort_index()
    if runs["experiment"].nunique() > 1:
        listed = "; ".join(f"'{label}' ({_runs(count)})" for label, count in labels.items())
        warnings.append(f"{len(labels)} experiments found, each reported on its own: {listed}")
    return runs, warnings
