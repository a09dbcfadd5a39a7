"""Nyström attention (Xiong et al., AAAI 2021, arXiv 2102.03902): a fast path and the official op order."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attention_zoo._base import (
    Attention,
    accumulation_dtype,
    full_precision,
    require_choice,
    require_positive_int,
    zero_pads,
)
from attention_zoo._conv import add_depthwise_sequence_conv
from attention_zoo._landmarks import masked_segment_means, segment_means
from attention_zoo._pinv import PINV_INITS, newton_schulz_pinv
from attention_zoo._sdpa import masked_sdpa

LANDMARK_MODES = ("masked", "official")
PATHS = ("fast", "reference")


class NystromAttention(Attention):
    """Nyström approximation of softmax attention with segment-means landmarks.

    ``out = softmax(Q K̃ᵀ/√d) · pinv(softmax(Q̃ K̃ᵀ/√d)) · softmax(Q̃ Kᵀ/√d) · V  (+ DConv(V))``, where the m
    landmarks Q̃, K̃ are means of contiguous segments of Q and K and pinv is the Newton–Schulz iterate.

    Options (defaults and their source):
        num_landmarks (64): m; "64 landmarks is often sufficient" (paper), the ``nystrom-64`` LRA model.
            When m >= n the attention is exact (SDPA), as in the official code's ``num_landmarks == seq_len``.
        pinv_iterations (6): Newton–Schulz iterations (paper; every implementation).
        pinv_init ("per_matrix"): Z₀ scaled per matrix, so an example's output never depends on its
            batch-mates; ``"original"`` is the batch-global scale of the official code and Hugging Face.
        landmark_mode ("masked"): segments are formed over each example's real tokens, so outputs at real
            positions do not change with the amount or content of padding; an example with fewer real tokens
            than landmarks gets exact attention, as it would unpadded. The exact condition: the attention
            term is invariant for any mask; the conv skip (when on) is positional, so it is invariant only
            while each example's real tokens are contiguous (pads before and/or after them, as the LRA
            harness pads). Pads *between* real tokens change which tokens are conv neighbours (relative
            error ≈ 1 measured); compacting the tokens for the conv would make any mask work but costs an
            argsort and three gathers of V's size per call (measured 3–20 % of a masked forward on a 2-core
            CPU, batch 32 × n = 1024 to batch 1 × n = 16384), so it is not done. ``"official"`` reproduces
            ``mlpen/Nystromformer`` (pads zeroed, each segment mean divides by the segment length, the mask
            only enters the landmark-to-key softmax), for parity with published numbers.
        conv_kernel_size (35): odd kernel of the per-head depthwise conv skip on V (``lra_config.py`` uses 35;
            HF defaults to 65, lucidrains to 33); ``None`` disables it. Pads are zeroed before the conv, so
            they act as its zero padding (see ``landmark_mode`` for what that implies).
        path ("fast"): ``"fast"`` evaluates ``SDPA(Q, K̃, Z · SDPA(Q̃, K, V))``, never materialising an n×m or
            m×n matrix; ``"reference"`` follows the official op order ``(kernel_1 · Z) · (kernel_3 · V)`` with
            explicit kernels, for parity tests.

    Any n works: when n % m != 0 the first ``m - n % m`` segments hold ``n // m`` tokens and the others one
    more (the official ragged split, ``token_nystromformer.py``), with no padding. Landmarks, the m×m kernel,
    the pseudoinverse and ``Z · (B V)`` are computed in fp32 (fp64 for fp64 inputs) whatever the input dtype;
    the two SDPA calls run in the input dtype. No dropout inside, as in the official code.

    Cost per head: time O(n·m·d + m³) (two SDPA calls over n×m, ~24 m×m matmuls), memory O(n·d + m²) on the
    fast path; the reference path adds the n×m kernels and an O(n·m²) product.
    """

    def __init__(
        self,
        *,
        num_heads: int,
        head_dim: int,
        max_seq_len: int,
        num_landmarks: int = 64,
        pinv_iterations: int = 6,
        pinv_init: str = "per_matrix",
        landmark_mode: str = "masked",
        conv_kernel_size: int | None = 35,
        path: str = "fast",
    ) -> None:
        super().__init__(num_heads=num_heads, head_dim=head_dim, max_seq_len=max_seq_len)
        self.num_landmarks = require_positive_int("num_landmarks", num_landmarks)
        self.pinv_iterations = require_positive_int("pinv_iterations", pinv_iterations)
        self.pinv_init = require_choice("pinv_init", pinv_init, PINV_INITS)
        self.landmark_mode = require_choice("landmark_mode", landmark_mode, LANDMARK_MODES)
        self.path = require_choice("path", path, PATHS)
        self.conv: nn.Conv2d | None = None
        if conv_kernel_size is not None:
            if require_positive_int("conv_kernel_size", conv_kernel_size) % 2 == 0:
                raise ValueError(f"conv_kernel_size must be odd (or None), got {conv_kernel_size}")
            # Same module, name and weight layout [H, 1, k, 1] as the official code and Hugging Face.
            self.conv = nn.Conv2d(
                num_heads,
                num_heads,
                kernel_size=(conv_kernel_size, 1),
                padding=(conv_kernel_size // 2, 0),
                groups=num_heads,
                bias=False,
            )

    def extra_repr(self) -> str:
        kernel = None if self.conv is None else self.conv.kernel_size[0]
        return (
            f"heads={self.num_heads}, head_dim={self.head_dim}, num_landmarks={self.num_landmarks}, "
            f"pinv={self.pinv_iterations}x{self.pinv_init}, landmark_mode={self.landmark_mode}, "
            f"conv_kernel_size={kernel}, path={self.path}"
        )

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        n = self.check_inputs(q, k, v, key_padding_mask)
        mask = key_padding_mask
        if mask is not None:
            q, k, v = zero_pads(q, mask), zero_pads(k, mask), zero_pads(v, mask)

        if self.num_landmarks >= n:
            out = masked_sdpa(q, k, v, mask)
        else:
            approximate = self._fast if self.path == "fast" else self._reference
            out = approximate(q, k, v, mask)
            if mask is not None and self.landmark_mode == "masked":
                out = self._exact_where_short(out, q, k, v, mask)

        if self.conv is None:
            return out
        if self.path == "reference":
            return out + self.conv(v.to(self.conv.weight.dtype)).to(v.dtype)
        return add_depthwise_sequence_conv(out, v, self.conv.weight)

    def _landmarks(self, x: Tensor, mask: Tensor | None) -> Tensor:
        if mask is not None and self.landmark_mode == "masked":
            return masked_segment_means(x, self.num_landmarks, mask)
        return segment_means(x, self.num_landmarks)  # official mode: pads already zeroed

    def _fast(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """``SDPA(Q, K̃, W)`` with ``W = Z · SDPA(Q̃, K, V)``: exact re-association, no n×m matrix."""
        acc = accumulation_dtype(q.dtype)
        q_land, k_land = self._landmarks(q, mask), self._landmarks(k, mask)
        landmark_values = masked_sdpa(q_land.to(q.dtype), k, v, mask)  # kernel_3 · V, [B, H, m, d]
        with full_precision(q.device):  # the fp32 island, also under autocast
            kernel_2 = torch.softmax(q_land @ k_land.transpose(-1, -2) / math.sqrt(self.head_dim), dim=-1)
            z = newton_schulz_pinv(kernel_2, self.pinv_iterations, self.pinv_init)
            w = z @ landmark_values.to(acc)
        if q.dtype == torch.float16:
            # Z can have large entries: rescale W per head so it cannot overflow fp16, undo after.
            scale = w.abs().amax(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
            return F.scaled_dot_product_attention(q, k_land.to(q.dtype), (w / scale).to(q.dtype)) * scale
        return F.scaled_dot_product_attention(q, k_land.to(q.dtype), w.to(q.dtype))

    def _reference(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """The official ``NystromAttention.forward`` op order (``mlpen/Nystromformer``, Hugging Face), in fp32."""
        with full_precision(q.device):
            return self._reference_fp32(q, k, v, mask)

    def _reference_fp32(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        dtype, acc = q.dtype, accumulation_dtype(q.dtype)
        q, k, v = q.to(acc), k.to(acc), v.to(acc)
        root = math.sqrt(math.sqrt(self.head_dim))
        q, k = q / root, k / root
        q_land, k_land = self._landmarks(q, mask), self._landmarks(k, mask)
        kernel_1 = torch.softmax(torch.matmul(q, k_land.transpose(-1, -2)), dim=-1)
        kernel_2 = torch.softmax(torch.matmul(q_land, k_land.transpose(-1, -2)), dim=-1)
        scores_3 = torch.matmul(q_land, k.transpose(-1, -2))
        if mask is not None:
            scores_3 = scores_3 - 1e9 * (1 - mask[:, None, None, :].to(acc))
        kernel_3 = torch.softmax(scores_3, dim=-1)
        z = newton_schulz_pinv(kernel_2, self.pinv_iterations, self.pinv_init)
        return torch.matmul(torch.matmul(kernel_1, z), torch.matmul(kernel_3, v)).to(dtype)

    def _exact_where_short(self, out: Tensor, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        """Exact attention for examples with fewer real tokens than landmarks (as if they were unpadded)."""
        short = (mask.sum(dim=-1) < self.num_landmarks).nonzero().flatten()
        if short.numel() == 0:
            return out
        exact = masked_sdpa(q[short], k[short], v[short], mask[short])
        return out.index_copy(0, short, exact.to(out.dtype))
