"""Batches from the prepared, memory-mapped caches, in a seeded order that a resumed run continues exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from lra.data import LRADataset, load_split


class WholeBatches(Dataset):
    """A prepared split served a batch at a time: with a batch sampler, a DataLoader calls ``__getitems__`` once
    per batch, which gathers it from the memory maps in one step (``LRADataset.batch``)."""

    def __init__(self, split: LRADataset) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return self.split.batch(indices)


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
    """Train, val and test loaders over the caches ``lra-data prepare`` built.

    ``micro_batch_size`` is per device; the trainer accumulates gradients to the effective batch. Every loader
    owns a seeded generator, so the global RNG (dropout) is never consumed by data loading and a resumed run
    continues with exactly the same randomness.
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
    ) -> None:
        super().__init__()
        self.task, self.data_dir, self.settings = task, data_dir, settings
        self.micro_batch_size, self.accumulate, self.max_steps = micro_batch_size, accumulate, max_steps
        self.seed, self.num_workers = seed, num_workers
        self.eval_batch_size = eval_batch_size or micro_batch_size
        self.splits: dict[str, WholeBatches] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "val", "test"):
            if split not in self.splits:
                self.splits[split] = WholeBatches(load_split(self.task, split, self.data_dir, **self.settings))

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
