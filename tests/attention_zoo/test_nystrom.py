"""Nyström attention: parity with Hugging Face and the official code, exactness limits, padding, precision."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from transformers.models.nystromformer.modeling_nystromformer import (
    NystromformerConfig,
    NystromformerSelfAttention,
)

from attention_zoo import build_attention
from tests.helpers import projection_layout, relative_error


def nystrom(n: int, heads: int = 2, dim: int = 8, **options):
    return build_attention("nystrom", num_heads=heads, head_dim=dim, max_seq_len=n, **options)


# --- parity with the reference implementations -------------------------------------------------------------


def hf_attention(n: int, m: int, heads: int, dim: int, conv: int | None) -> NystromformerSelfAttention:
    # transformers 5 rejects conv_kernel_size=None in the config; its forward reads the module attribute.
    config = NystromformerConfig(
        hidden_size=heads * dim,
        num_attention_heads=heads,
        num_landmarks=m,
        segment_means_seq_len=n,
        conv_kernel_size=conv or 3,
    )
    module = NystromformerSelfAttention(config).eval()
    module.conv_kernel_size = conv
    return module


@pytest.mark.parametrize(
    ("n", "m", "conv"), [(256, 16, None), (512, 64, 35), (1024, 64, None), (1024, 128, 65), (768, 32, 33)]
)
@pytest.mark.parametrize("path", ["reference", "fast"])
def test_parity_with_huggingface(n: int, m: int, conv: int | None, path: str) -> None:
    heads, dim = 2, 32
    hf = hf_attention(n, m, heads, dim, conv)
    ours = nystrom(
        n,
        heads,
        dim,
        num_landmarks=m,
        conv_kernel_size=conv,
        pinv_init="original",
        landmark_mode="official",
        path=path,
    )
    if conv is not None:
        ours.conv.weight.data.copy_(hf.conv.weight.data)
    hidden = torch.randn(1, n, heads * dim)

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(1, n, heads, dim).transpose(1, 2)

    with torch.no_grad():
        expected = hf(hidden)[0]
        q, k, v = split(hf.query(hidden)), split(hf.key(hidden)), split(hf.value(hidden))
        actual = ours(q, k, v).transpose(1, 2).reshape(1, n, heads * dim)
    assert relative_error(actual, expected) <= 1e-5


def official_forward(q, k, v, mask, m: int, conv_weight: torch.Tensor, iterations: int = 6):
    """Literal transcription of ``mlpen/Nystromformer`` ``LRA/code/attention_nystrom.py`` (init "original")."""
    heads, n, dim = q.shape[1], q.shape[2], q.shape[3]
    mask = mask.float()
    q = q * mask[:, None, :, None] / math.sqrt(math.sqrt(dim))
    k = k * mask[:, None, :, None] / math.sqrt(math.sqrt(dim))
    q_land = q.reshape(-1, heads, m, n // m, dim).mean(dim=-2)
    k_land = k.reshape(-1, heads, m, n // m, dim).mean(dim=-2)
    kernel_1 = F.softmax(torch.matmul(q, k_land.transpose(-1, -2)), dim=-1)
    kernel_2 = F.softmax(torch.matmul(q_land, k_land.transpose(-1, -2)), dim=-1)
    kernel_3 = F.softmax(torch.matmul(q_land, k.transpose(-1, -2)) - 1e9 * (1 - mask[:, None, None, :]), dim=-1)
    eye = torch.eye(m, dtype=q.dtype)
    z = 1 / torch.max(torch.sum(kernel_2, dim=-2)) * kernel_2.transpose(-1, -2)
    for _ in range(iterations):
        kz = torch.matmul(kernel_2, z)
        z = torch.matmul(0.25 * z, 13 * eye - torch.matmul(kz, 15 * eye - torch.matmul(kz, 7 * eye - kz)))
    out = torch.matmul(torch.matmul(kernel_1, z), torch.matmul(kernel_3, v))
    conv = F.conv2d(v * mask[:, None, :, None], conv_weight, padding=(conv_weight.shape[2] // 2, 0), groups=heads)
    return out + conv


@pytest.mark.parametrize("path", ["reference", "fast"])
def test_official_mode_reproduces_the_official_code_with_padding(path: str) -> None:
    n, m, heads, dim = 256, 16, 2, 16
    q, k, v = (torch.randn(3, heads, n, dim) for _ in range(3))
    mask = torch.ones(3, n, dtype=torch.bool)
    mask[1, 100:] = False
    mask[2, 7:] = False  # fewer real tokens than landmarks: all-pad segments give zero landmarks
    ours = nystrom(n, heads, dim, num_landmarks=m, pinv_init="original", landmark_mode="official", path=path)
    expected = official_forward(q, k, v, mask, m, ours.conv.weight.detach())
    with torch.no_grad():
        assert relative_error(ours(q, k, v, mask), expected) <= 1e-5


# --- fast path against the reference path ------------------------------------------------------------------

FAST_VS_REFERENCE_CASES = [
    # n, m, landmark_mode, pinv_init, logit scale
    (1024, 64, "masked", "per_matrix", 1.0),
    (1000, 64, "masked", "per_matrix", 1.0),  # ragged segments
    (2048, 32, "official", "original", 1.0),
    (1024, 64, "masked", "per_matrix", 3.0),  # peakier softmax, larger ‖Z‖
]


@pytest.mark.parametrize(("n", "m", "mode", "init", "scale"), FAST_VS_REFERENCE_CASES)
@pytest.mark.parametrize("padded", [False, True])
def test_fast_path_matches_reference_path(n, m, mode, init, scale, padded) -> None:
    """Tolerance 1e-5 of max |out|: both paths measured within 2e-6 of the fp64 result (so their difference is
    fp32 round-off re-associated through Z), and a real bug (a wrong mask, scale or order) gives O(1e-2)."""
    options = {"num_landmarks": m, "landmark_mode": mode, "pinv_init": init, "conv_kernel_size": None}
    fast, reference = nystrom(n, 2, 32, **options), nystrom(n, 2, 32, path="reference", **options)
    q, k, v = (torch.randn(2, 2, n, 32) * s for s in (scale, scale, 1.0))
    mask = None
    if padded:
        mask = torch.ones(2, n, dtype=torch.bool)
        mask[1, n // 2 + 3 :] = False
    real = slice(None) if mask is None else slice(0, n // 2)
    with torch.no_grad():
        out_fast, out_ref = fast(q, k, v, mask)[:, :, real], reference(q, k, v, mask)[:, :, real]
        exact = reference.double()(q.double(), k.double(), v.double(), mask)[:, :, real]
    assert relative_error(out_fast, out_ref) <= 1e-5
    assert relative_error(out_fast.double(), exact) <= 1e-5
    assert relative_error(out_ref.double(), exact) <= 1e-5


class _OutputShapes(TorchDispatchMode):
    """Records the shape of every tensor every aten op returns (below autograd, so SDPA shows its backend op)."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[str, torch.Size]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.shapes += [(str(func), t.shape) for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        return out


@pytest.mark.parametrize("padded", [False, True])
def test_fast_path_never_materialises_an_n_by_m_matrix(padded: bool) -> None:
    """The fast path's largest tensor is V-sized (B·H·n·d, d = m / 4 here): no op returns anything with the
    B·H·n·m elements of kernel_1 or kernel_3 (fused SDPA on the CPU, also with a mask); the reference path
    does return [B, H, n, m], so the check can fail."""
    batch, heads, n, m, dim = 2, 2, 512, 32, 8
    q, k, v = (torch.randn(batch, heads, n, dim, requires_grad=True) for _ in range(3))
    mask = None
    if padded:
        mask = torch.ones(batch, n, dtype=torch.bool)
        mask[1, 300:] = False
    largest = {}
    for path in ("fast", "reference"):
        attn = nystrom(n, heads, dim, num_landmarks=m, path=path)
        recorder = _OutputShapes()
        with recorder:
            attn(q, k, v, mask)
        largest[path] = max(shape.numel() for _, shape in recorder.shapes)
        if path == "reference":
            assert any(shape == (batch, heads, n, m) for _, shape in recorder.shapes)
    assert largest["fast"] < batch * heads * n * m <= largest["reference"], largest


# --- approximation quality ---------------------------------------------------------------------------------


def smooth_sequence(heads: int, n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """Random low-frequency signals along the sequence: locally similar tokens, where segment means are good
    landmarks (on i.i.d. noise no low-rank method can approximate softmax attention)."""
    t = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    freqs = torch.arange(1, 5, dtype=torch.float64)[None]
    basis = torch.cat([torch.sin(2 * math.pi * t * freqs), torch.cos(2 * math.pi * t * freqs)], dim=1)
    return torch.stack([basis @ torch.randn(8, dim, dtype=torch.float64, generator=generator) for _ in range(heads)])


def test_error_vs_exact_softmax_shrinks_as_landmarks_grow() -> None:
    n, heads, dim = 1024, 2, 32
    generator = torch.Generator().manual_seed(0)
    q, k, v = (smooth_sequence(heads, n, dim, generator)[None] for _ in range(3))
    exact = F.scaled_dot_product_attention(q, k, v)
    errors = []
    for m in (2, 16, 32, 64):
        attn = nystrom(n, heads, dim, num_landmarks=m, conv_kernel_size=None).double()
        errors.append(((attn(q, k, v) - exact).norm() / exact.norm()).item())
    assert errors == sorted(errors, reverse=True), errors
    assert errors[0] > 1.0 and errors[-1] < 0.02, errors  # measured: 3.35, 0.24, 0.011, 0.0078


@pytest.mark.parametrize("m", [256, 300])
def test_exact_when_landmarks_cover_the_sequence(m: int) -> None:
    q, k, v = (torch.randn(2, 2, 256, 16) for _ in range(3))
    attn = nystrom(256, 2, 16, num_landmarks=m, conv_kernel_size=None)
    assert relative_error(attn(q, k, v), F.scaled_dot_product_attention(q, k, v)) <= 1e-5


# --- landmarks ---------------------------------------------------------------------------------------------


def test_ragged_segments_need_no_padding() -> None:
    from attention_zoo._landmarks import segment_means

    x = torch.arange(10, dtype=torch.float32).view(1, 1, 10, 1)
    # n = 10, m = 4: the first m - n % m = 2 segments hold 2 tokens, the last 2 hold 3.
    expected = torch.tensor([0.5, 2.5, 5.0, 8.0]).view(1, 1, 4, 1)
    torch.testing.assert_close(segment_means(x, 4), expected)


def test_masked_segment_means_use_only_real_tokens() -> None:
    from attention_zoo._landmarks import masked_segment_means, segment_means

    n, m = 40, 4
    x = torch.randn(3, 2, n, 5, dtype=torch.float64)
    mask = torch.rand(3, n) < 0.6  # interior pads anywhere
    mask[2] = True
    zeroed = torch.where(mask[:, None, :, None], x, 0.0)
    actual = masked_segment_means(zeroed, m, mask)
    for b in range(3):
        real_tokens = x[b : b + 1, :, mask[b]]
        torch.testing.assert_close(actual[b : b + 1], segment_means(real_tokens, m))


# --- padding invariance and batch independence (default masked mode) -----------------------------------------


def fill_pads(x: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    return torch.where(mask[:, None, :, None], x, torch.full_like(x, value))


@pytest.mark.parametrize("path", ["fast", "reference"])
@pytest.mark.parametrize("side", ["right", "left", "both"])
def test_padding_does_not_change_real_outputs(path: str, side: str) -> None:
    """Conv on: invariant for any contiguous run of real tokens (the documented condition)."""
    n, m, heads, dim = 256, 32, 2, 16
    lengths = [256, 200, 137, 20]  # 20 < m: that example is attended exactly, as it would be unpadded
    attn = nystrom(n, heads, dim, num_landmarks=m, path=path)  # conv on: pads act as the conv's zero padding
    examples = [[torch.randn(1, heads, length, dim) for _ in range(3)] for length in lengths]
    mask = torch.zeros(len(lengths), n, dtype=torch.bool)
    batch = [torch.randn(len(lengths), heads, n, dim) for _ in range(3)]
    for b, length in enumerate(lengths):
        start = {"right": 0, "left": n - length, "both": (n - length) // 2}[side]
        span = slice(start, start + length)
        mask[b, span] = True
        for tensor, example in zip(batch, examples[b], strict=True):
            tensor[b, :, span] = example[0]
    with torch.no_grad():
        for pad_value in (float("nan"), float("inf"), 1e4):
            out = attn(*(fill_pads(t, mask, pad_value) for t in batch), mask)
            assert torch.isfinite(out).all()
            for b, length in enumerate(lengths):
                alone = attn(*examples[b])
                real = out[b : b + 1, :, mask[b]]
                assert relative_error(real, alone) <= 1e-5, (pad_value, length)


def test_amount_and_place_of_padding_do_not_matter_without_conv() -> None:
    heads, dim, m = 2, 16, 16
    q, k, v = (torch.randn(1, heads, 100, dim) for _ in range(3))
    attn = nystrom(400, heads, dim, num_landmarks=m, conv_kernel_size=None)
    with torch.no_grad():
        alone = attn(q, k, v)
        for n in (128, 400):
            positions = torch.randperm(n)[:100].sort().values  # real tokens scattered among interior pads
            mask = torch.zeros(1, n, dtype=torch.bool)
            mask[0, positions] = True
            padded = [torch.randn(1, heads, n, dim) for _ in range(3)]
            for tensor, source in zip(padded, (q, k, v), strict=True):
                tensor[:, :, positions] = source
            assert relative_error(attn(*padded, mask)[:, :, positions], alone) <= 1e-5


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_with_the_conv_on_pads_between_real_tokens_change_only_the_conv_term(path: str) -> None:
    """Pins the documented limit of the invariance: interior pads break the conv neighbourhoods (an O(1)
    change), and the whole change is the conv's: the attention term stays invariant."""
    heads, dim, n = 2, 16, 160
    q, k, v = (torch.randn(1, heads, 100, dim) for _ in range(3))
    attn = nystrom(n, heads, dim, num_landmarks=16, path=path)
    positions = torch.randperm(n)[:100].sort().values
    mask = torch.zeros(1, n, dtype=torch.bool)
    mask[0, positions] = True
    padded = [torch.zeros(1, heads, n, dim) for _ in range(3)]
    for tensor, source in zip(padded, (q, k, v), strict=True):
        tensor[:, :, positions] = source
    with torch.no_grad():
        alone = attn(q, k, v)
        out = attn(*padded, mask)[:, :, positions]
        conv_alone = attn.conv(v)
        conv_padded = attn.conv(padded[2])[:, :, positions]
    assert relative_error(out, alone) > 0.1
    assert relative_error(out - conv_padded, alone - conv_alone) <= 1e-5


def test_official_mode_is_not_padding_invariant() -> None:
    """The reason the masked mode exists: official landmarks average pads in as zeros."""
    q, k, v = (torch.randn(1, 2, 200, 16) for _ in range(3))
    attn = nystrom(256, 2, 16, num_landmarks=16, landmark_mode="official", conv_kernel_size=None)
    padded = [F.pad(t, (0, 0, 0, 56)) for t in (q, k, v)]
    mask = torch.arange(256)[None] < 200
    with torch.no_grad():
        assert relative_error(attn(*padded, mask)[:, :, :200], attn(q, k, v)) > 1e-3


def test_per_matrix_init_keeps_examples_independent() -> None:
    n = 256
    q, k, v = (torch.randn(4, 2, n, 16) for _ in range(3))
    q[1:], k[1:] = q[1:] * 4, k[1:] * 4  # batch-mates with very different softmax sharpness
    for init, independent in (("per_matrix", True), ("original", False)):
        attn = nystrom(n, 2, 16, num_landmarks=16, pinv_init=init, conv_kernel_size=None)
        with torch.no_grad():
            error = relative_error(attn(q, k, v)[:1], attn(q[:1], k[:1], v[:1]))
        assert (error <= 1e-6) == independent, (init, error)


def test_any_memory_layout_gives_the_same_result() -> None:
    q, k, v = projection_layout(2, 2, 300, 16)
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[0, 250:] = False
    attn = nystrom(300, 2, 16, num_landmarks=32)
    with torch.no_grad():
        strided = attn(q, k, v, mask)
        contiguous = attn(q.contiguous(), k.contiguous(), v.contiguous(), mask)
    torch.testing.assert_close(strided, contiguous, rtol=1e-5, atol=1e-6)


# --- gradients and precision -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["fast", "reference"])
@pytest.mark.parametrize("mode", ["masked", "official"])
def test_gradcheck_float64(path: str, mode: str) -> None:
    n, heads, dim = 13, 2, 3
    attn = nystrom(n, heads, dim, num_landmarks=4, conv_kernel_size=5, landmark_mode=mode, path=path).double()
    q, k, v = (torch.randn(3, heads, n, dim, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.ones(3, n, dtype=torch.bool)
    mask[1, 9:] = False
    mask[2, 3:] = False  # shorter than m: the exact fallback is differentiated too
    assert torch.autograd.gradcheck(lambda a, b, c: attn(a, b, c, mask), (q, k, v), fast_mode=True)


def test_gradients_reach_inputs_and_conv_weights() -> None:
    q, k, v = (t.clone().requires_grad_() for t in projection_layout(2, 2, 500, 16))
    mask = torch.ones(2, 500, dtype=torch.bool)
    mask[1, 300:] = False
    attn = nystrom(500, 2, 16)
    (attn(q, k, v, mask) * mask[:, None, :, None]).square().sum().backward()
    for grad in (q.grad, k.grad, v.grad, attn.conv.weight.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_fast_conv_matches_conv2d_with_gradients() -> None:
    from attention_zoo._conv import add_depthwise_sequence_conv

    for n, kernel in ((50, 5), (7, 9), (70, 35)):  # kernel longer than n; n not a multiple of the block
        base = torch.randn(2, 2, n, 2, dtype=torch.float64, requires_grad=True)
        v = torch.randn(2, 2, n, 2, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(2, 1, kernel, 1, dtype=torch.float64, requires_grad=True)
        expected = base + F.conv2d(v, weight, padding=(kernel // 2, 0), groups=2)
        torch.testing.assert_close(add_depthwise_sequence_conv(base, v, weight), expected)
        assert torch.autograd.gradcheck(add_depthwise_sequence_conv, (base, v, weight))


def test_bf16_at_16k_is_finite_and_close_to_fp32() -> None:
    """Measured on a 2-core CPU: 5.8e-3 of max |out| (bf16 rounds at 3.9e-3); bound 2e-2."""
    n = 16384
    q, k, v = projection_layout(1, 2, n, 32)
    attn = nystrom(n, 2, 32)
    with torch.no_grad():
        reference = attn(q, k, v)
        out = attn(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert relative_error(out.float(), reference) <= 2e-2


def test_fp16_is_finite_and_close_to_fp32() -> None:
    """Measured 5.2e-4 of max |out| at n = 4096; bound 5e-3."""
    q, k, v = projection_layout(1, 2, 4096, 32)
    attn = nystrom(4096, 2, 32)
    with torch.no_grad():
        out = attn(q.half(), k.half(), v.half())
        assert torch.isfinite(out).all()
        assert relative_error(out.float(), attn(q, k, v)) <= 5e-3


def test_half_precision_backward_is_finite() -> None:
    q, k, v = (t.bfloat16().requires_grad_() for t in projection_layout(2, 2, 1024, 16))
    attn = nystrom(1024, 2, 16).bfloat16()
    attn(q, k, v).float().square().mean().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_pseudoinverse_stays_fp32_under_autocast(path: str, monkeypatch) -> None:
    """Autocast would run the Newton–Schulz matmuls in bf16 (where the iteration diverges); the island stops it."""
    import attention_zoo.nystrom as module

    seen = []

    def spy(a, iterations, init):
        z = newton_schulz_pinv(a, iterations, init)
        seen.append((a.dtype, z.dtype))
        return z

    newton_schulz_pinv = module.newton_schulz_pinv
    monkeypatch.setattr(module, "newton_schulz_pinv", spy)
    q, k, v = projection_layout(1, 2, 512, 16)
    attn = nystrom(512, 2, 16, num_landmarks=32, path=path)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        out = attn(q, k, v)
    assert seen == [(torch.float32, torch.float32)]
    assert relative_error(out.float(), attn(q, k, v).detach()) <= 2e-2
