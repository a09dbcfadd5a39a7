"""Performer (FAVOR+): convergence to softmax, padding, redraws, checkpoints, precision, performer-pytorch parity."""

from __future__ import annotations

import functools
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from attention_zoo import attention_options, build_attention
from attention_zoo.performer import PerformerAttention, orthogonal_gaussian_features
from lra.bench.peers import build_runner
from tests.helpers import projection_layout, relative_error

# performer-pytorch imports distutils' LooseVersion at import time.
pytestmark = pytest.mark.filterwarnings("ignore:distutils Version classes are deprecated:DeprecationWarning")


def performer(max_len: int, heads: int = 2, dim: int = 16, **options) -> PerformerAttention:
    return build_attention("performer", num_heads=heads, head_dim=dim, max_seq_len=max_len, **options)


def test_options_and_defaults() -> None:
    assert attention_options("performer") == {
        "kernel": "softmax",
        "num_features": 256,
        "redraw_interval": 1000,
        "seed": None,
        "feature_eps": None,
    }
    assert performer(16).feature_eps == 0.0 and performer(16, kernel="relu").feature_eps == 1e-3
    assert performer(16, kernel="relu", feature_eps=0).feature_eps == 0.0


def test_error_against_softmax_falls_with_the_number_of_features() -> None:
    """FAVOR+ is unbiased up to normalisation, so the error shrinks like 1/√m.

    n = 256, d = 16, q and k ~ N(0, 0.25), 8 seeds per m. Measured mean relative (Frobenius) error
    0.54 / 0.31 / 0.20 / 0.10 / 0.053 at m = 16 / 64 / 256 / 1024 / 4096 (spread between seeds ≤ 0.09).
    Bounds: every step lowers the mean, 4096 features beat 256 by ≥ 2.5× (1/√16 = 4× in theory, 3.8×
    measured) and stay below 0.08. Scaling by d^(-1/4) twice (the mlpen Performer bug, temperature 1/d)
    plateaus instead: measured 0.21 / 0.17 / 0.17 at m = 16 / 256 / 4096, which fails the bounds.
    """
    q, k, v = projection_layout(1, 2, 256, 16)
    q, k = q * 0.5, k * 0.5
    exact = F.scaled_dot_product_attention(q, k, v)
    means = []
    for m in (16, 64, 256, 1024, 4096):
        errors = []
        for seed in range(8):
            attn = performer(256, num_features=m, seed=seed).eval()
            with torch.no_grad():
                out = attn(q, k, v)
            errors.append(((out - exact).norm() / exact.norm()).item())
        means.append(sum(errors) / len(errors))
    assert all(later < earlier for earlier, later in itertools.pairwise(means)), means
    assert means[-1] * 2.5 <= means[2], means
    assert means[-1] <= 0.08, means


def test_features_are_orthogonal_blocks_with_chi_norms() -> None:
    generator = torch.Generator().manual_seed(0)
    omega = orthogonal_gaussian_features(80, 16, generator).double()  # 5 blocks of 16 rows
    directions = omega / omega.norm(dim=1, keepdim=True)
    for block in directions.split(16):
        assert torch.allclose(block @ block.T, torch.eye(len(block), dtype=torch.float64), atol=1e-6)
    many = orthogonal_gaussian_features(4096, 16, generator)
    # ‖ω‖ ~ chi(16): mean √2·Γ(8.5)/Γ(8) ≈ 3.9219; 4096 draws give a standard error ≈ 0.011.
    chi_mean = math.sqrt(2) * math.exp(math.lgamma(8.5) - math.lgamma(8))
    assert many.norm(dim=1).mean().item() == pytest.approx(chi_mean, abs=0.05)
    assert many.mean().abs().item() < 0.02  # isotropic: no preferred direction


def _zero_eps_softmax_kernel(monkeypatch) -> None:
    import performer_pytorch.performer_pytorch as module

    monkeypatch.setattr(module, "softmax_kernel", functools.partial(module.softmax_kernel, eps=0.0))


def test_parity_with_performer_pytorch_fast_attention(monkeypatch) -> None:
    """performer-pytorch ``FastAttention`` given our ω (no mask), through the benchmark adapter.

    The estimators are the same (d^(-1/4) on q and k once, exp(ωᵀx − ‖x‖²/2), 1/√m) once its +1e-4 after
    the exp is set to 0: then only the stabiliser constants differ, and they cancel (measured 6e-7 of
    max |out|). With its default eps the outputs differ by 0.32 of max |out| here (q, k ~ N(0, 0.49), d = 32):
    its eps is added after subtracting max ωᵀx but not ‖x‖²/2, so it is large next to the features.
    """
    n, heads, dim = 512, 2, 32
    ours = build_runner("performer", heads, dim, n, {"num_features": 256, "seed": 0})
    peer = build_runner("peer:lucidrains-performer", heads, dim, n, {"num_features": 256})
    peer.module.projection_matrix.copy_(ours.module.features)
    qkv = torch.randn(2, n, 3, heads, dim) * 0.7
    with torch.no_grad():
        expected = ours(qkv)
        default_eps_gap = relative_error(peer(qkv), expected)
        _zero_eps_softmax_kernel(monkeypatch)
        assert relative_error(peer(qkv), expected) <= 1e-5
    assert default_eps_gap > 0.1  # the documented difference is real


def test_relu_kernel_equals_performer_pytorch_generalized_attention() -> None:
    """``kernel="relu"``: performer-pytorch ``FastAttention(generalized_attention=True, kernel_fn=nn.ReLU())``
    given our ω and no mask (its generalized_kernel: ReLU(d^(-1/4)·x ωᵀ) + 1e-3, no stabiliser), to fp32
    round-off; and it is a different kernel from FAVOR+ on the same ω."""
    n, heads, dim = 512, 2, 32
    options = {"kernel": "relu", "num_features": 256}
    ours = build_runner("performer", heads, dim, n, {**options, "seed": 0})
    peer = build_runner("peer:lucidrains-performer", heads, dim, n, options)
    assert peer.module.generalized_attention and isinstance(peer.module.kernel_fn, torch.nn.ReLU)
    peer.module.projection_matrix.copy_(ours.module.features)
    qkv = torch.randn(2, n, 3, heads, dim) * 0.7
    with torch.no_grad():
        expected = peer(qkv)
        assert relative_error(ours(qkv), expected) <= 1e-5
        favor = build_runner("performer", heads, dim, n, {"num_features": 256, "seed": 0})
        assert relative_error(favor(qkv), expected) > 1e-2


@pytest.mark.parametrize("fill", [float("nan"), float("inf")])
def test_relu_kernel_outputs_at_real_positions_ignore_pad_content_and_amount(fill: float) -> None:
    """Pad rows of φ(K) are 0, not φ(0) = ε as with mlpen's zeroed keys, so pads add nothing."""
    n, heads, dim = 80, 2, 16
    attn = performer(n + 40, heads, dim, kernel="relu", seed=2).eval()
    q, k, v = projection_layout(2, heads, n, dim)
    lengths = [n, 45]
    with torch.no_grad():
        alone = [attn(*(t[b : b + 1, :, :length] for t in (q, k, v))) for b, length in enumerate(lengths)]
        for extra in (0, 40):
            mask = torch.arange(n + extra)[None, :] < torch.tensor(lengths)[:, None]
            padded = [F.pad(t, (0, 0, 0, extra)).masked_fill(~mask[:, None, :, None], fill) for t in (q, k, v)]
            out = attn(*padded, mask)
            assert torch.isfinite(out).all()
            for b, length in enumerate(lengths):
                assert relative_error(out[b : b + 1, :, :length], alone[b]) <= 1e-6


def test_feature_eps_reproduces_the_biased_variant_in_its_own_units(monkeypatch) -> None:
    """``feature_eps`` adds a constant after our stabiliser: it moves the output, and pads still get zero rows."""
    q, k, v = projection_layout(1, 2, 128, 16)
    plain, biased = performer(128, seed=3).eval(), performer(128, seed=3, feature_eps=1e-2).eval()
    mask = torch.ones(1, 128, dtype=torch.bool)
    mask[0, 100:] = False
    with torch.no_grad():
        assert relative_error(biased(q, k, v), plain(q, k, v)) > 1e-3
        out = biased(q, k, v, mask)
        alone = biased(q[:, :, :100], k[:, :, :100], v[:, :, :100])
        assert relative_error(out[:, :, :100], alone) <= 1e-6


@pytest.mark.parametrize("extra", [0, 37])
@pytest.mark.parametrize("fill", [float("nan"), float("inf"), 5.0])
def test_outputs_at_real_positions_ignore_pad_content_and_amount(extra: int, fill: float) -> None:
    n, heads, dim = 96, 2, 16
    attn = performer(n + 37, heads, dim, seed=1).eval()
    q, k, v = projection_layout(2, heads, n, dim)
    lengths = [n, 61]
    with torch.no_grad():
        alone = [attn(*(t[b : b + 1, :, :length] for t in (q, k, v))) for b, length in enumerate(lengths)]
        mask = torch.arange(n + extra)[None, :] < torch.tensor(lengths)[:, None]
        padded = [F.pad(t, (0, 0, 0, extra)).masked_fill(~mask[:, None, :, None], fill) for t in (q, k, v)]
        out = attn(*padded, mask)
    assert torch.isfinite(out).all() and (out[~mask[:, None, :, None].expand_as(out)] == 0).all()
    for b, length in enumerate(lengths):
        assert relative_error(out[b : b + 1, :, :length], alone[b]) <= 1e-6


def test_pads_do_not_enter_the_key_stabiliser() -> None:
    """Keys of norm 40 (d = 8): every real ωᵀx − ‖x‖²/2 is far below 0, a zeroed pad's is 0. A key max over
    pads would shift the real features to e^-200 (underflow, output 0); the max over real keys keeps them."""
    n, dim = 48, 8
    q, k, v = projection_layout(1, 1, n, dim)
    k = 40 * k / k.norm(dim=-1, keepdim=True)
    attn = performer(n + 16, heads=1, dim=dim, seed=0).eval()
    mask = torch.arange(n + 16)[None, :] < n
    with torch.no_grad():
        alone = attn(q, k, v)
        out = attn(*(F.pad(t, (0, 0, 0, 16)) for t in (q, k, v)), mask)
    assert alone.abs().max() > 0.1
    assert relative_error(out[:, :, :n], alone) <= 1e-6


def test_an_example_without_real_keys_gives_zeros_and_finite_gradients() -> None:
    attn = performer(32, seed=0).eval()
    q, k, v = (t.requires_grad_() for t in projection_layout(2, 2, 32, 16))
    mask = torch.ones(2, 32, dtype=torch.bool)
    mask[1] = False
    out = attn(q, k, v, mask)
    out.sum().backward()
    assert (out[1] == 0).all() and torch.isfinite(out).all()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_large_query_norms_cannot_underflow(monkeypatch) -> None:
    """‖x‖²/2 is inside our stabiliser, so every feature row peaks at exactly 1 whatever the norm.

    With ‖q‖ = 40 at d = 8, exp(−‖x‖²/2) = e^-283 underflows fp32: performer-pytorch (max of ωᵀx only)
    then returns NaN with eps = 0, and with its default eps = 1e-4 every feature of such a query is eps, so
    its attention no longer depends on the query at all (every row equal).
    """
    n, dim = 64, 8
    q = torch.randn(1, 1, n, dim)
    q = 40 * q / q.norm(dim=-1, keepdim=True)
    k, v = torch.randn(1, 1, n, dim), torch.randn(1, 1, n, dim)
    attn = performer(n, heads=1, dim=dim, seed=0).eval()
    with torch.no_grad():
        phi = attn._features(q, attn.features, query=True)
        out = attn(q, k, v)
    assert torch.equal(phi.amax(dim=-1), torch.ones(1, 1, n))
    assert torch.isfinite(out).all() and relative_error(out, out[:, :, :1].expand_as(out)) > 0.1
    peer = build_runner("peer:lucidrains-performer", 1, dim, n, {"num_features": 256})
    peer.module.projection_matrix.copy_(attn.features)
    qkv = torch.stack([q, k, v]).permute(1, 3, 0, 2, 4)  # [B, n, 3, H, d]
    with torch.no_grad():
        forgotten = peer(qkv)
        assert relative_error(forgotten, forgotten[:, :, :1].expand_as(forgotten)) <= 1e-5
        _zero_eps_softmax_kernel(monkeypatch)
        assert torch.isnan(peer(qkv)).all()


@pytest.mark.parametrize("kernel", ["softmax", "relu"])
def test_gradients_float64(kernel: str) -> None:
    attn = performer(24, heads=2, dim=4, num_features=12, seed=0, kernel=kernel).double().eval()
    q, k, v = (t.double().requires_grad_() for t in projection_layout(2, 2, 24, 4))
    mask = torch.ones(2, 24, dtype=torch.bool)
    mask[0, 19:] = False
    assert torch.autograd.gradcheck(lambda q, k, v: attn(q, k, v, mask), (q, k, v), fast_mode=True)


def test_bf16_is_finite_and_close_to_fp32() -> None:
    """Features, exps and sums in fp32: measured 4e-3 of max |out| at n = 2048 (input rounding); bound 2e-2."""
    q, k, v = projection_layout(2, 2, 2048, 32)
    attn = performer(2048, 2, 32, seed=0).eval()
    with torch.no_grad():
        out = attn(q.bfloat16(), k.bfloat16(), v.bfloat16())
        assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
        assert relative_error(out.float(), attn(q, k, v)) <= 2e-2


def test_fp32_island_under_autocast(monkeypatch) -> None:
    """Autocast would run the feature GEMMs in bf16; the island keeps them (and the exps) in fp32."""
    seen = []
    real_exp = torch.Tensor.exp_

    def spy(self):
        seen.append(self.dtype)
        return real_exp(self)

    monkeypatch.setattr(torch.Tensor, "exp_", spy)
    q, k, v = projection_layout(1, 2, 256, 16)
    attn = performer(256, seed=0).eval()
    with torch.no_grad():
        reference = attn(q, k, v)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = attn(q, k, v)
    assert seen and all(dtype == torch.float32 for dtype in seen)
    assert relative_error(out.float(), reference) <= 1e-5


def _features_after(attn: PerformerAttention, calls: int) -> list[torch.Tensor]:
    q, k, v = projection_layout(1, 2, 8, 16)
    seen = []
    for _ in range(calls):
        attn(q, k, v)
        seen.append(attn.features.clone())
    return seen


def test_redraw_every_interval_training_calls_and_never_in_eval() -> None:
    attn = performer(8, redraw_interval=3, seed=0)
    first = attn.features.clone()
    seen = _features_after(attn, 7)
    assert [torch.equal(f, first) for f in seen] == [True, True, True, False, False, False, False]
    assert torch.equal(seen[3], seen[5]) and not torch.equal(seen[5], seen[6])  # calls 4–6, then call 7
    attn.eval()
    assert all(torch.equal(f, seen[-1]) for f in _features_after(attn, 5))
    frozen = performer(8, redraw_interval=None, seed=0)
    assert all(torch.equal(f, first) for f in _features_after(frozen, 5))


def test_redraw_features_is_deterministic_given_the_seed() -> None:
    a, b, c = performer(8, seed=5), performer(8, seed=5), performer(8, seed=6)
    assert torch.equal(a.features, b.features) and not torch.equal(a.features, c.features)
    a.redraw_features()
    assert not torch.equal(a.features, b.features)
    b.redraw_features()
    assert torch.equal(a.features, b.features)
    torch.manual_seed(1)
    d = performer(8)
    torch.manual_seed(1)
    assert torch.equal(performer(8).features, d.features)  # seed None: fixed by torch.manual_seed


def test_checkpoint_resume_reproduces_features_and_redraw_schedule() -> None:
    """state_dict holds the features (buffer) and the schedule (extra state): a resumed run continues exactly."""
    run = performer(8, redraw_interval=4, seed=11)
    _features_after(run, 6)  # mid-way through the second interval
    checkpoint = run.state_dict()
    assert "features" in checkpoint and checkpoint["_extra_state"]["calls_since_redraw"] == 2
    resumed = performer(8, redraw_interval=4, seed=99)
    resumed.load_state_dict(checkpoint)
    assert torch.equal(resumed.features, run.features)
    continued, again = _features_after(run, 6), _features_after(resumed, 6)
    assert all(torch.equal(x, y) for x, y in zip(continued, again, strict=True))
    assert not torch.equal(continued[0], continued[-1])  # a redraw happened in the compared stretch


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_features": 0}, "num_features must be a positive integer"),
        ({"num_features": -8}, "num_features must be a positive integer"),
        ({"redraw_interval": 0}, "redraw_interval must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"feature_eps": -1e-4}, "feature_eps must be a non-negative float"),
        ({"kernel": "exp"}, r"kernel must be one of \['softmax', 'relu'\]"),
        ({"kernel": None}, "kernel must be one of"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_attention("performer", num_heads=2, head_dim=4, max_seq_len=16, **options)
