"""Segment-means landmarks for any sequence length, with or without a key-padding mask."""

from __future__ import annotations

import torch
from torch import Tensor

from attention_zoo._base import accumulation_dtype


def segment_bounds(lengths: Tensor, num_segments: int) -> Tensor:
    """Boundaries ``[..., m + 1]`` splitting each length L into m contiguous segments.

    The first ``m - L % m`` segments hold ``L // m`` tokens and the last ``L % m`` hold one more: the ragged
    split of the official ragged implementation (``mlpen/Nystromformer``
    ``ImageNet/T2T-ViT/models/token_nystromformer.py``), also used by xformers' ``AvgPool``.
    """
    j = torch.arange(num_segments + 1, device=lengths.device)
    base, extra = lengths[..., None] // num_segments, lengths[..., None] % num_segments
    return j * base + (j - (num_segments - extra)).clamp(min=0)


def segment_means(x: Tensor, num_segments: int) -> Tensor:
    """Means of m contiguous (ragged when n % m != 0) segments along dim 2 of ``x [B, H, n, d]``.

    Accumulates in at least fp32 and returns that dtype. Requires n >= m.
    """
    n = x.shape[2]
    base, extra = divmod(n, num_segments)
    acc = accumulation_dtype(x.dtype)
    short_count = num_segments - extra  # segments of `base` tokens; the rest hold base + 1
    short = x[:, :, : short_count * base].unflatten(2, (short_count, base)).mean(3, dtype=acc)
    if extra == 0:
        return short
    long = x[:, :, short_count * base :].unflatten(2, (extra, base + 1)).mean(3, dtype=acc)
    return torch.cat([short, long], dim=2)


def masked_segment_means(x: Tensor, num_segments: int, key_padding_mask: Tensor) -> Tensor:
    """Segment means over each example's real tokens only, so padding cannot change the landmarks.

    ``x [B, H, n, d]`` must be zero at padded positions. Each example's real tokens (in order, wherever the
    pads are) are split as by ``segment_bounds`` of its own length; a segment's sum runs over the positions
    from its first real token to the next segment's first real token, so it takes in only zeros besides its
    own tokens, and is divided by its real-token count. Examples with fewer real tokens than segments get
    empty (zero) landmarks; the caller treats those examples exactly.
    """
    acc = accumulation_dtype(x.dtype)
    batch, heads, n, dim = x.shape
    lengths = key_padding_mask.sum(dim=-1)
    ranks = segment_bounds(lengths, num_segments)  # [B, m + 1], in real-token ranks
    # First position preceded by exactly r real tokens; the outer bounds are pinned to 0 and n.
    positions = torch.searchsorted(key_padding_mask.cumsum(dim=-1), ranks, right=True)
    positions[:, 0], positions[:, -1] = 0, n
    tokens = x.transpose(1, 2).reshape(batch * n, heads * dim).to(acc)
    sums = torch.segment_reduce(tokens, "sum", lengths=positions.diff(dim=-1).flatten(), axis=0)
    sums = sums.view(batch, num_segments, heads, dim).transpose(1, 2)
    counts = ranks.diff(dim=-1).clamp(min=1)
    return sums / counts[:, None, :, None].to(acc)
