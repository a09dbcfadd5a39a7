"""ListOps: nested MIN/MAX/MED/SM expressions over digits, 10 classes (the value), up to 2000 tokens.

Source: LRA-format ``basic_{train,val,test}.tsv`` (header ``Source<TAB>Target``, CRLF or LF line ends), either
generated here (``origin="generated"``, the default; see ``listops_gen``) or the released
``lra_release/listops-1000/`` files (``origin="files"``).

Tokenisation: parentheses are dropped (as in LRA): LRA's generator prints each node as left-nested pairs, so
``(`` and ``)`` carry no information beyond the operator and ``]`` tokens (the prefix form with ``]`` is
unambiguous) and would triple the length, and LRA's length bounds 501–1999 count tokens without them, so every
generated example fits in 2000 without truncation. ``]`` is kept as its own token (LRA maps it to ``X``, S4 too).
Fixed vocabulary, 16 ids: 0 = pad, digits ``0``–``9`` = 1–10, ``[MIN`` 11, ``[MAX`` 12, ``[MED`` 13, ``[SM`` 14,
``]`` 15. Differences: LRA builds its vocabulary from the first ~1,000 rows in Python-set order (ids differ from
run to run) and adds an unused OOV id (17 ids); S4 builds it from train with ``<unk>`` and appends ``<eos>`` (18,
length 2048); Nyströmformer pads to 2048. We reject unknown tokens with an error instead of an OOV id. Rows longer
than ``max_length`` (possible only in files made by other generators) are truncated, as LRA does, and counted in
the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lra.data import listops_gen
from lra.data.atomic import atomic_dir
from lra.data.cache import CacheWriter, cache_key
from lra.data.errors import DataError, DataFormatError
from lra.data.hashing import file_record
from lra.data.paths import raw_dir
from lra.data.progress import bar
from lra.data.spec import SPLITS, TaskSpec
from lra.data.task import Task

VOCAB = ("<pad>", *(str(d) for d in range(10)), "[MIN", "[MAX", "[MED", "[SM", "]")
HEADER = b"Source\tTarget"
GENERATOR_VERSION = 1  # bump when listops_gen output changes

SPEC = TaskSpec(
    name="listops",
    max_length=2000,
    vocab_size=len(VOCAB),
    num_classes=10,
    split_sizes=(96_000, 2_000, 2_000),
    source="generated with the LRA procedure (lra-data prepare listops --generate), or lra_release/listops-1000/",
    tokenisation=(
        "parentheses dropped (as LRA), ']' kept as a token; fixed 16 ids: 0 pad, digits 1-10, [MIN 11, [MAX 12, "
        "[MED 13, [SM 14, ] 15 (LRA: 17 ids in unstable set order incl. an unused OOV id; S4: 18 incl. <unk>, <eos>)"
    ),
    defaults={
        "origin": "generated",
        "max_length": 2000,
        "train_size": 96_000,
        "val_size": 2_000,
        "test_size": 2_000,
        "seed": 0,
    },
)

_TOKEN_IDS = {t.encode(): i for i, t in enumerate(VOCAB) if i} | {b"(": 0, b")": 0}
_OP_CODES = ((b"[MIN", b"\x01"), (b"[MAX", b"\x02"), (b"[MED", b"\x03"), (b"[SM", b"\x04"))
# byte → id once each operator is one byte (\x01..\x04), as a bytes.translate table
_ID_BY_BYTE = {ord("0") + d: 1 + d for d in range(10)} | {1: 11, 2: 12, 3: 13, 4: 14, ord("]"): 15}
_ID_TABLE = bytes(_ID_BY_BYTE.get(b, 0) for b in range(256))


def _encode_exact(source: bytes) -> bytes | None:
    """Ids of a ``Source`` cell in LRA's exact spelling (tokens separated by single spaces), using only C-level
    bytes operations; None when the cell is spelled otherwise or holds an unknown token.

    After deleting ``(``, ``)`` and spaces and turning each operator into one byte, every remaining byte must be
    one token: the cell then has ``len(core) + parentheses`` tokens, which equals ``spaces + 1`` exactly when every
    whitespace-separated token was a single character (each longer token would add to the left side).
    """
    core = source.translate(None, b"() ")
    spaces = source.count(b" ")
    parens = len(source) - len(core) - spaces
    if b"  " in source or source[:1] == b" " or source[-1:] == b" " or core.translate(None, b"0123456789][MINAXEDS"):
        return None
    for op, code in _OP_CODES:
        core = core.replace(op, code)
    if len(core) + parens != spaces + 1 or core.translate(None, b"0123456789]\x01\x02\x03\x04"):
        return None
    return core.translate(_ID_TABLE)


def encode_source(source: bytes, path: Path, lineno: int) -> bytes:
    """Ids (one byte each) of a ``Source`` cell: tokens are whitespace-separated, parentheses are dropped."""
    ids = _encode_exact(source)
    if ids is None:
        try:
            ids = bytes(i for i in (_TOKEN_IDS[t] for t in source.split()) if i)
        except KeyError as e:
            raise DataFormatError(
                path, lineno, f"unknown ListOps token {e.args[0].decode('utf-8', 'replace')!r}"
            ) from None
    if not ids:
        raise DataFormatError(path, lineno, "empty expression")
    return ids


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
    return line[:-1] if line.endswith(b"\r") else line


def read_tsv(path: Path, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(inputs [N, max_length] uint8, lengths, labels, number truncated)`` of one LRA ListOps TSV."""
    if not path.is_file():
        raise DataFormatError(path, None, "missing split file")
    rows: list[bytes] = []
    labels: list[int] = []
    with (
        open(path, "rb") as f,
        bar(total=path.stat().st_size, desc=f"ListOps: reading {path.name}", unit="B", unit_scale=True) as progress,
    ):
        header = _strip_eol(f.readline())
        if header != HEADER:
            raise DataFormatError(path, 1, f"expected the header 'Source<TAB>Target', found {header[:40]!r}")
        for lineno, raw in enumerate(f, start=2):
            progress.update(len(raw))
            fields = _strip_eol(raw).split(b"\t")
            if len(fields) != 2:
                raise DataFormatError(
                    path, lineno, f"expected 2 tab-separated columns (Source, Target), found {len(fields)}"
                )
            try:
                label = int(fields[1])
            except ValueError:
                raise DataFormatError(path, lineno, f"Target {fields[1][:20]!r} is not an integer") from None
            if not 0 <= label <= 9:
                raise DataFormatError(path, lineno, f"Target {label} is outside 0..9")
            rows.append(encode_source(fields[0], path, lineno))
            labels.append(label)
    if not rows:
        raise DataFormatError(path, None, "no examples after the header")
    inputs = np.zeros((len(rows), max_length), np.uint8)
    lengths = np.empty(len(rows), np.int32)
    truncated = 0
    for i, ids in enumerate(rows):
        n = min(len(ids), max_length)
        truncated += len(ids) > max_length
        inputs[i, :n] = np.frombuffer(ids, np.uint8, n)
        lengths[i] = n
    return inputs, lengths, np.asarray(labels, np.int64), truncated


class ListOpsTask(Task):
    spec = SPEC
    choices: ClassVar[Mapping[str, tuple[str, ...]]] = {"origin": ("generated", "files")}
    remotes = ("lra_release",)
    what = "ListOps TSVs (basic_train.tsv, basic_val.tsv, basic_test.tsv)"

    def applicable(self, given: Mapping[str, Any], *, generate: bool, source: Path | None) -> dict[str, Any]:
        origin = given.get("origin", "files" if source is not None else "generated")
        if generate and source is not None:
            raise DataError("listops: pass either --generate or --source, not both")
        if (generate and origin != "generated") or (source is not None and origin != "files"):
            raise DataError(f"listops: origin={origin} contradicts {'--generate' if generate else '--source'}")
        keys = ["origin", "max_length"] + (
            ["train_size", "val_size", "test_size", "seed"] if origin == "generated" else []
        )
        return {k: self.spec.defaults[k] for k in keys} | {"origin": origin}

    def extra_flags(self, settings: Mapping[str, Any]) -> list[str]:
        return ["--generate"] if settings["origin"] == "generated" else ["--origin", "files"]

    def is_source(self, directory: Path, settings: Mapping[str, Any]) -> bool:
        return (directory / listops_gen.tsv_name("train")).is_file()

    def archive_roots(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        return ("listops-1000",)

    def source_dir(
        self, data_dir: Path, source: Path | None, settings: Mapping[str, Any], *, generate: bool, workers: int
    ) -> Path:
        if settings["origin"] == "files":
            return self.locate(data_dir, source, settings)
        sizes = {k: settings[k] for k in ("train_size", "val_size", "test_size", "seed")}
        out = raw_dir(data_dir) / "listops-generated" / cache_key("listops-generated", sizes | {"v": GENERATOR_VERSION})
        if not all((out / listops_gen.tsv_name(s)).is_file() for s in SPLITS):
            with atomic_dir(out) as tmp:
                listops_gen.generate_tsv(
                    tmp,
                    train_size=settings["train_size"],
                    val_size=settings["val_size"],
                    test_size=settings["test_size"],
                    seed=settings["seed"],
                    workers=workers,
                )
        return out

    def build(self, source: Path, settings: Mapping[str, Any], writer: CacheWriter, workers: int) -> None:
        truncated = {}
        for split in SPLITS:
            path = source / listops_gen.tsv_name(split)
            inputs, lengths, labels, truncated[split] = read_tsv(path, settings["max_length"])
            writer.put(split, inputs, lengths, labels)
            writer.sources[path.name] = {"path": str(path), **file_record(path)}
        writer.notes["truncated_rows"] = truncated


TASKS = {"listops": ListOpsTask()}
