"""Exact attention through ``scaled_dot_product_attention``, shared by ``softmax`` and Nyström's exact fallback."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

# The aten kernels SDPA dispatches to, by backend name.
_KERNEL_NAMES = {
    "aten::_scaled_dot_product_flash_attention": "flash",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "flash_cpu",
    "aten::_scaled_dot_product_efficient_attention": "efficient",
    "aten::_scaled_dot_product_cudnn_attention": "cudnn",
    "aten::_scaled_dot_product_attention_math": "math",
    "aten::_scaled_dot_product_fused_attention_overrideable": "overrideable",
}


def masked_sdpa(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_padding_mask: Tensor | None = None,
    dropout_p: float = 0.0,
) -> Tensor:
    """Softmax attention with an optional bool key-padding mask ``[B, n_k]`` (True = real key).

    An example without any real key would make every softmax row 0/0; such examples return zeros instead.
    Padded keys get zero weight, but ``v`` must be finite there (0 · NaN is NaN): callers zero the pads.
    """
    if key_padding_mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
    has_keys = key_padding_mask.any(dim=-1)
    mask = key_padding_mask | ~has_keys[:, None]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :], dropout_p=dropout_p)
    return out.masked_fill(~has_keys[:, None, None, None], 0.0)


def sdpa_backends_used(fn: Callable[[], object]) -> list[str]:
    """Run ``fn`` once under the profiler and return the SDPA backends that executed (e.g. ``["flash"]``)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities) as prof:
        fn()
    return sorted({_KERNEL_NAMES[e.name] for e in prof.events() if e.name in _KERNEL_NAMES})
