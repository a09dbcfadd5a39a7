"""The task registry and the two entry points of the training harness: ``prepare`` and ``load_split``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lra.data import image, listops, pathfinder, retrieval, text
from lra.data.atomic import remove_stale
from lra.data.cache import CacheWriter, cache_dir, read_manifest
from lra.data.errors import DataError, NotPreparedError
from lra.data.paths import resolve_data_dir
from lra.data.spec import SPLITS, TaskSpec
from lra.data.task import Task
from lra.data.workers import default_workers

if TYPE_CHECKING:  # torch is imported only when a split is loaded, so `lra-data` starts fast
    from lra.data.dataset import LRADataset

_TASKS: dict[str, Task] = {**listops.TASKS, **text.TASKS, **retrieval.TASKS, **image.TASKS, **pathfinder.TASKS}
TASKS: dict[str, TaskSpec] = {name: t.spec for name, t in _TASKS.items()}


def get_task(name: str) -> Task:
    """The task module object for ``name``."""
    if name not in _TASKS:
        raise DataError(f"unknown task {name!r}; tasks: {', '.join(_TASKS)}")
    return _TASKS[name]


def settings_for(task: str, **settings: Any) -> dict[str, Any]:
    """The complete, validated settings (the cache key) for ``task`` and the given overrides."""
    return get_task(task).settings(settings)


def prepare(
    task: str,
    data_dir: str | Path | None = None,
    *,
    source: str | Path | None = None,
    generate: bool = False,
    force: bool = False,
    workers: int | None = None,
    **settings: Any,
) -> Path:
    """Build the cache of ``task`` for ``settings`` and return its directory.

    ``source`` is a folder or archive in the task's real format (default: ``raw/``, then ``downloads/`` under
    the data root); ``generate`` builds ListOps with the LRA generator. An existing cache with the same settings
    is reused unless ``force``. ``workers`` (default: all usable CPUs) never changes the result.
    """
    t = get_task(task)
    root = resolve_data_dir(data_dir)
    src = Path(source) if source is not None else None
    full = t.settings(settings, generate=generate, source=src)
    final = cache_dir(root, task, full)
    remove_stale(final)  # a killed rebuild's swap is undone here, so the old cache is found and reused
    if not force and read_manifest(final) is not None:
        return final
    workers = default_workers() if workers is None else max(1, workers)
    source_dir = t.source_dir(root, src, full, generate=generate, workers=workers)
    with CacheWriter(final, t.spec, full) as writer:
        t.build(source_dir, full, writer, workers)
        return writer.commit(replace=force)


def load_split(task: str, split: str, data_dir: str | Path | None = None, **settings: Any) -> LRADataset:
    """Open split ``split`` (train, val, test) of the cache of ``task`` for ``settings``, memory-mapped.

    Raises ``NotPreparedError`` naming the exact ``lra-data prepare`` command when the cache does not exist.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    t = get_task(task)
    root = resolve_data_dir(data_dir)
    full = t.settings(settings)
    directory = cache_dir(root, task, full)
    if read_manifest(directory) is None:
        raise NotPreparedError(
            f"{task} is not prepared for settings {full} under {root}; run:\n  {t.prepare_command(full, root)}"
        )
    from lra.data.dataset import LRADataset

    return LRADataset(directory, split)
