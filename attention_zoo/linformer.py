"""Linformer attention (Wang et al. 2020, arXiv 2006.04768): keys and values projected along the sequence axis."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attention_zoo._base import Attention, require_choice, require_positive_int, zero_pads

SHARING = ("none", "headwise", "kv", "layerwise")
INIT_STD = 0.02  # N(0, 0.02): mlpen/Nystromformer LRA/code/attention_linformer.py


class LinformerAttention(Attention):
    """Linformer: ``softmax(Q (E K)ᵀ / √d) (F V)`` with E, F ∈ R^{k×n} acting along the sequence axis.

    E and F are sized for ``max_seq_len`` and sliced to the first n columns (``E[:, :n]``), as in the JAX LRA,
    lucidrains and fairseq code, so one module serves every length up to ``max_seq_len``.

    Options (defaults and their source):
        k (256): projected length; "the projection dimension for Linformer is 256" on every LRA task
            (Nyströmformer paper, ``linformer-256`` in ``mlpen/Nystromformer`` ``LRA/code/lra_config.py``).
            k may exceed n (then E K has more rows than K; correct, just not cheaper).
        sharing ("kv"): which projections are shared (paper §4 "Additional Efficiency Techniques"):
            ``"none"``: E_h and F_h per head (2·H matrices per layer); ``"headwise"``: one E and one F per
            layer; ``"kv"``: one matrix per layer with E = F (the LRA paper's "shared between key and values
            but not across multiple layers", App. B.1); ``"layerwise"``: one matrix E = F given by the model
            and shared by every layer (``shared_projection``).
        projection_heads (None): with ``sharing="layerwise"``, the shape of the shared projection: ``None``
            is one ``[k, L]`` matrix for all heads (paper §4); ``num_heads`` is one matrix per head,
            ``[num_heads, k, L]``, shared by K, V and all layers: the ``linformer-256`` model of the
            Nyströmformer LRA code (``LRA/code/attention_linformer.py``, E ∈ R^{H×256×n}). The model reads it
            to build the projection (``lra.model.encoder``), the attention checks the projection against it.
            Rejected with other sharing modes.
        shared_projection (None): required with ``sharing="layerwise"`` and rejected otherwise. The model
            creates it once with :meth:`make_shared_projection` (``num_heads=projection_heads``), registers
            it on itself, and passes the same object to every layer; L must be at least ``max_seq_len``. The
            attention keeps it in a plain tuple attribute, not as a submodule parameter or buffer, so
            ``parameters()`` and ``state_dict()`` of the model list it exactly once (under the model's name
            for it), and the model's ``.to()`` (which converts parameters in place) moves it for every layer.
            Anything that replaces the Parameter *object* (``load_state_dict(assign=True)``,
            ``overwrite_module_params_on_conversion``) must call ``attention.set_shared_projection(model.<name>)``
            again on each layer.

    Initialisation: N(0, 0.02), as in the Nyströmformer LRA code (lucidrains uses U(±1/√k), fairseq Xavier
    with gain 1/√2, tatp22 an ``nn.Linear`` with bias). There is no dropout inside (none in the LRA code).

    Padding: keys and values are zeroed at pads (``torch.where``) and the real tokens of each example are
    moved to the front in order before the projection, so the j-th real token meets column j of E wherever
    the pads are; with right padding (LRA) this is exactly ``E[:, :n] · (K ⊙ mask)`` of the LRA code. Outputs
    at real positions therefore depend neither on the content nor on the amount of padding. Projected keys
    are mixtures of all real tokens and cannot be masked individually, so Linformer with padding is not
    "exact attention over the real tokens" even at k = n. Outputs at padded query positions are zero.

    Precision: the projections and SDPA run in the input dtype (bf16/fp16 GEMMs accumulate in fp32); E and F
    are cast to it. Exact attention is recovered with k = n and E = F = I (tested).

    Cost per head: 8·n·k·d FLOPs (E K and F V: 2·n·k·d each; SDPA over k keys: 4·n·k·d); memory O(n·d + k·d)
    beyond the inputs (fused SDPA backends do not materialise the n×k matrix). Parameters: 2·k·L per layer
    (``none``: 2·H·k·L; ``kv``: k·L; ``layerwise``: k·L for the whole model), L = ``max_seq_len``.
    """

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        max_seq_len: int,
        k: int = 256,
        sharing: str = "kv",
        projection_heads: int | None = None,
        shared_projection: nn.Parameter | None = None,
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, max_seq_len=max_seq_len)
        self.k = require_positive_int("k", k)
        self.sharing = require_choice("sharing", sharing, SHARING)
        if projection_heads is not None:
            if sharing != "layerwise":
                raise ValueError(f"projection_heads is only used with sharing='layerwise', not sharing={sharing!r}")
            if projection_heads != num_heads or isinstance(projection_heads, bool):
                raise ValueError(
                    f"projection_heads must be None (one [k, L] projection) or num_heads = {num_heads} "
                    f"(one per head), got {projection_heads!r}"
                )
        self.projection_heads = projection_heads
        # A tuple is not an nn.Module attribute type, so the model's shared parameter is not registered here.
        self._shared: tuple[Tensor, ...] = ()
        self.proj_k: nn.Parameter | None = None
        self.proj_v: nn.Parameter | None = None
        if sharing == "layerwise":
            self._shared = (self._check_shared(shared_projection),)
            return
        if shared_projection is not None:
            raise ValueError(f"shared_projection is only used with sharing='layerwise', not sharing={sharing!r}")
        shape = (num_heads, k, max_seq_len) if sharing == "none" else (k, max_seq_len)
        self.proj_k = nn.Parameter(_init(torch.empty(shape)))
        if sharing in ("none", "headwise"):
            self.proj_v = nn.Parameter(_init(torch.empty(shape)))

    @staticmethod
    def make_shared_projection(*, k: int, max_seq_len: int, num_heads: int | None = None) -> nn.Parameter:
        """One projection for ``sharing="layerwise"``: ``[k, max_seq_len]`` (or ``[num_heads, k, max_seq_len]``).

        Initialised like the per-layer projections, N(0, 0.02). The model owns it (registers it once) and
        passes the same object as ``shared_projection`` to every layer's attention.
        """
        require_positive_int("k", k)
        require_positive_int("max_seq_len", max_seq_len)
        shape = (
            (k, max_seq_len) if num_heads is None else (require_positive_int("num_heads", num_heads), k, max_seq_len)
        )
        return nn.Parameter(_init(torch.empty(shape)))

    def _check_shared(self, projection: Any) -> Tensor:
        if projection is None:
            raise ValueError(
                "sharing='layerwise' needs shared_projection: create it once in the model with "
                "LinformerAttention.make_shared_projection(k=..., max_seq_len=...) and pass it to every layer"
            )
        if not isinstance(projection, Tensor):
            raise ValueError(f"shared_projection must be a tensor (an nn.Parameter), got {type(projection).__name__}")
        shape = tuple(projection.shape)
        if self.projection_heads is None:
            expected, layout = (self.k,), f"[k, L] with k = {self.k}"
        else:
            expected, layout = (
                (self.num_heads, self.k),
                f"[num_heads, k, L] with num_heads = {self.num_heads}, k = {self.k}",
            )
        if shape[:-1] != expected or shape[-1] < self.max_seq_len:
            raise ValueError(
                f"shared_projection must have shape {layout} (projection_heads={self.projection_heads}) "
                f"and L >= max_seq_len = {self.max_seq_len}, got {shape}"
            )
        return projection

    @property
    def shared_projection(self) -> Tensor | None:
        """The model-owned projection (``sharing="layerwise"``), else None."""
        return self._shared[0] if self._shared else None

    def set_shared_projection(self, projection: Tensor) -> None:
        """Re-point a layerwise attention at the model's projection (after something replaced the object)."""
        if self.sharing != "layerwise":
            raise ValueError(f"shared_projection is only used with sharing='layerwise', not {self.sharing!r}")
        self._shared = (self._check_shared(projection),)

    def extra_repr(self) -> str:
        heads = "" if self.projection_heads is None else f", projection_heads={self.projection_heads}"
        return f"heads={self.num_heads}, head_dim={self.head_dim}, k={self.k}, sharing={self.sharing}{heads}"

    def projections(self, n: int) -> tuple[Tensor, Tensor]:
        """E and F sliced to the first n columns: ``[k, n]``, or ``[H, k, n]`` per head (``none``, per-head shared)."""
        if self._shared:
            e = f = self._shared[0]
        else:
            assert self.proj_k is not None
            e = self.proj_k
            f = self.proj_v if self.proj_v is not None else e
        return e[..., :n], f[..., :n]

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        n = self.check_inputs(q, k, v, key_padding_mask)
        mask = key_padding_mask
        if mask is not None:
            k, v = _real_tokens_first(zero_pads(k, mask), mask), _real_tokens_first(zero_pads(v, mask), mask)
            q = zero_pads(q, mask)
        e, f = self.projections(n)
        e, f = e.to(k.dtype), f.to(k.dtype)
        keys = torch.matmul(e, k)  # [B, H, k, d]
        values = torch.matmul(f, v)
        out = F.scaled_dot_product_attention(q, keys, values)
        return out if mask is None else zero_pads(out, mask)


def _init(t: Tensor) -> Tensor:
    with torch.no_grad():
        return t.normal_(0.0, INIT_STD)


def _real_tokens_first(x: Tensor, mask: Tensor) -> Tensor:
    """Reorder dim 2 of ``x [B, H, n, d]`` so each example's real tokens come first, in their order."""
    order = torch.argsort((~mask).to(torch.uint8), dim=-1, stable=True)  # [B, n]
    return x.gather(2, order[:, None, :, None].expand_as(x))
