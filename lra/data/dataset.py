"""``LRADataset``: one prepared split, memory-mapped, as a ``torch.utils.data.Dataset``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lra.data.cache import FORMAT_VERSION, open_arrays, read_manifest
from lra.data.errors import DataError, NotPreparedError


class LRADataset(Dataset):
    """Items are ``{"input_ids": LongTensor [L] (or [2, L] for Retrieval), "length": LongTensor scalar (or [2]),
    "label": LongTensor scalar}``. ``inputs``, ``lengths`` and ``labels`` are the raw read-only memory maps (for
    fast collation by index) and ``batch(indices)`` gathers a whole batch at once. Pickling (DataLoader workers
    under ``spawn``) transfers only the path; each process maps the files itself.
    """

    def __init__(self, directory: str | Path, split: str) -> None:
        self.directory = Path(directory)
        self.split = split
        manifest = read_manifest(self.directory)
        if manifest is None:
            raise NotPreparedError(f"{self.directory} is not a prepared cache (no manifest.json)")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{self.directory} has cache format {manifest.get('format_version')}, this code reads "
                f"{FORMAT_VERSION}; run `lra-data prepare {manifest.get('task')} --force` with the same settings"
            )
        if split not in manifest["splits"]:
            raise DataError(f"{self.directory}: no split {split!r} (have {', '.join(manifest['splits'])})")
        self.manifest: dict[str, Any] = manifest
        self._open()

    def _open(self) -> None:
        self.inputs, self.lengths, self.labels = open_arrays(self.directory, self.split, self.manifest)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("inputs", "lengths", "labels")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": torch.from_numpy(self.inputs[index].astype(np.int64)),
            "length": torch.from_numpy(np.array(self.lengths[index], dtype=np.int64)),
            "label": torch.from_numpy(np.array(self.labels[index], dtype=np.int64)),
        }

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """The items ``indices`` stacked: ``input_ids [B, L]`` (or ``[B, 2, L]``), ``length [B]`` (or
        ``[B, 2]``), ``label [B]``, all int64."""
        idx = np.asarray(indices, dtype=np.int64)
        return {
            "input_ids": torch.from_numpy(self.inputs[idx].astype(np.int64)),
            "length": torch.from_numpy(self.lengths[idx].astype(np.int64)),
            "label": torch.from_numpy(self.labels[idx]),
        }

    def __repr__(self) -> str:
        return f"LRADataset({self.manifest['task']!r}, {self.split!r}, n={len(self)}, dir={str(self.directory)!r})"
