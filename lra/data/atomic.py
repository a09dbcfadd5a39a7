"""All-or-nothing directories: build in a temporary sibling, then rename into place.

A temporary directory is named ``.tmp-<final name>-<pid>@<host>-<random>``. Replacing an existing ``final`` takes
two renames (``final`` to ``.old-<final name>-<pid>@<host>``, then the new one to ``final``); POSIX has no portable
rename that swaps two directories in one step. When the owning process died (a killed prepare), ``remove_stale``
cleans up at the start of the next build of the same target: temporary directories are deleted, and an ``.old-``
copy is put back as ``final`` when the process died between the two renames (``final`` missing), else deleted.
An interrupted run therefore never leaves anything that looks finished, and never loses the previous ``final``.
Only the builder cleans up (readers never rename), and only after its own host's processes: on a shared file
system another host's pid says nothing, so its leftovers stay until a build on that host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
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


def _owner() -> str:
    """``<pid>@<host>``: who builds a leftover, in its name."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _dead(owner: str) -> bool:
    """True when ``owner`` (``<pid>@<host>`` from a leftover's name) is a process of this host that no longer
    runs; a process of another host cannot be judged from here."""
    pid, _, host = owner.partition("@")
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


def remove_stale(final: Path) -> None:
    """Clean up after processes that died while building ``final``: delete their temporary siblings; restore
    their ``.old-`` copy as ``final`` when it is missing (killed between the two renames of ``install``), else
    delete it."""
    prefix = f".tmp-{final.name}-"
    for leftover in final.parent.glob(f"{glob_escape(prefix)}*"):
        if _dead(leftover.name[len(prefix) :].rsplit("-", 1)[0]):  # mkdtemp's random suffix has no "-"
            shutil.rmtree(leftover, ignore_errors=True)
    old_prefix = f".old-{final.name}-"
    olds = [o for o in final.parent.glob(f"{glob_escape(old_prefix)}*") if _dead(o.name[len(old_prefix) :])]
    if olds and not (final.exists() or final.is_symlink()):
        newest = max(olds, key=lambda o: o.lstat().st_mtime)
        with contextlib.suppress(FileNotFoundError):  # another process restored it first
            os.replace(newest, final)
        olds.remove(newest)
    for leftover in olds:
        shutil.rmtree(leftover, ignore_errors=True)


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def temporary_sibling(final: Path) -> Path:
    """A fresh temporary directory next to ``final`` (same file system, so the final rename is atomic)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    return Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-{_owner()}-", dir=final.parent))


def install(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` to ``final``; an existing ``final`` is swapped out first, then deleted (see the
    module docstring for a process killed in between)."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".old-{final.name}-{_owner()}"
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
