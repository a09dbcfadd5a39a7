"""File digests: sha256 for everything we record; md5 only where a source publishes nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lra.data.progress import bar

CHUNK = 1 << 20
BIG = 64 << 20  # files above this get a progress bar


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of the file at ``path``."""
    h = hashlib.new(algorithm)
    size = path.stat().st_size
    with (
        open(path, "rb") as f,
        bar(show=size >= BIG, total=size, desc=f"checksum {path.name}", unit="B", unit_scale=True) as progress,
    ):
        while chunk := f.read(CHUNK):
            h.update(chunk)
            progress.update(len(chunk))
    return h.hexdigest()


def file_record(path: Path) -> dict[str, int | str]:
    """``{"bytes": size, "sha256": digest}`` as stored in manifests."""
    return {"bytes": path.stat().st_size, "sha256": file_digest(path)}
