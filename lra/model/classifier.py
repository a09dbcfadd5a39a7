"""Classification heads: one sequence, or two documents through one shared encoder (Retrieval)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lra.model.encoder import Encoder


def _head(in_dim: int, hidden: int, num_classes: int) -> nn.Sequential:
    """Linear → ReLU → Linear, the official LRA ``SCHead``/``SCHeadDual``."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


class SequenceClassifier(nn.Module):
    """``input_ids [B, n]``, ``lengths [B]`` → logits ``[B, classes]``."""

    def __init__(self, *, num_classes: int, head_hidden: int, **encoder: Any) -> None:
        super().__init__()
        self.encoder = Encoder(**encoder)
        self.head = _head(encoder["dim"], head_hidden, num_classes)

    def forward(self, input_ids: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.encoder(input_ids, lengths))


class DualEncoderClassifier(nn.Module):
    """``input_ids [B, 2, n]``, ``lengths [B, 2]``: both documents through one encoder (no cross-attention),
    classified from ``[u, v, u·v, u − v]`` as in the Nyströmformer and S4 code (JAX LRA uses ``[u, v]``)."""

    def __init__(self, *, num_classes: int, head_hidden: int, **encoder: Any) -> None:
        super().__init__()
        self.encoder = Encoder(**encoder)
        self.head = _head(4 * encoder["dim"], head_hidden, num_classes)

    def forward(self, input_ids: Tensor, lengths: Tensor) -> Tensor:
        batch = input_ids.shape[0]
        pooled = self.encoder(input_ids.flatten(0, 1), lengths.flatten())  # both documents in one batch
        u, v = pooled.view(batch, 2, -1).unbind(1)
        return self.head(torch.cat([u, v, u * v, u - v], dim=-1))


def build_model(
    *, vocab_size: int, num_classes: int, max_length: int, dual: bool, model: dict[str, Any], attention: dict[str, Any]
) -> nn.Module:
    """The LRA classifier for a task. ``model`` holds the sizes (``conf/model``), ``attention`` its name and options."""
    cls = DualEncoderClassifier if dual else SequenceClassifier
    return cls(
        num_classes=num_classes,
        head_hidden=model["head_hidden"],
        vocab_size=vocab_size,
        max_length=max_length,
        dim=model["dim"],
        depth=model["depth"],
        num_heads=model["num_heads"],
        head_dim=model["head_dim"],
        ffn_dim=model["ffn_dim"],
        dropout=model["dropout"],
        pooling=model["pooling"],
        attention=attention["name"],
        attention_options=dict(attention.get("options") or {}),
    )


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
