"""Text (IMDB): aclImdb tree or tarball, byte ids, hold-out validation, bad reviews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lra.data import TASKS, DataError, DataFormatError, load_split, prepare
from tests.data.fixtures import make_aclimdb, tar_folder


def _expected(path: Path, max_length: int = 4000) -> np.ndarray:
    data = path.read_text(encoding="utf-8").strip().encode("utf-8")[:max_length]
    return np.frombuffer(data, np.uint8).astype(np.int64) + 1


def test_spec() -> None:
    spec = TASKS["text"]
    assert (spec.max_length, spec.vocab_size, spec.num_classes, spec.dual) == (4000, 257, 2, False)


def test_tree_and_tarball_give_the_same_arrays(tmp_path: Path) -> None:
    tree = make_aclimdb(tmp_path / "src")
    tarball = tar_folder(tree, tmp_path / "aclImdb_v1.tar.gz")
    a = prepare("text", tmp_path / "d1", source=tree, holdout_size=4)
    b = prepare("text", tmp_path / "d2", source=tarball, holdout_size=4)
    for name in ("train.inputs.npy", "val.inputs.npy", "test.inputs.npy", "test.labels.npy", "val.lengths.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert not (tmp_path / "d2" / "raw" / "aclImdb" / "train" / "unsup").exists()  # only what is needed


def test_reviews_become_bytes_plus_one(tmp_path: Path, data_dir: Path) -> None:
    tree = make_aclimdb(tmp_path / "src")
    prepare("text", data_dir, source=tree, val_source="test", max_length=50)
    test = load_split("text", "test", data_dir, val_source="test", max_length=50)
    files = sorted((tree / "test" / "neg").iterdir(), key=lambda p: int(p.name.split("_")[0]))
    files += sorted((tree / "test" / "pos").iterdir(), key=lambda p: int(p.name.split("_")[0]))
    assert len(test) == len(files)
    for i, path in enumerate(files):
        expected = _expected(path, 50)
        item = test[i]
        assert item["length"].item() == len(expected) <= 50
        assert item["input_ids"][: len(expected)].tolist() == expected.tolist()
        assert item["label"].item() == (path.parent.name == "pos")
    assert test.inputs.dtype == np.uint16 and test.inputs.max() <= 256


def test_holdout_is_seeded_disjoint_and_complete(tmp_path: Path, data_dir: Path) -> None:
    tree = make_aclimdb(tmp_path / "src", per_class=10)
    prepare("text", data_dir, source=tree, holdout_size=5)
    train = load_split("text", "train", data_dir, holdout_size=5)
    val = load_split("text", "val", data_dir, holdout_size=5)
    assert (len(train), len(val)) == (15, 5)
    rows = {bytes(r) for r in np.concatenate([train.inputs, val.inputs])}
    assert len(rows) == 20  # every training review exactly once
    prepare("text", data_dir, source=tree, holdout_size=5, split_seed=1)
    other = load_split("text", "val", data_dir, holdout_size=5, split_seed=1)
    assert {bytes(r) for r in other.inputs} != {bytes(r) for r in val.inputs}
    again = prepare("text", tmp_path / "again", source=tree, holdout_size=5)
    assert (again / "val.inputs.npy").read_bytes() == (val.directory / "val.inputs.npy").read_bytes()


def test_lra_mode_validates_on_test(tmp_path: Path, data_dir: Path) -> None:
    tree = make_aclimdb(tmp_path / "src")
    prepare("text", data_dir, source=tree, val_source="test")
    val = load_split("text", "val", data_dir, val_source="test")
    test = load_split("text", "test", data_dir, val_source="test")
    assert np.array_equal(val.inputs, test.inputs) and val.manifest["splits"]["val"] == {"alias": "test", "count": 12}
    assert len(load_split("text", "train", data_dir, val_source="test")) == 12
    with pytest.raises(DataError, match="holdout_size do not apply"):
        load_split("text", "val", data_dir, val_source="test", holdout_size=3)


def make_review_tree(root: Path) -> Path:
    """``make_aclimdb`` with its train/pos review 3 renamed ``3_9.txt``, the file ``BAD_REVIEWS`` damages."""
    tree = make_aclimdb(root)
    for p in (tree / "train" / "pos").glob("3_*.txt"):
        p.rename(p.with_name("3_9.txt"))
    return tree


# Damage to a review tree from make_review_tree and the error each gives (also run through the CLI).
BAD_REVIEWS = [
    (lambda t: (t / "train/pos/3_9.txt").write_bytes(b" \n\t "), r"3_9\.txt: empty review"),
    (lambda t: (t / "train/pos/3_9.txt").write_bytes(b"caf\xe9"), r"3_9\.txt: not valid UTF-8 \(byte 3\)"),
    (lambda t: (t / "test/neg/notes.txt").write_text("x"), r"notes\.txt: unexpected file name"),
    (lambda t: (t / "test/neg/99_8.txt").write_text("x"), r"99_8\.txt: rating 8 is not a neg rating"),
]


@pytest.mark.parametrize(("damage", "message"), BAD_REVIEWS)
def test_bad_reviews_name_the_file(tmp_path: Path, damage, message: str) -> None:
    tree = make_review_tree(tmp_path / "src")
    damage(tree)
    with pytest.raises(DataFormatError, match=message):
        prepare("text", tmp_path / "data", source=tree, holdout_size=3)


def test_missing_folder_and_too_large_holdout(tmp_path: Path) -> None:
    tree = make_aclimdb(tmp_path / "src")
    with pytest.raises(DataError, match="holdout_size 30 must be below the 12 training reviews"):
        prepare("text", tmp_path / "data", source=tree, holdout_size=30)
    for p in (tree / "test" / "neg").iterdir():
        p.unlink()
    with pytest.raises(DataFormatError, match=r"test/neg: no reviews"):
        prepare("text", tmp_path / "data", source=tree, holdout_size=3)
