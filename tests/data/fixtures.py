"""Small sources in exactly the real formats, built by the tests (see lra-data.md §1–2)."""

from __future__ import annotations

import csv
import io
import pickle
import random
import struct
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tests.data.listops_reference import accepted_trees, evaluate, render

# --- ListOps ----------------------------------------------------------------------------------------------------


def write_listops_tsv(path: Path, rows: Sequence[tuple[str, int]], *, lineterminator: str = "\r\n") -> None:
    """``Source<TAB>Target`` rows as LRA's ``csv.writer(delimiter='\\t')`` writes them (CRLF by default)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator=lineterminator)
        writer.writerow(["Source", "Target"])
        writer.writerows(rows)


def make_listops_release(folder: Path, sizes: tuple[int, int, int] = (12, 4, 4), seed: int = 7) -> list[list]:
    """``listops-1000/basic_{train,val,test}.tsv`` from the reference generator; returns the rows per split."""
    folder.mkdir(parents=True, exist_ok=True)
    trees = accepted_trees(seed, sum(sizes))
    rows = [[render(t), evaluate(t)] for t, _ in trees]
    out, start = [], 0
    for split, n in zip(("train", "val", "test"), sizes, strict=True):
        write_listops_tsv(folder / f"basic_{split}.tsv", rows[start : start + n])
        out.append(rows[start : start + n])
        start += n
    return out


# --- IMDB -------------------------------------------------------------------------------------------------------

REVIEW_WORDS = [
    "great",
    "awful",
    "plot",
    "actor",
    "film",
    "boring",
    "<br",
    "/><br",
    "/>",
    "superb",
    "waste",
    "café",
    "naïve",
    "😀",
    "story",
]


def make_aclimdb(root: Path, per_class: int = 6, seed: int = 0) -> Path:
    """``aclImdb/`` with train/test pos/neg reviews ``<id>_<rating>.txt``, unsup, and the side files."""
    rng = random.Random(seed)
    base = root / "aclImdb"
    for split in ("train", "test"):
        for label, ratings in (("neg", (1, 2, 3, 4)), ("pos", (7, 8, 9, 10))):
            folder = base / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                words = " ".join(rng.choice(REVIEW_WORDS) for _ in range(rng.randint(5, 60)))
                (folder / f"{i}_{rng.choice(ratings)}.txt").write_text(f"  {label} {i} {words}\n", encoding="utf-8")
        (base / split / "labeledBow.feat").write_text("0 0:1\n")
        (base / split / f"urls_{'pos'}.txt").write_text("http://www.imdb.com/title/tt0000001/usercomments\n")
    (base / "train" / "unsup").mkdir()
    (base / "train" / "unsup" / "0_0.txt").write_text("unlabelled review")
    (base / "README").write_text("Large Movie Review Dataset v1.0\n")
    (base / "imdb.vocab").write_text("the\nand\n")
    return base


def tar_folder(folder: Path, archive: Path, arcname: str | None = None) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname or folder.name)
    return archive


# --- CIFAR-10 ---------------------------------------------------------------------------------------------------

_RECONSTRUCT = np.zeros(1).__reduce__()[0]


class Py2Pickler(pickle._Pickler):  # type: ignore[misc]
    """Writes pickles as Python 2's cPickle did for the CIFAR batches: native strings as BINSTRING opcodes (loaded
    as bytes with ``encoding='bytes'``) and numpy's reconstructor under its old module ``numpy.core.multiarray``."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def _save_str8(self, obj: bytes | str) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        n = len(data)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(head + data)
        self.memoize(obj)

    dispatch[bytes] = _save_str8
    dispatch[str] = _save_str8

    def save_global(self, obj: object, name: str | None = None) -> None:
        if obj is _RECONSTRUCT:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def cifar_batches(per_batch: int = 8, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Random CHW uint8 images and labels for data_batch_1..5 and test_batch."""
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {
        n: (rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), rng.integers(0, 10, per_batch).tolist())
        for n in names
    }


def make_cifar_python(root: Path, batches: dict[str, tuple[np.ndarray, list[int]]]) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, (data, labels) in batches.items():
        batch = {
            b"batch_label": f"batch {name}".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
        }
        (folder / name).write_bytes(py2_pickle(batch))
    meta = {b"label_names": [b"airplane", b"automobile"], b"num_cases_per_batch": 10000, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    (folder / "readme.html").write_text("<html></html>")
    return folder


def make_cifar_binary(root: Path, batches: dict[str, tuple[np.ndarray, list[int]]]) -> Path:
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, (data, labels) in batches.items():
        records = np.concatenate([np.asarray(labels, np.uint8)[:, None], data], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("airplane\nautomobile\n")
    return folder


# --- AAN --------------------------------------------------------------------------------------------------------


def aan_rows(n: int, seed: int = 0) -> list[tuple[str, str, str, bytes, bytes]]:
    """``(label, id1, id2, text1, text2)`` rows; texts are bytes (some non-ASCII, some long)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t1 = (f"Paper {i} about parsing é " * rng.randint(1, 30)).encode()
        t2 = (f"Other paper {i} on translation " * rng.randint(1, 30)).encode()
        if i % 5 == 0:
            t1 = t1 * 60  # longer than 10,000 bytes
        rows.append((rng.choice(["0.0", "1.0", "0", "1"]), f"P{i:02d}-{i}", f"Q{i:02d}-{i}", t1, t2))
    return rows


def write_aan_tsv(path: Path, rows: Sequence[tuple[str, str, str, bytes, bytes]], *, literal_every: int = 3) -> None:
    """Tab-separated, no header; every ``literal_every``-th text cell is written as a Python bytes literal."""
    lines = []
    for i, (label, id1, id2, t1, t2) in enumerate(rows):
        cells = [t1 if (i % literal_every) else repr(t1).encode(), repr(t2).encode() if i % 2 else t2]
        lines.append(b"\t".join([label.encode(), id1.encode(), id2.encode(), *cells]))
    path.write_bytes(b"\n".join(lines) + b"\n")


def make_aan(folder: Path, sizes: tuple[int, int, int] = (10, 4, 4)) -> dict[str, list]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (split, name) in enumerate((("train", "train"), ("val", "eval"), ("test", "test"))):
        rows = aan_rows(sizes[i], seed=i)
        write_aan_tsv(folder / f"new_aan_pairs.{name}.tsv", rows)
        out[split] = rows
    return out


# --- Pathfinder -------------------------------------------------------------------------------------------------

DIFFICULTY_DIRS = {"easy": "curv_baseline", "intermediate": "curv_contour_length_9", "hard": "curv_contour_length_14"}


def make_pathfinder(
    root: Path,
    size: int = 32,
    difficulty: str = "hard",
    shards: int = 3,
    per_shard: int = 10,
    empty: int = 1,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, int]]:
    """``pathfinder<size>/<difficulty>/{imgs/<shard>/sample_<k>.png, metadata/<shard>.npy}``; the first ``empty``
    images of shard 0 are empty files (like ``pathfinder32/curv_baseline/imgs/0/sample_172.png``). Returns
    ``{"imgs/<shard>/sample_<k>.png": (pixels, label)}`` for the non-empty images."""
    rng = np.random.default_rng(seed)
    base = root / f"pathfinder{size}" / DIFFICULTY_DIRS[difficulty]
    (base / "metadata").mkdir(parents=True)
    truth = {}
    for shard in range(shards):
        (base / "imgs" / str(shard)).mkdir(parents=True)
        rows = []
        for k in range(per_shard):
            label = int(rng.integers(0, 2))
            rel = f"imgs/{shard}/sample_{k}.png"
            if shard == 0 and k < empty:
                (base / rel).write_bytes(b"")
            else:
                pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
                pixels[: size // 4] = 0  # black background rows: 0 is a real pixel value
                Image.fromarray(pixels).save(base / rel)
                truth[rel] = (pixels.reshape(-1), label)
            rows.append(f"imgs/{shard} sample_{k}.png {k} {label} 1.8 14 4 2 1.5 2 1")
        (base / "metadata" / f"{shard}.npy").write_text("\n".join(rows) + "\n")
    return truth


def make_lra_release_tar(archive: Path, work: Path) -> Path:
    """A miniature ``lra_release.gz``: ``lra_release/{listops-1000, tsv_data, pathfinder32/curv_contour_length_14}``."""
    tree = work / "lra_release"
    make_listops_release(tree / "listops-1000")
    make_aan(tree / "tsv_data")
    make_pathfinder(tree, 32, "hard")
    return tar_folder(tree, archive)
