"""Batch plan (gradient accumulation), the launcher check, and the resumable, seeded batch order."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from lra.train.datamodule import ResumableBatchSampler
from lra.train.plan import ConfigError, batch_plan, check_config
from tests.train.harness import REPO


def composed(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_accumulation_reaches_the_effective_batch() -> None:
    plan = batch_plan(256, 32, world_size=2)
    assert (plan.micro_batch_size, plan.accumulate) == (32, 4)
    assert batch_plan(32, None, world_size=1).accumulate == 1


@pytest.mark.parametrize(("batch", "micro", "world"), [(32, 5, 1), (30, None, 4), (32, 0, 1)])
def test_impossible_plans_are_rejected(batch: int, micro: int | None, world: int) -> None:
    with pytest.raises(ConfigError, match="batch"):
        batch_plan(batch, micro, world_size=world)


def test_batches_are_seeded_permutations_without_repeats_within_an_epoch() -> None:
    sampler = ResumableBatchSampler(100, 8, seed=3, start=0, stop=24)
    batches = list(sampler)
    assert len(batches) == 24 and all(len(b) == 8 for b in batches)
    first_epoch = [i for b in batches[:12] for i in b]  # 100 // 8 = 12 batches per epoch
    assert len(set(first_epoch)) == 96
    assert batches == list(ResumableBatchSampler(100, 8, seed=3, start=0, stop=24))
    assert batches != list(ResumableBatchSampler(100, 8, seed=4, start=0, stop=24))
    assert batches[:12] != batches[12:]  # a new permutation each epoch


def test_resuming_continues_the_same_stream() -> None:
    full = list(ResumableBatchSampler(50, 4, seed=0, start=0, stop=40))
    resumed = ResumableBatchSampler(50, 4, seed=0, start=17, stop=40)
    assert list(resumed) == full[17:]
    assert len(resumed) == 40  # the run's length: Lightning resumes its batch counter at 17


def test_ranks_take_disjoint_slices_of_each_global_batch() -> None:
    ranks = [list(ResumableBatchSampler(64, 4, seed=0, start=0, stop=8, rank=r, world_size=2)) for r in (0, 1)]
    for a, b in zip(*ranks, strict=True):
        assert not set(a) & set(b)
    single = list(ResumableBatchSampler(64, 8, seed=0, start=0, stop=8))
    assert [a + b for a, b in zip(*ranks, strict=True)] == single


def test_too_little_data_for_one_batch_is_an_error() -> None:
    with pytest.raises(ValueError, match="fewer than one global batch"):
        ResumableBatchSampler(10, 16, seed=0, start=0, stop=1)


BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


@pytest.mark.parametrize(
    "launcher", [BASIC, JOBLIB, "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"]
)
def test_ddp_inside_a_local_multirun_is_rejected(launcher: str) -> None:
    cfg = composed("trainer=ddp", "trainer.accelerator=cpu")
    with pytest.raises(ConfigError, match="hydra/launcher=slurm"):
        check_config(cfg, multirun_launcher=launcher)


def test_ddp_runs_alone_or_through_slurm_and_one_device_runs_anywhere() -> None:
    ddp = composed("trainer=ddp", "trainer.accelerator=cpu")
    assert check_config(ddp).world_size == 2
    assert check_config(ddp, multirun_launcher=SLURM).world_size == 2
    assert check_config(composed(), multirun_launcher=JOBLIB).world_size == 1


@pytest.mark.parametrize("devices", ["auto", -1, 0])
def test_devices_must_be_a_count(devices: object) -> None:
    with pytest.raises(ConfigError, match=r"trainer\.devices must be a positive number"):
        check_config(composed(f"trainer.devices={devices}"))
