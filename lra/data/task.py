"""The contract of a task module: settings, where its source is, and how it fills a cache.

A task module defines one ``Task`` subclass instance per task name. The shared parts live here: validating
settings against the spec's defaults, finding the source (an explicit ``--source`` directory or archive, else the
``raw/`` folder, else a finished download that is extracted first) and the exact ``lra-data prepare`` command
for a set of settings.
"""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from lra.data.archive import extract, is_archive
from lra.data.cache import CacheWriter
from lra.data.download import REMOTES
from lra.data.errors import DataError, DataFormatError, SourceNotFoundError
from lra.data.paths import downloads_dir, raw_dir
from lra.data.spec import TaskSpec

# Every setting has one command-line flag (shared by the tasks that use it).
SETTING_FLAGS = {
    "origin": "--origin",
    "max_length": "--max-length",
    "train_size": "--size",
    "val_size": "--val-size",
    "test_size": "--test-size",
    "seed": "--seed",
    "val_source": "--val-source",
    "holdout_size": "--holdout-size",
    "split_seed": "--split-seed",
    "difficulty": "--difficulty",
}
SEARCH_DEPTH = 3


def search_dir(base: Path, found: Callable[[Path], bool], depth: int = SEARCH_DEPTH) -> Path | None:
    """The first directory (breadth first, names sorted, hidden ones skipped) at most ``depth`` levels below
    ``base`` for which ``found`` holds."""
    level = [base]
    for step in range(depth + 1):
        for d in level:
            if found(d):
                return d
        if step < depth:
            level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not c.name.startswith(".")]
    return None


class Task(ABC):
    """Base class; subclasses set the class attributes and implement the abstract methods."""

    spec: TaskSpec
    choices: ClassVar[Mapping[str, tuple[str, ...]]] = {}  # allowed values of string settings
    fixed: ClassVar[tuple[str, ...]] = ()  # settings accepted only at their default (e.g. an image's length)
    remotes: tuple[str, ...] = ()  # keys of download.REMOTES holding the source, preferred first
    what: str = ""  # the source, in words, for messages

    # -- settings -------------------------------------------------------------------------------------------
    def applicable(self, given: Mapping[str, Any], *, generate: bool, source: Path | None) -> dict[str, Any]:
        """The settings (with defaults) that apply given the user's choices; the cache key is made of these."""
        return dict(self.spec.defaults)

    def settings(
        self, given: Mapping[str, Any], *, generate: bool = False, source: Path | None = None
    ) -> dict[str, Any]:
        """Validate ``given`` and complete it with defaults; raise ``DataError`` naming the bad setting."""
        unknown = sorted(set(given) - set(self.spec.defaults))
        if unknown:
            valid = ", ".join(sorted(self.spec.defaults)) or "none"
            raise DataError(f"{self.spec.name}: unknown setting(s) {', '.join(unknown)}; valid settings: {valid}")
        coerced = {k: self._coerce(k, v) for k, v in given.items()}
        full = self.applicable(coerced, generate=generate, source=source)
        stray = sorted(set(coerced) - set(full))
        if stray:
            raise DataError(
                f"{self.spec.name}: setting(s) {', '.join(stray)} do not apply here "
                f"(applicable: {', '.join(sorted(full))})"
            )
        full.update(coerced)
        for key in self.fixed:
            if full[key] != self.spec.defaults[key]:
                raise DataError(f"{self.spec.name}: {key} is fixed at {self.spec.defaults[key]}, got {full[key]}")
        return full

    def _coerce(self, name: str, value: Any) -> Any:
        default = self.spec.defaults[name]
        if isinstance(default, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise DataError(f"{self.spec.name}: setting {name} must be an integer, got {value!r}")
            if value < 0 or (value == 0 and name not in ("seed", "split_seed")):
                raise DataError(f"{self.spec.name}: setting {name} must be positive, got {value}")
            return value
        if name in self.choices and value not in self.choices[name]:
            raise DataError(
                f"{self.spec.name}: setting {name} must be one of {list(self.choices[name])}, got {value!r}"
            )
        return value

    def prepare_command(self, settings: Mapping[str, Any], data_dir: Path) -> str:
        """The ``lra-data prepare`` command that builds the cache for ``settings``."""
        args = ["lra-data", "prepare", self.spec.name, "--data-dir", str(data_dir), *self.extra_flags(settings)]
        for key, value in settings.items():
            if value != self.spec.defaults[key] and key != "origin":
                args += [SETTING_FLAGS[key], str(value)]
        return shlex.join(args)

    def extra_flags(self, settings: Mapping[str, Any]) -> list[str]:
        return []

    # -- source -------------------------------------------------------------------------------------------
    @abstractmethod
    def is_source(self, directory: Path, settings: Mapping[str, Any]) -> bool:
        """True when ``directory`` is this task's source folder."""

    @abstractmethod
    def archive_roots(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        """The archive members that hold the source (see ``archive.extract``)."""

    def extract_to(self) -> str:
        """The folder under ``raw/`` that receives extracted members."""
        return REMOTES[self.remotes[0]].extract_to if self.remotes else ""

    def missing_source(self, data_dir: Path) -> str:
        """How to obtain the source, for the 'not found' error."""
        return (
            f"no {self.what} found under {raw_dir(data_dir)} or {downloads_dir(data_dir)}; run "
            f"`lra-data download {self.spec.name} --data-dir {data_dir}` or pass --source PATH"
        )

    def from_archive(self, archive: Path, data_dir: Path, settings: Mapping[str, Any]) -> Path:
        """Extract the needed members of ``archive`` into ``raw/`` and return the source folder."""
        target = raw_dir(data_dir) / self.extract_to()
        roots = self.archive_roots(settings)
        if not extract(archive, target, roots):
            raise SourceNotFoundError(f"{archive}: no member under {' or '.join(roots)}; is it the right archive?")
        found = search_dir(target, lambda d: self.is_source(d, settings))
        if found is None:
            raise SourceNotFoundError(f"{archive}: extracted {', '.join(roots)} but found no {self.what} in it")
        return found

    def locate(self, data_dir: Path, source: Path | None, settings: Mapping[str, Any]) -> Path:
        """The source folder: ``source`` (a folder, or an archive to extract), else ``raw/``, else a download."""
        if source is not None:
            source = Path(source).expanduser().absolute()
            if not source.exists():
                raise SourceNotFoundError(f"{source} does not exist")
            if source.is_file():
                if not is_archive(source):
                    raise DataFormatError(source, None, "neither a folder nor a tar or zip archive")
                return self.from_archive(source, data_dir, settings)
            found = search_dir(source, lambda d: self.is_source(d, settings))
            if found is None:
                raise SourceNotFoundError(f"{source}: no {self.what} in it (searched {SEARCH_DEPTH} levels down)")
            return found
        raw = raw_dir(data_dir) / self.extract_to()
        if raw.is_dir() and (found := search_dir(raw, lambda d: self.is_source(d, settings))) is not None:
            return found
        for key in self.remotes:
            archive = downloads_dir(data_dir) / REMOTES[key].filename
            if archive.is_file():
                return self.from_archive(archive, data_dir, settings)
        raise SourceNotFoundError(self.missing_source(data_dir))

    def source_dir(
        self, data_dir: Path, source: Path | None, settings: Mapping[str, Any], *, generate: bool, workers: int
    ) -> Path:
        """The folder ``build`` reads; tasks with a generator override this."""
        if generate:
            raise DataError(f"{self.spec.name}: --generate is not available for this task")
        return self.locate(data_dir, source, settings)

    # -- build ----------------------------------------------------------------------------------------------
    @abstractmethod
    def build(self, source: Path, settings: Mapping[str, Any], writer: CacheWriter, workers: int) -> None:
        """Read ``source`` and write all three splits (and the source records) through ``writer``."""
