"""Pathfinder (32×32) and Path-X (128×128): are the two markers on the same contour? 2 classes (1 = connected).

Source: the ``lra_release`` layout, ``pathfinder<R>/<difficulty>/`` with ``imgs/<shard>/sample_<k>.png`` (8-bit
grayscale) and ``metadata/<shard>.npy``, which despite the extension are text: one row per image of 11
space-separated fields (subpath, file name, image index, label, continuity, contour length, distractor length,
paddle length, paddle thickness, paddle margin, contrasts); the image is ``<difficulty>/<field 0>/<field 1>``, the
label field 3. Difficulty: ``easy`` = ``curv_baseline``, ``intermediate`` = ``curv_contour_length_9``, ``hard``
= ``curv_contour_length_14`` (default; LRA's Pathfinder is pathfinder32 hard and Path-X pathfinder128 hard).
Empty image files (pathfinder32 ``curv_baseline`` has one) are skipped and counted in the manifest.
``origin="generated"`` (``--generate``) first writes this layout with ``pathfinder_gen`` (PF's procedure with LRA's
parameters, seeded) under ``raw/pathfinder-generated/<key>/``, then reads it like the release.

Tokenisation: the raw pixel values 0..255 row-major (1024 or 16,384 tokens), as LRA's ``decode_png``; pixel 0
(the black background) is a real token, not padding, so ``lengths`` are always the full length and LRA's
``inputs > 0`` mask must not be used. S4 feeds ``ToTensor`` values in [0, 1] instead. Split: 80/10/10 of the
images ordered by path, drawn with a seeded permutation (``split_seed``), rounded like TFDS percent slices
(160,000/20,000/20,000 for 200,000 images). LRA slices TFDS's hash order, NYS shuffles unseeded, S4 uses
``random_split`` with seed 42: none of them can be matched image for image. Generated data is split by image
index instead (images are independent draws): the first ``val_size`` images are validation, the next
``test_size`` test, the rest train. ``--size`` sets the number of training images only; validation and test keep
LRA's 20,000 each unless ``--val-size``/``--test-size`` are given (the same rule as ListOps).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from lra.data import pathfinder_gen
from lra.data.atomic import atomic_dir
from lra.data.cache import CacheWriter, array_path, cache_key
from lra.data.errors import DataError, DataFormatError
from lra.data.hashing import file_record
from lra.data.paths import raw_dir
from lra.data.progress import bar
from lra.data.spec import SPLITS, TaskSpec
from lra.data.splits import seeded_permutation
from lra.data.task import Task
from lra.data.workers import process_pool

DIFFICULTIES = {"easy": "curv_baseline", "intermediate": "curv_contour_length_9", "hard": "curv_contour_length_14"}
FIELDS = 11
JOB_SIZE = 2000  # images per worker job
GENERATOR_VERSION = 1  # bump when pathfinder_gen output changes


def _spec(name: str, size: int) -> TaskSpec:
    return TaskSpec(
        name=name,
        max_length=size * size,
        vocab_size=256,
        num_classes=2,
        split_sizes=(160_000, 20_000, 20_000),
        source=(
            f"generated with PF's procedure (lra-data prepare {name} --generate), or "
            f"lra_release/pathfinder{size}/<difficulty>/ from lra_release.gz"
        ),
        tokenisation=(
            f"raw pixel values 0..255 row-major, {size * size} long, 0 is black not pad (as LRA decode_png); "
            "seeded 80/10/10 split (LRA: TFDS hash order, NYS unseeded, S4 seed 42)"
        ),
        pixels=True,
        image_size=size,
        defaults={
            "origin": "files",
            "max_length": size * size,
            "difficulty": "hard",
            "split_seed": 0,
            "train_size": 160_000,
            "val_size": 20_000,
            "test_size": 20_000,
            "seed": 0,
        },
    )


@dataclass(frozen=True)
class Record:
    image: Path
    label: int
    meta: Path  # the metadata file and line that list the image
    line: int

    @property
    def where(self) -> str:
        return f"{self.meta}:{self.line}"


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def read_metadata(folder: Path) -> list[Record]:
    """Every metadata row of a difficulty folder, ordered by image path."""
    meta = folder / "metadata"
    files = sorted(meta.glob("*.npy"), key=lambda p: _natural(p.name)) if meta.is_dir() else []
    if not files:
        raise DataFormatError(meta, None, "no metadata/<shard>.npy files")
    records: dict[str, Record] = {}
    for mf in files:
        try:
            text = mf.read_bytes().decode("ascii")
        except UnicodeDecodeError as e:
            raise DataFormatError(mf, None, f"unreadable metadata: not text (byte {e.start})") from None
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != FIELDS:
                raise DataFormatError(
                    mf, lineno, f"unreadable metadata row: expected {FIELDS} fields, found {len(fields)}"
                )
            if fields[3] not in ("0", "1"):
                raise DataFormatError(mf, lineno, f"label {fields[3]!r} is not 0 or 1")
            rel = f"{fields[0]}/{fields[1]}"
            if rel.startswith("/") or ".." in rel.split("/"):
                raise DataFormatError(mf, lineno, f"image path {rel!r} leaves the difficulty folder")
            if rel in records:
                raise DataFormatError(mf, lineno, f"image {rel} is already listed at {records[rel].where}")
            records[rel] = Record(folder / rel, int(fields[3]), mf, lineno)
    return [records[k] for k in sorted(records, key=_natural)]


def decode_png(data: bytes, path: Path, size: int, where: str) -> np.ndarray:
    """The ``size × size`` 8-bit grayscale pixels of the PNG ``data`` (read from ``path``), flattened row-major."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt, mode, dims = img.format, img.mode, img.size
            pixels = np.asarray(img, dtype=np.uint8) if mode == "L" else None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataFormatError(path, None, f"corrupt image ({e}); listed at {where}") from None
    if fmt != "PNG" or mode != "L":
        raise DataFormatError(
            path, None, f"expected an 8-bit grayscale PNG, found {fmt} mode {mode}; listed at {where}"
        )
    if dims != (size, size):
        raise DataFormatError(path, None, f"wrong size {dims[0]}x{dims[1]}, expected {size}x{size}; listed at {where}")
    return pixels.reshape(-1)


def _decode_job(job: tuple[str, int, list[tuple[int, str, str, str]]]) -> list[str]:
    """Decode images into rows of the split's ``inputs.npy`` (opened by each worker); return one
    ``<relative path>\t<sha256>`` line per image for the source digest."""
    npy, size, items = job
    inputs = np.load(npy, mmap_mode="r+")
    digests = []
    for row, path, rel, where in items:
        data = Path(path).read_bytes()
        inputs[row] = decode_png(data, Path(path), size, where)
        digests.append(f"{rel}\t{hashlib.sha256(data).hexdigest()}\n")
    inputs.flush()
    return digests


class PathfinderTask(Task):
    choices: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "difficulty": tuple(DIFFICULTIES),
        "origin": ("files", "generated"),
    }
    fixed = ("max_length",)
    remotes = ("lra_release",)

    def __init__(self, name: str, size: int) -> None:
        self.spec = _spec(name, size)
        self.size = size
        self.what = f"pathfinder{size} difficulty folder (metadata/ and imgs/)"

    def applicable(self, given: Mapping[str, Any], *, generate: bool, source: Path | None) -> dict[str, Any]:
        name, defaults = self.spec.name, self.spec.defaults
        origin = given.get("origin", "generated" if generate else "files")
        if generate and source is not None:
            raise DataError(f"{name}: pass either --generate or --source, not both")
        if (generate and origin != "generated") or (source is not None and origin != "files"):
            raise DataError(f"{name}: origin={origin} contradicts {'--generate' if generate else '--source'}")
        common = {"origin": origin, "max_length": defaults["max_length"], "difficulty": defaults["difficulty"]}
        if origin == "files":
            return common | {"split_seed": defaults["split_seed"]}
        # --size changes only the training set: validation and test keep LRA's 20,000 unless set (as for ListOps)
        return common | {key: defaults[key] for key in ("train_size", "val_size", "test_size", "seed")}

    def extra_flags(self, settings: Mapping[str, Any]) -> list[str]:
        return ["--generate"] if settings["origin"] == "generated" else []

    def is_source(self, directory: Path, settings: Mapping[str, Any]) -> bool:
        parent = directory.parent.name
        return (
            directory.name == DIFFICULTIES[settings["difficulty"]]
            and (directory / "metadata").is_dir()
            and (directory / "imgs").is_dir()
            and not (parent.startswith("pathfinder") and parent != f"pathfinder{self.size}")
        )

    def archive_roots(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        return (f"pathfinder{self.size}/{DIFFICULTIES[settings['difficulty']]}",)

    def source_dir(
        self, data_dir: Path, source: Path | None, settings: Mapping[str, Any], *, generate: bool, workers: int
    ) -> Path:
        if settings["origin"] == "files":
            return self.locate(data_dir, source, settings)
        count = settings["train_size"] + settings["val_size"] + settings["test_size"]
        what = {"size": self.size, "difficulty": settings["difficulty"], "count": count, "seed": settings["seed"]}
        top = (
            raw_dir(data_dir)
            / "pathfinder-generated"
            / cache_key("pathfinder-generated", what | {"v": GENERATOR_VERSION})
        )
        folder = Path(f"pathfinder{self.size}") / DIFFICULTIES[settings["difficulty"]]
        if not top.is_dir():
            with atomic_dir(top) as tmp:
                pathfinder_gen.generate(
                    tmp / folder,
                    size=self.size,
                    difficulty=settings["difficulty"],
                    count=count,
                    seed=settings["seed"],
                    workers=workers,
                )
        return top / folder

    def _split(self, n: int, settings: Mapping[str, Any], source: Path) -> dict[str, np.ndarray]:
        """Sorted image indices of each split: generated images by index (val, test, then train), files by a
        seeded 80/10/10 permutation."""
        if settings["origin"] == "generated":
            sizes = [settings["val_size"], settings["test_size"], settings["train_size"]]
            if n != sum(sizes):
                raise DataError(f"{self.spec.name}: {source} holds {n} images, expected {sum(sizes)}")
            val, test = np.arange(sizes[0]), np.arange(sizes[0], sizes[0] + sizes[1])
            return {"val": val, "test": test, "train": np.arange(sizes[0] + sizes[1], n)}
        n_train, n_val = (8 * n + 5) // 10, (n + 5) // 10
        if min(n_train, n_val, n - n_train - n_val) < 1:
            raise DataError(f"{self.spec.name}: {n} usable images in {source} are too few for an 80/10/10 split")
        perm = seeded_permutation(n, settings["split_seed"])
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
        return {split: np.sort(perm[slice(*bounds[split])]) for split in SPLITS}

    def build(self, source: Path, settings: Mapping[str, Any], writer: CacheWriter, workers: int) -> None:
        records = read_metadata(source)
        kept, empty = [], []
        for r in records:
            if not r.image.is_file():
                raise DataFormatError(r.meta, r.line, f"image {r.image} does not exist")
            (kept if r.image.stat().st_size else empty).append(r)
        n = len(kept)
        split_indices = self._split(n, settings, source)
        jobs = []
        for split in SPLITS:
            idx = split_indices[split]
            _, lengths, labels = writer.allocate(split, len(idx), self.spec.max_length)
            lengths[:] = self.spec.max_length
            labels[:] = [kept[i].label for i in idx]
            items = [
                (row, str(kept[i].image), kept[i].image.relative_to(source).as_posix(), kept[i].where)
                for row, i in enumerate(idx)
            ]
            npy = str(array_path(writer.tmp, split, "inputs"))
            jobs += [(npy, self.size, items[lo : lo + JOB_SIZE]) for lo in range(0, len(items), JOB_SIZE)]
        digests: list[str] = []
        with bar(total=n, desc=f"{self.spec.name}: decoding PNGs", unit=" img") as progress:
            if workers <= 1 or len(jobs) == 1:
                for lines in map(_decode_job, jobs):
                    digests += lines
                    progress.update(len(lines))
            else:
                with process_pool(min(workers, len(jobs))) as pool:
                    for lines in pool.imap_unordered(_decode_job, jobs):
                        digests += lines
                        progress.update(len(lines))
        writer.notes["skipped_empty_images"] = {"count": len(empty), "first": [str(r.image) for r in empty[:10]]}
        if settings["origin"] == "generated":
            p = pathfinder_gen.params(self.size, settings["difficulty"])
            writer.notes["generator"] = {"version": GENERATOR_VERSION, "params": asdict(p)}
        writer.sources["metadata"] = {
            "path": str(source / "metadata"),
            "files": {p.name: file_record(p) for p in sorted((source / "metadata").glob("*.npy"))},
        }
        writer.sources["images"] = {
            "path": str(source / "imgs"),
            "files": len(digests),
            "tree_sha256": hashlib.sha256("".join(sorted(digests)).encode()).hexdigest(),
        }


TASKS = {"pathfinder": PathfinderTask("pathfinder", 32), "pathx": PathfinderTask("pathx", 128)}
