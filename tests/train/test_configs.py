"""Every config group composes, and the composed values are the documented protocol."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from attention_zoo import available_attentions

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = {
    group: sorted(p.stem for p in (CONF / group).glob("*.yaml")) for group in ("task", "attention", "trainer", "logger")
}


def composed(*overrides: str, return_hydra_config: bool = False):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=return_hydra_config)


def test_the_groups_hold_what_the_readme_promises() -> None:
    assert GROUPS["task"] == ["image", "listops", "pathfinder", "pathx", "retrieval", "text"]
    assert set(GROUPS["attention"]) >= {"softmax", "nystrom"}
    assert GROUPS["trainer"] == ["cpu", "ddp", "gpu"]
    assert GROUPS["logger"] == ["csv", "none", "wandb"]


@pytest.mark.parametrize(("task", "attention"), list(itertools.product(GROUPS["task"], GROUPS["attention"])))
def test_every_task_and_attention_compose(task: str, attention: str) -> None:
    cfg = composed(f"task={task}", f"attention={attention}")
    assert cfg.task.name == task and cfg.attention.get("label", cfg.attention.name) == attention
    assert cfg.attention.name in available_attentions()
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize("experiment", ["smoke", "lra_paper"])
@pytest.mark.parametrize("trainer", GROUPS["trainer"])
@pytest.mark.parametrize("logger", GROUPS["logger"])
def test_experiments_trainers_and_loggers_compose(experiment: str, trainer: str, logger: str) -> None:
    cfg = composed(f"experiment={experiment}", f"trainer={trainer}", f"logger={logger}")
    assert cfg.experiment_name == experiment


def test_lra_paper_is_the_nystromformer_protocol() -> None:
    expected = {  # mlpen/Nystromformer LRA/code/lra_config.py: batch, lr, warmup, steps, eval every
        "listops": (32, 1e-4, 1000, 5000, 50),
        "text": (32, 1e-4, 8000, 20000, 500),
        "retrieval": (32, 1e-4, 800, 30000, 300),
        "image": (256, 1e-4, 175, 35000, 175),
        "pathfinder": (256, 1e-4, 312, 62400, 312),
    }
    for task, values in expected.items():
        cfg = composed("experiment=lra_paper", f"task={task}")
        t = cfg.task
        assert (t.batch_size, t.lr, t.warmup_steps, t.max_steps, t.val_every) == values, task
        assert cfg.trainer.precision == "bf16-mixed" and cfg.model.dim == 64 and cfg.model.depth == 2


def test_smoke_shrinks_the_schedule_and_the_generated_data() -> None:
    cfg = composed("experiment=smoke", "task=listops")
    assert cfg.task.max_steps < 100 and cfg.task.data.train_size < 10_000
    assert cfg.trainer.accelerator == "cpu"


def test_launchers_and_search_compose() -> None:
    slurm = composed("hydra/launcher=slurm", return_hydra_config=True)
    assert slurm.hydra.launcher.gpus_per_node == 1 and "submitit" in slurm.hydra.launcher._target_
    parallel = composed("hydra/launcher=parallel", return_hydra_config=True)
    assert parallel.hydra.launcher.n_jobs == 2 and "joblib" in parallel.hydra.launcher._target_
    search = composed("hparams_search=nystrom_optuna", return_hydra_config=True)
    assert "optuna" in search.hydra.sweeper._target_ and search.attention.name == "nystrom"


def test_job_directories_are_readable() -> None:
    cfg = composed("task=text", "attention=performer", "seed=3", return_hydra_config=True)
    sweep = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)
    run = OmegaConf.to_container(cfg.hydra.run, resolve=False)
    label = "${oc.select:attention.label,${attention.name}}"
    assert sweep["subdir"] == f"${{hydra.job.num}}_${{task.name}}_{label}_s${{seed}}"
    assert run["dir"].endswith(f"_${{task.name}}_{label}_s${{seed}}")


def test_parameter_fairness_warning(caplog: pytest.LogCaptureFixture) -> None:
    """LRA's apples-to-apples rule: ±10 % of the softmax model's parameters. Linformer's E (k × n) breaks it."""
    from lra.model import count_parameters
    from lra.train.app import _fairness
    from lra.train.job import task_model as _task_model

    for attention, warns in (("nystrom", False), ("linformer", True)):
        cfg = composed(f"attention={attention}")
        model = _task_model(cfg, OmegaConf.to_container(cfg.attention, resolve=True))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="lra.train"):
            ratio = _fairness(cfg, count_parameters(model))["parameter_ratio_vs_softmax"]
        assert ("fairness rule" in caplog.text) == warns, (attention, ratio)
