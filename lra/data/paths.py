"""Where the data lives: the data root and its three sub-folders.

``<root>/downloads/``  archives fetched by ``lra-data download`` (``*.part`` while incomplete)
``<root>/raw/``        sources extracted from archives, and generated ListOps TSVs
``<root>/cache/``      prepared splits: ``<task>-<key>/`` with ``manifest.json`` and ``.npy`` arrays
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "LRA_DATA_DIR"
DEFAULT = "data"


def resolve_data_dir(explicit: str | Path | None) -> Path:
    """The data root: ``explicit`` (argument, ``--data-dir``, Hydra ``paths.data_dir``) > ``$LRA_DATA_DIR`` >
    ``./data`` relative to the current directory. Empty strings count as unset. The result is absolute."""
    for candidate in (explicit, os.environ.get(ENV_VAR)):
        if candidate is not None and str(candidate) != "":
            return Path(candidate).expanduser().absolute()
    return Path(DEFAULT).absolute()


def downloads_dir(root: Path) -> Path:
    return root / "downloads"


def raw_dir(root: Path) -> Path:
    return root / "raw"


def cache_root(root: Path) -> Path:
    return root / "cache"
