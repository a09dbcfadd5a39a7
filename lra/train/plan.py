"""Check a composed config before anything trains, and derive the batch plan (micro-batch, accumulation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from attention_zoo import attention_options, available_attentions


class ConfigError(ValueError):
    """A configuration that cannot run; the message says how to fix it."""


@dataclass(frozen=True)
class BatchPlan:
    """``batch_size`` (effective) = ``micro_batch_size`` × ``accumulate`` × ``world_size``."""

    batch_size: int
    micro_batch_size: int
    accumulate: int
    world_size: int


def check_config(cfg: DictConfig) -> BatchPlan:
    """Reject bad configurations with a message that says how to fix them; return the batch plan."""
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
    for key in ("max_steps", "batch_size", "val_every"):
        if int(cfg.task[key]) <= 0:
            raise ConfigError(f"task.{key} must be positive, got {cfg.task[key]}")
    if not 1 < cfg.task.warmup_steps < cfg.task.max_steps:
        raise ConfigError(
            f"task.warmup_steps={cfg.task.warmup_steps} must lie between 2 and task.max_steps - 1 = "
            f"{cfg.task.max_steps - 1} (the one-cycle schedule needs a warm-up and an annealing phase)"
        )
    return batch_plan(cfg.task.batch_size, cfg.trainer.get("micro_batch_size"), _world_size(cfg.trainer))


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
    return devices if isinstance(devices, int) and devices > 0 else 1
