"""Progress bars for long steps (tqdm on stderr); silenced by ``set_enabled(False)`` or when stderr is no TTY."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

_enabled = True


def set_enabled(enabled: bool) -> None:
    """Turn every progress bar of ``lra.data`` on (default: shown when stderr is a terminal) or off."""
    global _enabled
    _enabled = enabled


def bar(*, show: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar with our defaults (``show=False`` hides it, e.g. for a short step); ``disable=None`` lets tqdm
    hide it when stderr is not a terminal."""
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(disable=None if (_enabled and show) else True, **kwargs)
