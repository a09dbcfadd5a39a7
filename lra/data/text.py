"""Text (IMDB sentiment): byte-level movie reviews, 2 classes (neg 0, pos 1), 4000 bytes by default.

Source: ``aclImdb/`` or ``aclImdb_v1.tar.gz`` (https://ai.stanford.edu/~amaas/data/sentiment/, 84,125,825 bytes);
reviews ``{train,test}/{neg,pos}/<id>_<rating>.txt`` (neg: rating 1–4, pos: 7–10); ``unsup`` is not used.

Tokenisation: each file is decoded as UTF-8 and stripped of surrounding whitespace (as TFDS ``imdb_reviews``),
then encoded as UTF-8 bytes, id = byte + 1 (0 = pad, vocabulary 257, LRA's ``ByteTextEncoder``), truncated to
``max_length``. HTML such as ``<br />`` stays. Length: 4000, the paper's setting (LRA's released config uses
1000, Nyströmformer 1024, S4 4096 *characters* incl. EOS). Validation: by default a seeded hold-out of
``holdout_size`` (2,500) training reviews, so model selection never sees the test set; ``val_source="test"``
reproduces LRA/NYS/S4, which validate on test (the full 25,000 training reviews are then used for training).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lra.data.cache import CacheWriter
from lra.data.errors import DataError, DataFormatError
from lra.data.progress import bar
from lra.data.spec import TaskSpec
from lra.data.splits import seeded_permutation
from lra.data.task import Task

LABELS = {"neg": 0, "pos": 1}
RATINGS = {"neg": range(1, 5), "pos": range(7, 11)}
NAME = re.compile(r"^(\d+)_(\d+)\.txt$")

SPEC = TaskSpec(
    name="text",
    max_length=4000,
    vocab_size=257,
    num_classes=2,
    split_sizes=(22_500, 2_500, 25_000),
    source="aclImdb/ or aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/",
    tokenisation=(
        "UTF-8 bytes + 1 of the stripped review (0 pad, 257 ids, as LRA); 4000 bytes (paper; LRA config 1000, "
        "NYS 1024, S4 4096 characters); validation = seeded 2,500-review hold-out of train (LRA/NYS/S4: test)"
    ),
    defaults={"max_length": 4000, "val_source": "holdout", "holdout_size": 2_500, "split_seed": 0},
)


def list_reviews(root: Path, split: str) -> list[tuple[Path, int]]:
    """``(file, label)`` of ``root/split/{neg,pos}``, neg first, each by review id."""
    out = []
    for name, label in LABELS.items():
        folder = root / split / name
        if not folder.is_dir():
            raise DataFormatError(folder, None, "missing split folder")
        entries = []
        for path in folder.iterdir():
            m = NAME.match(path.name)
            if m is None:
                raise DataFormatError(path, None, "unexpected file name (expected <id>_<rating>.txt)")
            if int(m.group(2)) not in RATINGS[name]:
                raise DataFormatError(path, None, f"rating {m.group(2)} is not a {name} rating (neg 1-4, pos 7-10)")
            entries.append((int(m.group(1)), path))
        if not entries:
            raise DataFormatError(folder, None, "no reviews")
        out += [(path, label) for _, path in sorted(entries)]
    return out


def encode_review(data: bytes, path: Path, max_length: int) -> np.ndarray:
    """Byte ids (byte + 1) of one review file's content."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, None, f"not valid UTF-8 (byte {e.start})") from None
    encoded = text.strip().encode("utf-8")
    if not encoded:
        raise DataFormatError(path, None, "empty review")
    return np.frombuffer(encoded[:max_length], np.uint8).astype(np.uint16) + 1


class TextTask(Task):
    spec = SPEC
    choices: ClassVar[Mapping[str, tuple[str, ...]]] = {"val_source": ("holdout", "test")}
    remotes = ("aclImdb",)
    what = "aclImdb folder (train/ and test/ with neg/ and pos/)"

    def applicable(self, given: Mapping[str, Any], *, generate: bool, source: Path | None) -> dict[str, Any]:
        full = dict(self.spec.defaults)
        if given.get("val_source", full["val_source"]) == "test":
            del full["holdout_size"], full["split_seed"]
        return full

    def is_source(self, directory: Path, settings: Mapping[str, Any]) -> bool:
        return all((directory / s / n).is_dir() for s in ("train", "test") for n in LABELS)

    def archive_roots(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(f"aclImdb/{s}/{n}" for s in ("train", "test") for n in LABELS)

    def build(self, source: Path, settings: Mapping[str, Any], writer: CacheWriter, workers: int) -> None:
        train = list_reviews(source, "train")
        groups = {"test": list_reviews(source, "test")}
        if settings["val_source"] == "test":
            groups["train"] = train
            writer.alias("val", "test")
        else:
            holdout = settings["holdout_size"]
            if holdout >= len(train):
                raise DataError(f"text: holdout_size {holdout} must be below the {len(train)} training reviews")
            perm = seeded_permutation(len(train), settings["split_seed"])
            groups["val"] = [train[i] for i in np.sort(perm[:holdout])]
            groups["train"] = [train[i] for i in np.sort(perm[holdout:])]
        digests = []
        length = settings["max_length"]
        total = sum(len(files) for files in groups.values())
        with bar(total=total, desc="Text: reading reviews", unit=" files") as progress:
            for split, files in groups.items():
                inputs, lengths, labels = writer.allocate(split, len(files), length)
                for i, (path, label) in enumerate(files):
                    data = path.read_bytes()
                    ids = encode_review(data, path, length)
                    inputs[i, : len(ids)] = ids
                    lengths[i] = len(ids)
                    labels[i] = label
                    digests.append(f"{path.relative_to(source).as_posix()}\t{hashlib.sha256(data).hexdigest()}\n")
                    progress.update(1)
        tree = hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()
        writer.sources["aclImdb"] = {"path": str(source), "files": len(digests), "tree_sha256": tree}


TASKS = {"text": TextTask()}
