"""Image (CIFAR-10): python pickles and binary batches, TF grayscale, splits, restricted unpickling, bad batches."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lra.data import TASKS, DataError, DataFormatError, load_split, prepare
from lra.data.image import grayscale_tf
from tests.data.fixtures import cifar_batches, make_cifar_binary, make_cifar_python, py2_pickle, tar_folder


def _gray(rgb: tuple[int, int, int]) -> int:
    return int(grayscale_tf(np.repeat(np.array(rgb, np.uint8), 1024)[None])[0, 0])


def test_spec() -> None:
    spec = TASKS["image"]
    assert (spec.max_length, spec.vocab_size, spec.num_classes, spec.pixels, spec.image_size) == (
        1024,
        256,
        10,
        True,
        32,
    )


def test_tf_grayscale_formula() -> None:
    # trunc((0.2989 R + 0.5870 G + 0.1140 B) / 255 * 255.5), in float32
    assert [_gray(c) for c in [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255)]] == [
        0,
        255,
        76,
        149,
        29,
    ]
    assert _gray((10, 200, 30)) == int(np.float32(0.2989 * 10 / 255 + 0.5870 * 200 / 255 + 0.1140 * 30 / 255) * 255.5)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 3, 1024), dtype=np.uint8)
    ours = grayscale_tf(rgb.reshape(200, 3072)).astype(int).reshape(-1)
    pil = np.asarray(Image.fromarray(rgb.transpose(0, 2, 1).reshape(200, 1024, 3)).convert("L")).astype(int).reshape(-1)
    assert ((pil - ours >= 0) & (pil - ours <= 1)).all()  # TF truncates where PIL rounds
    assert 0.23 < (pil != ours).mean() < 0.29  # ≈ 26 % of uniform random pixels differ (lra-data.md §3)


def test_python_tarball_and_binary_give_the_same_arrays(tmp_path: Path) -> None:
    batches = cifar_batches()
    folder = make_cifar_python(tmp_path / "py", batches)
    tarball = tar_folder(folder, tmp_path / "cifar-10-python.tar.gz")
    binary = make_cifar_binary(tmp_path / "bin", batches)
    dirs = [
        prepare("image", tmp_path / name, source=src, val_size=6)
        for name, src in (("a", folder), ("b", tarball), ("c", binary))
    ]
    for split in ("train", "val", "test"):
        for arr in ("inputs", "lengths", "labels"):
            blobs = {(d / f"{split}.{arr}.npy").read_bytes() for d in dirs}
            assert len(blobs) == 1


def test_splits_pixels_and_labels(tmp_path: Path, data_dir: Path) -> None:
    batches = cifar_batches(per_batch=8)
    batches["data_batch_1"][0][0] = 0  # an all-black image: pixel 0 is a real value, not padding
    make_cifar_python(tmp_path, batches)
    prepare("image", data_dir, source=tmp_path, val_size=6)
    train_x = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    train_y = [y for i in range(1, 6) for y in batches[f"data_batch_{i}"][1]]
    expected = {
        "train": (train_x[:34], train_y[:34]),
        "val": (train_x[34:], train_y[34:]),
        "test": (batches["test_batch"][0], batches["test_batch"][1]),
    }
    for split, (x, y) in expected.items():
        ds = load_split("image", split, data_dir, val_size=6)
        assert np.array_equal(ds.inputs, grayscale_tf(x)) and ds.labels.tolist() == y
        assert (ds.lengths == 1024).all() and ds.inputs.dtype == np.uint8
    assert not load_split("image", "train", data_dir, val_size=6).inputs[0].any()


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_pickles_cannot_run_code(tmp_path: Path) -> None:
    folder = make_cifar_python(tmp_path, cifar_batches())
    marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": []}, protocol=2))
    with pytest.raises(DataFormatError, match=r"data_batch_3: unsafe pickle: refusing to load \w+\.system"):
        prepare("image", tmp_path / "data", source=folder, val_size=6)
    assert not marker.exists()


# Damage to cifar-10-batches-py/ and the error each gives (also run through the CLI).
BAD_BATCHES = [
    (
        lambda f: (f / "data_batch_2").write_bytes((f / "data_batch_2").read_bytes()[:5000]),
        r"data_batch_2: truncated or corrupt pickle",
    ),
    (lambda f: (f / "test_batch").unlink(), r"test_batch: missing batch file"),
    (
        lambda f: (f / "data_batch_4").write_bytes(
            py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 11]})
        ),
        r"data_batch_4:record 1: label 11 is outside 0\.\.9",
    ),
    (
        lambda f: (f / "data_batch_4").write_bytes(
            py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 1]})
        ),
        r"data_batch_4: 'data' must be a uint8 array \[N, 3072\]",
    ),
    (lambda f: (f / "data_batch_5").write_bytes(py2_pickle({b"labels": [1]})), r"data_batch_5: no 'data' entry"),
    (lambda f: (f / "data_batch_5").write_bytes(py2_pickle([1, 2])), r"data_batch_5: expected a dict, found list"),
]


@pytest.mark.parametrize(("damage", "message"), BAD_BATCHES)
def test_bad_python_batches(tmp_path: Path, damage, message: str) -> None:
    folder = make_cifar_python(tmp_path, cifar_batches())
    damage(folder)
    with pytest.raises(DataFormatError, match=message):
        prepare("image", tmp_path / "data", source=folder, val_size=6)


def test_bad_binary_batches(tmp_path: Path) -> None:
    folder = make_cifar_binary(tmp_path, cifar_batches())
    path = folder / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataFormatError, match=r"data_batch_2\.bin:record 7: size 24574 bytes is not a whole number"):
        prepare("image", tmp_path / "data", source=folder, val_size=6)
    raw = bytearray((folder / "data_batch_1.bin").read_bytes())
    raw[3 * 3073] = 10
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match=r"data_batch_2\.bin:record 3: label 10 is outside 0\.\.9"):
        prepare("image", tmp_path / "data", source=folder, val_size=6)


def test_validation_size_must_leave_training_images(tmp_path: Path) -> None:
    folder = make_cifar_python(tmp_path, cifar_batches())
    with pytest.raises(DataError, match="image: max_length is fixed at 1024, got 1000"):
        prepare("image", tmp_path / "data", source=folder, max_length=1000)
    with pytest.raises(DataError, match="val_size 40 must be below the 40 training images"):
        prepare("image", tmp_path / "data", source=folder, val_size=40)
