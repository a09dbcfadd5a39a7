"""The registry and the common contract: names, options, and clear errors on bad input."""

from __future__ import annotations

import ast
import pathlib

import pytest
import torch

import attention_zoo
from attention_zoo import attention_options, available_attentions, build_attention

ALL = available_attentions()


def test_registry_lists_the_attentions() -> None:
    assert ALL == ["linformer", "nystrom", "performer", "reformer", "softmax"]
    for name in ALL:  # every registered class is exported under its own name
        cls = type(build_attention(name, num_heads=1, head_dim=4, max_seq_len=8))
        assert cls.__name__ in attention_zoo.__all__ and getattr(attention_zoo, cls.__name__) is cls


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown attention 'flash'.*nystrom.*softmax"):
        build_attention("flash", num_heads=2, head_dim=8, max_seq_len=16)


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) landmarks .*valid options: .*num_landmarks"):
        build_attention("nystrom", num_heads=2, head_dim=8, max_seq_len=16, landmarks=4)


def test_nystrom_options_and_defaults() -> None:
    assert attention_options("nystrom") == {
        "num_landmarks": 64,
        "pinv_iterations": 6,
        "pinv_init": "per_matrix",
        "landmark_mode": "masked",
        "conv_kernel_size": 35,
        "path": "fast",
    }


@pytest.mark.parametrize("name", ALL)
def test_every_attention_documents_its_options_and_cost(name: str) -> None:
    cls = type(build_attention(name, num_heads=1, head_dim=4, max_seq_len=8))
    doc = cls.__doc__ or ""
    assert "Cost" in doc
    for option in attention_options(name):
        assert option in doc, f"{cls.__name__} does not document option {option!r}"


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    ("argument", "value"), [("num_heads", 0), ("head_dim", -1), ("max_seq_len", 2.5), ("num_heads", True)]
)
def test_common_arguments_must_be_positive_ints(name: str, argument: str, value: object) -> None:
    kwargs = {"num_heads": 2, "head_dim": 4, "max_seq_len": 8, argument: value}
    with pytest.raises(ValueError, match=argument):
        build_attention(name, **kwargs)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("num_landmarks", 0, "num_landmarks must be a positive integer"),
        ("num_landmarks", -3, "num_landmarks must be a positive integer"),
        ("pinv_iterations", 0, "pinv_iterations must be a positive integer"),
        ("pinv_init", "exact", "pinv_init must be one of"),
        ("landmark_mode", "lucidrains", "landmark_mode must be one of"),
        ("conv_kernel_size", 4, "conv_kernel_size must be odd"),
        ("conv_kernel_size", 0, "conv_kernel_size must be a positive integer"),
        ("path", "triton", "path must be one of"),
    ],
)
def test_bad_nystrom_options(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_attention("nystrom", num_heads=2, head_dim=4, max_seq_len=8, **{option: value})


def test_bad_softmax_options() -> None:
    with pytest.raises(ValueError, match="dropout"):
        build_attention("softmax", num_heads=2, head_dim=4, max_seq_len=8, dropout=1.5)
    with pytest.raises(ValueError, match="backend must be one of"):
        build_attention("softmax", num_heads=2, head_dim=4, max_seq_len=8, backend="xformers")


def _inputs(batch: int = 2, heads: int = 2, n: int = 16, dim: int = 4, dtype: torch.dtype = torch.float32):
    return [torch.randn(batch, heads, n, dim, dtype=dtype) for _ in range(3)]


@pytest.mark.parametrize("name", ALL)
def test_bad_inputs_give_clear_errors(name: str) -> None:
    attn = build_attention(name, num_heads=2, head_dim=4, max_seq_len=16, **_small_options(name))
    q, k, v = _inputs()
    with pytest.raises(ValueError, match=r"must have shape \[batch, heads, n, head_dim\]"):
        attn(q[0], k[0], v[0])
    with pytest.raises(ValueError, match="same shape"):
        attn(q, k[:, :, :8], v)
    with pytest.raises(ValueError, match=r"expected 2 heads of size 4"):
        attn(*_inputs(heads=3))
    with pytest.raises(ValueError, match=r"expected 2 heads of size 4"):
        attn(*_inputs(dim=8))
    with pytest.raises(ValueError, match="exceeds max_seq_len=16"):
        attn(*_inputs(n=17))
    with pytest.raises(ValueError, match="share one dtype"):
        attn(q, k.double(), v)
    with pytest.raises(ValueError, match="floating point"):
        attn(*(t.long() for t in (q, k, v)))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \[batch, n\]"):
        attn(q, k, v, torch.ones(2, 15, dtype=torch.bool))
    with pytest.raises(ValueError, match="key_padding_mask must be a bool tensor"):
        attn(q, k, v, torch.ones(2, 16))
    with pytest.raises(TypeError, match=r"must be a torch\.Tensor"):
        attn(q.numpy(), k, v)


def _small_options(name: str) -> dict[str, object]:
    return {"num_landmarks": 4} if name == "nystrom" else {}


def test_attention_zoo_imports_only_torch() -> None:
    """The attention library must stay usable without Lightning, Hydra or W&B."""
    root = pathlib.Path(attention_zoo.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in {
                    "torch",
                    "attention_zoo",
                    "__future__",
                    "math",
                    "inspect",
                    "collections",
                    "contextlib",
                    "typing",
                }, f"{path.name} imports {module}"
