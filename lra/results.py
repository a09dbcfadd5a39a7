"""The ``result.json`` schema every training job writes: the contract between ``lra`` and ``analysis``.

Version 1 fields:

- ``schema``: always ``"lra-result"``; ``schema_version``: 1.
- ``status``: ``"ok"`` or ``"failed"``; a failed run carries ``error`` = ``{"type", "message", "traceback"}`` and
  only the metrics that were actually measured.
- ``task``, ``attention``, ``seed``: what ran; ``experiment``: the experiment config (``smoke``, ``lra_paper``) or
  null; ``group``: the sweep (W&B group) of the job; ``job_name``: its directory name.
- ``metrics``: ``test_accuracy``, ``test_loss``, ``best_val_accuracy``, ``best_val_step``, ``final_train_loss``,
  ``final_train_accuracy``, ``train_tokens_per_s``, ``train_steps_per_s``, ``eval_tokens_per_s``,
  ``peak_memory_mb``, ``num_parameters``, ``softmax_parameters``, ``parameter_ratio_vs_softmax``, ``steps``.
  A metric that was not measured is absent, never zero-filled. Writing rejects any other name; reading keeps an
  unknown one (from a newer version) and warns.
- ``config``: the resolved Hydra config; ``versions``, ``git_commit``, ``hardware``: provenance.
- ``started_at``, ``finished_at`` (ISO 8601, UTC), ``duration_s``.
- ``data`` (once the data is open): ``cache`` (the prepared cache directory), ``max_length`` (the length the model
  saw), ``examples`` (per split, the examples used: a view may take a subset, validation its first
  ``val_batches × batch_size``) and ``cache_examples`` (per split, the cache's).
- ``paths``: ``job_dir`` (absolute), and relative to it ``metrics_csv``, ``best_checkpoint``, ``wandb_dir``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lra.io import atomic_write_json

SCHEMA = "lra-result"
SCHEMA_VERSION = 1
RESULT_FILE = "result.json"
STATUSES = ("ok", "failed")
REQUIRED = ("schema", "schema_version", "status", "task", "attention", "seed", "metrics")
METRICS = (
    "test_accuracy",
    "test_loss",
    "best_val_accuracy",
    "best_val_step",
    "final_train_loss",
    "final_train_accuracy",
    "train_tokens_per_s",
    "train_steps_per_s",
    "eval_tokens_per_s",
    "peak_memory_mb",
    "num_parameters",
    "softmax_parameters",
    "parameter_ratio_vs_softmax",
    "steps",
)


class ResultError(ValueError):
    """A ``result.json`` that cannot be used: unreadable, partial, or of an unknown schema."""


class ResultWarning(UserWarning):
    """A usable ``result.json`` with something this version does not interpret (an unknown metric)."""


def write_result(job_dir: Path, result: dict[str, Any]) -> Path:
    """Validate and write ``result`` atomically to ``job_dir/result.json``."""
    result = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **result}
    validate(result, source=str(job_dir / RESULT_FILE))
    path = job_dir / RESULT_FILE
    atomic_write_json(path, result)
    return path


def read_result(path: Path, on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Load and validate one ``result.json``; raises ResultError naming the file and the problem.

    Reading is forward compatible: metrics this version does not know (written by a newer one) are kept in the
    returned dict and reported through ``on_warning`` (default: a ``ResultWarning``), never a reason to drop the
    run. Everything else is as strict as writing.
    """
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ResultError(f"{path}: cannot read ({error})") from error
    except json.JSONDecodeError as error:
        raise ResultError(f"{path}: not valid JSON (line {error.lineno}: {error.msg}); partial write?") from error
    unknown = validate(result, source=str(path), strict=False)
    if unknown:
        message = (
            f"{path}: unknown metric(s) {', '.join(unknown)} (schema version {SCHEMA_VERSION}; written by a newer "
            f"version?): kept, not interpreted"
        )
        if on_warning is None:
            warnings.warn(message, ResultWarning, stacklevel=2)
        else:
            on_warning(message)
    return result


def validate(result: Any, source: str, strict: bool = True) -> list[str]:
    """Check ``result`` against the schema; raise ResultError naming ``source`` and the problem.

    Unknown metric names are an error when ``strict`` (writing: a typo must not become a new metric); otherwise
    they are returned, sorted, for the reader to report.
    """
    if not isinstance(result, dict):
        raise ResultError(f"{source}: expected a JSON object, got {type(result).__name__}")
    if result.get("schema") != SCHEMA:
        raise ResultError(f"{source}: not an LRA result (schema {result.get('schema')!r}, expected {SCHEMA!r})")
    version = result.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultError(f"{source}: unknown schema_version {version!r} (this version reads {SCHEMA_VERSION})")
    missing = [key for key in REQUIRED if key not in result]
    if missing:
        raise ResultError(f"{source}: missing field(s) {', '.join(missing)}")
    if result["status"] not in STATUSES:
        raise ResultError(f"{source}: status must be one of {list(STATUSES)}, got {result['status']!r}")
    if not isinstance(result["metrics"], dict):
        raise ResultError(f"{source}: metrics must be an object")
    if result["status"] == "failed" and not result.get("error"):
        raise ResultError(f"{source}: a failed result must say why (error is empty)")
    unknown = sorted(set(result["metrics"]) - set(METRICS))
    if unknown and strict:
        raise ResultError(f"{source}: unknown metric(s) {', '.join(unknown)} for schema version {SCHEMA_VERSION}")
    return unknown
