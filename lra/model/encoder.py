"""Token and position embeddings, pre-LN encoder blocks, final LayerNorm, pooling."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lra.model.attention_layer import MultiHeadAttention

POOLINGS = ("mean", "cls")


class EncoderBlock(nn.Module):
    """Pre-LN block (official LRA code): ``x += Dropout(MHA(LN(x)))``; ``x += MLP(LN(x))``."""

    def __init__(self, *, dim: int, ffn_dim: int, dropout: float, **attention: Any) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim=dim, dropout=dropout, **attention)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        x = x + self.attention(self.norm1(x), key_padding_mask)
        return x + self.mlp(self.norm2(x))


class Encoder(nn.Module):
    """Embeds ``input_ids [B, n]`` (learned positions), runs the blocks, pools to ``[B, dim]``.

    ``mean`` pooling averages the final LayerNorm outputs over real tokens (the official LRA code zeroes pads and
    divides by n, which makes the features depend on the padding); ``cls`` prepends a learned token and returns
    its output.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        max_length: int,
        dim: int,
        depth: int,
        num_heads: int,
        head_dim: int,
        ffn_dim: int,
        dropout: float,
        pooling: str,
        attention: str,
        attention_options: dict[str, Any],
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"model.pooling must be one of {list(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        seq_len = max_length + (pooling == "cls")
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Embedding(seq_len, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim)) if pooling == "cls" else None
        self.dropout = nn.Dropout(dropout)
        self.shared = _shared_between_layers(attention, attention_options, seq_len)
        self.blocks = nn.ModuleList(
            EncoderBlock(
                dim=dim,
                ffn_dim=ffn_dim,
                dropout=dropout,
                num_heads=num_heads,
                head_dim=head_dim,
                max_seq_len=seq_len,
                attention=attention,
                attention_options=attention_options,
                shared=dict(self.shared),
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 0.02) embeddings, as in the official LRA code."""
        for embedding in (self.token_embedding, self.position_embedding):
            nn.init.normal_(embedding.weight, std=0.02)
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)

    def forward(self, input_ids: Tensor, lengths: Tensor) -> Tensor:
        batch, n = input_ids.shape
        mask = torch.arange(n, device=input_ids.device)[None, :] < lengths[:, None]
        x = self.token_embedding(input_ids)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(batch, 1, -1), x], dim=1)
            mask = torch.cat([mask.new_ones(batch, 1), mask], dim=1)
        x = self.dropout(x + self.position_embedding.weight[: x.shape[1]])
        # No mask at all when nothing is padded: fused kernels then take their fastest path.
        key_padding_mask = None if bool(mask.all()) else mask
        for block in self.blocks:
            x = block(x, key_padding_mask)
        x = self.norm(x)
        if self.cls is not None:
            return x[:, 0]
        real = mask[..., None].to(x.dtype)
        return (x * real).sum(dim=1) / real.sum(dim=1).clamp(min=1)


def _shared_between_layers(attention: str, options: dict[str, Any], seq_len: int) -> nn.ParameterDict:
    """Parameters one attention shares across all layers: the Linformer ``sharing="layerwise"`` projection,
    ``[k, L]``, or ``[H, k, L]`` when the options ask for one matrix per head (``projection_heads: H``, the
    Nyströmformer LRA ``linformer-256``). ``projection_heads`` is an option of the attention itself, which
    checks it against its ``num_heads`` and the projection's shape, so the config needs no model-only key."""
    shared = nn.ParameterDict()
    if attention == "linformer" and options.get("sharing") == "layerwise":
        from attention_zoo.linformer import LinformerAttention

        defaults = LinformerAttention.option_defaults()
        shared["shared_projection"] = LinformerAttention.make_shared_projection(
            k=options.get("k", defaults["k"]),
            max_seq_len=seq_len,
            num_heads=options.get("projection_heads", defaults["projection_heads"]),
        )
    return shared
