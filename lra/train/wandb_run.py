"""Loggers for a job: W&B (offline by default, one run per job) or Lightning's CSV logger, or none."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

WANDB_MODES = ("offline", "online", "disabled")


def make_loggers(cfg: DictConfig, job_dir: Path, identity: dict[str, Any]) -> list[Logger]:
    """``logger=wandb``: one W&B run per job in ``job_dir/wandb`` (group = sweep, job_type = task, tags = task,
    attention and seed); ``logger=csv``: Lightning's CSVLogger in the job dir; ``logger=none``: neither. The job's
    own ``metrics.csv`` and ``result.json`` are written in every case."""
    loggers: list[Logger] = []
    if "wandb" in cfg.logger:
        settings = cfg.logger.wandb
        if settings.mode not in WANDB_MODES:
            raise ValueError(f"logger.wandb.mode must be one of {list(WANDB_MODES)}, got {settings.mode!r}")
        tags = [f"task:{identity['task']}", f"attention:{identity['attention']}", f"seed:{identity['seed']}"]
        loggers.append(
            WandbLogger(
                project=settings.project,
                entity=settings.get("entity"),
                group=identity["group"] or identity["job_name"],
                job_type=identity["task"],
                name=identity["job_name"],
                tags=[*tags, *list(cfg.get("tags") or [])],
                save_dir=str(job_dir),
                mode=settings.mode,
                log_model=False,
                config=OmegaConf.to_container(cfg, resolve=True),
            )
        )
    if "csv" in cfg.logger:
        loggers.append(CSVLogger(save_dir=str(job_dir), name="csv_logs", version=""))
    return loggers


def finish_wandb() -> None:
    """End the job's W&B run: without it every job of a multirun logs into the first job's run (wandb#1314).

    A run can only have started if wandb was imported, so wandb is never imported here: a job with ``logger=none``
    or W&B disabled runs where wandb is not installed (the GPU machines)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
