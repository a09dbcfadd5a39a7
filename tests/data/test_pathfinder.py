"""Pathfinder and Path-X: the lra_release layout, empty images, difficulty, seeded 80/10/10, bad images and rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lra.data import TASKS, DataError, DataFormatError, get_task, load_split, pathfinder_gen, prepare, settings_for
from lra.data.cache import read_manifest
from lra.data.cli import main
from tests.data.fixtures import make_pathfinder

HARD = "pathfinder32/curv_contour_length_14"


def _all_rows(task: str, data_dir: Path, **settings: object) -> dict[bytes, tuple[str, int]]:
    out = {}
    for split in ("train", "val", "test"):
        ds = load_split(task, split, data_dir, **settings)
        assert (ds.lengths == ds.inputs.shape[1]).all()
        for row, label in zip(ds.inputs, ds.labels, strict=True):
            out[row.tobytes()] = (split, int(label))
    return out


def test_specs() -> None:
    assert (TASKS["pathfinder"].max_length, TASKS["pathfinder"].image_size, TASKS["pathfinder"].num_classes) == (
        1024,
        32,
        2,
    )
    assert (TASKS["pathx"].max_length, TASKS["pathx"].image_size, TASKS["pathx"].vocab_size) == (16384, 128, 256)


def test_every_image_once_with_its_label_and_pixels(tmp_path: Path, data_dir: Path) -> None:
    truth = make_pathfinder(tmp_path / "lra_release", 32, "hard", shards=3, per_shard=10, empty=1)
    path = prepare("pathfinder", data_dir, source=tmp_path / "lra_release", workers=1)
    rows = _all_rows("pathfinder", data_dir)
    assert len(rows) == len(truth) == 29
    for pixels, label in truth.values():
        assert rows[pixels.tobytes()][1] == label
    manifest = read_manifest(path)
    assert manifest is not None
    assert [manifest["splits"][s]["count"] for s in ("train", "val", "test")] == [23, 3, 3]
    assert manifest["notes"]["skipped_empty_images"]["count"] == 1
    assert manifest["notes"]["skipped_empty_images"]["first"][0].endswith("imgs/0/sample_0.png")
    assert manifest["sources"]["images"]["files"] == 29
    assert load_split("pathfinder", "train", data_dir).inputs.min() == 0  # black pixels stay tokens


def test_split_is_seeded_and_independent_of_workers(tmp_path: Path) -> None:
    make_pathfinder(tmp_path / "src", 32, "hard", shards=4, per_shard=25)
    one = prepare("pathfinder", tmp_path / "d1", source=tmp_path / "src", workers=1)
    two = prepare("pathfinder", tmp_path / "d2", source=tmp_path / "src", workers=2)
    for name in ("train.inputs.npy", "val.inputs.npy", "test.labels.npy"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    prepare("pathfinder", tmp_path / "d1", source=tmp_path / "src", split_seed=1, workers=1)
    a = {k: v[0] for k, v in _all_rows("pathfinder", tmp_path / "d1").items()}
    b = {k: v[0] for k, v in _all_rows("pathfinder", tmp_path / "d1", split_seed=1).items()}
    assert a.keys() == b.keys() and a != b


def test_difficulty_and_resolution_pick_their_folders(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "lra_release"
    hard = make_pathfinder(root, 32, "hard", seed=1)
    easy = make_pathfinder(root, 32, "easy", seed=2)
    big = make_pathfinder(root, 128, "hard", shards=1, per_shard=10, empty=0, seed=3)
    prepare("pathfinder", data_dir, source=root, workers=1)
    prepare("pathfinder", data_dir, source=root, difficulty="easy", workers=1)
    prepare("pathx", data_dir, source=root, workers=1)
    assert _all_rows("pathfinder", data_dir).keys() == {p.tobytes() for p, _ in hard.values()}
    assert _all_rows("pathfinder", data_dir, difficulty="easy").keys() == {p.tobytes() for p, _ in easy.values()}
    assert _all_rows("pathx", data_dir).keys() == {p.tobytes() for p, _ in big.values()}


def test_generate_and_source_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="either --generate or --source"):
        prepare("pathfinder", tmp_path / "data", generate=True, source=tmp_path)


def _png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(pixels)
    (img.convert(mode) if mode else img).save(buf, format="PNG")
    return buf.getvalue()


# Damage to the hard difficulty folder of make_pathfinder and the error each gives (also run through the CLI).
BAD_FILES = [
    (
        lambda d: (d / "imgs/1/sample_3.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage"),
        r"imgs/1/sample_3\.png: corrupt image",
    ),
    (
        lambda d: (d / "imgs/1/sample_3.png").write_bytes((d / "imgs/1/sample_3.png").read_bytes()[:60]),
        r"imgs/1/sample_3\.png: corrupt image",
    ),
    (
        lambda d: (d / "imgs/1/sample_3.png").write_bytes(_png(np.zeros((32, 31), np.uint8))),
        r"sample_3\.png: wrong size 31x32, expected 32x32; listed at .*metadata/1\.npy:4",
    ),
    (
        lambda d: (d / "imgs/1/sample_3.png").write_bytes(_png(np.zeros((32, 32), np.uint8), "RGB")),
        r"sample_3\.png: expected an 8-bit grayscale PNG, found PNG mode RGB",
    ),
    (lambda d: (d / "imgs/1/sample_3.png").unlink(), r"metadata/1\.npy:4: image .*sample_3\.png does not exist"),
    (
        lambda d: (d / "metadata/2.npy").write_text("imgs/2 sample_0.png 0 1 1.8 14\n"),
        r"metadata/2\.npy:1: unreadable metadata row: expected 11 fields, found 6",
    ),
    (lambda d: np.save(d / "metadata/2.npy", np.zeros((2, 11))), r"metadata/2\.npy: unreadable metadata: not text"),
    (
        lambda d: (d / "metadata/2.npy").write_text("imgs/2 sample_0.png 0 2 1.8 14 4 2 1.5 2 1\n"),
        r"metadata/2\.npy:1: label '2' is not 0 or 1",
    ),
    (
        lambda d: (d / "metadata/2.npy").write_text("imgs/../.. sample_0.png 0 1 1.8 14 4 2 1.5 2 1\n"),
        r"metadata/2\.npy:1: image path .* leaves the difficulty folder",
    ),
    (
        lambda d: (d / "metadata/2.npy").write_text("imgs/1 sample_3.png 3 1 1.8 14 4 2 1.5 2 1\n"),
        r"metadata/2\.npy:1: image imgs/1/sample_3\.png is already listed at .*metadata/1\.npy:4",
    ),
]


@pytest.mark.parametrize(("damage", "message"), BAD_FILES)
def test_bad_images_and_rows_name_the_file(tmp_path: Path, damage, message: str) -> None:
    make_pathfinder(tmp_path / "lra_release", 32, "hard")
    damage(tmp_path / "lra_release" / HARD)
    with pytest.raises(DataFormatError, match=message):
        prepare("pathfinder", tmp_path / "data", source=tmp_path / "lra_release", workers=1)


def test_bad_image_found_by_a_worker_process(tmp_path: Path) -> None:
    make_pathfinder(tmp_path / "src", 32, "hard", shards=3, per_shard=900)
    (tmp_path / "src" / HARD / "imgs/2/sample_5.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match=r"imgs/2/sample_5\.png: corrupt image"):
        prepare("pathfinder", tmp_path / "data", source=tmp_path / "src", workers=2)
    assert not any((tmp_path / "data" / "cache").iterdir())


def test_size_sets_only_the_training_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--size N`` (CLI) and ``train_size=N`` (Python) ask the generator for N training images plus LRA's
    20,000 validation and 20,000 test images, unless those are set; checked at the generator's door."""
    asked: list[tuple[int, int]] = []

    def generator_called(folder: Path, *, size: int, count: int, **_: object) -> None:
        asked.append((size, count))
        raise DataError("stopped by the test")

    monkeypatch.setattr(pathfinder_gen, "generate", generator_called)
    d = str(tmp_path / "data")
    for task in ("pathfinder", "pathx"):
        settings = settings_for(task, origin="generated", train_size=40)
        assert (settings["train_size"], settings["val_size"], settings["test_size"]) == (40, 20_000, 20_000)
        assert main(["prepare", task, "--generate", "--size", "40", "--data-dir", d, "--quiet"]) == 1
        with pytest.raises(DataError, match="stopped by the test"):
            prepare(task, d, generate=True, train_size=40)
        assert (
            main(["prepare", task, "--generate", "--size", "40", "--test-size", "3", "--data-dir", d, "--quiet"]) == 1
        )
        with pytest.raises(DataError, match="stopped by the test"):
            prepare(task, d, generate=True, train_size=40, test_size=3)
    assert "error: stopped by the test" in capsys.readouterr().err
    assert asked == [(px, n) for px in (32, 128) for n in (40_040, 40_040, 20_043, 20_043)]
    assert get_task("pathfinder").prepare_command(
        settings_for("pathfinder", origin="generated", train_size=40), Path(d)
    ) == (f"lra-data prepare pathfinder --data-dir {d} --generate --size 40")


def test_prepare_generate_splits_and_settings(tmp_path: Path) -> None:
    root = tmp_path / "data"
    sizes = {"train_size": 40, "val_size": 5, "test_size": 5}
    path = prepare("pathfinder", root, generate=True, workers=1, **sizes)
    manifest = read_manifest(path)
    assert manifest is not None
    assert [manifest["splits"][s]["count"] for s in ("train", "val", "test")] == [40, 5, 5]
    assert manifest["settings"] == settings_for("pathfinder", origin="generated", **sizes)
    assert manifest["notes"]["generator"]["params"]["contour_length"] == 14
    train = load_split("pathfinder", "train", root, origin="generated", **sizes)
    assert train.inputs.shape == (40, 1024) and set(np.unique(train.labels)) <= {0, 1}
    other = sizes | {"val_size": 2, "test_size": 8}
    again = prepare("pathfinder", root, generate=True, workers=1, **other)
    val = load_split("pathfinder", "val", root, origin="generated", **other)
    first = load_split("pathfinder", "val", root, origin="generated", **sizes)
    assert again != path and (val.inputs == first.inputs[:2]).all()  # val is the first images either way
    command = get_task("pathfinder").prepare_command(manifest["settings"], root)
    assert all(flag in command for flag in ("--generate", "--size 40", "--val-size 5", "--test-size 5"))
    with pytest.raises(DataError, match="contradicts --generate"):
        prepare("pathfinder", root, generate=True, origin="files")
    with pytest.raises(DataError, match="do not apply"):
        settings_for("pathx", split_seed=3, origin="generated")


def test_pathx_generated_end_to_end_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "data")
    args = ["prepare", "pathx", "--generate", "--size", "8", "--val-size", "2", "--test-size", "2"]
    assert main([*args, "--data-dir", d, "--workers", "1", "--quiet"]) == 0
    assert "pathx: train 8 / val 2 / test 2 in" in capsys.readouterr().out
    sizes = {"train_size": 8, "val_size": 2, "test_size": 2}
    for split, n in (("train", 8), ("val", 2), ("test", 2)):
        ds = load_split("pathx", split, d, origin="generated", **sizes)
        assert ds.inputs.shape == (n, 16384) and ds.inputs.dtype == np.uint8 and (ds.lengths == 16384).all()
        assert ds.inputs.max() == 255 and set(np.unique(ds.labels)) <= {0, 1}  # min–max scaled images
    assert ds.manifest["notes"]["generator"]["params"]["size"] == 128
    images = tmp_path / "data" / "raw" / "pathfinder-generated"
    assert len(list(images.glob("*/pathfinder128/curv_contour_length_14/imgs/0/sample_*.png"))) == 12
