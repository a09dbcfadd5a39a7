"""A short real Lightning training run learns: every attention overfits a fixed small batch."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from attention_zoo import available_attentions
from lra.model import build_model
from lra.train.module import LRAClassifier

SMALL_OPTIONS = {
    "nystrom": {"num_landmarks": 16},
    "softmax": {"dropout": 0.0},
    "linformer": {"k": 32},
    "performer": {"num_features": 64},
    "reformer": {"bucket_size": 16},
}
SIZES = {"dim": 64, "depth": 2, "num_heads": 2, "head_dim": 32, "ffn_dim": 128, "dropout": 0.0}


@pytest.mark.parametrize("attention", available_attentions())
def test_overfits_a_fixed_batch(attention: str) -> None:
    pl.seed_everything(0)
    n, batch = 128, 16
    batch_data = {
        "input_ids": torch.randint(1, 16, (batch, n)),
        "length": torch.randint(n // 2, n + 1, (batch,)),  # padded examples too
        "label": torch.randint(0, 4, (batch,)),
    }
    model = build_model(
        vocab_size=16,
        num_classes=4,
        max_length=n,
        dual=False,
        model={**SIZES, "pooling": "mean", "head_hidden": 128},
        attention={"name": attention, "options": SMALL_OPTIONS.get(attention, {})},
    )
    module = LRAClassifier(model, lr=3e-3, weight_decay=0.0, warmup_steps=10, max_steps=150)
    loader = DataLoader([batch_data] * 150, batch_size=None)
    trainer = pl.Trainer(
        max_steps=150,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    model.eval()
    with torch.no_grad():
        predictions = model(batch_data["input_ids"], batch_data["length"]).argmax(-1)
    accuracy = (predictions == batch_data["label"]).float().mean().item()
    assert accuracy >= 0.95, f"{attention} reached only {accuracy:.2f} on a batch it trained on 150 times"
