"""A quick comparison table of the ``result.json`` files under a directory (the full report is ``lra-report``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lra.results import RESULT_FILE, ResultError, read_result

log = logging.getLogger(__name__)


def collect(root: Path) -> list[dict[str, Any]]:
    """Every readable ``result.json`` below ``root``; unreadable ones are reported and skipped."""
    results = []
    for path in sorted(root.rglob(RESULT_FILE)):
        try:
            results.append(read_result(path))
        except ResultError as error:
            log.warning("skipping %s", error)
    return results


def _fmt(value: Any, pattern: str) -> str:
    return pattern.format(value) if isinstance(value, int | float) else "—"


def comparison_table(results: list[dict[str, Any]]) -> str:
    """Markdown: one row per job; failed jobs show FAILED and their error, never numbers."""
    header = (
        "| task | attention | seed | test acc | best val acc | train tokens/s | steps/s | peak MB | params |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for r in sorted(results, key=lambda r: (r["task"], r["attention"], r["seed"])):
        m = r["metrics"]
        if r["status"] != "ok":
            reason = (r.get("error") or {}).get("message", "").splitlines()[0][:60]
            rows.append(f"| {r['task']} | {r['attention']} | {r['seed']} | FAILED: {reason} | | | | | |")
            continue
        rows.append(
            f"| {r['task']} | {r['attention']} | {r['seed']} | {_fmt(m.get('test_accuracy'), '{:.4f}')} | "
            f"{_fmt(m.get('best_val_accuracy'), '{:.4f}')} | {_fmt(m.get('train_tokens_per_s'), '{:,.0f}')} | "
            f"{_fmt(m.get('train_steps_per_s'), '{:.2f}')} | {_fmt(m.get('peak_memory_mb'), '{:,.0f}')} | "
            f"{_fmt(m.get('num_parameters'), '{:,}')} |"
        )
    return "\n".join([header, *rows])
