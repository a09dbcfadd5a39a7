"""Small helpers shared by the tests."""

from __future__ import annotations

import torch
from torch import Tensor


def projection_layout(
    batch: int, heads: int, n: int, dim: int, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v as an LRA model produces them: views of one ``[B, n, 3, H, d]`` projection output."""
    x = torch.randn(batch, n, 3, heads, dim, dtype=dtype)
    q, k, v = x.permute(2, 0, 3, 1, 4).unbind(0)
    return q, k, v


def relative_error(actual: Tensor, expected: Tensor) -> float:
    """``max |actual − expected| / max |expected|``."""
    return ((actual - expected).abs().max() / expected.abs().max()).item()
