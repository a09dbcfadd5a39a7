"""The ListOps reader: LRA-format TSVs (generated or lra_release/listops-1000), fixed vocabulary, bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lra.data import TASKS, DataError, DataFormatError, load_split, prepare
from lra.data.cache import read_manifest
from lra.data.listops import VOCAB, encode_source
from tests.data.fixtures import make_listops_release, write_listops_tsv


def _decode(ids: np.ndarray) -> list[str]:
    return [VOCAB[i] for i in ids]


def test_vocabulary_is_fixed_and_documented() -> None:
    assert ("<pad>", *"0123456789", "[MIN", "[MAX", "[MED", "[SM", "]") == VOCAB
    assert TASKS["listops"].vocab_size == 16 and TASKS["listops"].max_length == 2000
    assert TASKS["listops"].num_classes == 10 and TASKS["listops"].pad_id == 0


def test_release_files_tokenise_to_the_expression_without_parentheses(tmp_path: Path, data_dir: Path) -> None:
    rows = make_listops_release(tmp_path / "lra_release" / "listops-1000")
    prepare("listops", data_dir, source=tmp_path / "lra_release")
    for split, expected in zip(("train", "val", "test"), rows, strict=True):
        ds = load_split("listops", split, data_dir, origin="files")
        assert len(ds) == len(expected)
        for i, (src, target) in enumerate(expected):
            tokens = [t for t in src.split() if t not in "()"]
            assert _decode(ds.inputs[i, : ds.lengths[i]]) == tokens
            assert not ds.inputs[i, ds.lengths[i] :].any()
            assert ds.labels[i] == target
        assert ds.inputs.dtype == np.uint8


def test_line_endings_and_spacing_do_not_matter(tmp_path: Path) -> None:
    src = "( ( ( ( [MIN 8 ) 2 ) ( ( ( [MIN 8 ) 6 ) ] ) ) ] )"
    exact = encode_source(src.encode(), tmp_path, 2)
    assert _decode(np.frombuffer(exact, np.uint8)) == ["[MIN", "8", "2", "[MIN", "8", "6", "]", "]"]
    loose = encode_source(("  " + src.replace(" ", "  ") + " ").encode(), tmp_path, 2)
    assert loose == exact
    crlf, lf = tmp_path / "crlf", tmp_path / "lf"
    for folder, ending in ((crlf, "\r\n"), (lf, "\n")):
        folder.mkdir()
        for split in ("train", "val", "test"):
            write_listops_tsv(folder / f"basic_{split}.tsv", [(src, 2), (src, 2)], lineterminator=ending)
    a = prepare("listops", tmp_path / "d1", source=crlf)
    b = prepare("listops", tmp_path / "d2", source=lf)
    assert (a / "train.inputs.npy").read_bytes() == (b / "train.inputs.npy").read_bytes()


def test_long_rows_are_truncated_and_counted(tmp_path: Path, data_dir: Path) -> None:
    rows = make_listops_release(tmp_path / "src")
    path = prepare("listops", data_dir, source=tmp_path / "src", max_length=600)
    ds = load_split("listops", "train", data_dir, origin="files", max_length=600)
    longer = sum(sum(t not in "()" for t in src.split()) > 600 for src, _ in rows[0])
    assert longer > 0 and ds.inputs.shape == (len(rows[0]), 600)
    assert json.loads((path / "manifest.json").read_text())["notes"]["truncated_rows"]["train"] == longer
    assert (ds.lengths <= 600).all()


GOOD = "( ( ( [MAX 1 ) 7 ) ] )"


# Replacements of row 3 of basic_train.tsv and the error each gives (also run through the CLI: test_cli_bad_input).
BAD_ROWS = [
    (f"{GOOD}\t3\textra", r"basic_train\.tsv:3: expected 2 tab-separated columns"),
    (f"{GOOD}", r"basic_train\.tsv:3: expected 2 tab-separated columns \(Source, Target\), found 1"),
    (f"{GOOD}\tseven", r"basic_train\.tsv:3: Target b'seven' is not an integer"),
    (f"{GOOD}\t10", r"basic_train\.tsv:3: Target 10 is outside 0\.\.9"),
    ("( ( ( [FIRST 1 ) 7 ) ] )\t1", r"basic_train\.tsv:3: unknown ListOps token '\[FIRST'"),
    ("( ( ( [MAX 12 ) 7 ) ] )\t7", r"basic_train\.tsv:3: unknown ListOps token '12'"),
    ("( ( ( [MAX 1 ) 7 ) X )\t7", r"basic_train\.tsv:3: unknown ListOps token 'X'"),
    ("( )\t1", r"basic_train\.tsv:3: empty expression"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ROWS)
def test_bad_rows_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    src = tmp_path / "src"
    make_listops_release(src, sizes=(2, 2, 2))
    train = src / "basic_train.tsv"
    lines = train.read_bytes().split(b"\r\n")
    train.write_bytes(b"\r\n".join([*lines[:2], line.encode(), *lines[3:]]))
    with pytest.raises(DataFormatError, match=message):
        prepare("listops", tmp_path / "data", source=src)
    assert not (tmp_path / "data" / "cache").exists() or not any((tmp_path / "data" / "cache").iterdir())


def test_missing_header_and_missing_split(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_listops_release(src, sizes=(2, 2, 2))
    (src / "basic_test.tsv").unlink()
    with pytest.raises(DataFormatError, match=r"basic_test\.tsv: missing split file"):
        prepare("listops", tmp_path / "data", source=src)
    write_listops_tsv(src / "basic_test.tsv", [])
    with pytest.raises(DataFormatError, match=r"basic_test\.tsv: no examples after the header"):
        prepare("listops", tmp_path / "data", source=src)
    (src / "basic_val.tsv").write_bytes(b"( ( [MAX 1 ) 7 ) ] )\t7\r\n")
    with pytest.raises(DataFormatError, match=r"basic_val\.tsv:1: expected the header"):
        prepare("listops", tmp_path / "data", source=src)


def test_generated_and_file_origins_are_separate_caches(tmp_path: Path, data_dir: Path) -> None:
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    files = prepare("listops", data_dir, source=tmp_path / "src")
    generated = prepare("listops", data_dir, generate=True, train_size=20, val_size=3, test_size=3, workers=1)
    assert files != generated
    manifest = read_manifest(generated)
    assert manifest is not None
    assert manifest["settings"] == {
        "origin": "generated",
        "max_length": 2000,
        "train_size": 20,
        "val_size": 3,
        "test_size": 3,
        "seed": 0,
    }
    assert [manifest["splits"][s]["count"] for s in ("train", "val", "test")] == [20, 3, 3]
    assert set(manifest["sources"]) == {"basic_train.tsv", "basic_val.tsv", "basic_test.tsv"}
    assert read_manifest(files)["settings"] == {"origin": "files", "max_length": 2000}  # type: ignore[index]


def test_settings_that_do_not_apply_are_refused(tmp_path: Path) -> None:
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    with pytest.raises(DataError, match=r"train_size do not apply"):
        prepare("listops", tmp_path / "data", source=tmp_path / "src", train_size=10)
    with pytest.raises(DataError, match=r"either --generate or --source"):
        prepare("listops", tmp_path / "data", source=tmp_path / "src", generate=True)
    with pytest.raises(DataError, match=r"unknown setting\(s\) size"):
        prepare("listops", tmp_path / "data", generate=True, size=10)
