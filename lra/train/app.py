"""``lra-train``: one training job (or a Hydra multirun of them), ending in ``result.json``.

    lra-train task=listops attention=nystrom
    lra-train -m experiment=smoke attention=softmax,nystrom,linformer,performer,reformer seed=0,1,2

Each job checks its config, trains with validation every ``task.val_every`` steps, keeps the best-validation
checkpoint, evaluates the test split once on it after training, and writes ``result.json`` (also when it fails,
then with status "failed" and the error, exiting non-zero).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import traceback
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from lra import CONF_DIR
from lra.data import DataError
from lra.data.paths import resolve_data_dir
from lra.machine import describe, git_commit
from lra.model import count_parameters
from lra.results import write_result
from lra.train.callbacks import stream
from lra.train.job import (
    attention_label,
    build_callbacks,
    build_datamodule,
    build_module,
    build_trainer,
    task_model,
)
from lra.train.plan import ConfigError, check_config
from lra.train.wandb_run import finish_wandb, make_loggers

log = logging.getLogger("lra.train")
FAIRNESS_TOLERANCE = 0.10  # LRA "apples-to-apples": at most 10 % more parameters than the softmax model


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _fairness(cfg: DictConfig, num_parameters: int) -> dict[str, Any]:
    """Parameter count relative to the softmax model of the same task and sizes (built on the meta device)."""
    reference = count_parameters(task_model(cfg, {"name": "softmax", "options": {}}, device="meta"))
    ratio = num_parameters / reference
    if abs(ratio - 1) > FAIRNESS_TOLERANCE:
        log.warning(
            "%s has %d parameters, %.1f%% of the softmax model's %d: outside the LRA ±10%% fairness rule",
            attention_label(cfg),
            num_parameters,
            100 * ratio,
            reference,
        )
    return {"softmax_parameters": reference, "parameter_ratio_vs_softmax": ratio}


def _threads(cfg: DictConfig) -> None:
    """One job per core group: a joblib multirun of k jobs gives each job cores // k threads (oversubscribed
    OpenMP threads spin and are descheduled, which slows small ops by orders of magnitude)."""
    threads = cfg.trainer.get("threads")
    if threads is None and HydraConfig.initialized():
        launcher = HydraConfig.get().get("launcher") or {}
        jobs = launcher.get("n_jobs")
        if isinstance(jobs, int) and jobs > 0 and "joblib" in str(launcher.get("_target_", "")):
            threads = max(1, (os.cpu_count() or 1) // jobs)
    if isinstance(threads, int) and threads > 0:  # anything else is rejected by check_config, inside the job
        torch.set_num_threads(threads)


def _resume_path(cfg: DictConfig, checkpoint_dir: Path) -> str | None:
    """The checkpoint to resume from: ``ckpt_path`` (``last``: this job dir's ``last.ckpt``), or, in a SLURM job
    that was requeued (``SLURM_RESTART_COUNT`` > 0, e.g. by submitit after a timeout or preemption), the job dir's
    ``last.ckpt`` when there is one."""
    last = checkpoint_dir / "last.ckpt"
    if cfg.ckpt_path in (None, ""):
        if int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0 and last.exists():
            log.info("requeued SLURM job: resuming from %s", last)
            return str(last)
        return None
    if cfg.ckpt_path == "last":
        if not last.exists():
            raise ConfigError(
                f"ckpt_path=last but {last} does not exist; resume in the interrupted job's directory with "
                f"hydra.run.dir=<that job dir> ckpt_path=last, or pass a checkpoint path"
            )
        return str(last)
    if not Path(cfg.ckpt_path).exists():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path} does not exist")
    return str(cfg.ckpt_path)


def _job_identity(cfg: DictConfig) -> dict[str, Any]:
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == hydra.types.RunMode.MULTIRUN
    group = cfg.get("group") or (Path(hydra_cfg.sweep.dir).name if multirun else None)
    return {
        "task": cfg.task.name,
        "attention": attention_label(cfg),
        "seed": cfg.seed,
        "experiment": cfg.get("experiment_name"),
        "group": group,
        "job_name": Path(hydra_cfg.runtime.output_dir).name,
    }


def _multirun_launcher() -> str | None:
    """The Hydra launcher's ``_target_`` when this job is part of a multirun, else None."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != hydra.types.RunMode.MULTIRUN:
        return None
    return str((hydra_cfg.get("launcher") or {}).get("_target_", "unknown launcher"))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one job in ``HydraConfig.runtime.output_dir``; returns the result dict (also written to disk)."""
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    started, clock = _now(), dt.datetime.now(dt.UTC)
    _threads(cfg)  # first, so that the hardware record states the threads the job ran with
    identity, machine = _job_identity(cfg), describe()
    result: dict[str, Any] = {
        **identity,
        "status": "failed",
        "error": None,
        "metrics": {},
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": machine["packages"],
        "git_commit": git_commit(),
        "hardware": machine,
        "started_at": started,
        "paths": {"job_dir": str(job_dir), "metrics_csv": "metrics.csv"},
    }
    monitors: dict[str, Any] = {}
    job_error: BaseException | None = None
    try:
        _run(cfg, job_dir, identity, result, monitors)
        result["status"] = "ok"
    except BaseException as error:
        job_error = error
        result["error"] = {
            "type": type(error).__name__,
            "message": str(error),
            "traceback": traceback.format_exc(limit=20),
        }
        raise
    finally:
        for monitor in monitors.values():  # throughput and peak memory: what was measured, also after a failure
            result["metrics"].update(monitor.metrics())
        result["finished_at"] = _now()
        result["duration_s"] = (dt.datetime.now(dt.UTC) - clock).total_seconds()
        _close(job_dir, result, job_error)
    return result


def _write_result(job_dir: Path, result: dict[str, Any]) -> None:
    if rank_zero_only.rank == 0:  # DDP: every rank runs this job; one writes its result
        write_result(job_dir, result)


def _close(job_dir: Path, result: dict[str, Any], job_error: BaseException | None) -> None:
    """Write ``result.json`` (rank 0) and end the W&B run, both always. A failure here never hides the job's own
    error: after a failed job it is logged and the job's error propagates; after a successful job it is raised."""
    problems: list[Exception] = []
    for step in (lambda: _write_result(job_dir, result), finish_wandb):
        try:
            step()
        except Exception as problem:
            problems.append(problem)
    if not problems:
        return
    for problem in problems if job_error is not None else problems[1:]:
        log.error("closing the job failed as well: %s: %s", type(problem).__name__, problem, exc_info=problem)
    if job_error is None:
        raise problems[0]


def _run(
    cfg: DictConfig, job_dir: Path, identity: dict[str, Any], result: dict[str, Any], monitors: dict[str, Any]
) -> None:
    plan = check_config(cfg, _multirun_launcher())
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg, plan, resolve_data_dir(cfg.paths.get("data_dir")))
    try:
        datamodule.setup()
    except DataError as error:  # not prepared (the message names the lra-data command), or bad settings
        raise ConfigError(str(error)) from error
    result["data"] = datamodule.describe()
    attention = OmegaConf.to_container(cfg.attention, resolve=True)
    try:
        model = task_model(cfg, attention)
    except ValueError as error:
        raise ConfigError(f"invalid model or attention options: {error}") from error
    num_parameters = count_parameters(model)
    result["metrics"]["num_parameters"] = num_parameters
    result["metrics"].update(_fairness(cfg, num_parameters))
    log.info("%s: %d trainable parameters; batch plan %s", identity["job_name"], num_parameters, plan)

    module = build_module(cfg, model)
    callbacks = build_callbacks(cfg, job_dir)
    monitors["throughput"], monitors["memory"] = callbacks.throughput, callbacks.memory
    loggers = make_loggers(cfg, job_dir, identity)
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        result["paths"]["wandb_dir"] = "wandb"
    trainer = build_trainer(cfg, plan, job_dir, callbacks, loggers)
    trainer.fit(module, datamodule=datamodule, ckpt_path=_resume_path(cfg, job_dir / "checkpoints"))
    for name in ("loss", "accuracy"):  # read before testing replaces the trainer's metrics
        if f"train/{name}" in trainer.callback_metrics:
            result["metrics"][f"final_train_{name}"] = float(trainer.callback_metrics[f"train/{name}"])
    best = callbacks.best
    if best.best_model_path == "":
        raise RuntimeError("training finished without a validation, so there is no best checkpoint to test")
    tested = trainer.test(module, datamodule=datamodule, ckpt_path=best.best_model_path, verbose=False)[0]
    result["metrics"].update(
        {
            "test_accuracy": tested["test/accuracy"],
            "test_loss": tested["test/loss"],
            "best_val_accuracy": float(best.best_model_score),
            "best_val_step": int(Path(best.best_model_path).stem.removeprefix("best-step")),
            "steps": trainer.global_step,
        }
    )
    result["paths"]["best_checkpoint"] = str(Path(best.best_model_path).relative_to(job_dir))
    final = {**result["metrics"], **callbacks.throughput.metrics(), **callbacks.memory.metrics()}
    stream(trainer, {f"result/{name}": value for name, value in final.items()})


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry; returns the best validation accuracy (the objective of ``hparams_search`` sweeps)."""
    result = train(cfg)
    return result["metrics"].get("best_val_accuracy")


if __name__ == "__main__":
    main()
