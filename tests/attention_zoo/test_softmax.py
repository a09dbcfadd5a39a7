"""Exact softmax attention through SDPA."""

from __future__ import annotations

import pytest
import torch

from attention_zoo import build_attention


def naive_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def test_matches_naive_attention_in_float64() -> None:
    attn = build_attention("softmax", num_heads=3, head_dim=8, max_seq_len=64)
    q, k, v = (torch.randn(2, 3, 50, 8, dtype=torch.float64) for _ in range(3))
    mask = torch.ones(2, 50, dtype=torch.bool)
    mask[1, 30:] = False
    torch.testing.assert_close(attn(q, k, v), naive_attention(q, k, v), rtol=1e-12, atol=1e-12)
    real = mask[:, None, :, None].expand_as(q)  # outputs at padded query positions are unspecified
    torch.testing.assert_close(attn(q, k, v, mask)[real], naive_attention(q, k, v, mask)[real], rtol=1e-12, atol=1e-12)


def test_padded_keys_get_no_weight_whatever_they_hold() -> None:
    attn = build_attention("softmax", num_heads=2, head_dim=4, max_seq_len=32)
    q, k, v = (torch.randn(1, 2, 32, 4) for _ in range(3))
    mask = torch.ones(1, 32, dtype=torch.bool)
    mask[:, 20:] = False
    out = attn(q, k, v, mask)[:, :, :20]
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 20:], v2[:, :, 20:] = 1e4, float("nan")
    torch.testing.assert_close(attn(q, k2, v2, mask)[:, :, :20], out)
    torch.testing.assert_close(out, attn(q[:, :, :20], k[:, :, :20], v[:, :, :20]), rtol=1e-5, atol=1e-6)


def test_fully_padded_example_gives_zeros_not_nan() -> None:
    attn = build_attention("softmax", num_heads=2, head_dim=4, max_seq_len=8)
    q, k, v = (torch.randn(2, 2, 8, 4) for _ in range(3))
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1] = False
    out = attn(q, k, v, mask)
    assert torch.isfinite(out).all()
    assert out[1].abs().max() == 0
    torch.testing.assert_close(out[0], attn(q[:1], k[:1], v[:1])[0])


def test_dropout_only_in_training() -> None:
    attn = build_attention("softmax", num_heads=2, head_dim=4, max_seq_len=64, dropout=0.5)
    q, k, v = (torch.randn(1, 2, 64, 4) for _ in range(3))
    attn.eval()
    torch.testing.assert_close(attn(q, k, v), naive_attention(q, k, v), rtol=1e-5, atol=1e-6)
    attn.train()
    assert not torch.allclose(attn(q, k, v), naive_attention(q, k, v), atol=1e-3)


def test_reports_the_backend_that_ran() -> None:
    q, k, v = (torch.randn(1, 2, 64, 8) for _ in range(3))
    auto = build_attention("softmax", num_heads=2, head_dim=8, max_seq_len=64)
    math = build_attention("softmax", num_heads=2, head_dim=8, max_seq_len=64, backend="math")
    assert auto.sdpa_backend(q, k, v) == "flash_cpu"
    assert math.sdpa_backend(q, k, v) == "math"
    torch.testing.assert_close(auto(q, k, v), math(q, k, v), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_close_to_fp32(dtype: torch.dtype) -> None:
    attn = build_attention("softmax", num_heads=2, head_dim=16, max_seq_len=256)
    q, k, v = (torch.randn(2, 2, 256, 16) for _ in range(3))
    out = attn(q.to(dtype), k.to(dtype), v.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), attn(q, k, v), rtol=0, atol=2e-2)
