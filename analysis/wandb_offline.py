"""Read an offline W&B run (``run-<id>.wandb``) without the W&B server: history, summary and config.

The file (wandb 0.31, undocumented) is a 7-byte header (``:W&B``, magic 0xBEE1, version) followed by a
LevelDB-style log of 32 KiB blocks; each chunk has a 7-byte header (crc32, little-endian uint16 length, uint8
type: 1 full, 2 first, 3 middle, 4 last) and a block tail shorter than 7 bytes is padding. Each reassembled
payload is a ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_BLOCK, _HEADER = 32 * 1024, 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What an offline run logged: ``history`` rows (one per ``wandb.log``), the final ``summary``, ``config``,
    and the run's ``tags``, ``group``, ``job_type`` and ``name``."""

    path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    group: str = ""
    job_type: str = ""
    name: str = ""


def _payloads(raw: bytes, source: Path) -> Iterator[bytes]:
    if raw[:4] != b":W&B":
        raise ValueError(f"{source}: not a W&B transaction log")
    position, parts = _HEADER, []
    while position + _HEADER <= len(raw):
        room = _BLOCK - position % _BLOCK
        if room < _HEADER:  # zero padding at the end of a block
            position += room
            continue
        _crc, size, kind = struct.unpack_from("<IHB", raw, position)
        body = raw[position + _HEADER : position + _HEADER + size]
        if len(body) < size:  # the file ends mid-record: a run killed while writing
            return
        position += _HEADER + size
        if kind == _FULL:
            yield body
        elif kind in (_FIRST, _MIDDLE):
            parts.append(body)
        elif kind == _LAST:
            yield b"".join([*parts, body])
            parts = []


def _items(items: Any) -> dict[str, Any]:
    return {(item.key or "/".join(item.nested_key)): json.loads(item.value_json) for item in items}


def read_offline_run(path: Path) -> OfflineRun:
    """Parse ``run-<id>.wandb`` (or the ``offline-run-*`` directory holding it)."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2

    if path.is_dir():
        found = sorted(path.glob("run-*.wandb"))
        if not found:
            raise FileNotFoundError(f"{path}: no run-*.wandb file")
        path = found[0]
    run = OfflineRun(path=path)
    for blob in _payloads(path.read_bytes(), path):
        record = wandb_internal_pb2.Record()
        try:
            record.ParseFromString(blob)
        except DecodeError as error:
            raise ValueError(f"{path}: corrupt record ({error})") from error
        kind = record.WhichOneof("record_type")
        if kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "run":
            run.config.update(_items(record.run.config.update))
            run.tags = list(record.run.tags)
            run.group, run.job_type = record.run.run_group, record.run.job_type
            run.name = record.run.display_name
    return run


def offline_runs(root: Path) -> list[Path]:
    """Every offline run file below ``root``."""
    return sorted(root.rglob("offline-run-*/run-*.wandb"))
