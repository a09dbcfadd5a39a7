"""Check a composed config before anything trains, and derive the batch plan (micro-batch, accumulation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from attention_zoo import attention_options, available_attentions
from lra.train.datamodule import TRUNCATABLE

VIEW_SIZES = ("train_size", "val_size", "test_size")


class ConfigError(ValueError):
    """A configuration that cannot run; the message says how to fix it."""


@dataclass(frozen=True)
class BatchPlan:
    """``batch_size`` (effective) = ``micro_batch_size`` × ``accumulate`` × ``world_size``."""

    batch_size: int
    micro_batch_size: int
    accumulate: int
    world_size: int


def check_config(cfg: DictConfig, multirun_launcher: str | None = None) -> BatchPlan:
    """Reject bad configurations with a message that says how to fix them; return the batch plan.

    ``multirun_launcher``: the ``_target_`` of the Hydra launcher when the job is part of a multirun, else None.
    """
    from lra.data import TASKS

    if cfg.task.name not in TASKS:
        raise ConfigError(f"unknown task {cfg.task.name!r}; choose task=<one of {', '.join(sorted(TASKS))}>")
    if cfg.attention.name not in available_attentions():
        raise ConfigError(
            f"unknown attention {cfg.attention.name!r}; choose attention=<one of {', '.join(available_attentions())}>"
        )
    options = dict(cfg.attention.get("options") or {})
    valid = attention_options(cfg.attention.name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for attention {cfg.attention.name!r}; valid: "
            f"{', '.join(sorted(valid))} (set them as attention.options.<name>=...)"
        )
    spec = TASKS[cfg.task.name]
    length = cfg.task.data.get("max_length", spec.max_length)
    limit = spec.image_size**2 if spec.image_size else None
    if limit is not None and length != limit:
        raise ConfigError(
            f"task.data.max_length={length} but {spec.name} images hold exactly {limit} pixels; remove the override"
        )
    _check_view(cfg, length)
    for key in ("max_steps", "batch_size", "val_every"):
        if int(cfg.task[key]) <= 0:
            raise ConfigError(f"task.{key} must be positive, got {cfg.task[key]}")
    if cfg.task.get("val_batches") is not None and int(cfg.task.val_batches) <= 0:
        raise ConfigError(f"task.val_batches must be positive or null (the whole split), got {cfg.task.val_batches}")
    if not 1 < cfg.task.warmup_steps < cfg.task.max_steps:
        raise ConfigError(
            f"task.warmup_steps={cfg.task.warmup_steps} must lie between 2 and task.max_steps - 1 = "
            f"{cfg.task.max_steps - 1} (the one-cycle schedule needs a warm-up and an annealing phase)"
        )
    threads = cfg.trainer.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0):
        raise ConfigError(
            f"trainer.threads must be a positive integer or null (cores / parallel jobs), got {threads!r}"
        )
    world_size = _world_size(cfg.trainer)
    _check_launcher(world_size, multirun_launcher)
    return batch_plan(cfg.task.batch_size, cfg.trainer.get("micro_batch_size"), world_size)


def _check_view(cfg: DictConfig, data_length: int) -> None:
    """``task.view``: positive sizes, and a shorter length only where truncation equals a shorter cache."""
    view = cfg.task.get("view") or {}
    for key in VIEW_SIZES:
        size = view.get(key)
        if size is not None and (not isinstance(size, int) or size <= 0):
            raise ConfigError(f"task.view.{key} must be a positive number of examples or null (all), got {size!r}")
    length = view.get("max_length")
    if length is None:
        return
    if cfg.task.name not in TRUNCATABLE:
        raise ConfigError(
            f"task.view.max_length is only for the byte-level tasks ({', '.join(TRUNCATABLE)}), whose truncated "
            f"sequences equal a shorter cache; for {cfg.task.name} prepare a cache at that length and set "
            f"task.data.max_length instead"
        )
    if not isinstance(length, int) or not 0 < length <= data_length:
        raise ConfigError(
            f"task.view.max_length={length} must lie between 1 and the cache's task.data.max_length={data_length}"
        )


def _check_launcher(world_size: int, multirun_launcher: str | None) -> None:
    """DDP inside a local multirun: Lightning relaunches rank 1 with the original command line (``-m`` and all),
    so rank 1 would run the whole sweep again. Only the SLURM launcher starts each rank itself."""
    if world_size > 1 and multirun_launcher is not None and not multirun_launcher.endswith("SlurmLauncher"):
        raise ConfigError(
            f"trainer.devices={world_size} (DDP) cannot run inside a local multirun "
            f"({multirun_launcher.rsplit('.', 1)[-1]}): Lightning relaunches rank 1 with the original command line, "
            f"which would re-run the whole sweep. Run DDP as a single run (lra-train trainer=ddp ... without -m), or "
            f"submit the sweep with -m hydra/launcher=slurm hydra.launcher.gpus_per_node={world_size} "
            f"hydra.launcher.tasks_per_node={world_size}"
        )


def batch_plan(batch_size: int, micro_batch_size: int | None, world_size: int) -> BatchPlan:
    """Gradient accumulation that reaches ``batch_size`` when one device holds only ``micro_batch_size``."""
    if batch_size % world_size:
        raise ConfigError(f"task.batch_size={batch_size} is not divisible by the {world_size} devices")
    per_device = batch_size // world_size
    micro = per_device if micro_batch_size is None else micro_batch_size
    if micro <= 0 or per_device % micro:
        raise ConfigError(
            f"trainer.micro_batch_size={micro_batch_size} must divide the per-device batch {per_device} "
            f"(task.batch_size={batch_size} over {world_size} device(s))"
        )
    return BatchPlan(
        batch_size=batch_size, micro_batch_size=micro, accumulate=per_device // micro, world_size=world_size
    )


def _world_size(trainer: Any) -> int:
    devices = trainer.get("devices", 1)
    if not isinstance(devices, int) or isinstance(devices, bool) or devices <= 0:
        raise ConfigError(
            f"trainer.devices must be a positive number of devices (the batch plan divides the batch by it), "
            f"got {devices!r}"
        )
    return devices
