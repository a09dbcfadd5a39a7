"""Reformer (LSH): exact limit, parity with reformer-pytorch, padding, any length, determinism, shared QK."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from reformer_pytorch.reformer_pytorch import LSHAttention

from attention_zoo import attention_options, build_attention
from attention_zoo.reformer import ReformerAttention
from lra.bench.peers import build_runner
from tests.helpers import projection_layout, relative_error


def reformer(max_len: int, heads: int = 2, dim: int = 16, **options) -> ReformerAttention:
    return build_attention("reformer", num_heads=heads, head_dim=dim, max_seq_len=max_len, **options)


def exact_shared_qk(qk: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Shared-QK attention: q · (k/‖k‖)/√d, a token sees itself only if no other key is available."""
    n, dim = qk.shape[2], qk.shape[3]
    logits = qk @ F.normalize(qk, dim=-1).transpose(-1, -2) / math.sqrt(dim)
    if mask is not None:
        logits = logits.masked_fill(~mask[:, None, None, :], -math.inf)
    logits = logits.masked_fill(torch.eye(n, dtype=torch.bool), -5e4)
    return logits.softmax(dim=-1) @ v


def test_options_defaults_and_shared_qk_flag() -> None:
    assert attention_options("reformer") == {"num_hashes": 2, "bucket_size": 64, "num_buckets": None, "seed": None}
    assert ReformerAttention.shared_qk and not type(build_attention("linformer", **_dims())).shared_qk


def _dims() -> dict:
    return {"num_heads": 2, "head_dim": 16, "max_seq_len": 64}


@pytest.mark.parametrize("num_hashes", [1, 3])
@pytest.mark.parametrize("n", [50, 64])
def test_one_bucket_covering_the_sequence_is_exact_shared_qk_attention(n: int, num_hashes: int) -> None:
    attn = reformer(64, bucket_size=64, num_hashes=num_hashes, seed=0)
    qk, _, v = projection_layout(2, 2, n, 16)
    mask = torch.ones(2, n, dtype=torch.bool)
    mask[1, n - 13 :] = False
    with torch.no_grad():
        assert relative_error(attn(qk, qk, v), exact_shared_qk(qk, v)) <= 1e-6
        out, expected = attn(qk, qk, v, mask), exact_shared_qk(qk, v, mask)
    real = mask[:, None, :, None].expand_as(out)
    assert relative_error(out[real], expected[real]) <= 1e-6


@pytest.mark.parametrize(("n", "bucket_size", "num_hashes"), [(256, 16, 1), (512, 32, 2), (512, 32, 4), (1024, 64, 2)])
def test_parity_with_reformer_pytorch_given_the_same_random_rotations(
    n: int, bucket_size: int, num_hashes: int
) -> None:
    """reformer-pytorch ``LSHAttention`` (defaults: duplicates allowed, attend across buckets, rehash each
    round, one rotation for all heads), same global RNG state, so the same random rotations.

    Same algorithm for n a multiple of 2·bucket_size and no mask: rounds sorted jointly by (round, bucket,
    position), chunk look-back crossing round boundaries and wrapping around, self-logit −5e4, logsumexp round
    weights (measured ≤ 5e-7). Differences: with a padding mask it sizes the buckets from the padded length and
    chunks pads with real tokens (ours depends on the real tokens only); it needs n % (2·bucket_size) == 0.
    """
    qk, _, v = projection_layout(2, 2, n, 16)
    ours = reformer(n, num_hashes=num_hashes, bucket_size=bucket_size)
    peer = LSHAttention(bucket_size=bucket_size, n_hashes=num_hashes)
    with torch.no_grad():
        torch.manual_seed(123)
        actual = ours(qk, qk, v)
        torch.manual_seed(123)
        expected = peer(qk.reshape(4, n, 16), v.reshape(4, n, 16))[0].view(2, 2, n, 16)
    assert relative_error(actual, expected) <= 1e-5


def test_parity_through_the_benchmark_adapters() -> None:
    """The adapters feed our qkv to ``LSHSelfAttention`` (queries as shared QK) and to ours alike."""
    n, heads, dim = 512, 2, 16
    options = {"num_hashes": 2, "bucket_size": 32}
    ours = build_runner("reformer", heads, dim, n, options)
    peer = build_runner("peer:lucidrains-reformer", heads, dim, n, options)
    qkv = torch.randn(1, n, 3, heads, dim)
    with torch.no_grad():
        torch.manual_seed(7)
        expected = ours(qkv).transpose(1, 2).reshape(1, n, heads * dim)
        torch.manual_seed(7)
        assert relative_error(peer(qkv), expected) <= 1e-5


def test_hash_is_argmax_over_plus_and_minus_rotations() -> None:
    """h(x) = argmax([xR; −xR]) per round, with b = n_pad / bucket_size buckets (reformer-pytorch's hash)."""
    attn = reformer(300, num_hashes=3, bucket_size=16, seed=4)
    qk = torch.randn(2, 2, 300, 16)
    buckets = attn.hash(qk, attn.rotations, None)  # n_pad = 320, b = 20
    rotated = torch.einsum("bhnd,dri->bhrni", qk, attn.rotations[..., :10])
    expected = torch.cat([rotated, -rotated], dim=-1).argmax(dim=-1)
    assert buckets.shape == (2, 2, 3, 300) and torch.equal(buckets, expected)


def _pad(t: torch.Tensor, mask: torch.Tensor, fill: float) -> torch.Tensor:
    """Spread ``t [B, H, L, d]`` over the True positions of ``mask [B, n]``; fill the rest."""
    out = torch.full((*t.shape[:2], mask.shape[1], t.shape[3]), fill)
    for b in range(t.shape[0]):
        out[b, :, mask[b]] = t[b, :, : int(mask[b].sum())]
    return out


@pytest.mark.parametrize(("n", "layout"), [(200, "right"), (260, "right"), (260, "random")])
@pytest.mark.parametrize("fill", [float("nan"), float("inf"), 3.0])
def test_outputs_at_real_tokens_ignore_pad_content_amount_and_place(n: int, layout: str, fill: float) -> None:
    """Each example of L real tokens behaves as if unpadded: hashing with its own b = n_pad(L)/bucket_size,
    tokens ranked among real tokens, its own wrap-around; pads only ever meet −inf logits."""
    lengths = [150, 77, 1]
    attn = reformer(300, num_hashes=2, bucket_size=16, seed=2)
    qk, _, v = projection_layout(3, 2, 150, 16)
    with torch.no_grad():
        alone = [attn(qk[b : b + 1, :, :L], qk[b : b + 1, :, :L], v[b : b + 1, :, :L]) for b, L in enumerate(lengths)]
        mask = torch.zeros(3, n, dtype=torch.bool)
        for b, length in enumerate(lengths):
            place = torch.randperm(n)[:length] if layout == "random" else torch.arange(length)
            mask[b, place] = True
        qk_padded, v_padded = _pad(qk, mask, fill), _pad(v, mask, fill)
        out = attn(qk_padded, qk_padded, v_padded, mask)
    assert torch.isfinite(out).all() and (out[~mask[:, None, :, None].expand_as(out)] == 0).all()
    for b in range(len(lengths)):
        assert relative_error(out[b, :, mask[b]], alone[b][0]) <= 1e-6
    assert torch.equal(alone[2][0], v[2, :, :1])  # a lone token has nothing else: it attends to itself


@pytest.mark.parametrize("n", [1, 63, 100, 129, 300])
def test_any_length_equals_the_same_tokens_padded_with_a_mask(n: int) -> None:
    """Internal padding (n_pad = ⌈n/2·bucket⌉·2·bucket, pads masked after sorting) is what a mask does too."""
    attn = reformer(300, num_hashes=2, bucket_size=16, seed=3)
    qk, _, v = projection_layout(1, 2, n, 16)
    mask = torch.arange(300)[None, :] < n
    with torch.no_grad():
        out = attn(qk, qk, v)
        qk_padded = F.pad(qk, (0, 0, 0, 300 - n))
        padded = attn(qk_padded, qk_padded, F.pad(v, (0, 0, 0, 300 - n)), mask)
    assert out.shape == qk.shape and torch.isfinite(out).all()
    assert relative_error(padded[:, :, :n], out) <= 1e-6


@pytest.mark.parametrize(
    ("num_buckets", "n", "expected"),
    [
        # "auto": Hugging Face's 2^(bitlen(2·N/64) − 1) on N = n rounded up to a power of two (the LRA code's
        # input length): 32 / 64 / 128 buckets for the reformer-2 baseline at n = 1024 / 2048 / 4096.
        ("auto", 1000, 32),
        ("auto", 1024, 32),
        ("auto", 1025, 64),
        ("auto", 2000, 64),
        ("auto", 4000, 128),
        ("auto", 4096, 128),
        (None, 1000, 16),  # default: n_pad / bucket_size, n_pad = 1024
        (None, 4096, 64),
        (6, 1000, 6),
        (6, 4096, 6),
    ],
)
def test_num_buckets_sets_the_hash_range(num_buckets, n: int, expected: int) -> None:
    """The buckets are argmax([xR; −xR]) over the first b/2 columns of R, for the b the option asks for."""
    attn = reformer(4096, heads=1, dim=8, num_hashes=2, num_buckets=num_buckets, seed=0)
    assert 2 * attn.half_buckets(n) == expected
    qk = torch.randn(1, 1, n, 8)
    buckets = attn.hash(qk, attn.rotations, None)
    rotated = torch.einsum("bhnd,dri->bhrni", qk, attn.rotations[..., : expected // 2])
    assert torch.equal(buckets, torch.cat([rotated, -rotated], dim=-1).argmax(dim=-1))
    assert expected // 2 <= buckets.max() < expected  # ids of the negative half are offset by b/2


def test_fixed_and_auto_buckets_keep_outputs_independent_of_pad_content_and_place() -> None:
    """A fixed b keeps full padding invariance; "auto" follows the input length n as the reference does, so
    only crossing a power of two changes the result (1000 → 1100 tokens with bucket_size 32: 64 → 128 buckets)."""
    qk, _, v = projection_layout(1, 2, 700, 16)
    for num_buckets in (8, "auto"):
        attn = reformer(1100, num_hashes=2, bucket_size=32, num_buckets=num_buckets, seed=5)
        with torch.no_grad():
            results = {}
            for n, fill, layout in ((1000, 0.0, "right"), (1000, float("nan"), "random"), (1100, 0.0, "right")):
                mask = torch.zeros(1, n, dtype=torch.bool)
                mask[0, torch.randperm(n)[:700] if layout == "random" else torch.arange(700)] = True
                qk_padded, v_padded = _pad(qk, mask, fill), _pad(v, mask, fill)
                results[(n, layout)] = attn(qk_padded, qk_padded, v_padded, mask)[:, :, mask[0]]
        assert relative_error(results[(1000, "random")], results[(1000, "right")]) <= 1e-6
        changed = relative_error(results[(1100, "right")], results[(1000, "right")])
        assert (changed <= 1e-6) == (num_buckets == 8), (num_buckets, changed)


def test_determinism_given_a_seed() -> None:
    qk, _, v = projection_layout(2, 2, 256, 16)
    with torch.no_grad():
        a = reformer(256, bucket_size=16, seed=1)
        assert torch.equal(a(qk, qk, v), a(qk, qk, v))  # fixed rotations: every call hashes the same way
        assert torch.equal(a(qk, qk, v), reformer(256, bucket_size=16, seed=1)(qk, qk, v))
        assert not torch.equal(a(qk, qk, v), reformer(256, bucket_size=16, seed=2)(qk, qk, v))
        fresh = reformer(256, bucket_size=16)  # seed None: new rotations per call from the global RNG
        assert not torch.equal(fresh(qk, qk, v), fresh(qk, qk, v))
        torch.manual_seed(5)
        first = fresh(qk, qk, v)
        torch.manual_seed(5)
        assert torch.equal(fresh(qk, qk, v), first)
    assert "rotations" not in a.state_dict()  # recomputed from the seed, not checkpointed


def test_a_token_never_attends_to_itself_while_others_are_available() -> None:
    """Also across round boundaries (look-back into the previous round's last chunk) and the wrap-around."""
    attn = reformer(256, heads=1, num_hashes=4, bucket_size=16, seed=0)
    qk = torch.randn(1, 1, 256, 16) * 4  # sharp attention: a self-match would dominate
    with torch.no_grad():
        weights = _attention_matrix(attn, qk)
    assert weights.diagonal(dim1=-2, dim2=-1).abs().max() == 0
    assert torch.allclose(weights.sum(dim=-1), torch.ones(1, 1, 256), atol=1e-5)


def _attention_matrix(attn: ReformerAttention, qk: torch.Tensor) -> torch.Tensor:
    """The effective attention weights (n×n), by attending to one-hot values in blocks of 16 columns."""
    n = qk.shape[2]
    columns = []
    for start in range(0, n, 16):
        v = torch.zeros(1, 1, n, 16)
        v[0, 0, start : start + 16] = torch.eye(16)
        columns.append(attn(qk, qk, v))
    return torch.cat(columns, dim=-1)


def test_gradients_float64() -> None:
    """Deterministic given a seed, so gradcheck applies (the hash is piecewise constant in q)."""
    attn = reformer(40, heads=2, dim=4, num_hashes=2, bucket_size=4, seed=1).double()
    qk, _, v = (t.double().requires_grad_() for t in projection_layout(2, 2, 37, 4))
    mask = torch.ones(2, 37, dtype=torch.bool)
    mask[1, 25:] = False
    assert torch.autograd.gradcheck(lambda qk, v: attn(qk, qk, v, mask), (qk, v), fast_mode=True)
    assert torch.autograd.gradcheck(lambda qk, v: attn(qk, qk, v), (qk, v), fast_mode=True)


def test_bf16_is_finite_and_close_to_fp32_on_the_same_values() -> None:
    """Compared on the bf16-rounded inputs: LSH is discontinuous, rounding q moves some tokens across a hash
    boundary and re-chunks the sorted order (measured: 54% of the outputs at n = 700 change by > 1e-3 between
    fp32 inputs and their bf16 rounding), so the bound is for the arithmetic: measured 2.5e-3; bound 2e-2."""
    qk, _, v = projection_layout(2, 2, 2048, 32)
    qk, v = qk.bfloat16(), v.bfloat16()
    attn = reformer(2048, 2, 32, seed=0)
    with torch.no_grad():
        out = attn(qk, qk, v)
        qk32 = qk.float()
        reference = attn(qk32, qk32, v.float())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert relative_error(out.float(), reference) <= 2e-2


def test_keys_must_be_the_queries() -> None:
    attn = reformer(64, seed=0)
    qk, k, v = projection_layout(1, 2, 64, 16)
    with pytest.raises(ValueError, match="shared_qk = True"):
        attn(qk, k, v)
    with pytest.raises(ValueError, match="shared_qk = True"):
        attn(qk, qk.clone(), v)
    same_memory = qk.view_as(qk)  # another view object of the same memory and layout is accepted
    assert torch.equal(attn(qk, same_memory, v), attn(qk, qk, v))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_hashes": 0}, "num_hashes must be a positive integer"),
        ({"bucket_size": 0}, "bucket_size must be a positive integer"),
        ({"bucket_size": -64}, "bucket_size must be a positive integer"),
        ({"bucket_size": 32.0}, "bucket_size must be a positive integer"),
        ({"bucket_size": True}, "bucket_size must be a positive integer"),
        ({"seed": -3}, "seed must be a non-negative integer"),
        ({"num_buckets": 3}, "num_buckets must be None, 'auto' or an even integer >= 2"),
        ({"num_buckets": 0}, "num_buckets must be None, 'auto' or an even integer"),
        ({"num_buckets": 8.0}, "num_buckets must be None, 'auto' or an even integer"),
        ({"num_buckets": "Auto"}, "num_buckets must be None, 'auto' or an even integer"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_attention("reformer", num_heads=2, head_dim=4, max_seq_len=16, **options)
