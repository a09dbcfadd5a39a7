"""Seeded index permutations for the splits we draw ourselves (Text hold-out, Pathfinder 80/10/10)."""

from __future__ import annotations

import numpy as np


def seeded_permutation(n: int, seed: int) -> np.ndarray:
    """A permutation of ``range(n)`` fixed by ``seed``: argsort of ``n`` PCG64 uniforms (a stable sort, so it
    depends only on the PCG64 bit stream and the uniform conversion, not on a shuffle algorithm)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    return np.argsort(rng.random(n), kind="stable")
