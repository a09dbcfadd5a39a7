"""Seeded Pathfinder / Path-X generator: a re-implementation of PF ``snakes2.py`` (drewlinsley/pathfinder
``ab9c130``, MIT) with LRA's parameters, writing the ``lra_release`` layout that ``pathfinder`` reads.

Procedure per image (PF ``from_wrapper``), with the drawing primitives of ``pathfinder_stamps``:

1. ``label`` uniform in {0, 1}; a paddle margin from ``margins`` (one per image).
2. Two target contours (``two_snakes``): the first seed's tail uniform among free pixels of the mask (a
   ``2·seed_distance`` border blocked, dilated by the paddle's own mask), orientation a uniform integer degree;
   the second seed's tail ``seed_distance`` away at a uniform integer degree, its own orientation; out-of-image
   heads or pivots retried ``max_paddle_retrial`` times. Both grow in lockstep for ``contour_length − 1``
   paddles: pivot = last pivot + (length + 2·margin) along the last orientation; candidate heads = the integer
   points of a circle of radius length + margin around it, weighted ``(1 − dilated occupancy) ·
   max(cos(min(continuity·Δθ, π/2)), 0)²``; a sampled paddle is kept when ``max(mask + paddle mask) < 1.8``,
   else resampled (``max_paddle_retrial`` times). Any failure restarts the pair (most attempts fail: about 19
   in 20 at 32 px hard, 339 in 340 at 128 px hard).
3. ``num_distractors`` distractor contours of ``distractor_length`` paddles, grown the same way from seeds
   anywhere free (``max_distractor_retrial`` retries each, then skipped; none once under 1 % of the canvas is free).
4. Paddles: anti-aliased PIL lines × contrast (targets ``paddle_contrast · snake_contrast``, distractors
   ``snake_contrast``: 1.5 vs 2 at 32 px), combined by pixel-wise max.
5. Markers: discs of ``marker_radius`` at one target's origin tip and at the terminal tip of the same target
   (label 1) or the other (label 0); the image is min–max scaled to 8 bits (``scipy.misc.imsave``).

PF behaviours kept because they shape LRA's data:

* Each snake's newest paddle joins the occupancy mask only when its next one is placed, and only the second
  target's last paddle is added at the end. The two targets, grown in lockstep from seeds ``seed_distance``
  apart, therefore never see each other's newest paddle and can touch or cross; distractors may touch the first
  target's last paddle. With the 1.8 overlap rule, strokes of distinct contours also come within 1–3 px, about
  the gap between consecutive paddles of one contour: only continuity tells contours apart, not distance.
* A seed orientation whose dilation kernel (the paddle's exactly-1.0 mask pixels, one pixel off centre) leaves
  some image pixel without any in-image source is never seeded: OpenCV's ``-DBL_MAX`` border makes PF's
  free-pixel search report nothing (``pathfinder_stamps.Tables._seed_kernel``). At 32 px only the 30 degrees
  −150…−121 can seed, so the first target and every distractor start pointing up-left and a distractor try
  usually fails (about 1 of 5 distractors is placed at hard, 3 of 10 at easy); at 128 px 354 of 360 degrees
  (margin 2) and all (margin 3) can.

Parameters: ``params`` (LRA ``Pathfinder32``/``Pathfinder128`` docstrings over PF ``Args``; lra-data.md §5).

Deviations from PF (none changes the distribution of images except where said):

* Random numbers: one PCG64 stream per image, ``SeedSequence([seed, size, contour_length, index])``, consumed in
  our order (PF used the global NumPy RNG with unpublished seeds): no LRA image can be reproduced, only the
  distribution. Failed attempts are redrawn as PF's restart loops would: ``batch`` target-pair attempts per
  image are grown at once (vectorised, across the images of a job too) and the first that succeeds is used; the
  first seed's orientation is drawn among the seedable ones (any other fails and restarts the pair in PF).
* ``use_single_paddles`` is False (PF wrapper's setting; LRA does not override it; True would add ≈ 700 single
  paddles per 32-px image, which cannot fit).
* 32 px uses the per-difficulty formula ``distractor_length = contour_length // 3``, ``num_distractors =
  20 // distractor_length`` (PF's wrapper loop might have kept the baseline count: unconfirmed); 128 px uses
  ``35 // distractor_length`` (Python 2 division in PF); other parameters as LRA's 128-px hard set.
* Resampling uses today's Pillow Lanczos; ``scipy.misc.imresize``/``imsave`` (removed from SciPy) are
  reproduced on top of it (``bytescale``, uint8 results). The Pillow of 2019 may round some pixels differently.
* When rounding leaves no candidate whose cumulative weight exceeds the uniform draw (probability ~1e-16), PF
  takes its first candidate; here that try fails and is retried.
* An image whose target pair keeps failing raises an error after ``MAX_TARGET_BATCHES`` batches (PF loops
  forever; it never happens with these parameters).
* Layout: ``SHARD_SIZE`` images per ``imgs/<shard>/`` folder (LRA's shard size is unknown); metadata files are
  the text rows LRA reads (PF's ``np.save`` of a string array was converted to text by an unknown step).

Exact re-formulations (no effect on any image): occupancy canvases hold 8-bit levels (PF's float32 values are
``k/255``), the dilated mask is updated paddle by paddle instead of re-dilated at every step, and every stamp is
rendered once per orientation. ``tests/data/pathfinder_reference.py`` is a plain port of PF; the tests compare
the two distributions.

Determinism: image ``i`` depends only on (seed, size, difficulty, i) — not on the number of workers, the job
split or the machine (given the same NumPy, Pillow and zlib), so the same seed gives byte-identical files.

Sample grids and speed: ``python -m lra.data.pathfinder_tool --grid PNG`` / ``--bench``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
from PIL import Image

from lra.data.pathfinder_stamps import FREE, FREE_LEVEL, SEED_DEGREES, Shape, Tables, bytescale, marker, tables
from lra.data.progress import bar
from lra.data.workers import default_workers, process_pool

CONTOUR_LENGTHS = {"easy": 6, "intermediate": 9, "hard": 14}
SHARD_SIZE = 1000  # images per imgs/<shard>/ folder and metadata/<shard>.npy file
# Target-pair attempts drawn at once per image (most fail: at 32 px hard about 1 in 20 succeeds, at 128 px hard
# 1 in 300); the first success is used, images without one draw another batch. Tuned for speed.
BATCH = {(32, "easy"): 4, (32, "intermediate"): 4, (32, "hard"): 16}
BATCH |= {(128, "easy"): 8, (128, "intermediate"): 16, (128, "hard"): 128}
JOB_SIZE = 200  # images per worker job (never crosses a shard)
MAX_TARGET_BATCHES = 1000
ROW_BYTES = 16 << 20  # canvas memory for the target attempts grown together
STOP_AVAILABILITY = 0.01  # distractors stop when less than this fraction of the canvas is free


@dataclass(frozen=True)
class Params:
    """PF ``Args`` fields that the LRA sets use (names as in PF where they exist)."""

    size: int  # window_size
    contour_length: int
    distractor_length: int
    num_distractors: int  # num_distractor_snakes
    padding: int
    aa: int  # antialias_scale
    paddle_length: int
    thickness: float  # paddle_thickness
    margins: tuple[int, ...]  # paddle_margin_list, one drawn per image
    paddle_contrasts: tuple[float, ...]  # paddle_contrast_list, one drawn per target paddle step
    snake_contrasts: tuple[float, ...]  # snake_contrast_list
    marker_radius: float
    seed_distance: int
    continuity: float
    batch: int  # target-pair attempts drawn at once (ours, not PF's): changes which random numbers are used
    max_distractor_retrial: int = 4
    max_paddle_retrial: int = 2

    def shape(self, margin: int) -> Shape:
        return Shape(
            self.size,
            self.padding,
            self.aa,
            self.paddle_length,
            self.thickness,
            margin,
            self.continuity,
            self.seed_distance,
        )


def params(size: int, difficulty: str) -> Params:
    """LRA's Pathfinder-32 (``size=32``) or Path-X / Pathfinder-128 (``size=128``) at a difficulty."""
    contour = CONTOUR_LENGTHS[difficulty]
    distractor = contour // 3
    if size == 32:
        return Params(
            size=32,
            contour_length=contour,
            distractor_length=distractor,
            num_distractors=20 // distractor,
            padding=1,
            aa=2,
            paddle_length=2,
            thickness=0.5,
            margins=(1,),
            paddle_contrasts=(0.75,),
            snake_contrasts=(2.0,),
            marker_radius=1.5,
            seed_distance=7,
            continuity=1.0,
            batch=BATCH[32, difficulty],
        )
    if size == 128:
        return Params(
            size=128,
            contour_length=contour,
            distractor_length=distractor,
            num_distractors=35 // distractor,
            padding=1,
            aa=2,  # LRA lists 4 then 2; the last assignment wins
            paddle_length=5,
            thickness=1.5,
            margins=(2, 3),
            paddle_contrasts=(1.0,),
            snake_contrasts=(0.9,),
            marker_radius=3,
            seed_distance=20,
            continuity=1.8,
            batch=BATCH[128, difficulty],
        )
    raise ValueError(f"no Pathfinder parameters for {size}×{size} (32 or 128)")


@overload
def _scale(u: float, n: int) -> int: ...
@overload
def _scale(u: np.ndarray, n: np.ndarray | int) -> np.ndarray: ...
def _scale(u: float | np.ndarray, n: np.ndarray | int) -> int | np.ndarray:
    """Uniforms in [0, 1) → integers in ``0..n-1`` (PF's ``np.random.randint(0, n)``; ``n`` may be an array)."""
    if isinstance(u, float):
        return min(int(u * n), int(n) - 1)
    return np.minimum((u * n).astype(np.int64), np.asarray(n) - 1)


def _inside(y: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    return (y >= 0) & (y < n) & (x >= 0) & (x < n)


class Canvases:
    """Occupancy canvases of several attempts (flat, padded; see ``Tables``): PF's mask and its dilation by the
    margin disk as uint8 levels. The dilation of a max is the max of the dilations, so both grow paddle by
    paddle instead of PF's dilation of the whole mask at every step."""

    def __init__(self, t: Tables, count: int) -> None:
        self.t = t
        self.size = t.width**2 + 1  # one canvas
        self.mask = np.tile(t.base_mask, (count, 1))
        self.dilated = np.tile(t.base_dilated, (count, 1))

    def occupy(self, rows: np.ndarray, segs: np.ndarray) -> None:
        """Add paddles ``segs`` (``[m, 3]``: stamp, y, x) to the canvases of ``rows``."""
        t = self.t
        at = (rows * self.size + t.index(segs[:, 1], segs[:, 2]))[:, None]
        for canvas, off, val in ((self.mask, t.mask_off, t.mask_val), (self.dilated, t.dilated_off, t.dilated_val)):
            flat, idx = canvas.reshape(-1), at + off[segs[:, 0]]
            flat[idx] = np.maximum(flat[idx], val[segs[:, 0]])

    def fits(self, rows: np.ndarray, stamps: np.ndarray, heads: np.ndarray) -> np.ndarray:
        """``max(mask + paddle mask) < 1.8`` for paddles ``stamps`` at flat canvas positions ``heads`` (both
        ``[m, trials]``) on ``rows``; pixels outside the image are ignored (PF clips the stamp)."""
        t = self.t
        idx = heads[..., None] + t.core_off[stamps]
        idx = np.where(t.inside[idx], idx, self.size - 1) + (rows * self.size)[:, None, None]
        return ~(self.mask.reshape(-1)[idx] >= t.core_limit[stamps]).any(-1)

    def extend(
        self, rows: np.ndarray, pivots: np.ndarray, orients: np.ndarray, draws: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PF ``extend_snake`` + ``get_coords_cmf`` for one snake on each of ``rows``, with uniform ``draws``
        ``[m, trials]``: ``(grown, new paddle [m, 3], new pivot [m, 2])``; the paddle is not yet in the mask (PF
        adds it when the next one is placed). Candidates outside the image read the dilated canvas's padding,
        which is never free (weight 0)."""
        t = self.t
        pivot = np.ceil(pivots + t.step[orients]).astype(np.int64)
        reach = t.pad - t.shape.length - t.shape.margin - 1  # how far outside the image a pivot may lie
        if np.abs(pivot - t.shape.size / 2).max(initial=0) > t.shape.size / 2 + reach:
            raise RuntimeError("internal error: a pivot left the padded canvas")
        heads = t.index(pivot[:, :1], pivot[:, 1:]) + t.ring_off
        pmf = FREE[self.dilated.reshape(-1)[heads + (rows * self.size)[:, None]]] * t.weights[orients]
        total = pmf.sum(1)
        alive = total >= 1e-4
        cmf = np.cumsum(pmf / np.where(alive, total, 1)[:, None], axis=1)
        above = cmf[:, None, :] > draws[:, :, None]
        # PF takes the first candidate whose cmf exceeds the draw; when rounding leaves none (probability
        # ~1e-16) PF takes its first candidate, here that trial fails instead.
        k = above.argmax(-1)
        line = np.arange(len(rows))[:, None]
        fit = self.fits(rows, SEED_DEGREES + k, heads[line, k]) & above.any(-1) & alive[:, None]
        k = k[line[:, 0], fit.argmax(1)]
        segs = np.stack([SEED_DEGREES + k, pivot[:, 0] + t.ring_dy[k], pivot[:, 1] + t.ring_dx[k]], axis=1)
        return fit.any(1), segs, pivot

    def row(self, b: int) -> Canvases:
        """A copy of canvas ``b`` alone."""
        one = Canvases(self.t, 0)
        one.mask, one.dilated = self.mask[b : b + 1].copy(), self.dilated[b : b + 1].copy()
        return one


Segments = list[tuple[np.ndarray, float]]  # placed paddles [m, 3] (stamp, y, x) and their contrast
Paddle = tuple[np.ndarray, float, int]  # paddles [m, 3] (stamp, y, x), contrast, contour
Targets = tuple[Canvases, Segments, np.ndarray, np.ndarray]  # canvas, paddles, origin tips, terminal tips


@dataclass(frozen=True)
class Scene:
    """What one image shows: its paddles ``(paddles [m, 3] (stamp, y, x), contrast, contour)`` (contours 0 and 1
    are the targets, 2… the distractors) and its two markers ``(y, x, contour)``."""

    label: int
    margin: int
    tables: Tables
    paddles: list[Paddle]
    markers: tuple[tuple[int, int, int], tuple[int, int, int]]


class Generator:
    """Renders images for one ``Params`` (tables built lazily per margin, once per process)."""

    def __init__(self, p: Params) -> None:
        self.p = p
        self._lines: dict[tuple[int, float], np.ndarray] = {}

    def lines(self, t: Tables, contrast: float) -> np.ndarray:
        """Line stamps (flat) × contrast, rounded to float32 as PF's float32 canvases store them."""
        key = (t.shape.margin, float(contrast))
        if key not in self._lines:
            values = (t.lines / 255) * contrast
            self._lines[key] = values.astype(np.float32).astype(np.float64)
        return self._lines[key]

    def _draws(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Every uniform a batch of ``batch`` target-pair attempts may use, drawn up front."""
        p, count, tries = self.p, self.p.batch, self.p.max_paddle_retrial + 1
        shapes = {
            "mu": (count, 2 * len(p.snake_contrasts)),
            "contrast": (count, p.contour_length + 1),
            "seed1": (count, 2),
            "seed2": (count, 2, tries),
            "steps": (count, p.contour_length - 1, 2, tries),
        }
        return {key: rng.random(shape) for key, shape in shapes.items()}

    def _seeds(self, t: Tables, u: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PF ``initialize_two_seeds`` for each attempt: ``(ok, seeds [m, 2, 3], pivots [m, 2, 2])``.

        The first seed's orientation is drawn among those PF can seed (a draw of any other fails and restarts
        the pair, so the accepted pairs have this distribution); a seed whose head or pivot leaves the image
        is retried (first seed: the retry is a restart, equivalent in distribution; second seed: up to
        ``max_paddle_retrial`` times with the first kept, as in PF)."""
        n = self.p.size
        d1 = t.first_valid[_scale(u["seed1"][:, 0], len(t.first_valid))]
        tail1 = np.stack(np.divmod(t.first_free[d1, _scale(u["seed1"][:, 1], t.first_count[d1])], n), axis=1)
        head1 = np.ceil(tail1 + t.seed_head[d1]).astype(np.int64)
        pivot1 = np.ceil(head1 + t.seed_pivot[d1]).astype(np.int64)
        ok = _inside(head1[:, 0], head1[:, 1], n) & _inside(pivot1[:, 0], pivot1[:, 1], n)
        d2 = _scale(u["seed2"][:, 0], SEED_DEGREES)
        tail2 = np.rint(tail1[:, None, :] + t.second[_scale(u["seed2"][:, 1], 360)]).astype(np.int64)
        head2 = np.ceil(tail2 + t.seed_head[d2]).astype(np.int64)
        pivot2 = np.ceil(head2 + t.seed_pivot[d2]).astype(np.int64)
        good = _inside(head2[..., 0], head2[..., 1], n) & _inside(pivot2[..., 0], pivot2[..., 1], n)
        rows = np.arange(len(d1))
        first = good.argmax(1)
        seed1 = np.concatenate([d1[:, None], tail1], axis=1)
        seed2 = np.concatenate([d2[rows, first, None], tail2[rows, first]], axis=1)
        return ok & good.any(1), np.stack([seed1, seed2], axis=1), np.stack([pivot1, pivot2[rows, first]], axis=1)

    def _targets(self, t: Tables, rngs: list[np.random.Generator]) -> list[Targets | None]:
        """PF ``two_snakes`` for several images at once, ``batch`` attempts each (each attempt a full restart of
        the pair, all grown in lockstep); per image the first attempt that succeeded, or None."""
        p, batch = self.p, self.p.batch
        drawn = [self._draws(rng) for rng in rngs]
        u = {key: np.concatenate([d[key] for d in drawn]) for key in drawn[0]}
        mus = np.asarray(list(p.snake_contrasts) * 2)  # PF shuffles this list and keeps the first two
        mu = mus[np.argsort(u["mu"], axis=1)[:, :2]]
        contrast = np.asarray(p.paddle_contrasts)[_scale(u["contrast"], len(p.paddle_contrasts))]
        ok, segs, pivots = self._seeds(t, u)
        history = [segs.copy()]
        contrasts = [contrast[:, :2] * mu]
        canvases = Canvases(t, len(ok))
        alive = np.flatnonzero(ok)
        for step in range(1, p.contour_length):
            if not len(alive):
                return [None] * len(rngs)
            grown = segs.copy()
            for s in range(2):
                placed, new, pivot = canvases.extend(
                    alive, pivots[alive, s], segs[alive, s, 0], u["steps"][alive, step - 1, s]
                )
                alive = alive[placed]
                canvases.occupy(alive, segs[alive, s])
                grown[alive, s], pivots[alive, s] = new[placed], pivot[placed]
            segs = grown
            history.append(segs)
            contrasts.append(contrast[:, step + 1 : step + 2] * mu)
        canvases.occupy(alive, segs[alive, 1])  # PF adds only the second snake's last paddle to the mask
        results: list[Targets | None] = []
        for image in range(len(rngs)):
            i = np.searchsorted(alive, image * batch)
            if i == len(alive) or alive[i] >= (image + 1) * batch:
                results.append(None)
                continue
            b = alive[i]
            paddles = [(h[b, s][None], float(c[b, s])) for h, c in zip(history, contrasts, strict=True) for s in (0, 1)]
            results.append((canvases.row(b), paddles, history[0][b, :, 1:], segs[b, :, 1:]))
        return results

    def _distractor_seed(
        self, t: Tables, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """PF ``seed_snake`` on one canvas: ``(first paddle [3], pivot [2], contrasts [distractor_length])``."""
        p, n = self.p, self.p.size
        occupied = None
        for _ in range(p.max_paddle_retrial + 1):
            d = _scale(rng.random(), SEED_DEGREES)
            if t.kernels[d] is None:
                return None
            if occupied is None:
                lined = t.unpadded(mask).copy()
                lined[0, :] = lined[-1, :] = lined[:, 0] = lined[:, -1] = 255
                occupied = lined > FREE_LEVEL
            free = t.free_pixels(occupied, d)
            if not len(free):
                return None
            tail = divmod(int(free[_scale(rng.random(), len(free))]), n)
            head = (math.ceil(tail[0] + t.seed_head[d, 0]), math.ceil(tail[1] + t.seed_head[d, 1]))
            pivot = (math.ceil(head[0] + t.seed_pivot[d, 0]), math.ceil(head[1] + t.seed_pivot[d, 1]))
            if _inside(head[0], head[1], n) and _inside(pivot[0], pivot[1], n):
                contrasts = np.asarray(p.snake_contrasts)[
                    _scale(rng.random(p.distractor_length), len(p.snake_contrasts))
                ]
                return np.array([d, *tail]), np.array(pivot), contrasts
        return None

    def _distractors(self, t: Tables, rngs: list[np.random.Generator], canvas: Canvases) -> list[list[Paddle]]:
        """PF ``make_many_snakes`` (``make_snake`` retried, ``allow_incomplete``) for several images at once, one
        canvas row each; every image draws and grows exactly as it would alone, only the steps are vectorised."""
        p, n = self.p, self.p.size
        tries = p.max_paddle_retrial + 1
        placed: list[list[Paddle]] = [[] for _ in rngs]
        segs = np.zeros((len(rngs), 3), np.int64)
        pivots = np.zeros((len(rngs), 2), np.int64)
        for k in range(p.num_distractors):
            # PF: once under 1 % of the canvas is free every later seed fails
            todo = [
                i
                for i in range(len(rngs))
                if np.count_nonzero(t.unpadded(canvas.mask[i]) <= FREE_LEVEL) >= STOP_AVAILABILITY * n * n
            ]
            for _ in range(p.max_distractor_retrial + 1):
                seeded = [(i, self._distractor_seed(t, canvas.mask[i], rngs[i])) for i in todo]
                rows = np.array([i for i, seed in seeded if seed is not None], np.int64)
                paddles: dict[int, list[Paddle]] = {}
                for i, seed in seeded:
                    if seed is not None:
                        segs[i], pivots[i], contrasts = seed
                        paddles[i] = [(segs[i][None].copy(), float(c), 2 + k) for c in contrasts]
                saved = canvas.mask[rows], canvas.dilated[rows]
                alive = rows
                for step in range(1, p.distractor_length):
                    draws = np.stack([rngs[i].random(tries) for i in alive]) if len(alive) else np.zeros((0, tries))
                    grown, new, pivot = canvas.extend(alive, pivots[alive], segs[alive, 0], draws)
                    alive = alive[grown]
                    canvas.occupy(alive, segs[alive])
                    segs[alive], pivots[alive] = new[grown], pivot[grown]
                    for i in alive:
                        paddles[i][step] = (segs[i][None].copy(), *paddles[i][step][1:])
                canvas.occupy(alive, segs[alive])
                failed = np.isin(rows, alive, invert=True)
                canvas.mask[rows[failed]], canvas.dilated[rows[failed]] = saved[0][failed], saved[1][failed]
                for i in alive:
                    placed[i] += paddles[i]
                todo = [i for i in todo if i not in set(alive.tolist())]
        return placed

    def _finish(self, t: Tables, rngs: list[np.random.Generator], found: list[Targets], labels: list[int]) -> list:
        """Distractors and markers (PF ``from_wrapper`` after ``two_snakes``) for images sharing ``t``."""
        canvas = Canvases(t, 0)
        canvas.mask = np.concatenate([f[0].mask for f in found])
        canvas.dilated = np.concatenate([f[0].dilated for f in found])
        distractors = self._distractors(t, rngs, canvas)
        out = []
        for rng, (_, paddles, origins, terminals), label, extra in zip(rngs, found, labels, distractors, strict=True):
            origin = _scale(rng.random(), 2)
            terminal = origin if label == 1 else 1 - origin
            markers = ((*map(int, origins[origin]), origin), (*map(int, terminals[terminal]), terminal))
            placed = [(seg, contrast, i % 2) for i, (seg, contrast) in enumerate(paddles)]  # targets: 0, 1, 0, …
            out.append((placed + extra, markers))
        return out

    def scenes(self, rngs: list[np.random.Generator]) -> list[Scene]:
        """One scene per random stream; each depends only on its own stream (scenes are drawn together only to
        share the vectorised target growth)."""
        p = self.p
        labels = [_scale(rng.random(), 2) for rng in rngs]
        margins = [p.margins[_scale(rng.random(), len(p.margins))] for rng in rngs]
        targets: list[Targets | None] = [None] * len(rngs)
        for _ in range(MAX_TARGET_BATCHES):
            todo = [i for i, found in enumerate(targets) if found is None]
            if not todo:
                break
            for margin in sorted({margins[i] for i in todo}):
                group = [i for i in todo if margins[i] == margin]
                t = tables(p.shape(margin))
                rows = max(1, ROW_BYTES // (p.batch * 2 * (t.width**2 + 1)))
                for lo in range(0, len(group), rows):
                    chunk = group[lo : lo + rows]
                    for i, found in zip(chunk, self._targets(t, [rngs[i] for i in chunk]), strict=True):
                        targets[i] = found
        else:
            raise RuntimeError(f"pathfinder{p.size}: no target pair in {MAX_TARGET_BATCHES} × {p.batch} tries")
        scenes: list[Scene | None] = [None] * len(rngs)
        for margin in sorted(set(margins)):
            group = [i for i in range(len(rngs)) if margins[i] == margin]
            t = tables(p.shape(margin))
            finished = self._finish(
                t, [rngs[i] for i in group], [targets[i] for i in group], [labels[i] for i in group]
            )  # type: ignore[misc]
            for i, (paddles, markers) in zip(group, finished, strict=True):
                scenes[i] = Scene(labels[i], margin, t, paddles, markers)
        return scenes  # type: ignore[return-value]

    def draw(self, scene: Scene, contours: set[int] | None = None, markers: bool = True) -> np.ndarray:
        """PF's float image of ``scene`` before 8-bit scaling: paddles combined by max (only those of
        ``contours`` when given), then the markers."""
        t, p, n = scene.tables, self.p, self.p.size
        image = np.zeros(t.width**2 + 1)
        chosen = [(seg, c) for seg, c, contour in scene.paddles if contours is None or contour in contours]
        for contrast in sorted({c for _, c in chosen}):
            seg = np.concatenate([seg for seg, c in chosen if c == contrast])
            np.maximum.at(image, t.index(seg[:, 1:2], seg[:, 2:3]) + t.line_off, self.lines(t, contrast)[seg[:, 0]])
        out = t.unpadded(image).copy()
        if markers:
            discs = [marker(n, p.aa, p.marker_radius, y, x) for y, x, _ in scene.markers]
            np.maximum(out, np.maximum(*discs).astype(np.float64) / 255, out=out)
        return out

    def render(self, rngs: list[np.random.Generator]) -> list[tuple[np.ndarray, int, int]]:
        """Images ``(pixels uint8 [size, size], label, margin)``, one per random stream."""
        return [(bytescale(self.draw(scene)), scene.label, scene.margin) for scene in self.scenes(rngs)]


def image_rng(seed: int, p: Params, index: int) -> np.random.Generator:
    """The random stream of image ``index``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, p.size, p.contour_length, index])))


def metadata_row(p: Params, shard: int, k: int, label: int, margin: int) -> str:
    """PF ``accumulate_meta``'s 11 fields as LRA's text files print them."""
    return (
        f"imgs/{shard} sample_{k}.png {k} {label} {p.continuity!r} {p.contour_length} {p.distractor_length} "
        f"{p.paddle_length} {p.thickness!r} {margin} {len(p.paddle_contrasts)}"
    )


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


@functools.lru_cache(maxsize=8)
def _generator(p: Params) -> Generator:
    """One generator per parameter set and process (it caches contrast-scaled stamps)."""
    return Generator(p)


def _job(job: tuple[str, Params, int, int, int]) -> list[str]:
    """Render images ``lo..hi-1`` (one shard's range) into ``folder``; return their metadata rows."""
    folder, p, seed, lo, hi = job
    rendered = _generator(p).render([image_rng(seed, p, i) for i in range(lo, hi)])
    rows = []
    for i, (pixels, label, margin) in zip(range(lo, hi), rendered, strict=True):
        shard, k = divmod(i, SHARD_SIZE)
        (Path(folder) / "imgs" / str(shard) / f"sample_{k}.png").write_bytes(png_bytes(pixels))
        rows.append(metadata_row(p, shard, k, label, margin))
    return rows


def generate(folder: Path, *, size: int, difficulty: str, count: int, seed: int, workers: int | None = None) -> None:
    """Write ``count`` images into ``folder`` (a difficulty folder: ``imgs/<shard>/sample_<k>.png`` and
    ``metadata/<shard>.npy`` text rows), ``workers`` processes at a time."""
    p = params(size, difficulty)
    workers = default_workers() if workers is None else workers
    shards = math.ceil(count / SHARD_SIZE)
    (folder / "metadata").mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        (folder / "imgs" / str(shard)).mkdir(parents=True, exist_ok=True)
    jobs = []
    for shard in range(shards):
        end = min((shard + 1) * SHARD_SIZE, count)
        jobs += [(str(folder), p, seed, lo, min(lo + JOB_SIZE, end)) for lo in range(shard * SHARD_SIZE, end, JOB_SIZE)]
    rows: list[str] = []
    name = "pathfinder" if size == 32 else "pathx"
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(bar(total=count, desc=f"{name}: generating {difficulty}", unit=" img"))
        mapper = map
        if workers > 1 and len(jobs) > 1:
            mapper = stack.enter_context(process_pool(min(workers, len(jobs)))).imap
        for (_, _, _, lo, hi), job_rows in zip(jobs, mapper(_job, jobs), strict=True):
            rows += job_rows
            progress.update(hi - lo)
            if hi % SHARD_SIZE == 0 or hi == count:  # a shard is complete: its metadata file, rows in image order
                (folder / "metadata" / f"{(hi - 1) // SHARD_SIZE}.npy").write_text("\n".join(rows) + "\n")
                rows = []
