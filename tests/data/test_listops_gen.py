"""The ListOps generator against LRA's procedure: values, lengths, distribution, determinism, file format."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from lra.data import listops_gen
from lra.data.listops_gen import generate_tsv
from tests.data.listops_reference import accepted_trees, evaluate, evaluate_prefix, parse, render


def _generate(folder: Path, train: int, val: int = 0, test: int = 0, seed: int = 0, workers: int = 1) -> Path:
    folder.mkdir(parents=True)
    generate_tsv(folder, train_size=train, val_size=val, test_size=test, seed=seed, workers=workers)
    return folder


def _rows(path: Path) -> list[tuple[str, int]]:
    data = path.read_bytes()
    assert data.startswith(b"Source\tTarget\r\n")
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")  # CRLF only, like csv.writer
    lines = data.decode().split("\r\n")[1:-1]
    return [(src, int(target)) for src, target in (line.split("\t") for line in lines)]


Row = tuple[str, int, list[str]]  # source, target, tokens without parentheses


@pytest.fixture(scope="module")
def five_thousand(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    folder = _generate(tmp_path_factory.mktemp("gen") / "out", 5000, seed=1)
    return [(src, t, [x for x in src.split() if x not in "()"]) for src, t in _rows(folder / "basic_train.tsv")]


def test_every_label_is_the_value_of_its_expression(five_thousand: list[Row]) -> None:
    for _, target, tokens in five_thousand:
        assert evaluate_prefix(tokens) == target


def test_rows_are_lra_printed_pair_trees(five_thousand: list[Row]) -> None:
    for src, target, _ in five_thousand[:150]:
        tree = parse(src)
        assert render(tree) == src  # exactly LRA's to_string spelling
        assert evaluate(tree) == target


def test_lengths_within_the_lra_bounds(five_thousand: list[Row]) -> None:
    lengths = [len(tokens) for _, _, tokens in five_thousand]
    assert min(lengths) >= 501 and max(lengths) <= 1999


def test_reference_statistics_on_5000(five_thousand: list[Row]) -> None:
    lengths = np.array([len(tokens) for _, _, tokens in five_thousand])
    labels = np.bincount([t for _, t, _ in five_thousand], minlength=10) / len(five_thousand)
    assert abs(lengths.mean() - 1064) <= 60
    assert abs(labels[0] - 0.17) <= 0.03 and abs(labels[9] - 0.17) <= 0.03


def test_same_distribution_as_a_plain_port_of_lra(five_thousand: list[Row]) -> None:
    ours = np.sort([len(tokens) for _, _, tokens in five_thousand])
    ref_trees = accepted_trees(seed=3, count=1000)
    ref = np.sort([n for _, n in ref_trees])
    grid = np.arange(501, 2000)
    ks = np.abs(np.searchsorted(ours, grid, "right") / len(ours) - np.searchsorted(ref, grid, "right") / len(ref))
    assert ks.max() < 1.95 * np.sqrt((len(ours) + len(ref)) / (len(ours) * len(ref)))  # two-sample KS, alpha 0.001
    ref_labels = np.bincount([evaluate(t) for t, _ in ref_trees], minlength=10) / len(ref_trees)
    our_labels = np.bincount([t for _, t, _ in five_thousand], minlength=10) / len(five_thousand)
    assert np.abs(ref_labels - our_labels).max() < 0.05


def test_identical_for_any_number_of_workers(tmp_path: Path) -> None:
    one = _generate(tmp_path / "one", 700, 20, 20, seed=5, workers=1)
    two = _generate(tmp_path / "two", 700, 20, 20, seed=5, workers=2)
    for split in ("train", "val", "test"):
        assert (one / f"basic_{split}.tsv").read_bytes() == (two / f"basic_{split}.tsv").read_bytes()


def test_byte_identical_across_machines(tmp_path: Path) -> None:
    """Golden digests of a small seed-0 set (numpy 2.4.6): a change here means the generator's output changed,
    and GENERATOR_VERSION in lra/data/listops.py must be bumped."""
    folder = _generate(tmp_path / "g", 30, 5, 5, seed=0)
    digests = {
        s: hashlib.sha256((folder / f"basic_{s}.tsv").read_bytes()).hexdigest()[:16] for s in ("train", "val", "test")
    }
    assert digests == GOLDEN


GOLDEN = {"train": "2af5cbca3ef4b4bc", "val": "bbecc6de1c78cd24", "test": "e28760e86efa4b5a"}


def test_seed_changes_the_data(tmp_path: Path) -> None:
    a = _generate(tmp_path / "a", 20, seed=0)
    b = _generate(tmp_path / "b", 20, seed=1)
    assert (a / "basic_train.tsv").read_bytes() != (b / "basic_train.tsv").read_bytes()


def test_training_size_leaves_val_and_test_unchanged(tmp_path: Path) -> None:
    small = _generate(tmp_path / "small", 40, 10, 10, seed=2)
    large = _generate(tmp_path / "large", 120, 10, 10, seed=2)
    for split in ("val", "test"):
        assert _rows(small / f"basic_{split}.tsv") == _rows(large / f"basic_{split}.tsv")
    assert _rows(large / "basic_train.tsv")[:40] == _rows(small / "basic_train.tsv")
    all_rows = [r for s in ("train", "val", "test") for r in _rows(large / f"basic_{s}.tsv")]
    assert len(set(all_rows)) == len(all_rows)


def test_duplicates_are_dropped_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [f"( ( ( [MAX {d} ) {d} ) ] )\t{d}\r\n".encode() for d in range(6)]
    stream = [rows[0], rows[1], rows[0], rows[2], rows[1], rows[3], rows[4], rows[5]]
    monkeypatch.setattr(listops_gen, "_rendered_chunk", lambda args: stream[args[1] * 2 : args[1] * 2 + 2])
    folder = _generate(tmp_path / "d", 3, 1, 1)
    assert (folder / "basic_val.tsv").read_bytes().split(b"\r\n")[1] + b"\r\n" == rows[0]
    assert (folder / "basic_test.tsv").read_bytes().split(b"\r\n")[1] + b"\r\n" == rows[1]
    assert (folder / "basic_train.tsv").read_bytes() == b"Source\tTarget\r\n" + rows[2] + rows[3] + rows[4]


def test_draw_chunk_values_match_the_reference_evaluator() -> None:
    batch = listops_gen.draw_chunk(seed=11, index=0, draws=2000)
    assert len(batch) > 50
    for i in random.Random(0).sample(range(len(batch)), 50):
        tokens = [listops_gen.CODE_TEXT[c] for c in batch.tree(i)]
        assert evaluate_prefix(tokens) == batch.labels[i]
