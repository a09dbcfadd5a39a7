"""Retrieval (AAN): 5-column TSVs without header, bytes-literal cells, 10,000 bytes then max_length per document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lra.data import TASKS, DataFormatError, load_split, prepare
from tests.data.fixtures import make_aan


def test_spec() -> None:
    spec = TASKS["retrieval"]
    assert (spec.max_length, spec.vocab_size, spec.num_classes, spec.dual) == (4000, 257, 2, True)


@pytest.mark.parametrize("max_length", [4000, 12_000])
def test_pairs_become_two_byte_sequences(tmp_path: Path, data_dir: Path, max_length: int) -> None:
    rows = make_aan(tmp_path / "lra_release" / "tsv_data")
    prepare("retrieval", data_dir, source=tmp_path / "lra_release", max_length=max_length)
    keep = min(10_000, max_length)
    for split in ("train", "val", "test"):
        ds = load_split("retrieval", split, data_dir, max_length=max_length)
        assert ds.inputs.shape == (len(rows[split]), 2, max_length) and ds.inputs.dtype == np.uint16
        for i, (label, _, _, t1, t2) in enumerate(rows[split]):
            item = ds[i]
            assert item["label"].item() == int(float(label))
            for doc, text in enumerate((t1, t2)):
                expected = np.frombuffer(text[:keep], np.uint8).astype(np.int64) + 1
                assert item["length"][doc].item() == len(expected)
                assert item["input_ids"][doc, : len(expected)].tolist() == expected.tolist()
                assert not item["input_ids"][doc, len(expected) :].any()
    assert (ds.lengths == keep).any()  # some documents are cut


# Replacements of line 2 of new_aan_pairs.eval.tsv and the error each gives (also run through the CLI).
BAD_ROWS = [
    (b"1.0\tA\tB\tonly four", r"eval\.tsv:2: expected 5 tab-separated columns .* found 4"),
    (
        b"label\tid1\tid2\ttext1\ttext2",
        r"eval\.tsv:2: label b'label' is not a number \(the AAN TSVs have no header\)",
    ),
    (b"2.0\tA\tB\tx\ty", r"eval\.tsv:2: label 2 is not 0 or 1"),
    (b"1\tA\tB\tx\t", r"eval\.tsv:2: text2 is empty"),
    (b"1\tA\tB\tb''\ty", r"eval\.tsv:2: text1 is empty"),
    (b"0\tA\tB\tb'ab'cd'\ty", r"eval\.tsv:2: text1 looks like a bytes literal but does not parse"),
    (b"", r"eval\.tsv:2: empty line"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ROWS)
def test_bad_rows_name_file_and_line(tmp_path: Path, line: bytes, message: str) -> None:
    folder = tmp_path / "tsv_data"
    make_aan(folder)
    path = folder / "new_aan_pairs.eval.tsv"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], line, *lines[2:]]))
    with pytest.raises(DataFormatError, match=message):
        prepare("retrieval", tmp_path / "data", source=folder)


def test_missing_split_file(tmp_path: Path) -> None:
    make_aan(tmp_path / "tsv_data")
    (tmp_path / "tsv_data" / "new_aan_pairs.test.tsv").unlink()
    with pytest.raises(DataFormatError, match=r"new_aan_pairs\.test\.tsv: missing split file"):
        prepare("retrieval", tmp_path / "data", source=tmp_path / "tsv_data")
