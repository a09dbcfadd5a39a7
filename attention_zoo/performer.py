"""Performer attention with FAVOR+ (Choromanski et al., ICLR 2021, arXiv 2009.14794), bidirectional."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from attention_zoo._base import (
    Attention,
    accumulation_dtype,
    full_precision,
    require_choice,
    require_positive_int,
    zero_pads,
)

# Seeds of successive feature draws: draw i of a module with seed s uses s + i * _DRAW_STRIDE (mod 2**63).
_DRAW_STRIDE = 0x9E3779B97F4A7C15 % 2**63
KERNELS = ("softmax", "relu")
# feature_eps=None takes the kernel's reference value: 0 keeps FAVOR+ unbiased; 1e-3 is the ReLU kernel's
# kernel_epsilon in performer-pytorch's generalized_kernel and Google's generalized_kernel_feature_creator.
_DEFAULT_EPS = {"softmax": 0.0, "relu": 1e-3}


def orthogonal_gaussian_features(num_features: int, dim: int, generator: torch.Generator) -> Tensor:
    """``[num_features, dim]`` positive-orthogonal-random-feature projection ω (fp32, CPU).

    Rows come in blocks of ``dim`` exactly orthogonal directions (QR of a Gaussian matrix with the sign of
    R's diagonal folded in, so each block is Haar-distributed; performer-pytorch omits the sign fix); the
    last block is truncated. Each row is then
    scaled by the norm of an independent ``N(0, I_dim)`` vector (chi-distributed norms, ``ortho_scaling=0`` in
    the Google and performer-pytorch code), so every ω_i is marginally N(0, I) as FAVOR+ requires (§2.4).
    """
    gaussian = torch.randn(math.ceil(num_features / dim), dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)  # one batched call: per-call LAPACK threading overhead dominates at d×d
    blocks = (q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]).transpose(-1, -2)
    directions = blocks.reshape(-1, dim)[:num_features]
    norms = torch.randn(num_features, dim, generator=generator, dtype=torch.float64).norm(dim=1)
    return (directions * norms[:, None]).float()


class PerformerAttention(Attention):
    """Performer attention ``D⁻¹ φ(Q) (φ(K)ᵀ V)``, ``D = diag(φ(Q) φ(K)ᵀ 1)``, no n×n matrix: FAVOR+ by default.

    Positive random features (paper Lemma 1) with x = d^(-1/4)·q (and k), applied exactly once:
    ``φ(x) = exp(ωᵢᵀx − ‖x‖²/2) / √m`` for orthogonal ω with chi-distributed norms (the paper's FAVOR+ with
    ``ortho_scaling=0``). The 1/√m factor and any constant per query row or per (example, head) over keys
    cancel between numerator and denominator, which the stabiliser uses:

    * max-subtraction stabiliser: query features subtract their row max of ``ωᵢᵀx − ‖x‖²/2``, key features
      the max over the example's real keys and all features (per example and head), so every exponent is
      ≤ 0 and the largest feature is exactly 1. Unlike the Google JAX and performer-pytorch code (max of ωᵢᵀx
      alone, ``+1e-4`` after the exp), the ‖x‖²/2 term is inside the max, so a query of large norm cannot
      underflow (those codes then give an all-eps row, i.e. attention that ignores the query, or NaN with
      eps = 0; tested), and no eps is added by default, so the estimator is the paper's. With
      ``feature_eps=0`` the result equals performer-pytorch ``FastAttention`` patched to eps = 0, given the
      same ω (tested to 1e-5).
    * denominator clamp: ``D ≥ 1e-30`` (fp32-safe); it only guards 0/0 (an example without real keys, whose
      outputs are zero) and never changes a normal row.

    ``kernel="relu"`` is the generalized attention of the Performer paper (§2.2) with f = ReLU, as
    performer-pytorch ``FastAttention(generalized_attention=True, kernel_fn=nn.ReLU())`` and Google's
    ``generalized_kernel_feature_creator`` compute it: ``φ(x) = ReLU(ωᵀx) + ε`` with x = d^(-1/4)·q (and k),
    ε = 1e-3. It estimates no softmax: attention ∝ E[φ(q)ᵀφ(k)], a different (non-negative) kernel, with the
    same ω, padding rules, fp32 island and denominator clamp. It is the kernel the Nyströmformer LRA config
    names for ``performer-256`` (``kernel_type "relu"``). Equal to performer-pytorch given the same ω and no
    mask (tested to 1e-5). Two deviations from that code, both documented: pad rows of φ(K) are 0 here, where
    mlpen zeroes k, so that φ(0) = ε stays in its denominator; and mlpen scales q and k by d^(-1/4) before
    ``FastAttention`` scales them again, which, ReLU being positively homogeneous, equals ours with
    ε·d^(1/4) (2.4e-3 at d = 32). Caveat: mlpen's only ``attention_performer.py`` in the repository
    (``reorganized_code/…/attention_performer.py``) builds ``FastAttention(…, kernel_fn=nn.ReLU())`` without
    ``generalized_attention=True``, and performer-pytorch ignores ``kernel_fn`` then, running its FAVOR+
    softmax kernel; ``kernel_type "relu"`` may therefore never have been a ReLU kernel in the runs.

    Options (defaults and their source):
        kernel ("softmax"): ``"softmax"`` (FAVOR+, positive random features for exp(qᵀk/√d)) or ``"relu"``
            (generalized ReLU kernel, above).
        num_features (256): m; "Performer 256 random features" in the Nyströmformer LRA runs (``performer-256``)
            and xformers' LRA ``favor.dim_features``. (performer-pytorch defaults to ⌊d·ln d⌋, Google to 256.)
        redraw_interval (1000): draw new features every this many *training* forward calls (xformers LRA
            ``iter_before_redraw=1000``, performer-pytorch ``feature_redraw_interval=1000``); ``None`` never
            redraws automatically. Features are frozen in eval mode. Calls, not optimiser steps: with k-step
            gradient accumulation use k·N, and under activation checkpointing (which re-runs the forward) set
            None and call :meth:`redraw_features` from the training loop.
        seed (None): seed of the feature draws. Draw i uses a private generator seeded ``seed + i·stride``, so
            the features are reproducible and independent of the global RNG stream and device. ``None`` takes
            the seed from the global torch RNG at construction (so ``torch.manual_seed`` before building the
            model fixes it, and separate layers get different features).
        feature_eps (None): constant added to every feature (after the exp for ``softmax``). None takes the
            kernel's reference value: 0 for ``softmax``, which keeps the estimator unbiased up to normalisation
            (Google/performer-pytorch add 1e-4 relative to *their* stabiliser), and 1e-3 for ``relu``
            (Google's and performer-pytorch's ``kernel_epsilon``; with 0 a query with all ωᵀx ≤ 0 attends
            to nothing and gets a zero output).

    State: the features ω live in the persistent buffer ``features`` (fp32, ``[m, d]``, shared by the heads as
    in every reference implementation); the seed, the number of draws and the calls since the last draw are
    the module's extra state, so ``state_dict()`` / ``load_state_dict()`` (and Lightning checkpoints) resume
    the same features and the same redraw schedule. :meth:`redraw_features` draws the next features now.

    Padding: keys and values are zeroed at pads (``torch.where``), pad rows of φ(K) are set to exactly 0
    before the key max, so pads add nothing to φ(K)ᵀV, to φ(K)ᵀ1 or to the stabiliser; outputs at real
    positions depend neither on pad content nor on the amount of padding (performer-pytorch zeroes k before
    φ, which leaves φ(0) > 0 in the denominator). Outputs at pads are zero.

    Precision: features, exps, reductions and the two m-sized GEMMs run in fp32 (fp64 for fp64 inputs) for
    any input dtype; the output is cast back (FlashAttention App. E.3 found Performer unstable in fp16).

    Cost per head: time 8·n·m·d FLOPs (x·ωᵀ for q and k, φ(K)ᵀ[V 1], φ(Q)·[KV]) + 2·n·m exps (none with
    ``relu``); memory the
    two n×m feature maps (fp32) kept for backward; a redraw costs ⌈m/d⌉ QR factorisations of d×d on the CPU.
    """

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        max_seq_len: int,
        kernel: str = "softmax",
        num_features: int = 256,
        redraw_interval: int | None = 1000,
        seed: int | None = None,
        feature_eps: float | None = None,
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, max_seq_len=max_seq_len)
        self.kernel = require_choice("kernel", kernel, KERNELS)
        self.num_features = require_positive_int("num_features", num_features)
        if redraw_interval is not None:
            require_positive_int("redraw_interval", redraw_interval)
        self.redraw_interval = redraw_interval
        if seed is None:
            seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        if feature_eps is None:
            feature_eps = _DEFAULT_EPS[kernel]
        if not (isinstance(feature_eps, int | float) and not isinstance(feature_eps, bool) and feature_eps >= 0):
            raise ValueError(f"feature_eps must be a non-negative float or None, got {feature_eps!r}")
        self.feature_eps = float(feature_eps)
        self.seed = seed
        self.draws = 0  # features drawn so far
        self.calls_since_redraw = 0
        self.register_buffer("features", self._draw(0))
        self.draws = 1

    def _draw(self, index: int) -> Tensor:
        generator = torch.Generator().manual_seed((self.seed + index * _DRAW_STRIDE) % 2**63)
        return orthogonal_gaussian_features(self.num_features, self.head_dim, generator)

    @torch.no_grad()
    def redraw_features(self) -> None:
        """Replace the features by the next draw (deterministic given the seed) and restart the interval."""
        self.features.copy_(self._draw(self.draws))
        self.draws += 1
        self.calls_since_redraw = 0

    def get_extra_state(self) -> dict[str, Any]:
        return {"seed": self.seed, "draws": self.draws, "calls_since_redraw": self.calls_since_redraw}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.seed, self.draws = int(state["seed"]), int(state["draws"])
        self.calls_since_redraw = int(state["calls_since_redraw"])

    def extra_repr(self) -> str:
        return (
            f"heads={self.num_heads}, head_dim={self.head_dim}, kernel={self.kernel}, "
            f"num_features={self.num_features}, redraw_interval={self.redraw_interval}, feature_eps={self.feature_eps}"
        )

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        self.check_inputs(q, k, v, key_padding_mask)
        if self.training and self.redraw_interval is not None:
            if self.calls_since_redraw >= self.redraw_interval:
                self.redraw_features()
            self.calls_since_redraw += 1
        mask = key_padding_mask
        if mask is not None:
            q, k, v = zero_pads(q, mask), zero_pads(k, mask), zero_pads(v, mask)
        dtype, acc = q.dtype, accumulation_dtype(q.dtype)
        with full_precision(q.device):  # the fp32 island, also under autocast
            omega = self.features.to(acc)
            phi_q = self._features(q.to(acc), omega, query=True)
            phi_k = self._features(k.to(acc), omega, query=False, mask=mask)
            # One GEMM chain gives numerator and denominator: φ(Q) · (φ(K)ᵀ [V 1]). Written as ([V 1]ᵀ φ(K))ᵀ so
            # that the gradient of φ(K) comes out contiguous (a transposed one makes backward ~2× slower).
            v1 = torch.cat([v.to(acc), v.new_ones((*v.shape[:-1], 1), dtype=acc)], dim=-1)
            out = phi_q @ (v1.transpose(-1, -2) @ phi_k).transpose(-1, -2)
            out = (out[..., :-1] / out[..., -1:].clamp(min=1e-30)).to(dtype)
        return out if mask is None else zero_pads(out, mask)

    def _features(self, x: Tensor, omega: Tensor, *, query: bool, mask: Tensor | None = None) -> Tensor:
        """Features ``[B, H, n, m]`` of ``x [B, H, n, d]``, pad rows of φ(K) exactly 0 (see the class docstring)."""
        x = x * self.head_dim**-0.25
        if self.kernel == "relu":
            phi = torch.relu(x @ omega.T)
            if self.feature_eps:
                phi = phi + self.feature_eps
            if mask is None or query:
                return phi
            return phi.masked_fill(~mask[:, None, :, None], 0.0)
        # [x, −‖x‖²/2] · [ω, 1]ᵀ = ωᵀx − ‖x‖²/2 in one GEMM.
        x_aug = torch.cat([x, -0.5 * x.square().sum(dim=-1, keepdim=True)], dim=-1)
        omega_aug = torch.cat([omega, omega.new_ones(omega.shape[0], 1)], dim=-1)
        t = x_aug @ omega_aug.T
        with torch.no_grad():  # the stabiliser cancels exactly (without feature_eps): no gradient through it
            row_max = t.amax(dim=-1, keepdim=True)
            if query:
                shift = row_max
            else:
                if mask is not None:
                    row_max = row_max.masked_fill(~mask[:, None, :, None], -math.inf)
                shift = row_max.amax(dim=-2, keepdim=True)
                shift = torch.where(torch.isfinite(shift), shift, 0.0)  # an example without real keys
        pads = None if mask is None or query else ~mask[:, None, :, None]
        if pads is not None:
            t.masked_fill_(pads, -math.inf)  # pad rows of φ(K) become exactly 0 (and cannot overflow)
        phi = t.sub_(shift).exp_()  # in place: the GEMM's backward does not need its output
        if self.feature_eps:
            phi = phi + self.feature_eps
            if pads is not None:
                phi = phi.masked_fill(pads, 0.0)
        return phi
