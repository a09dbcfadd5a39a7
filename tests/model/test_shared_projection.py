"""The model hook for layerwise Linformer: one projection owned by the encoder, [k, L] or per head [H, k, L]."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from lra.model import build_model, count_parameters

CONF = Path(__file__).resolve().parents[2] / "conf"
SIZES = {"dim": 32, "depth": 3, "num_heads": 2, "head_dim": 16, "ffn_dim": 64, "dropout": 0.0, "head_hidden": 32}


def linformer_model(model: dict, **options):
    return build_model(
        vocab_size=20,
        num_classes=3,
        max_length=64,
        dual=False,
        model={**model, "pooling": "mean"},
        attention={"name": "linformer", "options": {"k": 8, "sharing": "layerwise", **options}},
    )


@pytest.mark.parametrize(("options", "shape"), [({}, (8, 64)), ({"projection_heads": 2}, (2, 8, 64))])
def test_the_encoder_owns_one_projection_for_all_layers(options: dict, shape: tuple) -> None:
    model = linformer_model(SIZES, **options)
    projection = model.encoder.shared["shared_projection"]
    assert tuple(projection.shape) == shape
    layers = [block.attention.attention for block in model.encoder.blocks]
    assert len(layers) == 3 and all(layer.shared_projection is projection for layer in layers)
    names = [name for name, p in model.named_parameters() if p is projection]
    assert names == ["encoder.shared.shared_projection"]  # registered once, counted once
    per_layer = linformer_model(SIZES, sharing="kv")  # one [k, L] per layer instead
    assert count_parameters(model) - count_parameters(per_layer) == projection.numel() - 3 * 8 * 64
    ids, lengths = torch.randint(1, 20, (2, 64)), torch.tensor([64, 40])
    model(ids, lengths).sum().backward()
    assert projection.grad is not None and projection.grad.abs().sum() > 0


def test_the_reference_config_builds_one_matrix_per_head_of_the_model() -> None:
    """``attention=linformer_layerwise`` (mlpen's linformer-256) follows ``model.num_heads`` by interpolation."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["attention=linformer_layerwise", "model.num_heads=4"])
    options = dict(cfg.attention.options)
    assert options == {"k": 256, "sharing": "layerwise", "projection_heads": 4}
    model = build_model(
        vocab_size=20,
        num_classes=2,
        max_length=300,
        dual=False,
        model=dict(cfg.model),
        attention={"name": cfg.attention.name, "options": options},
    )
    assert tuple(model.encoder.shared["shared_projection"].shape) == (4, 256, 300)


def test_a_per_head_projection_must_match_the_heads() -> None:
    with pytest.raises(ValueError, match=r"projection_heads must be None .* or num_heads = 2"):
        linformer_model(SIZES, projection_heads=4)
