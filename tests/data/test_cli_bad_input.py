"""Bad input through the real command: ``lra-data prepare TASK --force --source DAMAGED`` over an existing cache.

Every bad-input case of the task tests (their ``BAD_*`` tables, plus missing split files) is run through
``lra.data.cli.main``: the command must exit with status 1, print ``error: `` with a message naming the damaged file
(by its full path) and the line or record, and leave the existing cache byte for byte as it was, with nothing
beside it. The cache of each task is built once from an intact copy of the same source.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lra.data.cli import main
from tests.data import test_image, test_listops, test_pathfinder, test_retrieval, test_text
from tests.data.fixtures import cifar_batches, make_aan, make_cifar_python, make_listops_release, make_pathfinder

Damage = Callable[[Path], object]


@dataclass(frozen=True)
class Source:
    make: Callable[[Path], Path]  # writes an intact source under a folder; returns the --source path
    target: Callable[[Path], Path]  # the folder a damage function takes, from the --source path
    flags: tuple[str, ...] = ()


def _listops(root: Path) -> Path:
    make_listops_release(root / "src", sizes=(2, 2, 2))
    return root / "src"


def _pathfinder(root: Path) -> Path:
    make_pathfinder(root / "lra_release", 32, "hard")
    return root / "lra_release"


SOURCES = {
    "listops": Source(_listops, lambda s: s),
    "retrieval": Source(lambda r: make_aan(r / "tsv_data") and r / "tsv_data", lambda s: s),
    "text": Source(lambda r: test_text.make_review_tree(r / "src"), lambda s: s, ("--holdout-size", "3")),
    "image": Source(lambda r: make_cifar_python(r, cifar_batches()), lambda s: s, ("--val-size", "6")),
    "pathfinder": Source(_pathfinder, lambda s: s / test_pathfinder.HARD),
}


def _replace_line(name: str, index: int, sep: bytes, line: bytes) -> Damage:
    """Replace line ``index`` (0-based) of ``name`` as the task tests do."""

    def damage(folder: Path) -> None:
        lines = (folder / name).read_bytes().split(sep)
        (folder / name).write_bytes(sep.join([*lines[:index], line, *lines[index + 1 :]]))

    return damage


CASES: list[tuple[str, Damage, str]] = [
    *[
        ("listops", _replace_line("basic_train.tsv", 2, b"\r\n", line.encode()), message)
        for line, message in test_listops.BAD_ROWS
    ],
    ("listops", lambda s: (s / "basic_test.tsv").unlink(), r"basic_test\.tsv: missing split file"),
    *[
        ("retrieval", _replace_line("new_aan_pairs.eval.tsv", 1, b"\n", line), message)
        for line, message in test_retrieval.BAD_ROWS
    ],
    ("retrieval", lambda s: (s / "new_aan_pairs.test.tsv").unlink(), r"new_aan_pairs\.test\.tsv: missing split file"),
    *[("text", damage, message) for damage, message in test_text.BAD_REVIEWS],
    *[("image", damage, message) for damage, message in test_image.BAD_BATCHES],
    *[("pathfinder", damage, message) for damage, message in test_pathfinder.BAD_FILES],
]


@dataclass(frozen=True)
class Prepared:
    source: Path
    data_dir: Path
    cache: Path
    files: dict[str, bytes]


def _files(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.iterdir())}


def _prepare(task: str, source: Path, data_dir: Path, *extra: str) -> int:
    flags = SOURCES[task].flags
    return main(["prepare", task, "--source", str(source), "--data-dir", str(data_dir), *flags, *extra, "--quiet"])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Prepared]:
    """The intact source and the existing cache of a task, built once per task for all its cases."""
    built: dict[str, Prepared] = {}

    def get(task: str) -> Prepared:
        if task not in built:
            root = tmp_path_factory.mktemp(task)
            source = SOURCES[task].make(root / "intact")
            assert _prepare(task, source, root / "data", "--workers", "1") == 0
            (cache,) = (root / "data" / "cache").iterdir()
            built[task] = Prepared(source, root / "data", cache, _files(cache))
        return built[task]

    return get


def test_every_task_has_cases() -> None:
    assert {task for task, _, _ in CASES} == set(SOURCES) and len(CASES) >= 15


@pytest.mark.parametrize(
    ("task", "damage", "message"), CASES, ids=[f"{task}-{i}" for i, (task, _, _) in enumerate(CASES)]
)
def test_bad_input_exits_1_names_the_place_and_keeps_the_cache(
    task: str,
    damage: Damage,
    message: str,
    prepared: Callable[[str], Prepared],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = prepared(task)
    capsys.readouterr()
    source = Path(shutil.copytree(before.source, tmp_path / before.source.name))
    damage(SOURCES[task].target(source))
    assert _prepare(task, source, before.data_dir, "--force", "--workers", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{source}/" in err, err
    assert re.search(message, err), err
    assert _files(before.cache) == before.files
    assert [p.name for p in before.cache.parent.iterdir()] == [before.cache.name]
