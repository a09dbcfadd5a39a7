"""A 2-process DDP fit on CPU (gloo) in which only rank 1's loss becomes NaN, at step 2 (run by test_ddp_nan.py).

Lightning relaunches this file for rank 1 with ``LOCAL_RANK=1``; the model poisons its output there only.
"""

from __future__ import annotations

import os

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lra.train.module import LRAClassifier

POISONED_CALL = 3  # the third forward pass: step 2


class NaNOnRankOne(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.calls = 0

    def forward(self, input_ids: Tensor, lengths: Tensor) -> Tensor:
        self.calls += 1
        logits = self.linear(input_ids.float())
        if os.environ.get("LOCAL_RANK") == "1" and self.calls == POISONED_CALL:
            return logits * float("nan")
        return logits


def main() -> None:
    torch.manual_seed(0)
    batch = {"input_ids": torch.randn(2, 4), "length": torch.full((2,), 4), "label": torch.tensor([0, 1])}
    module = LRAClassifier(NaNOnRankOne(), lr=1e-3, weight_decay=0.0, warmup_steps=2, max_steps=8, label="ddp test")
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_steps=8,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        use_distributed_sampler=False,
    )
    trainer.fit(module, train_dataloaders=DataLoader([batch] * 8, batch_size=None))


if __name__ == "__main__":
    main()
