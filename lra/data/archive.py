"""Safe, selective extraction of tar (any compression, read as a stream) and zip archives.

Only the members under the requested *roots* are written (a root is a path fragment such as ``tsv_data`` or
``pathfinder32/curv_contour_length_14`` found anywhere in a member's path, so ``lra_release/…`` and
``lra_release/lra_release/…`` both work); ``dest/<root>/…`` receives them. Every member of the archive is checked,
selected or not: absolute paths, drive letters and ``..`` components are refused, as are symbolic or hard links
whose target would resolve outside the extraction directory and device or FIFO members. Files are written with
default permissions (archive modes, owners and set-uid bits are ignored). Each root is extracted into a temporary
directory and renamed into place only after the whole archive was read, so an interrupted extraction leaves
nothing that looks complete.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

from lra.data.atomic import install, temporary_sibling
from lra.data.errors import DataFormatError, UnsafeArchiveError
from lra.data.progress import bar

ZIP_MAGIC = b"PK\x03\x04"
# tarfile's own stream decompression never checks the gzip CRC; these readers check each format's integrity.
_DECOMPRESSORS: tuple[tuple[bytes, Callable[[IO[bytes]], IO[bytes]]], ...] = (
    (b"\x1f\x8b", lambda f: gzip.GzipFile(fileobj=f)),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
)


@dataclass
class _Member:
    name: str
    kind: str  # "file", "dir", "symlink", "hardlink" or "other"
    link: str = ""
    open: Callable[[], IO[bytes]] | None = None


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and reports every byte read to a progress bar."""

    def __init__(self, raw: IO[bytes], progress: tqdm) -> None:
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.progress.update(len(data))
        return data


def is_archive(path: Path) -> bool:
    """True for a zip file or a tar file (plain, gzip, bzip2 or xz)."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        if f.read(4) == ZIP_MAGIC:
            return True
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


def _tar_members(tar: tarfile.TarFile) -> Iterator[_Member]:
    for m in tar:
        if m.isdir():
            yield _Member(m.name, "dir")
        elif m.isfile():
            yield _Member(m.name, "file", open=lambda m=m: tar.extractfile(m))
        elif m.issym():
            yield _Member(m.name, "symlink", m.linkname)
        elif m.islnk():
            yield _Member(m.name, "hardlink", m.linkname)
        else:
            yield _Member(m.name, "other")


def _zip_members(zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver stored no Unix file type
        if kind == stat.S_IFLNK:
            yield _Member(info.filename, "symlink", zf.read(info).decode("utf-8", "replace"))
        elif info.is_dir():
            yield _Member(info.filename, "dir")
        elif kind not in (0, stat.S_IFREG):
            yield _Member(info.filename, "other")
        else:
            yield _Member(info.filename, "file", open=lambda info=info: zf.open(info))


def _parts(archive: Path, name: str, what: str = "member") -> tuple[str, ...]:
    """The path components of a member name; refuses absolute paths and ``..``."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeArchiveError(f"{archive}: {what} {name!r} is an absolute path; refusing to extract")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: {what} {name!r} contains '..'; refusing to extract")
    return parts


def _select(parts: tuple[str, ...], roots: Sequence[tuple[str, ...]]) -> tuple[tuple[str, ...], str] | None:
    """``(components from the root on, root)`` for a member under one of ``roots``, else None."""
    for i in range(len(parts)):
        for root in roots:
            if parts[i : i + len(root)] == root:
                return parts[i:], "/".join(root)
    return None


def _inside(base: Path, path: str | Path) -> bool:
    real_base = os.path.realpath(base)
    return os.path.commonpath([real_base, os.path.realpath(path)]) == real_base


def _check_link(archive: Path, member: _Member) -> None:
    """A link's target, taken relative to the link's directory inside the archive, must stay inside it."""
    target = member.link.replace("\\", "/")
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        raise UnsafeArchiveError(f"{archive}: link {member.name!r} points to the absolute path {member.link!r}")
    if member.kind == "hardlink":
        _parts(archive, target, "hard link target")
        return
    base = member.name.replace("\\", "/").rsplit("/", 1)[0] if "/" in member.name else ""
    if os.path.normpath(os.path.join("/root", base, target)).split("/")[1] != "root":
        raise UnsafeArchiveError(f"{archive}: link {member.name!r} -> {member.link!r} leads outside the archive")


def _write(archive: Path, tmp: Path, rel: tuple[str, ...], member: _Member, roots: Sequence[tuple[str, ...]]) -> None:
    target = tmp.joinpath(*rel)
    if not _inside(tmp, target.parent if member.kind == "symlink" else target):
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} would be written outside the target directory")
    if member.kind == "dir":
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    if member.kind == "file":
        assert member.open is not None
        with member.open() as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    elif member.kind == "symlink":
        if not _inside(tmp, target.parent / member.link):
            raise UnsafeArchiveError(f"{archive}: link {member.name!r} -> {member.link!r} leads outside the target")
        os.symlink(member.link, target)
    else:  # hard link: a copy of an already extracted member
        picked = _select(_parts(archive, member.link), roots)
        source = tmp.joinpath(*picked[0]) if picked else None
        if source is None or not source.is_file() or not _inside(tmp, source):
            raise UnsafeArchiveError(
                f"{archive}: hard link {member.name!r} -> {member.link!r} is outside the extracted part"
            )
        shutil.copyfile(source, target)


def extract(archive: Path, dest: Path, roots: Sequence[str]) -> list[str]:
    """Extract the members under ``roots`` into ``dest/<root>/…``; return the roots found (in ``roots`` order).

    Raises ``UnsafeArchiveError`` for an unsafe member and ``DataFormatError`` for a corrupt archive; in both
    cases nothing is left behind in ``dest``.
    """
    root_parts = [tuple(r.split("/")) for r in roots]
    dest.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(dest / archive.name)
    found: set[str] = set()
    try:
        with open(archive, "rb") as raw:
            magic = raw.read(6)
        progress = bar(total=archive.stat().st_size, desc=f"extracting {archive.name}", unit="B", unit_scale=True)
        with progress, open(archive, "rb") as raw:
            is_zip = magic.startswith(ZIP_MAGIC)
            if is_zip:
                zf = zipfile.ZipFile(raw)
                members: Iterator[_Member] = _zip_members(zf)
            else:
                opener = next((o for m, o in _DECOMPRESSORS if magic.startswith(m)), None)
                stream = _CountingReader(raw, progress)
                stream = opener(stream) if opener else stream
                tar = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 - closed below
                members = _tar_members(tar)
            for member in members:
                parts = _parts(archive, member.name)
                if member.kind in ("symlink", "hardlink"):
                    _check_link(archive, member)
                if member.kind == "other":
                    raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device, FIFO or socket")
                picked = _select(parts, root_parts)
                if picked is not None:
                    _write(archive, tmp, picked[0], member, root_parts)
                    found.add(picked[1])
            if is_zip:
                zf.close()
            else:
                while stream.read(1 << 20):  # read to the end, so the compressor's checksum is verified
                    pass
                tar.close()
        for root in roots:
            if root in found:
                (dest / root).parent.mkdir(parents=True, exist_ok=True)
                install(tmp / root, dest / root)
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        gzip.BadGzipFile,
        lzma.LZMAError,
        EOFError,
        zlib.error,
        ValueError,
    ) as e:
        raise DataFormatError(archive, None, f"corrupt or truncated archive ({type(e).__name__}: {e})") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [r for r in roots if r in found]
