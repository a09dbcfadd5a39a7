"""LRA data: the six tasks from their real formats, a faithful ListOps generator, cached splits.

>>> from lra.data import TASKS, prepare, load_split
>>> prepare("listops", generate=True)              # or: lra-data prepare listops --generate
>>> train = load_split("listops", "train")         # memory-mapped LRADataset
>>> TASKS["listops"].vocab_size, TASKS["listops"].max_length
(16, 2000)

Data root: the ``data_dir`` argument (CLI ``--data-dir``, Hydra ``paths.data_dir``) > ``$LRA_DATA_DIR`` > ``./data``.
"""

from lra.data.api import TASKS, get_task, load_split, prepare, settings_for
from lra.data.errors import (
    ChecksumError,
    DataError,
    DataFormatError,
    NotPreparedError,
    SourceNotFoundError,
    UnsafeArchiveError,
)
from lra.data.paths import resolve_data_dir
from lra.data.spec import SPLITS, TaskSpec


def __getattr__(name: str) -> object:
    if name == "LRADataset":  # imported on first use: it needs torch, the `lra-data` command does not
        from lra.data.dataset import LRADataset

        return LRADataset
    raise AttributeError(f"module 'lra.data' has no attribute {name!r}")


__all__ = [
    "SPLITS",
    "TASKS",
    "ChecksumError",
    "DataError",
    "DataFormatError",
    "LRADataset",
    "NotPreparedError",
    "SourceNotFoundError",
    "TaskSpec",
    "UnsafeArchiveError",
    "get_task",
    "load_split",
    "prepare",
    "resolve_data_dir",
    "settings_for",
]
