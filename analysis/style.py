"""Names, order and colours shared by every table and plot, so an attention looks the same everywhere."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

# LRA column order; Path-X is shown only when it was run (every published Path-X entry is FAIL).
TASK_ORDER = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")
TASK_LABELS = {
    "listops": "ListOps",
    "text": "Text",
    "retrieval": "Retrieval",
    "image": "Image",
    "pathfinder": "Pathfinder",
    "pathx": "Path-X",
}
ATTENTION_ORDER = ("softmax", "nystrom", "linformer", "performer", "reformer")
ATTENTION_LABELS = {
    "softmax": "softmax",
    "nystrom": "Nyström",
    "linformer": "Linformer",
    "performer": "Performer",
    "reformer": "Reformer",
}
# Colour-blind-safe (Okabe–Ito); softmax, the baseline, is neutral grey.
COLOURS = {
    "softmax": "#555555",
    "nystrom": "#D55E00",
    "linformer": "#0072B2",
    "performer": "#009E73",
    "reformer": "#CC79A7",
}
_SPARE = ("#E69F00", "#56B4E9", "#F0E442", "#000000", "#882255", "#44AA99", "#999933", "#AA4499")
PEER_LINESTYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))
PEER_MARKERS = ("s", "^", "v", "D")


def colour(attention: str) -> str:
    """The attention's colour; unknown names get a spare colour chosen by a stable hash of the name."""
    return COLOURS.get(attention) or _SPARE[zlib.crc32(attention.encode()) % len(_SPARE)]


def ordered(names: Iterable[object], order: tuple[str, ...]) -> list[str]:
    """Known names in their canonical order first, then the others alphabetically."""
    unique = list(dict.fromkeys(str(name) for name in names))
    known = [name for name in order if name in unique]
    return known + sorted(name for name in unique if name not in order)


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task)


def attention_label(attention: str) -> str:
    return ATTENTION_LABELS.get(attention, attention)
