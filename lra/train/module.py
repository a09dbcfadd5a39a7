"""The LightningModule: cross-entropy classification, AdamW with the one-cycle linear schedule."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf."""


class LRAClassifier(pl.LightningModule):
    """Trains ``model`` (``input_ids``, ``lengths`` → logits) and logs loss and accuracy per split.

    Optimiser and schedule follow the official LRA code: AdamW (betas 0.9/0.999, eps 1e-6) and
    ``OneCycleLR(max_lr=lr, pct_start=warmup/steps, anneal_strategy="linear")`` with torch's defaults (start at
    lr/25, end at lr/25/1e4, β1 cycled between 0.85 and 0.95), stepped every optimiser step.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float,
        weight_decay: float,
        warmup_steps: int,
        max_steps: int,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        cycle_momentum: bool = True,
        label: str = "",
    ) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, tuple(betas), eps
        self.warmup_steps, self.max_steps, self.cycle_momentum = warmup_steps, max_steps, cycle_momentum
        self.label = label

    def forward(self, input_ids: Tensor, lengths: Tensor) -> Tensor:
        return self.model(input_ids, lengths)

    def _step(self, batch: dict[str, Tensor], split: str) -> Tensor:
        logits = self(batch["input_ids"], batch["length"])
        loss = F.cross_entropy(logits.float(), batch["label"])
        accuracy = (logits.argmax(dim=-1) == batch["label"]).float().mean()
        on_step = split == "train"
        size = batch["label"].shape[0]
        self.log(f"{split}/loss", loss, on_step=on_step, on_epoch=not on_step, prog_bar=True, batch_size=size)
        self.log(f"{split}/accuracy", accuracy, on_step=on_step, on_epoch=not on_step, prog_bar=True, batch_size=size)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._step(batch, "train")
        finite = bool(torch.isfinite(loss))
        if self.trainer.world_size > 1:
            # Every rank must stop in the same step: a rank that raised alone would leave the others waiting in
            # the next gradient all-reduce for ever.
            finite_everywhere = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        else:
            finite_everywhere = finite
        if not finite_everywhere:
            where = f"({loss.item()})" if not finite else f"on another rank (rank {self.global_rank}'s is finite)"
            raise NonFiniteLossError(
                f"non-finite training loss {where} at step {self.global_step} (batch {batch_idx}) "
                f"for {self.label}; lower the learning rate, enable gradient clipping or check the data"
            )
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=self.lr,
            total_steps=self.max_steps,
            pct_start=min(self.warmup_steps / self.max_steps, 1.0),
            anneal_strategy="linear",
            cycle_momentum=self.cycle_momentum,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # Lightning does not checkpoint the global RNGs; dropout (and random-feature redraws) need them for an
    # exact resume. Data loading never touches them (every loader has its own generator).
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng_states"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": _numpy_state_to_tensors(np.random.get_state()),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get("rng_states")
        if states is None:
            return
        torch.set_rng_state(states["torch"])
        if states["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])
        np.random.set_state(_numpy_state_from_tensors(states["numpy"]))
        random.setstate(states["python"])


# Checkpoints load with ``weights_only=True``: keep the numpy state as tensors and plain numbers.
def _numpy_state_to_tensors(state: tuple) -> dict[str, Any]:
    name, keys, position, has_gauss, cached = state
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": position,
        "gauss": (has_gauss, cached),
    }


def _numpy_state_from_tensors(state: dict[str, Any]) -> tuple:
    return (state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], *state["gauss"])
