"""The LRA model: shapes, padding, the shared-QK projection, the dual encoder, parameter counts."""

from __future__ import annotations

import pytest
import torch

from lra.model import build_model, count_parameters
from lra.model.attention_layer import MultiHeadAttention

SIZES = {"dim": 64, "depth": 2, "num_heads": 2, "head_dim": 32, "ffn_dim": 128, "dropout": 0.1, "head_hidden": 128}


def model_for(attention: str, *, dual: bool = False, pooling: str = "mean", max_length: int = 256, **options):
    return build_model(
        vocab_size=20,
        num_classes=10,
        max_length=max_length,
        dual=dual,
        model={**SIZES, "pooling": pooling},
        attention={"name": attention, "options": options},
    )


def test_default_model_matches_the_nystromformer_lra_model_size() -> None:
    """2 layers, dim 64, FFN 128, 2 heads × 32: count the official model's parameters by hand."""
    vocab, length, classes, dim, ffn = 20, 256, 10, 64, 128
    embeddings = vocab * dim + length * dim
    block = 2 * 2 * dim + (dim * 3 * dim + 3 * dim) + (dim * dim + dim) + (dim * ffn + ffn) + (ffn * dim + dim)
    head = dim * 128 + 128 + 128 * classes + classes
    expected = embeddings + 2 * block + 2 * dim + head
    assert count_parameters(model_for("softmax")) == expected
    assert count_parameters(model_for("nystrom", conv_kernel_size=35)) == expected + 2 * 2 * 35


@pytest.mark.parametrize("attention", ["softmax", "nystrom"])
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_the_logits(attention: str, pooling: str) -> None:
    model = model_for(attention, pooling=pooling, num_landmarks=16) if attention == "nystrom" else model_for(attention)
    model.eval()
    ids = torch.randint(1, 20, (1, 100))
    padded = torch.cat([ids, torch.randint(0, 20, (1, 156))], dim=1)  # garbage, not zeros, after the real tokens
    with torch.no_grad():
        alone = model(ids, torch.tensor([100]))
        in_padding = model(padded, torch.tensor([100]))
    torch.testing.assert_close(in_padding, alone, rtol=1e-4, atol=1e-5)


def test_dual_encoder_uses_one_encoder_and_the_four_features() -> None:
    model = model_for("softmax", dual=True).eval()
    assert model.head[0].in_features == 4 * 64
    ids = torch.randint(1, 20, (3, 2, 50))
    lengths = torch.tensor([[50, 20], [10, 50], [33, 33]])
    with torch.no_grad():
        logits = model(ids, lengths)
        u = model.encoder(ids[:, 0], lengths[:, 0])
        v = model.encoder(ids[:, 1], lengths[:, 1])
        expected = model.head(torch.cat([u, v, u * v, u - v], dim=-1))
    torch.testing.assert_close(logits, expected)
    swapped = model(ids.flip(1), lengths.flip(1))
    assert not torch.allclose(swapped, logits)  # u − v is not symmetric


def test_shared_qk_attentions_get_one_projection_for_queries_and_keys(monkeypatch) -> None:
    import attention_zoo.softmax as softmax_module

    monkeypatch.setattr(softmax_module.SoftmaxAttention, "shared_qk", True)
    seen = {}
    layer = MultiHeadAttention(
        dim=16, num_heads=2, head_dim=8, max_seq_len=32, attention="softmax", attention_options={}, dropout=0.0
    )
    original = layer.attention.forward

    def spy(q, k, v, key_padding_mask=None):
        seen["same"] = q.data_ptr() == k.data_ptr() and torch.equal(q, k)
        return original(q, k, v, key_padding_mask)

    layer.attention.forward = spy
    assert layer.in_proj.out_features == 2 * 16
    layer(torch.randn(2, 32, 16), None)
    assert seen["same"]


def test_gradients_reach_every_parameter() -> None:
    model = model_for("nystrom", num_landmarks=16)
    ids = torch.randint(1, 20, (4, 256))
    loss = model(ids, torch.tensor([256, 200, 100, 30])).logsumexp(-1).mean()
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
