"""Newton–Schulz approximation of the Moore–Penrose pseudoinverse of softmax (row-stochastic) matrices."""

from __future__ import annotations

import torch
from torch import Tensor

PINV_INITS = ("per_matrix", "original")


def newton_schulz_pinv(a: Tensor, iterations: int, init: str) -> Tensor:
    """Approximate ``pinv(a)`` for row-stochastic ``a [..., m, m]`` (Razavi et al. 2014; paper Lemma 1).

    The update and op order are those of ``mlpen/Nystromformer`` ``iterative_inv``:
    ``Z ← ¼·Z·(13I − AZ·(15I − AZ·(7I − AZ)))``, starting from ``Z₀ = Aᵀ / c``.

    ``init`` picks c: ``"per_matrix"`` uses each matrix's own max column sum ‖A‖₁, so an example never depends
    on its batch-mates (the "exact" option the authors recommend after mlpen#3); ``"original"`` uses one max over
    the whole batch and all heads, the default of the official code and Hugging Face.
    Run it in fp32 (or fp64): the iteration diverges in half precision.
    """
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    eye_7, eye_13, eye_15 = 7 * eye, 13 * eye, 15 * eye
    column_sums = a.sum(dim=-2)
    if init == "original":
        scale = column_sums.max()
    elif init == "per_matrix":
        scale = column_sums.amax(dim=-1)[..., None, None]
    else:
        raise ValueError(f"pinv_init must be one of {list(PINV_INITS)}, got {init!r}")
    z = 1 / scale * a.transpose(-1, -2)
    for _ in range(iterations):
        az = torch.matmul(a, z)
        z = torch.matmul(0.25 * z, eye_13 - torch.matmul(az, eye_15 - torch.matmul(az, eye_7 - az)))
    return z
