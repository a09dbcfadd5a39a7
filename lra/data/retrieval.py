"""Retrieval (AAN): do two papers cite each other? Pairs of byte-level documents, 2 classes, 4000 bytes each.

Source: ``lra_release/tsv_data/new_aan_pairs.{train,eval,test}.tsv`` (inside ``lra_release.gz``; the pairs
cannot be rebuilt from the raw ACL Anthology Network corpus). Tab-separated, no header, 5 columns ``label, id1,
id2, text1, text2``; quotes are literal (LRA reads with ``use_quote_delim=False``); ``eval`` is our ``val``.
Labels are written as floats (``0.0``/``1.0``) or integers and must be 0 or 1. A text cell written as a Python
bytes literal (``b'...'`` or ``b"..."``, seen in some copies) is decoded with ``ast.literal_eval``; any other cell
is taken as is.

Tokenisation (LRA): the first 10,000 bytes of each document, id = byte + 1 (0 = pad, vocabulary 257), truncated
to ``max_length`` (4000) per document; arrays ``[N, 2, L]``. Differences: Nyströmformer pads to 4096, S4 uses
~98 characters from train plus EOS (3999 + EOS). The model head (LRA ``[u, v]`` vs NYS/S4 ``[u, v, u·v, u−v]``)
is the model's choice, not the data's.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lra.data.cache import CacheWriter
from lra.data.errors import DataFormatError
from lra.data.hashing import file_record
from lra.data.progress import bar
from lra.data.spec import TaskSpec
from lra.data.task import Task

DOC_BYTES = 10_000
FILES = {"train": "new_aan_pairs.train.tsv", "val": "new_aan_pairs.eval.tsv", "test": "new_aan_pairs.test.tsv"}
COLUMNS = ("label", "id1", "id2", "text1", "text2")
BYTES_LITERAL = re.compile(rb"""^b(['"]).*\1$""", re.DOTALL)

SPEC = TaskSpec(
    name="retrieval",
    max_length=4000,
    vocab_size=257,
    num_classes=2,
    split_sizes=(147_086, 18_090, 17_437),
    source="lra_release/tsv_data/new_aan_pairs.{train,eval,test}.tsv from lra_release.gz",
    tokenisation="first 10,000 bytes of each document, UTF-8 byte + 1 (0 pad, 257 ids), 4000 per document (as LRA)",
    dual=True,
    defaults={"max_length": 4000},
)


def cell_bytes(cell: bytes, path: Path, lineno: int, column: str) -> bytes:
    """The document bytes of a text cell, decoding a Python bytes literal."""
    if BYTES_LITERAL.match(cell):
        try:
            value = ast.literal_eval(cell.decode("utf-8"))
        except (ValueError, SyntaxError, UnicodeDecodeError) as e:
            raise DataFormatError(
                path, lineno, f"{column} looks like a bytes literal but does not parse ({e})"
            ) from None
        if not isinstance(value, bytes):
            raise DataFormatError(path, lineno, f"{column} is not a bytes literal")
        cell = value
    if not cell:
        raise DataFormatError(path, lineno, f"{column} is empty")
    return cell


def parse_label(cell: bytes, path: Path, lineno: int) -> int:
    try:
        value = float(cell)
    except ValueError:
        raise DataFormatError(
            path, lineno, f"label {cell[:20]!r} is not a number (the AAN TSVs have no header)"
        ) from None
    if value not in (0.0, 1.0):
        raise DataFormatError(path, lineno, f"label {value:g} is not 0 or 1")
    return int(value)


def _lines(path: Path):
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            yield lineno, line[:-1] if line.endswith(b"\r") else line


def read_split(path: Path, writer: CacheWriter, split: str, max_length: int) -> None:
    """Parse one TSV into the ``split`` arrays of ``writer``."""
    if not path.is_file():
        raise DataFormatError(path, None, "missing split file")
    with open(path, "rb") as f:
        n = sum(1 for _ in f)
    if n == 0:
        raise DataFormatError(path, None, "empty file")
    inputs, lengths, labels = writer.allocate(split, n, max_length)
    keep = min(DOC_BYTES, max_length)
    with bar(total=n, desc=f"Retrieval: reading {path.name}", unit=" pairs") as progress:
        for lineno, line in _lines(path):
            if not line:
                raise DataFormatError(path, lineno, "empty line")
            fields = line.split(b"\t")
            if len(fields) != len(COLUMNS):
                raise DataFormatError(
                    path, lineno, f"expected 5 tab-separated columns ({', '.join(COLUMNS)}), found {len(fields)}"
                )
            i = lineno - 1
            labels[i] = parse_label(fields[0], path, lineno)
            for doc, column in enumerate(COLUMNS[3:]):
                ids = np.frombuffer(cell_bytes(fields[3 + doc], path, lineno, column)[:keep], np.uint8)
                inputs[i, doc, : len(ids)] = ids.astype(np.uint16) + 1
                lengths[i, doc] = len(ids)
            progress.update(1)


class RetrievalTask(Task):
    spec = SPEC
    remotes = ("lra_release",)
    what = "AAN TSVs (new_aan_pairs.{train,eval,test}.tsv)"

    def is_source(self, directory: Path, settings: Mapping[str, Any]) -> bool:
        return (directory / FILES["train"]).is_file()

    def archive_roots(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        return ("tsv_data",)

    def build(self, source: Path, settings: Mapping[str, Any], writer: CacheWriter, workers: int) -> None:
        for split, name in FILES.items():
            read_split(source / name, writer, split, settings["max_length"])
            writer.sources[name] = {"path": str(source / name), **file_record(source / name)}


TASKS = {"retrieval": RetrievalTask()}
