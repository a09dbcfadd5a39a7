"""What the DataModule serves: validation of ``val_batches × batch_size`` examples whatever the micro-batch, and
views (a seeded subset, a truncated length) of a cache without a new cache."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from lra.data import load_split
from lra.train.datamodule import DataView, WholeBatches
from lra.train.job import build_callbacks, build_datamodule, build_module, build_trainer, task_model
from lra.train.plan import check_config
from tests.train.harness import REPO, TINY_DATA


def composed(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


class LabelsSeen(pl.Callback):
    def __init__(self) -> None:
        self.labels: list[int] = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.labels += batch["label"].tolist()


def validated_labels(cfg: DictConfig, data_dir: Path, job_dir: Path) -> list[int]:
    """The labels of the validation examples one validation of the job ``cfg`` evaluates, in order."""
    plan = check_config(cfg)
    datamodule = build_datamodule(cfg, plan, data_dir)
    callbacks = build_callbacks(cfg, job_dir)
    trainer = build_trainer(cfg, plan, job_dir, callbacks, loggers=[])
    seen = LabelsSeen()
    trainer.callbacks.append(seen)
    module = build_module(cfg, task_model(cfg, OmegaConf.to_container(cfg.attention, resolve=True)))
    trainer.validate(module, datamodule=datamodule, verbose=False)
    return seen.labels


@pytest.mark.parametrize("micro", [None, 4])
def test_validation_covers_val_batches_times_the_batch_whatever_the_micro_batch(
    data_dir: Path, tmp_path: Path, micro: int | None
) -> None:
    data = [f"task.data.{key}={value}" for key, value in TINY_DATA.items()]
    cfg = composed(
        "experiment=smoke", *data, "task.batch_size=8", "task.val_batches=1", "model.depth=1",
        f"trainer.micro_batch_size={'null' if micro is None else micro}", "trainer.progress_bar=false",
    )  # fmt: skip
    labels = validated_labels(cfg, data_dir, tmp_path)
    expected = load_split("listops", "val", data_dir, **TINY_DATA).labels[:8].tolist()
    assert labels == expected  # the first val_batches × batch_size = 8 examples, not 1 × micro = 4


def test_a_view_is_a_seeded_subset_in_cache_order_the_same_for_every_training_seed() -> None:
    view = DataView(sizes={"train": 10}, seed=0)
    chosen = view.indices("train", 100)
    assert len(chosen) == 10 and list(chosen) == sorted(chosen) and len(set(chosen)) == 10
    assert list(chosen) != list(range(10))  # not the first N: a cache may list its examples by label
    assert list(DataView(sizes={"train": 10}, seed=1).indices("train", 100)) != list(chosen)
    assert DataView(sizes={"train": 500}).indices("train", 100) is None  # at most: the whole split
    limited = DataView(sizes={"val": 10}, eval_examples={"val": 4}).indices("val", 100)
    assert list(limited) == list(chosen[:4])  # evaluation takes the first examples of the subset


def test_a_truncating_view_serves_the_prefix_and_clips_lengths(data_dir: Path) -> None:
    split = load_split("listops", "test", data_dir, **TINY_DATA)
    whole = WholeBatches(split).__getitems__([0, 1, 2])
    cut = WholeBatches(split, np.array([2, 0, 1]), max_length=50).__getitems__([1, 2, 0])
    assert cut["input_ids"].shape == (3, 50)
    assert torch.equal(cut["input_ids"], whole["input_ids"][:, :50])
    assert torch.equal(cut["length"], whole["length"].clamp(max=50)) and torch.equal(cut["label"], whole["label"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task=listops", "task.view.max_length=100"], "only for the byte-level tasks"),
        (["task=image", "task.view.max_length=100"], "only for the byte-level tasks"),
        (["task=text", "task.view.max_length=5000"], "between 1 and the cache's task.data.max_length=4000"),
        (["task=text", "task.view.train_size=0"], "task.view.train_size must be a positive number"),
        (["task=listops", "task.val_batches=0"], "task.val_batches must be positive or null"),
    ],
)
def test_bad_views_are_rejected(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_config(composed(*overrides))


def test_smoke_scale_views_every_downloaded_task_and_shortens_the_byte_level_ones() -> None:
    for task, length in (("text", 1000), ("retrieval", 1000), ("image", None)):
        cfg = composed("experiment=smoke", f"task={task}")
        check_config(cfg)
        assert cfg.task.view.max_length == length, task
        assert cfg.task.view.train_size <= 2000 and cfg.task.view.test_size <= 200, task
        full = composed(f"task={task}")
        assert OmegaConf.to_container(cfg.task.data) == OmegaConf.to_container(full.task.data), task  # same cache
