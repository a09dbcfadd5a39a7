"""The prepared-split cache: ``<root>/cache/<task>-<key>/`` with ``.npy`` arrays and ``manifest.json``.

The key is a short sha256 of the task name, ``FORMAT_VERSION`` and the full normalised settings, so any setting
that changes the arrays gives a new directory. A cache is built in a temporary sibling directory and renamed into
place only after every array and the manifest are written: an interrupted or failed prepare leaves no half cache
(its temporary directory is removed on error, or by the next prepare when the process was killed) and an existing
cache stays untouched until the new one is complete.

Per split ``s``: ``s.inputs.npy`` (``[N, L]`` or ``[N, 2, L]``, right-padded with 0), ``s.lengths.npy`` (int32
``[N]`` or ``[N, 2]``), ``s.labels.npy`` (int64 ``[N]``). A split may instead be an alias of another one (Text's
LRA mode uses test as validation) and then has no files of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lra.data.atomic import install, temporary_sibling
from lra.data.errors import DataError, DataFormatError
from lra.data.hashing import file_record
from lra.data.paths import cache_root
from lra.data.spec import SPLITS, TaskSpec

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = ("inputs", "lengths", "labels")


def cache_key(task: str, settings: Mapping[str, Any]) -> str:
    """12 hex digits of sha256 over the task, the format version and the settings."""
    blob = json.dumps({"task": task, "format": FORMAT_VERSION, "settings": dict(settings)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def cache_dir(data_dir: Path, task: str, settings: Mapping[str, Any]) -> Path:
    return cache_root(data_dir) / f"{task}-{cache_key(task, settings)}"


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a complete cache, or None when there is none; a damaged one is a ``DataFormatError``."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except ValueError as e:  # JSONDecodeError (with its line) or UnicodeDecodeError
        where = getattr(e, "lineno", None)
        raise DataFormatError(path, where, f"unreadable manifest ({e}); rebuild the cache with --force") from None
    if not isinstance(manifest, dict):
        raise DataFormatError(path, 1, f"not a manifest (a JSON {type(manifest).__name__}); rebuild with --force")
    return manifest


def array_path(directory: Path, split: str, array: str) -> Path:
    return directory / f"{split}.{array}.npy"


def _version() -> str:
    try:
        return metadata.version("lra-harness")
    except metadata.PackageNotFoundError:
        return "unknown"


class CacheWriter:
    """Writes one cache atomically. Use as a context manager; leaving it without ``commit()`` (an exception, an
    interrupt) discards everything written."""

    def __init__(self, final: Path, spec: TaskSpec, settings: Mapping[str, Any]) -> None:
        self.final = final
        self.spec = spec
        self.settings = dict(settings)
        self.tmp = temporary_sibling(final)
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._aliases: dict[str, str] = {}
        self._committed = False
        self.sources: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._committed:
            self._arrays.clear()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def allocate(self, split: str, n: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Zero-filled writable memory maps ``(inputs, lengths, labels)`` for ``n`` examples of ``length``."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}")
        shape = (n, 2, length) if self.spec.dual else (n, length)
        dtypes = (self.spec.token_dtype, np.dtype(np.int32), np.dtype(np.int64))
        shapes = (shape, shape[:-1], (n,))
        self._arrays[split] = tuple(  # type: ignore[assignment]
            np.lib.format.open_memmap(array_path(self.tmp, split, name), mode="w+", dtype=dtype, shape=shp)
            for name, dtype, shp in zip(ARRAYS, dtypes, shapes, strict=True)
        )
        return self._arrays[split]

    def put(self, split: str, inputs: np.ndarray, lengths: np.ndarray, labels: np.ndarray) -> None:
        """Store in-memory arrays as split ``split``."""
        for dst, src in zip(
            self.allocate(split, len(labels), inputs.shape[-1]), (inputs, lengths, labels), strict=True
        ):
            dst[...] = src

    def alias(self, split: str, target: str) -> None:
        """Make ``split`` read the arrays of ``target``."""
        self._aliases[split] = target

    def _split_entry(self, split: str) -> dict[str, Any]:
        inputs, lengths, labels = self._arrays.pop(split)
        for arr in (inputs, lengths, labels):
            arr.flush()
        length = inputs.shape[-1]
        if len(labels) == 0:
            raise DataError(f"{self.spec.name}: split {split!r} is empty")
        if labels.min() < 0 or labels.max() >= self.spec.num_classes:
            raise DataError(f"internal error: {split} labels outside 0..{self.spec.num_classes - 1}")
        if lengths.min() < 1 or lengths.max() > length:
            raise DataError(f"internal error: {split} lengths outside 1..{length}")
        entry: dict[str, Any] = {
            "count": len(labels),
            "shape": list(inputs.shape),
            "dtype": str(inputs.dtype),
            "label_histogram": np.bincount(labels, minlength=self.spec.num_classes).tolist(),
            "length_stats": {
                "min": int(lengths.min()),
                "max": int(lengths.max()),
                "mean": round(float(lengths.mean()), 2),
                "at_max_length": int((lengths == length).sum()),
            },
        }
        del inputs, lengths, labels
        entry["files"] = {
            name: {"name": array_path(self.tmp, split, name).name, **file_record(array_path(self.tmp, split, name))}
            for name in ARRAYS
        }
        return entry

    def commit(self, *, replace: bool = False) -> Path:
        """Write the manifest and move the cache into place; ``replace`` swaps out an existing one, else an
        existing complete cache (another process finished first) is kept and ours discarded."""
        missing = [s for s in SPLITS if s not in self._arrays and s not in self._aliases]
        if missing:
            raise DataError(f"internal error: splits {missing} were not written")
        splits: dict[str, Any] = {s: self._split_entry(s) for s in SPLITS if s in self._arrays}
        for split, target in self._aliases.items():
            splits[split] = {"alias": target, "count": splits[target]["count"]}
        manifest = {
            "format_version": FORMAT_VERSION,
            "task": self.spec.name,
            "key": cache_key(self.spec.name, self.settings),
            "settings": self.settings,
            "spec": self.spec.summary(),
            "splits": splits,
            "sources": self.sources,
            "notes": self.notes,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "lra_harness_version": _version(),
        }
        with open(self.tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        if not replace and read_manifest(self.final) is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            install(self.tmp, self.final)
        self._committed = True
        return self.final


def open_arrays(directory: Path, split: str, manifest: Mapping[str, Any]) -> tuple[np.ndarray, ...]:
    """The memory-mapped ``(inputs, lengths, labels)`` of ``split`` (following an alias)."""
    entry = manifest["splits"][split]
    target = entry.get("alias", split)
    return tuple(np.load(array_path(directory, target, name), mmap_mode="r") for name in ARRAYS)


def verify_cache(directory: Path) -> list[str]:
    """Problems found in a cache (empty when sound): file sizes and sha256 against the manifest, array shapes and
    dtypes, label range, lengths within 1..L, and zero padding after each length."""
    manifest = read_manifest(directory)
    if manifest is None:
        return [f"{directory}: no manifest.json"]
    if manifest.get("format_version") != FORMAT_VERSION:
        return [f"{directory}: cache format {manifest.get('format_version')}, expected {FORMAT_VERSION}"]
    problems = []
    num_classes = manifest["spec"]["num_classes"]
    for split, entry in manifest["splits"].items():
        if "alias" in entry:
            continue
        found = len(problems)
        for record in entry["files"].values():
            path = directory / record["name"]
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif file_record(path) != {"bytes": record["bytes"], "sha256": record["sha256"]}:
                problems.append(f"{path}: size or sha256 differs from the manifest")
        if len(problems) > found:
            continue
        inputs, lengths, labels = open_arrays(directory, split, manifest)
        if list(inputs.shape) != entry["shape"] or str(inputs.dtype) != entry["dtype"] or len(labels) != entry["count"]:
            problems.append(f"{directory}: {split} arrays do not match the manifest's shape, dtype or count")
            continue
        length = inputs.shape[-1]
        if labels.min() < 0 or labels.max() >= num_classes:
            problems.append(f"{directory}: {split} labels outside 0..{num_classes - 1}")
        if lengths.min() < 1 or lengths.max() > length:
            problems.append(f"{directory}: {split} lengths outside 1..{length}")
            continue
        positions = np.arange(length)
        for lo in range(0, len(labels), 4096):
            block, blen = inputs[lo : lo + 4096], lengths[lo : lo + 4096]
            if (block[(positions >= blen[..., None])] != 0).any():
                problems.append(f"{directory}: {split} has non-zero tokens after a length (rows {lo}..)")
                break
    return problems
