"""``TaskSpec``: what the model needs to know about a task, and the settings that shape its arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TaskSpec:
    """One LRA task.

    ``max_length`` is the default sequence length (per document for the dual Retrieval task). ``vocab_size``
    includes the pad id 0 for token tasks; pixel tasks (``pixels=True``) use the 256 raw pixel values, where 0 is
    black, not padding: their ``lengths`` are always the full length and a model must build its padding mask from
    the lengths, never from ``token != 0`` (LRA's ``inputs > 0`` mask hides black pixels). ``image_size`` is the
    side of the square image for pixel tasks. ``split_sizes`` are the default train/val/test sizes. ``defaults``
    are the settings accepted by ``prepare``/``load_split`` with their defaults (each changes the arrays, so each is
    part of the cache key). ``source`` says what is read and where to get it; ``tokenisation`` states our choice
    and how it differs from LRA, Nyströmformer and S4.
    """

    name: str
    max_length: int
    vocab_size: int
    num_classes: int
    split_sizes: tuple[int, int, int]
    source: str
    tokenisation: str
    dual: bool = False
    pad_id: int = 0
    pixels: bool = False
    image_size: int | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    @property
    def token_dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every id below ``vocab_size``."""
        for dtype in (np.uint8, np.uint16, np.uint32):
            if self.vocab_size - 1 <= np.iinfo(dtype).max:
                return np.dtype(dtype)
        return np.dtype(np.int64)

    def summary(self) -> dict[str, Any]:
        """The fields that describe the arrays (stored in every manifest)."""
        return {
            "name": self.name,
            "max_length": self.max_length,
            "vocab_size": self.vocab_size,
            "num_classes": self.num_classes,
            "dual": self.dual,
            "pad_id": self.pad_id,
            "pixels": self.pixels,
            "image_size": self.image_size,
        }
