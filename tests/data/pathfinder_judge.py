"""Pixel judges of Pathfinder images: are the two markers on one contour? They read only the 8-bit image and the
published parameters (``Params``), never a scene: the tests compare their verdicts with the files' labels.

**The continuity judge** (``verdict``) follows PF's geometry (``lra/data/pathfinder_gen.py``). A contour is a chain
of ``contour_length`` paddles, segments of ``paddle_length`` L; the next paddle starts ``margin`` m beyond a pivot
that lies m beyond the last paddle's end along its direction, and turns by less than ``θmax = π / (2·continuity)``
(PF's candidate weight ``cos(min(continuity·Δθ, π/2))²`` vanishes there). So the gap between consecutive paddles
is about 2m long and runs along the bisector of the two paddles' directions. Distinct contours, however, may come
as close as that gap (PF's overlap rule allows it, and the two targets never see each other's newest paddle),
so distance alone cannot separate them (the bridged flood fill below); direction can. The judge:

1. finds the two marker discs and, for each, the paddle that starts at its centre (the *stub*: the disc hides
   it up to the marker radius r, the rest shows as a ray; at 32 px, L − r < 1 px, it is hidden and the marker is
   a point without direction);
2. splits the remaining ink (pixels at least half the target stroke's core level: the stroke's edge) into
   connected pieces and explains each piece greedily by segments of length L (*dashes*): first the candidate
   whose core (the paddle's own thickness) covers the most ink and whose axis stays at 3/4 of the core level or
   more, so that touching or crossing paddles come apart; each dash's ends are its pixels' principal axis;
3. links an end E of one dash (outward direction u) to an end F of another (direction w into it) when the gap
   is at most ``2·max(margin) + ROUNDING``, the link direction v = F − E is within θmax/2 of both u and w and
   u, w differ by at most θmax (each with the tolerances below), and no other dash runs along the gap (the link
   would skip a paddle; a paddle crossing the gap does not block it); a link costs its total turning
   |∠(u, v)| + |∠(v, w)|;
4. traces from each stub of one marker, always taking the cheapest link to an unvisited dash (the straightest
   continuation), until it reaches a stub of the other marker or has no link left;
5. says *joined* when a trace from either marker reaches the other with exactly ``contour_length`` dashes: a
   target has that many paddles and the markers sit at its two tips.

Every threshold comes from the parameters (``Geometry``): the levels from PF's contrasts, ``ROUNDING`` from its
integer rounding, the axis tolerances from the dash and stub lengths, the stroke width from ``paddle_thickness``;
none is fitted to labels.

**The bridged flood fill** (``flood_joined``) joins ink pixels closer than a bridge and asks whether one marker's
block reaches the other's: it has no notion of direction, so it joins distinct contours that come within the
bridge; the tests use it where paddles are too small for directions (32 px).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# PF rounds twice between consecutive paddles: candidate heads are the integer points (floor) of a circle of radius
# L + m around the pivot (up to √2 px short of it) and the next pivot is ceil-ed (up to √2 px off); each stroke end
# is read from pixel centres (±0.5 px each).
ROUNDING = 2 * math.sqrt(2) + 1
RAY_STEP = 2  # degrees between the rays of a stub search
SAMPLE = 0.5  # px between samples along a ray or a segment's axis
ORIENTATIONS = np.deg2rad(np.arange(0, 180, 5))  # candidate segment directions (5° apart; refined afterwards)
DIRECTIONS = np.stack([np.sin(ORIENTATIONS), np.cos(ORIENTATIONS)], axis=1)


class PaddleParams(Protocol):
    """The published parameters the judges read (``lra.data.pathfinder_gen.Params``)."""

    contour_length: int
    paddle_length: int
    thickness: float
    margins: tuple[int, ...]
    continuity: float
    marker_radius: float
    paddle_contrasts: tuple[float, ...]
    snake_contrasts: tuple[float, ...]


@dataclass(frozen=True)
class Geometry:
    """What the judge knows about an image: PF's parameters, and the quantities derived from them."""

    contour_length: int
    length: float  # paddle length L
    thickness: float  # paddle thickness
    margins: tuple[int, ...]
    max_turn: float  # θmax = π / (2·continuity)
    radius: float  # marker radius r
    core: float  # 8-bit level of the dimmest target stroke's core

    @classmethod
    def of(cls, p: PaddleParams) -> Geometry:
        """The core level: PF draws target strokes at contrast ``paddle_contrast · snake_contrast``, distractors
        at ``snake_contrast``, markers at 1, and a stroke thinner than a pixel peaks at about its thickness; the
        image is then scaled so that the brightest of them is 255 (``bytescale``)."""
        peak = min(1.0, p.thickness)
        target = min(p.paddle_contrasts) * min(p.snake_contrasts) * peak
        top = max(1.0, max(p.snake_contrasts) * peak, max(p.paddle_contrasts) * max(p.snake_contrasts) * peak)
        return cls(
            contour_length=p.contour_length,
            length=float(p.paddle_length),
            thickness=p.thickness,
            margins=tuple(p.margins),
            max_turn=math.pi / (2 * p.continuity),
            radius=float(p.marker_radius),
            core=target / top * 255,
        )

    @property
    def ink(self) -> float:
        """Ink: at least half the core level, which is a stroke's edge (anti-aliased strokes are half-bright
        there)."""
        return self.core / 2

    @property
    def solid(self) -> float:
        """The level an axis within half a pixel of a stroke's axis keeps (3/4 of the core for PF's strokes)."""
        return 0.75 * self.core

    @property
    def half_width(self) -> float:
        """How far from a stroke's axis the centres of its ink pixels lie."""
        return self.thickness / 2 + 0.5

    @property
    def block(self) -> int:
        """Side of the largest square inside a marker disc: the markers are the two brightest such blocks."""
        return int(self.radius * math.sqrt(2))

    @property
    def gap_max(self) -> float:
        """The longest gap between consecutive paddles: 2·margin, plus PF's rounding."""
        return 2 * max(self.margins) + ROUNDING

    @property
    def axis_tol(self) -> float:
        """How far a dash's axis may be off: each of its ends is read to ±0.5 px over its length L."""
        return math.atan2(1.0, self.length)

    @property
    def stub_tol(self) -> float:
        """How far a stub's axis may be off: it is read from the L − r of it that the disc leaves visible."""
        return math.atan2(self.half_width, max(self.length - self.radius, SAMPLE))

    @property
    def stub_hidden(self) -> bool:
        """Whether a marker disc hides its paddle (less than a pixel of it sticks out)."""
        return self.length - self.radius < 1

    @property
    def min_pixels(self) -> int:
        """Ink pixels a dash must explain: half a paddle's length (smaller pieces are halos or remnants)."""
        return int(self.length // 2) + 1


@dataclass(frozen=True)
class Dash:
    """A paddle as the judge sees it: ends ``[2, 2]`` (y, x); a stub's end 0 is its marker's centre."""

    ends: np.ndarray
    marker: int = -1  # the marker (0 or 1) whose stub this is, else -1

    @property
    def hidden(self) -> bool:
        return self.marker >= 0 and not np.any(self.ends[0] != self.ends[1])


@dataclass(frozen=True)
class Verdict:
    """The verdict, with what it rests on: the traces tried (indices into ``dashes``; when joined, the last one
    reached the other marker)."""

    joined: bool
    traces: tuple[tuple[int, ...], ...]
    dashes: tuple[Dash, ...]


# --- markers --------------------------------------------------------------------------------------------------------


def find_markers(pixels: np.ndarray, k: int) -> list[tuple[int, int]]:
    """Top-left corners of the two brightest non-overlapping ``k × k`` blocks (paddles are too thin to fill one)."""
    a = pixels.astype(np.int64)
    h, w = a.shape
    sums = sum(a[i : h - k + 1 + i, j : w - k + 1 + j] for i in range(k) for j in range(k))
    first = np.unravel_index(np.argmax(sums), sums.shape)
    sums[max(0, first[0] - k + 1) : first[0] + k, max(0, first[1] - k + 1) : first[1] + k] = -1
    second = np.unravel_index(np.argmax(sums), sums.shape)
    return [(int(first[0]), int(first[1])), (int(second[0]), int(second[1]))]


def marker_centres(pixels: np.ndarray, g: Geometry) -> np.ndarray:
    """Each marker's centre: the centroid of the disc's plateau (pixels near the block at least as bright as the
    block's dimmest pixel)."""
    k = g.block
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    centres = []
    for y, x in find_markers(pixels, k):
        cy, cx = y + (k - 1) / 2, x + (k - 1) / 2
        plateau = (np.hypot(yy - cy, xx - cx) <= g.radius + 1) & (pixels >= pixels[y : y + k, x : x + k].min())
        centres.append((yy[plateau].mean(), xx[plateau].mean()))
    return np.array(centres)


def _bilinear(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    h, w = image.shape
    ys, xs = np.clip(ys, 0, h - 1.001), np.clip(xs, 0, w - 1.001)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    fy, fx = ys - y0, xs - x0
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def stub_directions(image: np.ndarray, centre: np.ndarray, g: Geometry) -> list[np.ndarray]:
    """Unit directions of the paddles leaving a marker: local maxima of the mean level along rays from r + ½ to
    L − ½ px, less the disc's own halo (the median over all rays), that reach the ink level."""
    angles = np.deg2rad(np.arange(0, 360, RAY_STEP))
    radii = np.arange(g.radius + 0.5, g.length - 0.5 + 1e-9, SAMPLE / 2)
    ys = centre[0] + radii[None, :] * np.sin(angles)[:, None]
    xs = centre[1] + radii[None, :] * np.cos(angles)[:, None]
    levels = _bilinear(image, ys, xs)
    level = (levels - np.median(levels, axis=0)).mean(axis=1)
    peaks = (level >= np.roll(level, 1)) & (level >= np.roll(level, -1)) & (level >= g.ink)
    width = math.atan2(g.half_width, radii.mean())  # a stroke's angular half-width seen from the centre
    chosen: list[int] = []
    for k in sorted(np.flatnonzero(peaks), key=lambda k: -level[k]):  # one peak per stroke: drop its shoulders
        if all(abs(math.remainder(angles[k] - angles[j], 2 * math.pi)) > width for j in chosen):
            chosen.append(int(k))
    return [np.array([math.sin(angles[k]), math.cos(angles[k])]) for k in chosen]


# --- dashes ---------------------------------------------------------------------------------------------------------


def components(mask: np.ndarray) -> np.ndarray:
    """8-connected component labels (0 = background, then 1, 2, …)."""
    h, w = mask.shape
    empty = h * w + 1
    labels = np.where(mask, np.arange(1, h * w + 1).reshape(h, w), empty)
    while True:
        padded = np.pad(labels, 1, constant_values=empty)
        low = labels.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                np.minimum(low, padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w], out=low)
        low = np.where(mask, low, empty)
        if (low == labels).all():
            break
        labels = low
    out = np.zeros((h, w), np.int64)
    out[mask] = np.unique(labels[mask], return_inverse=True)[1] + 1
    return out


def _axis(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Ends ``[2, 2]`` of the weighted principal axis through ``points`` (their extreme projections)."""
    mean = weights @ points / weights.sum()
    centred = points - mean
    axis = np.linalg.eigh((centred.T * weights) @ centred)[1][:, 1]
    t = centred @ axis
    return np.stack([mean + t.min() * axis, mean + t.max() * axis])


def fit_paddles(points: np.ndarray, image: np.ndarray, g: Geometry) -> list[np.ndarray]:
    """Explain the ink ``points`` (one connected piece) by segments of the paddle length, greedily: the candidate
    (centred on an ink pixel, 5° steps) with ink all along its axis that covers the most unexplained ink weight,
    then the next… Returns the index arrays of the points each segment explains."""
    weights = image[points[:, 0], points[:, 1]].astype(np.float64)
    rel = points[None, :, :] - points[:, None, :]  # [centre, point, 2]
    along = rel @ DIRECTIONS.T  # [centre, point, direction]
    across = np.abs(rel[..., :1] * DIRECTIONS[:, 1] - rel[..., 1:] * DIRECTIONS[:, 0])
    inside = np.abs(along) <= g.length / 2 + 0.5
    cover = (inside & (across <= g.half_width)).transpose(0, 2, 1).reshape(-1, len(points))  # [candidate, point]
    core = (inside & (across <= g.thickness / 2)).transpose(0, 2, 1).reshape(-1, len(points))
    t = np.arange(-(g.length - 1) / 2, (g.length - 1) / 2 + 1e-9, SAMPLE)
    ys = points[:, None, None, 0] + t * DIRECTIONS[None, :, None, 0]
    xs = points[:, None, None, 1] + t * DIRECTIONS[None, :, None, 1]
    solid = (_bilinear(image, ys, xs) >= g.solid).all(axis=-1).reshape(-1)
    left = np.ones(len(points), bool)
    out = []
    while left.sum() >= g.min_pixels:
        score = core @ (weights * left)
        best = int(np.argmax(np.where(solid, score, -1)))
        if not solid[best] or (cover[best] & left).sum() < g.min_pixels:
            best = int(np.argmax(score))  # none solid left: a paddle cut short by the border or a disc
        got = cover[best] & left
        if got.sum() < g.min_pixels:
            break
        out.append(np.flatnonzero(got))
        left &= ~cover[best]
    return out


def dashes(pixels: np.ndarray, g: Geometry) -> tuple[list[Dash], np.ndarray]:
    """The stubs of both markers, then every other dash; and each pixel's dash (-1: none)."""
    image = pixels.astype(np.float64)
    centres = marker_centres(pixels, g)
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    rel = [np.stack([yy - c[0], xx - c[1]], axis=-1) for c in centres]
    ink = pixels >= g.ink
    for r in rel:
        ink &= np.hypot(r[..., 0], r[..., 1]) > g.radius + 0.5
    owner = np.full(pixels.shape, -1)
    out: list[Dash] = []
    for m, (c, r) in enumerate(zip(centres, rel, strict=True)):
        if g.stub_hidden:
            out.append(Dash(np.stack([c, c]), m))
            continue
        for u in stub_directions(image, c, g):
            along = r @ u
            across = np.abs(r[..., 0] * u[1] - r[..., 1] * u[0])
            corridor = (along >= 0) & (along <= g.length + 0.5) & (across <= g.half_width) & ink
            if corridor.any():  # refine the ray's direction: the axis through the centre that fits the stub's ink
                q = r[corridor]
                axis = np.linalg.eigh((q.T * image[corridor]) @ q)[1][:, 1]
                u = axis if axis @ u > 0 else -axis
            owner[corridor] = len(out)
            ink &= ~corridor
            out.append(Dash(np.stack([c, c + g.length * u]), m))
    labels = components(ink)
    points = np.argwhere(labels)
    points = points[np.argsort(labels[points[:, 0], points[:, 1]], kind="stable")]
    for piece in np.split(points, np.flatnonzero(np.diff(labels[points[:, 0], points[:, 1]])) + 1):
        if len(piece) < g.min_pixels:
            continue
        for got in fit_paddles(piece, image, g):
            ys, xs = piece[got, 0], piece[got, 1]
            owner[ys, xs] = len(out)
            out.append(Dash(_axis(piece[got].astype(np.float64), image[ys, xs])))
    return out, owner


# --- links and traces -----------------------------------------------------------------------------------------------


def _signed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed angle from vectors ``a`` to ``b`` (last axis (y, x)); 0 where either is zero."""
    return np.arctan2(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], (a * b).sum(-1))


def _gap_clear(
    owner: np.ndarray, dash_list: list[Dash], i: int, j: int, e: np.ndarray, f: np.ndarray, g: Geometry
) -> bool:
    """No dash other than ``i`` and ``j`` lies along the gap ``e → f`` (the link would skip that paddle): one
    whose ink the gap meets, running within θmax/2 of the gap's direction, its middle within a stroke's half-width
    of the gap's line. A paddle crossing the gap, or passing beside it, does not block it."""
    v = f - e
    n = max(2, math.ceil(np.linalg.norm(v) / SAMPLE))
    unit = v / (np.linalg.norm(v) or 1)
    ys, xs = np.rint(e + np.linspace(0, 1, n + 1)[1:-1, None] * v).astype(np.int64).T
    inside = (ys >= 0) & (ys < owner.shape[0]) & (xs >= 0) & (xs < owner.shape[1])
    met = set(owner[ys[inside], xs[inside]].tolist()) - {-1, i, j}
    for k in met:
        a, b = dash_list[k].ends
        axis = (b - a) / (np.linalg.norm(b - a) or 1)
        mid = (a + b) / 2 - e
        offset = abs(mid[0] * unit[1] - mid[1] * unit[0])
        if abs(axis @ unit) >= math.cos(g.max_turn / 2 + g.axis_tol) and offset <= g.half_width:
            return False
    return True


def links(dash_list: list[Dash], owner: np.ndarray, g: Geometry) -> dict[tuple[int, int], list[tuple[float, int, int]]]:
    """For each dash end ``(dash, end)``: the ends it may continue into, ``(cost, dash, end)``, cheapest first."""
    n = len(dash_list)
    ends = np.stack([d.ends for d in dash_list]).reshape(-1, 2)  # end e of dash i at row 2i + e
    out_dir = ends - np.stack([d.ends[::-1] for d in dash_list]).reshape(-1, 2)
    out_dir /= np.maximum(np.linalg.norm(out_dir, axis=1, keepdims=True), 1e-12)  # zero for a hidden stub
    marker = np.repeat([d.marker for d in dash_list], 2)
    hidden = np.repeat([d.hidden for d in dash_list], 2)
    usable = (marker < 0) | (np.arange(2 * n) % 2 == 1) | hidden  # a visible stub's end 0 is inside its disc
    v = ends[None, :, :] - ends[:, None, :]  # [from, to]
    gap = np.linalg.norm(v, axis=-1)
    unit = v / np.maximum(gap, 1e-12)[..., None]
    into = -out_dir  # direction into the dash at that end
    a = _signed(out_dir[:, None, :], unit)
    b = _signed(unit, into[None, :, :])
    turn = _signed(out_dir[:, None, :], np.broadcast_to(into[None, :, :], v.shape))
    axis_tol = np.where(marker >= 0, g.stub_tol, g.axis_tol)
    axis_tol = axis_tol[:, None] + axis_tol[None, :]  # both dashes' axes may be off
    bend_tol = axis_tol + np.arctan2(ROUNDING, gap)  # and the gap's ends may be off by the rounding
    reach = g.gap_max + g.length * (hidden[:, None] | hidden[None, :])  # a hidden stub: its whole paddle
    ok = (gap <= reach) & (np.abs(a) <= g.max_turn / 2 + bend_tol) & (np.abs(b) <= g.max_turn / 2 + bend_tol)
    ok &= np.abs(turn) <= g.max_turn + axis_tol
    ok &= usable[:, None] & usable[None, :] & (np.arange(2 * n)[:, None] // 2 != np.arange(2 * n)[None, :] // 2)
    cost = np.abs(a) + np.abs(b)
    table: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    for x in range(2 * n):
        table[x // 2, x % 2] = sorted(
            (float(cost[x, y]), y // 2, y % 2)
            for y in np.flatnonzero(ok[x])
            if _gap_clear(owner, dash_list, x // 2, y // 2, ends[x], ends[y], g)
        )
    return table


def trace(dash_list: list[Dash], table: dict, start: int, goal: int, g: Geometry) -> tuple[list[int], bool]:
    """The straightest chain of dashes from stub ``start``, and whether it reaches a stub of marker ``goal`` with
    ``contour_length`` dashes; it stops at the goal, where no link is left, or at ``contour_length`` dashes."""
    path, dash, end = [start], start, 1
    while len(path) < g.contour_length:
        options = [(c, j, e) for c, j, e in table[dash, end] if j not in path]
        if not options:
            break
        _, dash, entered = options[0]
        path.append(dash)
        if dash_list[dash].marker == goal:
            return path, len(path) == g.contour_length
        end = 1 - entered
    return path, False


def verdict(pixels: np.ndarray, g: Geometry) -> Verdict:
    """Whether the two markers of ``pixels`` (uint8) are joined by one contour, judged by continuity."""
    dash_list, owner = dashes(pixels, g)
    table = links(dash_list, owner, g)
    traces = []
    for m in (0, 1):
        for start in (i for i, d in enumerate(dash_list) if d.marker == m):
            path, reached = trace(dash_list, table, start, 1 - m, g)
            traces.append(tuple(path))
            if reached:
                return Verdict(True, tuple(traces), tuple(dash_list))
    return Verdict(False, tuple(traces), tuple(dash_list))


# --- the bridged flood fill -----------------------------------------------------------------------------------------


def flood(ink: np.ndarray, starts: list[tuple[int, int]], bridge: float) -> np.ndarray:
    """Ink pixels reachable from ``starts`` in steps shorter than ``bridge``."""
    h, w = ink.shape
    r = int(bridge)
    steps = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if 0 < dy * dy + dx * dx < bridge**2]
    seen = np.zeros_like(ink)
    queue = deque((y, x) for y, x in starts if ink[y, x])
    for y, x in queue:
        seen[y, x] = True
    while queue:
        y, x = queue.popleft()
        for dy, dx in steps:
            yy, xx = y + dy, x + dx
            if 0 <= yy < h and 0 <= xx < w and ink[yy, xx] and not seen[yy, xx]:
                seen[yy, xx] = True
                queue.append((yy, xx))
    return seen


def flood_joined(pixels: np.ndarray, k: int, bridge: float, ink: int) -> bool:
    """Whether a flood fill over ink (≥ ``ink``) with steps shorter than ``bridge`` joins the two marker blocks."""
    (ay, ax), (by, bx) = find_markers(pixels, k)
    seen = flood(pixels >= ink, [(ay + i, ax + j) for i in range(k) for j in range(k)], bridge)
    return bool(seen[by : by + k, bx : bx + k].any())
