"""Exact softmax attention: the reference every approximation is measured against."""

from __future__ import annotations

import contextlib

from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from attention_zoo._base import Attention, require_choice, zero_pads
from attention_zoo._sdpa import masked_sdpa, sdpa_backends_used

_BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}


class SoftmaxAttention(Attention):
    """Exact attention ``softmax(q kᵀ / √d) v`` through ``torch.nn.functional.scaled_dot_product_attention``.

    Options:
        dropout (0.0): dropout on the attention probabilities, training only. The Nyströmformer LRA softmax
            baseline used 0.1 (``mlpen/Nystromformer`` ``LRA/code/attention.py``); the model config sets it.
        backend ("auto"): restrict SDPA to one backend, ``"flash"`` (on CPU: the fused CPU kernel),
            ``"efficient"``, ``"cudnn"`` or ``"math"``; ``"auto"`` lets PyTorch choose. ``sdpa_backend()``
            reports which backend actually ran.

    The key-padding mask is passed to SDPA as a boolean mask (no additive −1e9), so padded keys get exactly
    zero weight; pads are zeroed first so that whatever they hold cannot reach real positions; an example
    with no real token returns zeros.

    Cost: time O(n²·d) per head. Memory O(n·d) with the fused kernels (flash, efficient, cuDNN, CPU flash);
    only the ``math`` backend materialises the n×n matrix. A key-padding mask rules out the CUDA flash kernel.
    """

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        max_seq_len: int,
        dropout: float = 0.0,
        backend: str = "auto",
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, max_seq_len=max_seq_len)
        if not (isinstance(dropout, int | float) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.backend = require_choice("backend", backend, ["auto", *_BACKENDS])

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        self.check_inputs(q, k, v, key_padding_mask)
        if key_padding_mask is not None:  # pads cannot leak NaN or inf into real positions (0 · NaN = NaN)
            q, k, v = (zero_pads(t, key_padding_mask) for t in (q, k, v))
        dropout_p = self.dropout if self.training else 0.0
        context = sdpa_kernel([_BACKENDS[self.backend]]) if self.backend != "auto" else contextlib.nullcontext()
        with context:
            return masked_sdpa(q, k, v, key_padding_mask, dropout_p=dropout_p)

    def sdpa_backend(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None) -> str:
        """Run one forward and return the name of the SDPA backend that executed it (e.g. ``"cudnn"``)."""
        return ",".join(sdpa_backends_used(lambda: self(q, k, v, key_padding_mask)))
