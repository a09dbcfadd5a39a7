"""The contract every attention in the zoo follows, and the input checks written once for all of them."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

COMMON_ARGUMENTS = ("num_heads", "head_dim", "max_seq_len")


def require_positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is a positive int, else raise a ValueError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def require_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


class Attention(nn.Module):
    """Base class: ``forward(q, k, v, key_padding_mask=None)`` on ``[batch, heads, n, head_dim]`` tensors.

    ``key_padding_mask`` is a bool ``[batch, n]`` tensor, True for real tokens. Outputs at padded positions are
    finite but unspecified; callers mask them out (the LRA model zeroes them before pooling).
    Subclasses declare their options as keyword-only ``__init__`` arguments with defaults; the registry
    derives the list of valid options from that signature, so docs, validation and code cannot drift.

    ``shared_qk`` tells a model that the attention expects keys equal to queries (Reformer's LSH attention
    hashes one shared QK space): the model then projects one tensor and passes it as both ``q`` and ``k``.
    """

    shared_qk: ClassVar[bool] = False

    def __init__(self, *, num_heads: int, head_dim: int, max_seq_len: int) -> None:
        super().__init__()
        self.num_heads = require_positive_int("num_heads", num_heads)
        self.head_dim = require_positive_int("head_dim", head_dim)
        self.max_seq_len = require_positive_int("max_seq_len", max_seq_len)

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """The attention-specific options and their defaults, read from the ``__init__`` signature."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {
            p.name: p.default
            for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in COMMON_ARGUMENTS
        }

    def check_inputs(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None) -> int:
        """Validate shapes, dtypes and devices; return the sequence length n."""
        name = type(self).__name__
        for label, t in (("q", q), ("k", k), ("v", v)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{name}: {label} must be a torch.Tensor, got {type(t).__name__}")
            if t.dim() != 4:
                raise ValueError(f"{name}: {label} must have shape [batch, heads, n, head_dim], got {tuple(t.shape)}")
        if not (q.shape == k.shape == v.shape):
            raise ValueError(
                f"{name}: q, k, v must have the same shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
            )
        batch, heads, n, dim = q.shape
        if heads != self.num_heads or dim != self.head_dim:
            raise ValueError(
                f"{name}: expected {self.num_heads} heads of size {self.head_dim}, got q of shape "
                f"{tuple(q.shape)} ([batch, heads, n, head_dim])"
            )
        if n == 0:
            raise ValueError(f"{name}: the sequence is empty (n = 0)")
        if n > self.max_seq_len:
            raise ValueError(f"{name}: sequence length {n} exceeds max_seq_len={self.max_seq_len}")
        if not (q.dtype == k.dtype == v.dtype):
            raise ValueError(f"{name}: q, k, v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
        if not q.is_floating_point():
            raise ValueError(f"{name}: q, k, v must be floating point, got {q.dtype}")
        if not (q.device == k.device == v.device):
            raise ValueError(f"{name}: q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
        if key_padding_mask is not None:
            if key_padding_mask.dtype != torch.bool:
                raise ValueError(
                    f"{name}: key_padding_mask must be a bool tensor (True = real token), got {key_padding_mask.dtype}"
                )
            if tuple(key_padding_mask.shape) != (batch, n):
                raise ValueError(
                    f"{name}: key_padding_mask must have shape [batch, n] = {(batch, n)}, "
                    f"got {tuple(key_padding_mask.shape)}"
                )
            if key_padding_mask.device != q.device:
                raise ValueError(f"{name}: key_padding_mask is on {key_padding_mask.device} but q is on {q.device}")
        return n


def zero_pads(x: Tensor, key_padding_mask: Tensor) -> Tensor:
    """Replace padded rows of ``x [B, H, n, d]`` by zeros (``where``, so NaN or inf in pads cannot leak)."""
    return torch.where(key_padding_mask[:, None, :, None], x, x.new_zeros(()))


def full_precision(device: torch.device) -> torch.autocast:
    """Switch autocast off inside a numerically sensitive island (autocast would run its matmuls in half)."""
    return torch.autocast(device_type=device.type, enabled=False)


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype for numerically sensitive islands: at least fp32, fp64 stays fp64."""
    return torch.promote_types(dtype, torch.float32)
