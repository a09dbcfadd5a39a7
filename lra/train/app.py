"""``lra-train``: one training job (or a Hydra multirun of them), ending in ``result.json``.

    lra-train task=listops attention=nystrom
    lra-train -m experiment=smoke attention=softmax,nystrom,linformer,performer,reformer seed=0,1,2

Each job checks its config, trains with validation every ``task.val_every`` steps, keeps the best-validation
checkpoint, evaluates the test split once on it after training, and writes ``result.json`` (also when it fails,
then with status "failed" and the error, exiting non-zero).
"""

from __future__ import annotations

import contextlib
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

from lra.data import DataError
from lra.data.paths import resolve_data_dir
from lra.machine import describe, git_commit
from lra.model import build_model, count_parameters
from lra.results import write_result
from lra.train.callbacks import MetricsHistory, PeakMemoryMonitor, ThroughputMonitor, stream
from lra.train.datamodule import LRADataModule
from lra.train.module import LRAClassifier
from lra.train.plan import BatchPlan, ConfigError, check_config
from lra.train.wandb_run import finish_wandb, make_loggers

log = logging.getLogger("lra.train")
FAIRNESS_TOLERANCE = 0.10  # LRA "apples-to-apples": at most 10 % more parameters than the softmax model


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _task_model(cfg: DictConfig, attention: dict[str, Any], device: str | None = None) -> torch.nn.Module:
    from lra.data import TASKS

    spec = TASKS[cfg.task.name]
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    with torch.device(device) if device else contextlib.nullcontext():
        return build_model(
            vocab_size=spec.vocab_size,
            num_classes=spec.num_classes,
            max_length=cfg.task.data.get("max_length", spec.max_length),
            dual=spec.dual,
            model=model_cfg,
            attention=attention,
        )


def _fairness(cfg: DictConfig, num_parameters: int) -> dict[str, Any]:
    """Parameter count relative to the softmax model of the same task and sizes (built on the meta device)."""
    reference = count_parameters(_task_model(cfg, {"name": "softmax", "options": {}}, device="meta"))
    ratio = num_parameters / reference
    if abs(ratio - 1) > FAIRNESS_TOLERANCE:
        log.warning(
            "%s has %d parameters, %.1f%% of the softmax model's %d: outside the LRA ±10%% fairness rule",
            cfg.attention.name,
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
    if threads:
        torch.set_num_threads(int(threads))


def _resume_path(cfg: DictConfig, checkpoint_dir: Path) -> str | None:
    if cfg.ckpt_path in (None, ""):
        return None
    if cfg.ckpt_path == "last":
        last = checkpoint_dir / "last.ckpt"
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
        "attention": cfg.attention.name,
        "seed": cfg.seed,
        "experiment": cfg.get("experiment_name"),
        "group": group,
        "job_name": Path(hydra_cfg.runtime.output_dir).name,
    }


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one job in ``HydraConfig.runtime.output_dir``; returns the result dict (also written to disk)."""
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    started, clock = _now(), dt.datetime.now(dt.UTC)
    identity = _job_identity(cfg)
    result: dict[str, Any] = {
        **identity,
        "status": "failed",
        "error": None,
        "metrics": {},
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": describe()["packages"],
        "git_commit": git_commit(),
        "hardware": describe(),
        "started_at": started,
        "paths": {"job_dir": str(job_dir), "metrics_csv": "metrics.csv"},
    }
    monitors: dict[str, Any] = {}
    try:
        _run(cfg, job_dir, identity, result, monitors)
        result["status"] = "ok"
    except BaseException as error:
        result["error"] = {
            "type": type(error).__name__,
            "message": str(error),
            "traceback": traceback.format_exc(limit=20),
        }
        raise
    finally:
        for monitor in monitors.values():
            result["metrics"].update(monitor.metrics() if hasattr(monitor, "metrics") else {})
        if "memory" in monitors and monitors["memory"].peak_mb is not None:
            result["metrics"]["peak_memory_mb"] = monitors["memory"].peak_mb
        result["finished_at"] = _now()
        result["duration_s"] = (dt.datetime.now(dt.UTC) - clock).total_seconds()
        if rank_zero_only.rank == 0:  # DDP: every rank runs this job; one writes its result
            write_result(job_dir, result)
        finish_wandb()
    return result


def _run(
    cfg: DictConfig, job_dir: Path, identity: dict[str, Any], result: dict[str, Any], monitors: dict[str, Any]
) -> None:
    plan: BatchPlan = check_config(cfg)
    _threads(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    data_dir = resolve_data_dir(cfg.paths.get("data_dir"))
    settings = OmegaConf.to_container(cfg.task.data, resolve=True)
    datamodule = LRADataModule(
        task=cfg.task.name,
        data_dir=data_dir,
        settings=settings,
        micro_batch_size=plan.micro_batch_size,
        accumulate=plan.accumulate,
        max_steps=cfg.task.max_steps,
        seed=cfg.seed,
        num_workers=cfg.trainer.get("num_workers", 0),
        eval_batch_size=cfg.trainer.get("eval_batch_size"),
    )
    try:
        datamodule.setup()
    except DataError as error:  # not prepared (the message names the lra-data command), or bad settings
        raise ConfigError(str(error)) from error
    attention = OmegaConf.to_container(cfg.attention, resolve=True)
    try:
        model = _task_model(cfg, attention)
    except ValueError as error:
        raise ConfigError(f"invalid model or attention options: {error}") from error
    num_parameters = count_parameters(model)
    result["metrics"]["num_parameters"] = num_parameters
    result["metrics"].update(_fairness(cfg, num_parameters))
    log.info("%s: %d trainable parameters; batch plan %s", identity["job_name"], num_parameters, plan)

    label = f"task {cfg.task.name}, attention {cfg.attention.name}, seed {cfg.seed}"
    module = LRAClassifier(
        model,
        lr=cfg.task.lr,
        weight_decay=cfg.task.weight_decay,
        warmup_steps=cfg.task.warmup_steps,
        max_steps=cfg.task.max_steps,
        label=label,
    )
    checkpoint_dir = job_dir / "checkpoints"
    best = pl.callbacks.ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best-step{step}",
        monitor="val/accuracy",
        mode="max",
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
    )
    monitors["throughput"], monitors["memory"] = ThroughputMonitor(), PeakMemoryMonitor()
    callbacks = [
        best,
        monitors["throughput"],
        monitors["memory"],
        MetricsHistory(job_dir / "metrics.csv", cfg.trainer.get("log_every_n_steps", 10)),
    ]
    loggers = make_loggers(cfg, job_dir, identity)
    if loggers and any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        result["paths"]["wandb_dir"] = "wandb"
    trainer = pl.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        max_steps=cfg.task.max_steps,
        val_check_interval=cfg.task.val_every * plan.accumulate,
        check_val_every_n_epoch=None,
        limit_val_batches=cfg.task.get("val_batches") or 1.0,
        num_sanity_val_steps=0,
        accumulate_grad_batches=plan.accumulate,
        gradient_clip_val=cfg.trainer.get("gradient_clip_val"),
        deterministic=cfg.deterministic,
        use_distributed_sampler=False,  # the resumable batch sampler shards by rank itself
        logger=loggers or False,
        callbacks=callbacks,
        enable_progress_bar=cfg.trainer.get("progress_bar", True),
        log_every_n_steps=cfg.trainer.get("log_every_n_steps", 10),
        default_root_dir=job_dir,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=_resume_path(cfg, checkpoint_dir))
    for name in ("loss", "accuracy"):  # read before testing replaces the trainer's metrics
        if f"train/{name}" in trainer.callback_metrics:
            result["metrics"][f"final_train_{name}"] = float(trainer.callback_metrics[f"train/{name}"])
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
    final = {**result["metrics"], **monitors["throughput"].metrics(), "peak_memory_mb": monitors["memory"].peak_mb}
    stream(trainer, {f"result/{name}": value for name, value in final.items() if value is not None})


@hydra.main(version_base="1.3", config_path="../../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry; returns the best validation accuracy (the objective of ``hparams_search`` sweeps)."""
    result = train(cfg)
    return result["metrics"].get("best_val_accuracy")


if __name__ == "__main__":
    main()
