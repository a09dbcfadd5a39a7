"""All-or-nothing directories: build in a temporary sibling, then rename into place.

A temporary directory is named ``.tmp-<final name>-<pid>-<random>``; when its process died (a killed prepare) the
next build of the same target removes it, so an interrupted run leaves nothing that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(final: Path) -> None:
    """Delete temporary siblings of ``final`` whose process is gone, and half-swapped ``.old-`` copies."""
    prefix = f".tmp-{final.name}-"
    for leftover in final.parent.glob(f"{glob_escape(prefix)}*"):
        pid = leftover.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    for leftover in final.parent.glob(f"{glob_escape(f'.old-{final.name}-')}*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def temporary_sibling(final: Path) -> Path:
    """A fresh temporary directory next to ``final`` (same file system, so the final rename is atomic)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    return Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-{os.getpid()}-", dir=final.parent))


def install(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` to ``final``; an existing ``final`` is swapped out first, then deleted."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".old-{final.name}-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``final``; on success it becomes ``final``, on any error it is removed."""
    tmp = temporary_sibling(final)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    install(tmp, final)
