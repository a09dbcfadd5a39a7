"""Why the continuity judge and a label disagree, read from the generator's scene: which contours the judge's trace
followed. The scene only classifies the judge's exceptions; it never enters a verdict (``pathfinder_judge``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lra.data.pathfinder_gen import Generator, Scene
from tests.data.pathfinder_judge import Geometry, Verdict

TARGETS = (0, 1)  # scene contour ids of the two targets; distractors are 2, 3, …
TOUCH = 1.5  # px: inks this close (overlapping or 8-adjacent pixels) touch


@dataclass(frozen=True)
class SceneInk:
    """Each contour's ink as the 8-bit image shows it: ``(y, x)`` points per contour id."""

    points: dict[int, np.ndarray]

    @classmethod
    def of(cls, gen: Generator, scene: Scene, ink: float, contours: tuple[int, ...] | None = None) -> SceneInk:
        """Each contour drawn alone (no markers), scaled as in the whole image, at or above ``ink``."""
        full = gen.draw(scene).max()
        ids = contours if contours is not None else tuple(sorted({c for _, _, c in scene.paddles}))
        return cls({c: np.argwhere(gen.draw(scene, {c}, markers=False) / full * 255 + 0.5 >= ink) for c in ids})

    def distance(self, a: int, b: int) -> float:
        """The shortest distance between the inks of contours ``a`` and ``b``."""
        pa, pb = self.points[a], self.points[b]
        if not len(pa) or not len(pb):
            return float("inf")
        return float(np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1)).min())

    def nearest(self, point: np.ndarray, exclude: tuple[int, ...] = ()) -> tuple[int, float]:
        """The contour whose ink lies nearest ``point``, and how near."""
        best = (-1, float("inf"))
        for c, pts in self.points.items():
            if c not in exclude and len(pts):
                d = float(np.sqrt(((pts - point) ** 2).sum(-1)).min())
                best = min(best, (c, d), key=lambda t: t[1])
        return best


def target_gap(gen: Generator, scene: Scene, ink: float) -> float:
    """How close the two targets' inks come (0 where they overlap)."""
    return SceneInk.of(gen, scene, ink, TARGETS).distance(*TARGETS)


def explain(gen: Generator, scene: Scene, v: Verdict, g: Geometry) -> str:
    """Why ``v`` contradicts the scene's label: the contours its traces followed (``unexplained`` if none)."""
    inks = SceneInk.of(gen, scene, g.ink)

    def contour(dash: int) -> int:
        return inks.nearest(v.dashes[dash].ends.mean(axis=0))[0]

    if scene.label == 0:  # joined although the markers lie on the two targets
        on = {contour(k) for k in v.traces[-1]}
        if set(TARGETS) <= on:
            return "passes from one target to the other"
        if on - set(TARGETS):
            return "passes through a distractor"
        return "one target ends at the other's marker"
    target = scene.markers[0][2]

    def touched(points: list[np.ndarray]) -> bool:
        """Another contour touches the target's ink within a paddle's step (gap and length) of ``points``."""
        own = inks.points[target]
        own = own[np.min([np.sqrt(((own - q) ** 2).sum(-1)) for q in points], axis=0) <= g.gap_max + g.length]
        others = [pts for c, pts in inks.points.items() if c != target and len(pts)]
        return any(len(own) and np.sqrt(((own[:, None] - o[None]) ** 2).sum(-1)).min() <= TOUCH for o in others)

    if not v.traces:
        return (
            "another contour at a marker" if touched([np.array(m[:2], float) for m in scene.markers]) else "unexplained"
        )
    for path in v.traces:
        for k in path:
            if contour(k) != target:
                return "turns onto the other target" if contour(k) in TARGETS else "turns onto a distractor"
    if touched([end for path in v.traces for end in v.dashes[path[-1]].ends]):
        return "stops where another contour touches the target"
    return "unexplained"
