"""Image (CIFAR-10): 32×32 grayscale pixels as a sequence of 1024 tokens, 10 classes.

Source: the python version (``cifar-10-batches-py/``: ``data_batch_1``…``data_batch_5``, ``test_batch``, Python-2
pickles) or the binary version (``cifar-10-batches-bin/``: ``data_batch_{1..5}.bin``, ``test_batch.bin``,
records of 1 label byte + 3072 bytes), extracted or as ``cifar-10-python.tar.gz`` / ``cifar-10-binary.tar.gz``
(https://www.cs.toronto.edu/~kriz/cifar.html). Pickles are read with a restricted unpickler that admits only
numpy's array reconstruction, so a tampered file cannot run code.

Tokenisation: grayscale with TensorFlow's formula, as LRA (``tf.image.rgb_to_grayscale`` on uint8): in float32,
``g = 0.2989·R/255 + 0.5870·G/255 + 0.1140·B/255``, pixel = ``trunc(g · 255.5)``. PIL/torchvision
``convert('L')`` rounds ITU-R 601 instead and is one level higher on about a quarter of the pixels. Tokens are
the 256 raw pixel values, row-major, length 1024, no pad: pixel 0 is black, and LRA's ``inputs > 0`` padding
mask, which hides black pixels, must not be used (``lengths`` are always 1024). Splits: train = the first
45,000 training images in batch order, val = the last ``val_size`` (5,000), test = ``test_batch`` (10,000).
LRA takes TFDS ``train[:90%]``/``train[90%:]`` of hash-ordered records (a different 5,000); S4 feeds normalised
real values and a seed-42 ``random_split``.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lra.data.cache import CacheWriter
from lra.data.errors import DataError, DataFormatError
from lra.data.hashing import file_record
from lra.data.spec import TaskSpec
from lra.data.task import Task

PIXELS = 32 * 32
RECORD = 1 + 3 * PIXELS
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
PY_DIR, BIN_DIR = "cifar-10-batches-py", "cifar-10-batches-bin"

SPEC = TaskSpec(
    name="image",
    max_length=PIXELS,
    vocab_size=256,
    num_classes=10,
    split_sizes=(45_000, 5_000, 10_000),
    source="cifar-10-python.tar.gz or cifar-10-binary.tar.gz (or extracted) from https://www.cs.toronto.edu/~kriz/",
    tokenisation=(
        "TF grayscale (float32, trunc(g*255.5)) as LRA; raw pixel values 0..255, 1024 long, 0 is black not pad; "
        "val = last 5,000 training images (LRA: TFDS train[90%:])"
    ),
    pixels=True,
    image_size=32,
    defaults={"max_length": PIXELS, "val_size": 5_000},
)


_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array-unpickling helper, wherever this numpy keeps it


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed set."""


class CifarUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch needs: numpy arrays and dtypes (and ``_codecs.encode`` for pickles written
    by Python 3 at protocol 2). Anything else, e.g. ``os.system``, is refused."""

    ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise RefusedGlobal(f"refusing to load {module}.{name} (not part of a CIFAR batch)")
        return self.ALLOWED[(module, name)]


def _field(batch: dict, key: str) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise KeyError(key)


def read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 [N, 3072] CHW, int64 labels [N])`` of one python-version batch file."""
    if not path.is_file():
        raise DataFormatError(path, None, "missing batch file")
    try:
        with open(path, "rb") as f:
            batch = CifarUnpickler(f, encoding="bytes").load()
    except RefusedGlobal as e:
        raise DataFormatError(path, None, f"unsafe pickle: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError) as e:
        raise DataFormatError(path, None, f"truncated or corrupt pickle ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict):
        raise DataFormatError(path, None, f"expected a dict, found {type(batch).__name__}")
    try:
        data, labels = _field(batch, "data"), _field(batch, "labels")
    except KeyError as e:
        raise DataFormatError(path, None, f"no {e.args[0]!r} entry") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * PIXELS:
        raise DataFormatError(
            path, None, f"'data' must be a uint8 array [N, 3072], found {getattr(data, 'shape', data)!r}"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataFormatError(path, None, "'labels' are not integers") from None
    if labels.shape != (len(data),):
        raise DataFormatError(path, None, f"{len(data)} images but {labels.size} labels")
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if len(bad):
        raise DataFormatError(path, f"record {bad[0]}", f"label {labels[bad[0]]} is outside 0..9")
    return data, labels


def read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 [N, 3072] CHW, int64 labels [N])`` of one binary-version batch file."""
    if not path.is_file():
        raise DataFormatError(path, None, "missing batch file")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise DataFormatError(
            path,
            f"record {raw.size // RECORD}",
            f"size {raw.size} bytes is not a whole number of {RECORD}-byte records",
        )
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels > 9)
    if len(bad):
        raise DataFormatError(path, f"record {bad[0]}", f"label {labels[bad[0]]} is outside 0..9")
    return records[:, 1:], labels


def grayscale_tf(chw: np.ndarray) -> np.ndarray:
    """``tf.image.rgb_to_grayscale`` of uint8 images given as ``[N, 3072]`` (1024 R, 1024 G, 1024 B): in float32,
    ``x/255`` (``convert_image_dtype``), the weighted sum, then ``trunc(g · 255.5)`` back to uint8."""
    x = chw.reshape(len(chw), 3, PIXELS).astype(np.float32) * np.float32(1.0 / 255.0)
    g = x[:, 0] * np.float32(0.2989) + x[:, 1] * np.float32(0.5870) + x[:, 2] * np.float32(0.1140)
    return (g * np.float32(255.5)).astype(np.uint8)


class ImageTask(Task):
    spec = SPEC
    fixed = ("max_length",)
    remotes = ("cifar-10-python", "cifar-10-binary")
    what = f"CIFAR-10 batches ({PY_DIR}/ or {BIN_DIR}/)"

    def is_source(self, directory: Path, settings: Mapping[str, Any]) -> bool:
        return (directory / TRAIN_BATCHES[0]).is_file() or (directory / f"{TRAIN_BATCHES[0]}.bin").is_file()

    def archive_roots(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        return (PY_DIR, BIN_DIR)

    def build(self, source: Path, settings: Mapping[str, Any], writer: CacheWriter, workers: int) -> None:
        binary = not (source / TRAIN_BATCHES[0]).is_file()
        names = [f"{n}.bin" if binary else n for n in (*TRAIN_BATCHES, TEST_BATCH)]
        read = read_binary_batch if binary else read_python_batch
        parts = []
        for name in names:
            parts.append(read(source / name))
            writer.sources[name] = {"path": str(source / name), **file_record(source / name)}
        train_x = np.concatenate([p[0] for p in parts[:-1]])
        train_y = np.concatenate([p[1] for p in parts[:-1]])
        val = settings["val_size"]
        if val >= len(train_y):
            raise DataError(f"image: val_size {val} must be below the {len(train_y)} training images")
        full = np.full(len(train_y), PIXELS, np.int32)
        split_at = len(train_y) - val
        writer.put("train", grayscale_tf(train_x[:split_at]), full[:split_at], train_y[:split_at])
        writer.put("val", grayscale_tf(train_x[split_at:]), full[split_at:], train_y[split_at:])
        test_x, test_y = parts[-1]
        writer.put("test", grayscale_tf(test_x), np.full(len(test_y), PIXELS, np.int32), test_y)
        writer.notes["format"] = "binary" if binary else "python"


TASKS = {"image": ImageTask()}
