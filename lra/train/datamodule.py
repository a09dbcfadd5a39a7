"""Batches from the prepared, memory-mapped caches, in a seeded order that a resumed run continues exactly.

The DataModule serves a *view* of a cache: a seeded subset of each split and, for the byte-level tasks, a shorter
sequence length. A view never changes the cache (whose key is ``task.data``), so the smoke scale and the paper
protocol share one prepared cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from lra.data import LRADataset, load_split
from lra.data.spec import SPLITS
from lra.data.splits import seeded_permutation

# Tasks whose tokens are a byte prefix of the document (lra.data.text, lra.data.retrieval): the first L tokens of a
# cache prepared at max_length M > L are exactly what a cache prepared at L holds, so a view may truncate them.
# ListOps expressions cut short are not expressions; image tasks hold exactly one image.
TRUNCATABLE = ("text", "retrieval")


@dataclass(frozen=True)
class DataView:
    """What a job takes from a prepared cache.

    ``sizes[split]``: at most this many examples of the split, a seeded subset (``seed``, fixed by the config, not
    by the training seed, so every seed of a sweep sees the same data), kept in cache order; None = the whole split.
    ``max_length``: truncate sequences to this length (only ``TRUNCATABLE`` tasks); None = the cache's length.
    ``eval_examples[split]``: evaluate only the first N examples of the (sub)split, whatever the eval batch size.
    """

    sizes: dict[str, int | None] = field(default_factory=dict)
    max_length: int | None = None
    seed: int = 0
    eval_examples: dict[str, int | None] = field(default_factory=dict)

    def indices(self, split: str, total: int) -> np.ndarray | None:
        """Example indices of ``split`` (cache order) for a split of ``total`` examples; None = all of them."""
        keep = total
        size = self.sizes.get(split)
        chosen = None
        if size is not None and size < total:
            chosen, keep = np.sort(seeded_permutation(total, self.seed)[:size]), size
        limit = self.eval_examples.get(split)
        if limit is not None and limit < keep:
            chosen = (np.arange(total) if chosen is None else chosen)[:limit]
        return chosen


class WholeBatches(Dataset):
    """A prepared split (or a view of it) served a batch at a time: with a batch sampler, a DataLoader calls
    ``__getitems__`` once per batch, which gathers it from the memory maps in one step (``LRADataset.batch``)."""

    def __init__(self, split: LRADataset, indices: np.ndarray | None = None, max_length: int | None = None) -> None:
        self.split, self.indices, self.max_length = split, indices, max_length

    def __len__(self) -> int:
        return len(self.split) if self.indices is None else len(self.indices)

    def __getitems__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        rows = positions if self.indices is None else self.indices[positions]
        batch = self.split.batch(rows)
        if self.max_length is not None:
            batch["input_ids"] = batch["input_ids"][..., : self.max_length].contiguous()
            batch["length"] = batch["length"].clamp(max=self.max_length)
        return batch


def _whole_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``__getitems__`` already returned the stacked batch."""
    return batch


class ResumableBatchSampler(Sampler[list[int]]):
    """The ``stop`` micro-batches of a whole run, from an endless stream of seeded epoch permutations.

    Epoch e is ``randperm(N)`` drawn from a generator seeded with ``(seed, e)``; each holds ``N // global_batch``
    global batches (the remainder is dropped, as in the official code). Rank r of w takes the r-th slice of each
    global batch. Batch b depends only on (seed, b), so a run resumed at batch ``start`` sees what it would have
    seen: iteration begins there, while the length stays the whole run's, because Lightning resumes its batch
    counter mid-"epoch" (the whole run is one epoch) and ends the epoch after ``len`` batches in total.
    """

    def __init__(
        self, num_examples: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.batch_size, self.seed, self.start, self.stop = batch_size, seed, start, stop
        self.num_examples, self.rank, self.world_size = num_examples, rank, world_size
        self.per_epoch = num_examples // (batch_size * world_size)
        if self.per_epoch == 0:
            raise ValueError(
                f"the training split has {num_examples} examples, fewer than one global batch of "
                f"{batch_size * world_size}; lower the batch size or prepare more data"
            )

    def __len__(self) -> int:
        return self.stop

    def __iter__(self) -> Iterator[list[int]]:
        epoch, order = None, None
        for batch in range(self.start, self.stop):
            if batch // self.per_epoch != epoch:
                epoch = batch // self.per_epoch
                generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
                order = torch.randperm(self.num_examples, generator=generator)
            first = (batch % self.per_epoch) * self.batch_size * self.world_size + self.rank * self.batch_size
            yield order[first : first + self.batch_size].tolist()


class LRADataModule(pl.LightningDataModule):
    """Train, val and test loaders over a view (``DataView``) of the caches ``lra-data prepare`` built.

    ``micro_batch_size`` is per device; the trainer accumulates gradients to the effective batch. Evaluation runs
    in batches of ``eval_batch_size`` (default: the micro-batch, which fits in memory) over exactly the examples the
    view selects, so how much is evaluated never depends on the batch sizes. Every loader owns a seeded generator,
    so the global RNG (dropout) is never consumed by data loading and a resumed run continues with exactly the same
    randomness.
    """

    def __init__(
        self,
        *,
        task: str,
        data_dir: Path,
        settings: dict[str, Any],
        micro_batch_size: int,
        accumulate: int,
        max_steps: int,
        seed: int,
        num_workers: int = 0,
        eval_batch_size: int | None = None,
        view: DataView | None = None,
    ) -> None:
        super().__init__()
        self.task, self.data_dir, self.settings = task, data_dir, settings
        self.micro_batch_size, self.accumulate, self.max_steps = micro_batch_size, accumulate, max_steps
        self.seed, self.num_workers = seed, num_workers
        self.eval_batch_size = eval_batch_size or micro_batch_size
        self.view = view or DataView()
        self.splits: dict[str, WholeBatches] = {}
        self.cache_sizes: dict[str, int] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in SPLITS:
            if split not in self.splits:
                data = load_split(self.task, split, self.data_dir, **self.settings)
                self.cache_sizes[split] = len(data)
                indices = self.view.indices(split, len(data))
                self.splits[split] = WholeBatches(data, indices, self.view.max_length)

    def describe(self) -> dict[str, Any]:
        """What the job reads: the cache directory, the sequence length, and per split the examples used of the
        cache's (for ``result.json``)."""
        first = next(iter(self.splits.values())).split
        return {
            "cache": str(first.directory),
            "max_length": self.view.max_length or int(first.inputs.shape[-1]),
            "examples": {split: len(data) for split, data in self.splits.items()},
            "cache_examples": dict(self.cache_sizes),
        }

    def _loader(self, split: str, **batching: Any) -> DataLoader:
        return DataLoader(
            self.splits[split],
            **batching,
            collate_fn=_whole_batch,
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        start = trainer.global_step * self.accumulate if trainer is not None else 0
        sampler = ResumableBatchSampler(
            len(self.splits["train"]),
            self.micro_batch_size,
            self.seed,
            start=start,
            stop=self.max_steps * self.accumulate,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )
        return self._loader("train", batch_sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", batch_size=self.eval_batch_size)
