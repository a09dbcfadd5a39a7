"""Linformer: exact limit, padding, sharing (incl. the layerwise hook), precision, parity with ``linformer``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attention_zoo import attention_options, build_attention
from attention_zoo.linformer import LinformerAttention
from lra.bench.peers import build_runner
from tests.helpers import projection_layout, relative_error

SHARINGS = ["none", "headwise", "kv", "layerwise"]


def linformer(max_len: int, heads: int = 2, dim: int = 8, **options) -> LinformerAttention:
    if options.get("sharing") == "layerwise" and "shared_projection" not in options:
        options["shared_projection"] = LinformerAttention.make_shared_projection(
            k=options.get("k", 256), max_seq_len=max_len, num_heads=options.get("projection_heads")
        )
    return build_attention("linformer", num_heads=heads, head_dim=dim, max_seq_len=max_len, **options)


def test_options_and_defaults() -> None:
    assert attention_options("linformer") == {
        "k": 256,
        "sharing": "kv",
        "projection_heads": None,
        "shared_projection": None,
    }


@pytest.mark.parametrize("sharing", SHARINGS)
def test_identity_projections_with_k_equal_n_give_exact_attention(sharing: str) -> None:
    """E = F = I (k = n): softmax(Q Kᵀ/√d) V exactly; every sharing mode slices and applies E the same way."""
    n, heads, dim = 96, 2, 16
    attn = linformer(n, heads, dim, k=n, sharing=sharing)
    with torch.no_grad():
        for p in [attn.proj_k, attn.proj_v, attn.shared_projection]:
            if p is not None:
                p.copy_(torch.eye(n).expand_as(p))
    q, k, v = projection_layout(2, heads, n, dim)
    with torch.no_grad():
        assert relative_error(attn(q, k, v), F.scaled_dot_product_attention(q, k, v)) <= 1e-5


def test_projections_are_sliced_to_the_first_n_columns() -> None:
    """A shorter input uses E[:, :n]: the same as a module sized exactly n with those columns."""
    long, n = 300, 200
    attn = linformer(long, k=32, sharing="headwise")
    short = linformer(n, k=32, sharing="headwise")
    with torch.no_grad():
        short.proj_k.copy_(attn.proj_k[:, :n])
        short.proj_v.copy_(attn.proj_v[:, :n])
        q, k, v = projection_layout(2, 2, n, 8)
        assert torch.allclose(attn(q, k, v), short(q, k, v), atol=1e-6)


def _padded(q, k, v, mask, extra: int, fill: float):
    """Append ``extra`` pad positions and overwrite every pad with ``fill``."""
    batch, heads, _, dim = q.shape
    pad = torch.zeros(batch, extra, dtype=torch.bool)
    mask = torch.cat([mask, pad], dim=1)
    out = []
    for t in (q, k, v):
        t = torch.cat([t, torch.zeros(batch, heads, extra, dim)], dim=2)
        out.append(t.masked_fill(~mask[:, None, :, None], fill))
    return (*out, mask)


@pytest.mark.parametrize("sharing", SHARINGS)
def test_outputs_at_real_positions_ignore_pad_content_and_amount(sharing: str) -> None:
    n, heads, dim = 128, 2, 8
    attn = linformer(n + 64, heads, dim, k=32, sharing=sharing)
    q, k, v = projection_layout(3, heads, n, dim)
    mask = torch.ones(3, n, dtype=torch.bool)
    mask[1, 90:] = False
    mask[2, 10:] = False
    with torch.no_grad():
        reference = attn(*_padded(q, k, v, mask, 0, 0.0))
        for extra, fill in [(0, float("nan")), (64, float("inf")), (17, -3.0)]:
            out = attn(*_padded(q, k, v, mask, extra, fill))
            real = mask[:, None, :, None].expand_as(reference)
            assert torch.isfinite(out).all()
            assert relative_error(out[:, :, :n][real], reference[real]) <= 1e-6
            assert (out[:, :, n:] == 0).all() and (out[:, :, :n][~real] == 0).all()
        # An unpadded run of each example agrees: pads add nothing to E K and F V.
        for b, length in enumerate([n, 90, 10]):
            alone = attn(q[b : b + 1, :, :length], k[b : b + 1, :, :length], v[b : b + 1, :, :length])
            assert relative_error(reference[b : b + 1, :, :length], alone) <= 1e-6


def test_pads_anywhere_are_removed_not_just_zeroed() -> None:
    """Real tokens meet E's columns by rank among real tokens: interleaved pads = the same tokens unpadded."""
    n, heads, dim = 64, 2, 8
    attn = linformer(2 * n, heads, dim, k=16)
    q, k, v = projection_layout(1, heads, n, dim)
    mask = torch.zeros(1, 2 * n, dtype=torch.bool)
    mask[0, torch.randperm(2 * n)[:n]] = True  # n real tokens at random places...
    spread = [torch.randn(1, heads, 2 * n, dim) for _ in range(3)]  # ...with random garbage between them
    for target, source in zip(spread, (q, k, v), strict=True):
        target[:, :, mask[0]] = source
    with torch.no_grad():
        out = attn(*spread, mask)[:, :, mask[0]]
        assert relative_error(out, attn(q, k, v)) <= 1e-6


@pytest.mark.parametrize("sharing", ["none", "kv", "layerwise"])
def test_gradients_float64(sharing: str) -> None:
    n, heads, dim = 24, 2, 4
    attn = linformer(n, heads, dim, k=6, sharing=sharing).double()
    if attn.shared_projection is not None:
        attn.shared_projection.data = attn.shared_projection.data.double()
    q, k, v = (t.double().requires_grad_() for t in projection_layout(2, heads, n, dim))
    mask = torch.ones(2, n, dtype=torch.bool)
    mask[1, 17:] = False
    # fast_mode: the Jacobian along random directions (still fails on any wrong gradient), seconds not minutes.
    assert torch.autograd.gradcheck(lambda q, k, v: attn(q, k, v, mask), (q, k, v), fast_mode=True)


def test_bf16_is_finite_and_close_to_fp32() -> None:
    """bf16 GEMMs with fp32 accumulation: measured 6e-3 of max |out| at n = 2048, k = 256; bound 2e-2."""
    q, k, v = projection_layout(2, 2, 2048, 32)
    attn = linformer(2048, 2, 32)
    with torch.no_grad():
        reference = attn(q, k, v)
        out = attn(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert relative_error(out.float(), reference) <= 2e-2


@pytest.mark.parametrize("sharing", ["headwise", "kv"])
def test_parity_with_the_linformer_package(sharing: str) -> None:
    """``linformer`` (lucidrains) through the benchmark adapter, given our q, k, v and our E (transposed).

    Same math: E, F of shape [seq_len, k] sliced to the first n rows, softmax(q (E K)ᵀ · d^-1/2)(F V).
    Differences: its init is U(±1/√k) (ours N(0, 0.02)), it has no key-padding mask and no per-head
    projections, and its ``share_kv`` also ties the key and value *projections* (V = K).
    """
    n, heads, dim, k = 300, 2, 16, 64
    ours = build_runner("linformer", heads, dim, n, {"k": k, "sharing": sharing})
    peer = build_runner("peer:lucidrains-linformer", heads, dim, n, {"k": k, "sharing": sharing})
    with torch.no_grad():
        peer.module.proj_k.copy_(ours.module.proj_k.T)
        if sharing == "headwise":
            peer.module.proj_v.copy_(ours.module.proj_v.T)
        qkv = torch.randn(2, n, 3, heads, dim)
        expected = ours(qkv).transpose(1, 2).reshape(2, n, heads * dim)
        assert relative_error(peer(qkv), expected) <= 1e-5


@pytest.mark.parametrize(("sharing", "count"), [("none", 2 * 2 * 16 * 50), ("headwise", 2 * 16 * 50), ("kv", 16 * 50)])
def test_parameter_count_follows_the_sharing(sharing: str, count: int) -> None:
    attn = linformer(50, k=16, sharing=sharing)
    assert sum(p.numel() for p in attn.parameters()) == count


class _TwoLayers(nn.Module):
    """How a model uses layerwise sharing: it owns one projection and hands it to every layer."""

    def __init__(self, num_heads: int | None = None) -> None:
        super().__init__()
        self.projection = LinformerAttention.make_shared_projection(k=8, max_seq_len=32, num_heads=num_heads)
        self.layers = nn.ModuleList(
            build_attention(
                "linformer", num_heads=2, head_dim=4, max_seq_len=32, k=8, sharing="layerwise",
                projection_heads=num_heads, shared_projection=self.projection,
            )
            for _ in range(2)
        )  # fmt: skip


@pytest.mark.parametrize("num_heads", [None, 2])
def test_layerwise_projection_is_owned_once_by_the_model(num_heads: int | None) -> None:
    model = _TwoLayers(num_heads)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["projection"]  # listed once, under the model's name, not once per layer
    assert list(model.state_dict()) == ["projection"]
    assert all(layer.shared_projection is model.projection for layer in model.layers)
    assert list(model.layers[0].parameters()) == [] and list(model.layers[0].state_dict()) == []
    model.double()  # the model's .to() converts the parameter in place: the layers still see it
    assert all(layer.shared_projection is model.projection for layer in model.layers)
    assert model.layers[1].shared_projection.dtype == torch.float64
    q, k, v = (t.double() for t in projection_layout(1, 2, 20, 4))
    model.layers[0](q, k, v).sum().backward()
    assert model.projection.grad is not None and model.projection.grad[..., 20:].abs().max() == 0
    assert model.projection.std().item() == pytest.approx(0.02, rel=0.2)  # N(0, 0.02), as the per-layer ones
    replacement = LinformerAttention.make_shared_projection(k=8, max_seq_len=32, num_heads=num_heads)
    model.layers[1].set_shared_projection(replacement)  # re-pointing, e.g. after load_state_dict(assign=True)
    assert model.layers[1].shared_projection is replacement
    with pytest.raises(ValueError, match="only used with sharing='layerwise'"):
        linformer(32, k=8).set_shared_projection(replacement)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "k must be a positive integer"),
        ({"k": -4}, "k must be a positive integer"),
        ({"k": 2.5}, "k must be a positive integer"),
        ({"sharing": "layer"}, "sharing must be one of"),
        ({"sharing": "layerwise"}, "needs shared_projection"),
        (
            {"sharing": "kv", "shared_projection": nn.Parameter(torch.zeros(8, 16))},
            "only used with sharing='layerwise'",
        ),
        ({"sharing": "layerwise", "k": 8, "shared_projection": nn.Parameter(torch.zeros(8, 15))}, r"L >= max_seq_len"),
        ({"sharing": "layerwise", "k": 8, "shared_projection": nn.Parameter(torch.zeros(4, 16))}, "k = 8"),
        ({"sharing": "layerwise", "k": 8, "shared_projection": nn.Parameter(torch.zeros(2, 8, 16))}, r"\[k, L\]"),
        (
            {"sharing": "layerwise", "k": 8, "projection_heads": 2, "shared_projection": torch.zeros(3, 8, 16)},
            r"\[num_heads, k, L\] with num_heads = 2",
        ),
        (
            {"sharing": "layerwise", "k": 8, "projection_heads": 2, "shared_projection": torch.zeros(8, 16)},
            r"\[num_heads, k, L\]",
        ),
        ({"sharing": "layerwise", "projection_heads": 3}, "projection_heads must be None .* or num_heads = 2"),
        ({"sharing": "layerwise", "projection_heads": True}, "projection_heads must be None"),
        ({"sharing": "kv", "projection_heads": 2}, "projection_heads is only used with sharing='layerwise'"),
        ({"sharing": "layerwise", "shared_projection": [[0.0]]}, "must be a tensor"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_attention("linformer", num_heads=2, head_dim=4, max_seq_len=16, **options)


def test_per_head_layerwise_projection_applies_each_head_its_own_matrix() -> None:
    """``projection_heads=H``: head h uses E_h for both keys and values (mlpen's E ∈ R^{H×k×n})."""
    n, heads, dim, k = 40, 2, 8, 12
    projection = LinformerAttention.make_shared_projection(k=k, max_seq_len=48, num_heads=heads)
    attn = linformer(48, heads, dim, k=k, sharing="layerwise", projection_heads=heads, shared_projection=projection)
    q, key, v = projection_layout(2, heads, n, dim)
    with torch.no_grad():
        out = attn(q, key, v)
        e = projection[:, :, :n]
        expected = torch.stack(
            [F.scaled_dot_product_attention(q[:, h], e[h] @ key[:, h], e[h] @ v[:, h]) for h in range(heads)], dim=1
        )
        head_0_matrix = F.scaled_dot_product_attention(q[:, 1], e[0] @ key[:, 1], e[0] @ v[:, 1])
    assert relative_error(out, expected) <= 1e-6
    assert relative_error(out[:, 1], head_0_matrix) > 1e-2  # head 1 does not use head 0's matrix


def test_longer_input_than_the_projection_is_rejected() -> None:
    attn = linformer(16, k=4)
    with pytest.raises(ValueError, match="exceeds max_seq_len=16"):
        attn(*projection_layout(1, 2, 17, 8))
