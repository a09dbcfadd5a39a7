"""Multi-head attention: projections around any attention_zoo attention (one wrapper for all of them)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from attention_zoo import build_attention


class MultiHeadAttention(nn.Module):
    """Input projections, the attention core, output projection and dropout.

    q, k, v come from one fused projection, viewed (no copy) as ``[B, H, n, d]``. Attentions that hash one shared
    query/key space (``shared_qk``, Reformer) get one projection for both, so they also have fewer parameters,
    as in the Reformer paper. ``attention_options`` reach ``build_attention`` untouched (``shared`` adds objects
    a model shares between layers, such as a layerwise Linformer projection).
    """

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        head_dim: int,
        max_seq_len: int,
        attention: str,
        attention_options: dict[str, Any],
        dropout: float,
        shared: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.attention = build_attention(
            attention,
            num_heads=num_heads,
            head_dim=head_dim,
            max_seq_len=max_seq_len,
            **attention_options,
            **(shared or {}),
        )
        self.num_heads, self.head_dim = num_heads, head_dim
        self.num_projections = 2 if self.attention.shared_qk else 3
        self.in_proj = nn.Linear(dim, self.num_projections * num_heads * head_dim)
        self.out_proj = nn.Linear(num_heads * head_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        batch, n, _ = x.shape
        projected = self.in_proj(x).view(batch, n, self.num_projections, self.num_heads, self.head_dim)
        heads = projected.permute(2, 0, 3, 1, 4).unbind(0)  # views [B, H, n, d]
        q, k, v = (heads[0], heads[0], heads[1]) if self.attention.shared_qk else heads
        out = self.attention(q, k, v, key_padding_mask=key_padding_mask)
        return self.dropout(self.out_proj(out.transpose(1, 2).reshape(batch, n, -1)))
