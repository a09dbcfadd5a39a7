"""Errors of the data layer; each names the file and the line or record at fault."""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Base class: anything the ``lra-data`` command reports as ``error: …`` with exit status 1."""


class DataFormatError(DataError):
    """Malformed source data: ``<file>:<line or record>: <problem>``."""

    def __init__(self, path: str | Path, where: int | str | None, problem: str) -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        location = self.path if where is None else f"{self.path}:{where}"
        super().__init__(f"{location}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, int | str | None, str]]:
        return (type(self), (self.path, self.where, self.problem))  # survives worker processes


class ChecksumError(DataError):
    """A downloaded or cached file does not have the expected size or digest."""


class UnsafeArchiveError(DataError):
    """An archive member would land outside the extraction directory, or is a device or unknown type."""


class NotPreparedError(DataError):
    """The requested cache does not exist; the message names the exact ``lra-data prepare`` command."""


class SourceNotFoundError(DataError):
    """No source files were found; the message says where to get them."""
