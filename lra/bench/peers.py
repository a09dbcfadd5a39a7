"""Peer packages wrapped to the attention core: given the same q, k, v, they compute only attention.

Each peer module projects its own q, k, v from hidden states. To time the same work as ours, the projection
layers are replaced by modules that return the prepared q, k, v (no copy) and output projections by Identity;
whatever else the peer does (reshapes, padding, its final head merge) is its own cost and is timed.
Every adapter maps ``qkv [B, n, 3, H, d]`` (the layout a fused QKV projection produces) to the output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

Runner = Callable[[Tensor], Tensor]


class _Given(nn.Module):
    """Stands in for a projection layer: returns the tensor it was last given, ignoring its input."""

    def __init__(self) -> None:
        super().__init__()
        self.value: Tensor | None = None

    def forward(self, _: Tensor) -> Tensor:
        assert self.value is not None
        return self.value


def hf_nystrom(heads: int, head_dim: int, n: int, options: dict[str, Any]) -> Runner:
    """transformers' ``NystromformerSelfAttention`` (official op order; needs n == segment_means_seq_len)."""
    from transformers.models.nystromformer.modeling_nystromformer import (
        NystromformerConfig,
        NystromformerSelfAttention,
    )

    conv = options.get("conv_kernel_size", 35)
    config = NystromformerConfig(
        hidden_size=heads * head_dim,
        num_attention_heads=heads,
        num_landmarks=options.get("num_landmarks", 64),
        segment_means_seq_len=n,
        conv_kernel_size=conv or 3,
    )
    module = NystromformerSelfAttention(config)
    module.conv_kernel_size = conv  # transformers 5 rejects None in the config; forward reads this attribute
    module.query, module.key, module.value = _Given(), _Given(), _Given()

    def run(qkv: Tensor) -> Tensor:
        batch = qkv.shape[0]
        q, k, v = (qkv[:, :, i].reshape(batch, n, heads * head_dim) for i in range(3))
        module.query.value, module.key.value, module.value.value = q, k, v
        return module(q)[0]

    return _keep(run, module)


def lucidrains_nystrom(heads: int, head_dim: int, n: int, options: dict[str, Any]) -> Runner:
    """``nystrom-attention`` (lucidrains) ``NystromAttention``: masked-mean landmarks, batch-global pinv init."""
    from nystrom_attention import NystromAttention

    conv = options.get("conv_kernel_size", 35)
    module = NystromAttention(
        dim=heads * head_dim,
        dim_head=head_dim,
        heads=heads,
        num_landmarks=options.get("num_landmarks", 64),
        pinv_iterations=options.get("pinv_iterations", 6),
        residual=conv is not None,
        residual_conv_kernel=conv or 33,
    )
    module.to_qkv, module.to_out = _Given(), nn.Identity()

    def run(qkv: Tensor) -> Tensor:
        batch = qkv.shape[0]
        module.to_qkv.value = qkv.reshape(batch, n, 3 * heads * head_dim)
        return module(qkv[:, :, 0].reshape(batch, n, heads * head_dim))

    return _keep(run, module)


def lucidrains_performer(heads: int, head_dim: int, n: int, options: dict[str, Any]) -> Runner:
    """``performer-pytorch`` ``FastAttention``: the package's attention core, fed our q, k, v ``[B, H, n, d]``.

    Timed: its softmax-kernel FAVOR+ (d^(-1/4) scaling, max stabiliser, +1e-4 after the exp, φ(K)ᵀV and the
    denominator), or with ``kernel="relu"`` its generalized ReLU kernel (``generalized_attention=True``).
    ``FastAttention`` has no projections and never redraws its features by itself (the Performer model's
    ``ProjectionUpdater`` does), so features are frozen as ours are during timing (ours run with
    ``redraw_interval=None``). Not timed: ``SelfAttention``'s head split and Linear layers. No mask argument.

    Same feature count on both sides (``num_features``, 256 in the sweep). The package's own default is
    ⌊d·ln d⌋ = 110 at d = 32, which is why a peer figure measured with defaults (issue 3: 31 ms at n = 16K)
    is ~2.3× less work than the sweep's 256-feature cell. At n = 16K, 2 heads and 256 features each of its
    ~6 full-size temporaries is [1, 2, 16384, 256] fp32 = 32 MiB, glibc's largest mmap threshold, so every
    one is a fresh mapping that is page-faulted in on each call (measured: 0.33 ms per feature at 200
    features, 0.63 at 272, one thread); ours works in place on two such tensors. That is the package's own cost.
    """
    from performer_pytorch import FastAttention

    module = FastAttention(
        dim_heads=head_dim,
        nb_features=options.get("num_features", 256),
        generalized_attention=options.get("kernel", "softmax") == "relu",
        kernel_fn=nn.ReLU(),
    )

    def run(qkv: Tensor) -> Tensor:
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return module(q, k, v)

    return _keep(run, module)


def lucidrains_linformer(heads: int, head_dim: int, n: int, options: dict[str, Any]) -> Runner:
    """``linformer`` ``LinformerSelfAttention`` with its q/k/v projections given and its output projection Identity.

    E = F (our default ``sharing="kv"``): ``proj_v`` is tied to ``proj_k`` (the package's own ``share_kv=True``
    would also tie the key and value *projections*, i.e. use V = K, so it is not used). ``sharing="headwise"``
    keeps them separate; per-head projections (``"none"``) do not exist in the package. Timed: the sequence
    projections (einsum over ``[n, k]``), head reshapes and its explicit softmax attention. It has no mask
    argument and needs n <= seq_len (here n).
    """
    from linformer import LinformerSelfAttention

    sharing = options.get("sharing", "kv")
    if sharing not in ("kv", "headwise"):
        raise ValueError(f"the linformer package has no sharing={sharing!r} (only headwise, kv)")
    module = LinformerSelfAttention(
        dim=heads * head_dim, seq_len=n, k=options.get("k", 256), heads=heads, dim_head=head_dim, share_kv=False
    )
    if sharing == "kv":
        module.proj_v = module.proj_k
    module.to_q, module.to_k, module.to_v, module.to_out = _Given(), _Given(), _Given(), nn.Identity()

    def run(qkv: Tensor) -> Tensor:
        batch = qkv.shape[0]
        q, k, v = (qkv[:, :, i].reshape(batch, n, heads * head_dim) for i in range(3))
        module.to_q.value, module.to_k.value, module.to_v.value = q, k, v
        return module(q)

    return _keep(run, module)


def lucidrains_reformer(heads: int, head_dim: int, n: int, options: dict[str, Any]) -> Runner:
    """``reformer-pytorch`` ``LSHSelfAttention`` with its shared QK and V projections given, output Identity.

    Timed: everything in its ``LSHAttention`` (hashing with fresh rotations per call, the sort, gathers,
    chunked attention, unsort, round combination) plus ``LSHSelfAttention``'s head merge/split and its
    concatenation of (absent) memory and context keys. n must be a multiple of 2·bucket_size (its assert);
    the rows of q (queries) serve as the shared QK, as for ours.
    """
    from reformer_pytorch import LSHSelfAttention

    module = LSHSelfAttention(
        dim=heads * head_dim,
        heads=heads,
        dim_head=head_dim,
        bucket_size=options.get("bucket_size", 64),
        n_hashes=options.get("num_hashes", 2),
    )
    module.toqk, module.tov, module.to_out = _Given(), _Given(), nn.Identity()

    def run(qkv: Tensor) -> Tensor:
        batch = qkv.shape[0]
        qk, v = (qkv[:, :, i].reshape(batch, n, heads * head_dim) for i in (0, 2))
        module.toqk.value, module.tov.value = qk, v
        return module(qk)

    return _keep(run, module)


def _keep(run: Runner, module: nn.Module) -> Runner:
    """Attach the module to the runner so callers can move it (``.to``) and count its parameters."""
    run.module = module  # type: ignore[attr-defined]
    return run


PEERS: dict[str, Callable[[int, int, int, dict[str, Any]], Runner]] = {
    "hf-nystrom": hf_nystrom,
    "lucidrains-nystrom": lucidrains_nystrom,
    "lucidrains-linformer": lucidrains_linformer,
    "lucidrains-performer": lucidrains_performer,
    "lucidrains-reformer": lucidrains_reformer,
}

# Which of our attentions each peer implements (for ratios in the tables).
PEER_OF: dict[str, str] = {
    "hf-nystrom": "nystrom",
    "lucidrains-nystrom": "nystrom",
    "lucidrains-linformer": "linformer",
    "lucidrains-performer": "performer",
    "lucidrains-reformer": "reformer",
}


def build_runner(impl: str, heads: int, head_dim: int, n: int, options: dict[str, Any]) -> Runner:
    """``impl`` is an attention_zoo name (ours) or ``peer:<name>``; returns ``qkv [B, n, 3, H, d] -> out``."""
    if impl.startswith("peer:"):
        name = impl.removeprefix("peer:")
        if name not in PEERS:
            raise ValueError(f"unknown peer {name!r}; available: {', '.join(sorted(PEERS))}")
        return PEERS[name](heads, head_dim, n, options)
    from attention_zoo import build_attention

    module = build_attention(impl, num_heads=heads, head_dim=head_dim, max_seq_len=n, **options)

    def run(qkv: Tensor) -> Tensor:
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return module(q, q if module.shared_qk else k, v)  # shared-QK attentions get the queries as keys

    return _keep(run, module)
