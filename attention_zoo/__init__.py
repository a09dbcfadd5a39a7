"""attention_zoo: attention mechanisms behind one API (torch only).

>>> attn = build_attention("nystrom", num_heads=2, head_dim=32, max_seq_len=4096, num_landmarks=64)
>>> out = attn(q, k, v, key_padding_mask=mask)  # q, k, v: [batch, heads, n, head_dim]; mask: bool [batch, n]
"""

from __future__ import annotations

from typing import Any

from attention_zoo._base import Attention
from attention_zoo.linformer import LinformerAttention
from attention_zoo.nystrom import NystromAttention
from attention_zoo.performer import PerformerAttention
from attention_zoo.reformer import ReformerAttention
from attention_zoo.softmax import SoftmaxAttention

__all__ = [
    "Attention",
    "LinformerAttention",
    "NystromAttention",
    "PerformerAttention",
    "ReformerAttention",
    "SoftmaxAttention",
    "attention_options",
    "available_attentions",
    "build_attention",
]

_REGISTRY: dict[str, type[Attention]] = {
    "linformer": LinformerAttention,
    "nystrom": NystromAttention,
    "performer": PerformerAttention,
    "reformer": ReformerAttention,
    "softmax": SoftmaxAttention,
}


def available_attentions() -> list[str]:
    """Names accepted by :func:`build_attention`."""
    return sorted(_REGISTRY)


def _lookup(name: str) -> type[Attention]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown attention {name!r}; available: {', '.join(available_attentions())}")
    return _REGISTRY[name]


def attention_options(name: str) -> dict[str, Any]:
    """The options of attention ``name`` with their defaults."""
    return _lookup(name).option_defaults()


def build_attention(name: str, *, num_heads: int, head_dim: int, max_seq_len: int, **options: Any) -> Attention:
    """Build attention ``name``; ``options`` are its documented options (see ``attention_options(name)``).

    Raises ValueError for an unknown name or option (listing the valid ones) and for invalid values.
    """
    cls = _lookup(name)
    valid = cls.option_defaults()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for attention {name!r}; "
            f"valid options: {', '.join(sorted(valid)) or '(none)'}"
        )
    return cls(num_heads=num_heads, head_dim=head_dim, max_seq_len=max_seq_len, **options)
