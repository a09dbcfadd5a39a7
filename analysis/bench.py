"""Read attention micro-benchmark / ``lra-bench`` results (``results.json``) into one table for the efficiency plots.

The file holds ``{"machine": {...}, "rows": [...]}``; each row has ``impl`` (an attention or ``peer:<package>``),
``n``, ``mode`` (``fwd``, ``fwd_bwd``, ``train_step``), ``status`` (``ok``, ``oom``, ``error``, ``timeout``, or
``skipped`` when the sweep's time budget ran out first) and, when ok, ``median_ms``, ``p20_ms``, ``p80_ms``,
``peak_mb``; plus the shape (``batch``, ``heads``, ``head_dim``), ``dtype`` and ``device``. A point that was not
measured keeps its status and no numbers.

Columns: ``file``, ``setup`` (machine, device, dtype and shape: one figure each), ``impl``, ``family`` (the
attention a peer implements: the row's ``peer_of`` when given, else the attention name inside the peer's name),
``peer`` (bool), ``n``, ``mode``, ``status``, ``median_ms``, ``p20_ms``, ``p80_ms``, ``peak_mb``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.style import ATTENTION_ORDER

BENCH_FILE = "results.json"
BENCH_STATUSES = ("ok", "oom", "error", "timeout", "skipped")
BENCH_COLUMNS = (
    "file",
    "setup",
    "impl",
    "family",
    "peer",
    "n",
    "mode",
    "status",
    "median_ms",
    "p20_ms",
    "p80_ms",
    "peak_mb",
)
_TIMES = ("median_ms", "p20_ms", "p80_ms", "peak_mb")


def _family(impl: str, row: dict[str, Any], attentions: list[str]) -> str:
    if not impl.startswith("peer:"):
        return impl
    if row.get("peer_of"):
        return str(row["peer_of"])
    name = impl.removeprefix("peer:")
    return next((attention for attention in attentions if attention in name), name)


def _setup(row: dict[str, Any], machine: dict[str, Any]) -> str:
    device = str(row.get("device") or "")
    hardware = machine.get("gpu") if device.startswith("cuda") and machine.get("gpu") else machine.get("cpu")
    shape = ", ".join(
        f"{label} {row[key]}"
        for key, label in (("batch", "batch"), ("heads", "heads"), ("head_dim", "head dim"))
        if row.get(key) is not None
    )
    parts = [str(hardware or device or "unknown machine"), device, str(row.get("dtype") or ""), shape]
    return " · ".join(part for part in parts if part)


def _rows(path: Path, payload: Any, warnings: list[str]) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        warnings.append(f"{path}: not a benchmark result (expected an object with a 'rows' list); skipped")
        return []
    machine = payload.get("machine") if isinstance(payload.get("machine"), dict) else {}
    raw = [row for row in payload["rows"] if isinstance(row, dict)]
    ours = [str(row["impl"]) for row in raw if "impl" in row and not str(row["impl"]).startswith("peer:")]
    attentions = list(dict.fromkeys([*ATTENTION_ORDER, *ours]))
    rows, skipped = [], 0
    for row in raw:
        if not all(key in row for key in ("impl", "n", "mode", "status")) or not isinstance(row["n"], int):
            skipped += 1
            continue
        status = str(row["status"])
        numbers = {key: row.get(key) for key in _TIMES}
        if status == "ok" and not isinstance(numbers["median_ms"], int | float):
            warnings.append(f"{path}: {row['impl']} n={row['n']} is ok but has no median_ms; shown as failed")
            status = "error"
        if status not in BENCH_STATUSES:
            warnings.append(f"{path}: unknown status {status!r} for {row['impl']} n={row['n']}; shown as failed")
        if status != "ok":
            numbers = dict.fromkeys(_TIMES)
        impl = str(row["impl"])
        rows.append(
            {
                "file": str(path),
                "setup": _setup(row, machine),
                "impl": impl,
                "family": _family(impl, row, attentions),
                "peer": impl.startswith("peer:"),
                "n": row["n"],
                "mode": str(row["mode"]),
                "status": status,
                **numbers,
            }
        )
    if skipped:
        warnings.append(f"{path}: {skipped} row(s) without impl, integer n, mode or status; skipped")
    return rows


def read_bench(paths: Sequence[Path], warnings: list[str]) -> pd.DataFrame:
    """All rows of the given ``results.json`` files (or directories holding one); bad files become warnings."""
    rows = []
    for given in paths:
        path = given / BENCH_FILE if given.is_dir() else given
        try:
            payload = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            warnings.append(f"{path}: unreadable benchmark result ({error}); skipped")
            continue
        rows += _rows(path, payload, warnings)
    frame = pd.DataFrame(rows, columns=list(BENCH_COLUMNS))
    for column in _TIMES:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame
