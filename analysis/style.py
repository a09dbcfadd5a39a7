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
    "linformer_layerwise": "Linformer (layerwise)",
    "performer_relu": "Performer (ReLU)",
    "reformer_auto_buckets": "Reformer (auto buckets)",
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
# Per attention, for plots where several attentions can draw the same curve (validation accuracy): a marker and a
# line style of its own besides its colour, so that identical curves stay distinguishable (and in greyscale).
MARKERS = {"softmax": "o", "nystrom": "s", "linformer": "^", "performer": "D", "reformer": "v"}
LINESTYLES: dict[str, str | tuple[int, tuple[int, ...]]] = {
    "softmax": "-",
    "nystrom": "--",
    "linformer": "-.",
    "performer": ":",
    "reformer": (0, (5, 1, 1, 1)),
}
_SPARE_MARKERS = ("P", "X", "*", "h", "<", ">", "p", "8")
_SPARE_LINESTYLES = ((0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (5, 5)), (0, (3, 5, 1, 5)))


def _spare(attention: str, choices: tuple) -> object:
    return choices[zlib.crc32(attention.encode()) % len(choices)]


def colour(attention: str) -> str:
    """The attention's colour; unknown names get a spare colour chosen by a stable hash of the name."""
    return COLOURS.get(attention) or str(_spare(attention, _SPARE))


def marker(attention: str) -> str:
    """The attention's marker (a spare one, by a stable hash, for unknown names)."""
    return MARKERS.get(attention) or str(_spare(attention, _SPARE_MARKERS))


def linestyle(attention: str) -> str | tuple[int, tuple[int, ...]]:
    """The attention's line style (a spare dash pattern, by a stable hash, for unknown names)."""
    found = LINESTYLES.get(attention)
    return found if found is not None else _spare(attention, _SPARE_LINESTYLES)  # type: ignore[return-value]


def ordered(names: Iterable[object], order: tuple[str, ...]) -> list[str]:
    """Known names in their canonical order first, then the others alphabetically."""
    unique = list(dict.fromkeys(str(name) for name in names))
    known = [name for name in order if name in unique]
    return known + sorted(name for name in unique if name not in order)


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task)


def attention_label(attention: str) -> str:
    return ATTENTION_LABELS.get(attention, attention)
