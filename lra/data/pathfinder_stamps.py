"""The drawing primitives of PF ``snakes.py``/``snakes2.py`` (drewlinsley/pathfinder ``ab9c130``), precomputed.

PF draws every paddle by rendering a line with PIL at ``antialias_scale`` times the resolution, resizing it with
``scipy.misc.imresize`` (Lanczos), and placing the result at an integer pixel; its occupancy mask is the same line
dilated by a disk of radius ``margin · antialias_scale`` and resized the same way. Orientations come from a finite
set (integer degrees for seeds, the integer pixels of a circle for every later paddle), so each stamp depends only
on its orientation: ``Tables`` renders all of them once per (parameters, margin) with PF's exact steps, and the
generator only adds stamps into windows of the canvas.

Reproduced semantics: ``translate_coord`` (``ceil`` of the float displacement), ``get_coords_cmf`` (the integer
points of a circle, ``np.unique`` order, ``max(cos(min(continuity · Δθ, π/2)), 0)²`` weights),
``scipy.misc.imresize``/``toimage`` (float arrays min–max ``bytescale``-d to 8 bits, uint8 arrays kept, PIL
Lanczos, uint8 result), ``cv2.dilate`` (kernel anchor at its centre, a source outside the image counts as
``-DBL_MAX`` for float64 images) and ``draw_circle``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SEED_DEGREES = 360  # seed orientations: integer degrees -180..179 (np.random.randint(-180, 180))
LEVELS = (np.arange(256) / 255).astype(np.float32).astype(np.float64)  # PF's value of an 8-bit level k in float32
FREE = 1 - LEVELS  # PF's candidate weight factor: 1 − dilated occupancy
FREE_LEVEL = int(np.flatnonzero(LEVELS <= 0.3).max())  # PF: a pixel is free when its mask value is ≤ 0.3
FITS_BELOW = 1.8  # PF: a paddle fits when max(mask + paddle mask) < 1.8


@dataclass(frozen=True)
class Shape:
    """The geometry parameters that fix the stamps (a subset of ``pathfinder_gen.Params``)."""

    size: int
    padding: int
    aa: int  # antialias_scale
    length: int  # paddle_length
    thickness: float
    margin: int
    continuity: float
    seed_distance: int


def translate(coord: tuple[int, int], dy: float, dx: float) -> tuple[int, int]:
    """PF ``translate_coord`` with the displacement ``(dist·sin θ, dist·cos θ)`` precomputed."""
    return math.ceil(coord[0] + dy), math.ceil(coord[1] + dx)


def flip_by_pi(orientation: float) -> float:
    return orientation + np.pi if orientation < 0 else orientation - np.pi


def bytescale(data: np.ndarray) -> np.ndarray:
    """``scipy.misc.bytescale`` with its defaults: uint8 kept, anything else min–max scaled to 0..255, rounded."""
    if data.dtype == np.uint8:
        return data
    cmin, cmax = data.min(), data.max()
    scale = 255.0 / ((cmax - cmin) or 1)
    return ((data - cmin) * scale).clip(0, 255).__add__(0.5).astype(np.uint8)


def imresize(data: np.ndarray, size: int) -> np.ndarray:
    """``scipy.misc.imresize(data, (size, size), interp='lanczos')`` of a 2-D array (uint8 result)."""
    return np.asarray(Image.fromarray(bytescale(data)).resize((size, size), Image.Resampling.LANCZOS))


def disk(radius: int) -> np.ndarray:
    """PF ``generate_dilation_struct``: the pixels of ``x² + y² ≤ r²`` in a ``2r + 1`` square."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def dilate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.dilate(image, kernel)`` for a float image: anchor at the kernel centre, sources outside the image
    ignored; a pixel whose every source is outside gets ``-inf`` (OpenCV: ``-DBL_MAX``)."""
    out = np.full(image.shape, -np.inf)
    h, w = image.shape
    ay, ax = kernel.shape[0] // 2, kernel.shape[1] // 2
    for i, j in zip(*np.nonzero(kernel), strict=True):
        dy, dx = i - ay, j - ax
        src = image[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
        dst = out[max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)]
        np.maximum(dst, src, out=dst)
    return out


def paddle(shape: Shape, orientation: float) -> tuple[np.ndarray, np.ndarray]:
    """PF ``draw_line_n_mask`` before placement and contrast: ``(line, mask)`` as uint8 levels ``k`` (PF's values
    are ``k/255``), both ``2h + 1`` square with the paddle's start at the centre, ``h = length + ceil(thickness) +
    margin``."""
    aa, length = shape.aa, shape.length
    if round(shape.thickness * aa) != shape.thickness * aa:
        raise ValueError("thickness · antialias_scale must be an integer (PF: 'thickness does not break even')")
    half = length + math.ceil(shape.thickness) + shape.margin
    centre = half * aa
    head = translate((centre, centre), length * aa * np.sin(orientation), length * aa * np.cos(orientation))
    blown = Image.new("F", (2 * centre + 1, 2 * centre + 1), "black")
    ImageDraw.Draw(blown).line([(centre, centre), (head[1], head[0])], fill="white", width=round(shape.thickness * aa))
    blown_px = np.asarray(blown)
    blown_mask = dilate(blown_px, disk(shape.margin * aa)).astype(np.uint8)
    return imresize(blown_px, 2 * half + 1), imresize(blown_mask, 2 * half + 1)


@functools.lru_cache(maxsize=4096)
def marker(size: int, aa: int, radius: float, y: int, x: int) -> np.ndarray:
    """PF ``draw_circle``: a disc of ``radius`` at ``(y, x)`` drawn at ``aa``× and Lanczos-resized (uint8)."""
    yy, xx = np.ogrid[-y * aa : (size - y) * aa, -x * aa : (size - x) * aa]
    disc = (xx**2 + yy**2 <= (radius * aa) ** 2).astype(np.float64)
    return imresize(disc, size)


def _ring(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """PF ``get_coords_cmf``'s candidate points around a pivot: integer offsets ``(dy, dx)`` in ``np.unique``
    order. PF truncates ``pivot + r·(sin, cos)`` and drops points outside the image by their float value; for an
    integer pivot that is ``pivot + floor(offset)`` as long as no offset lies within rounding error of an integer
    (checked here), so the offsets are the same for every pivot."""
    radius = shape.length + shape.margin
    deg_per_pixel = 360.0 / (2 * radius * np.pi)
    rad = np.arange(0, 360, deg_per_pixel) * np.pi / 180
    fy, fx = radius * np.sin(rad), radius * np.cos(rad)
    frac = np.abs(np.concatenate([fy, fx]) - np.round(np.concatenate([fy, fx])))
    if np.any((frac > 0) & (frac < 1e-9)):
        raise ValueError("a circle point is within rounding error of a pixel edge; offsets would depend on the pivot")
    offsets = np.unique(np.stack([np.floor(fy), np.floor(fx)], axis=1).astype(np.int64), axis=0)
    return offsets[:, 0], offsets[:, 1]


class Tables:
    """Everything the generator looks up for one ``Shape``.

    Orientation ids: ``0..359`` are the seed orientations (degree ``id - 180``), ``360 + k`` the orientation of
    ring candidate ``k`` (PF ``unique_orientations``, the direction from the pivot to the candidate head); the
    paddle stamp of an id is the seed paddle drawn from its tail, or the ring paddle drawn from its head back
    towards the pivot. Occupancy canvases hold uint8 levels ``k`` (``LEVELS[k]`` is PF's float value) in the flat,
    padded layout of ``padded``.
    """

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        n, length, margin = shape.size, shape.length, shape.margin
        seed_rad = np.arange(-180, 180) * np.pi / 180  # PF: randint(-180, 180) * np.pi / 180
        self.ring_dy, self.ring_dx = _ring(shape)
        ring_rad = np.arctan2(self.ring_dy, self.ring_dx).astype(np.float64)
        orient = np.concatenate([seed_rad, ring_rad])

        # Next pivot: last pivot + (length + 2·margin) along the last orientation (PF extend_snake).
        self.step = float(length + 2 * margin) * np.stack([np.sin(orient), np.cos(orient)], axis=1)
        # Seeds: head = tail + length along θ, pivot = head + (length + margin) along θ reversed.
        reverse = np.where(seed_rad + np.pi < np.pi, seed_rad + np.pi, seed_rad - np.pi)
        self.seed_head = float(length) * np.stack([np.sin(seed_rad), np.cos(seed_rad)], axis=1)
        self.seed_pivot = float(length + margin) * np.stack([np.sin(reverse), np.cos(reverse)], axis=1)
        # Second target seed: seed_distance away from the first at an integer degree 0..359.
        angle = np.arange(360) * np.pi / 180
        self.second = float(shape.seed_distance) * np.stack([np.sin(angle), np.cos(angle)], axis=1)

        # Continuity weights of every ring candidate after each orientation.
        delta = np.abs(ring_rad[None, :] - orient[:, None])
        delta = np.minimum(delta, 2 * np.pi - delta)
        delta = np.minimum(delta * shape.continuity, 0.5 * np.pi)
        self.weights = np.maximum(np.cos(delta), 0) ** 2

        # Paddle stamps. Canvases are flat, padded by ``pad`` pixels on each side (room for a stamp centred in the
        # image and for candidate heads around a pivot, which stays within margin + 2 of the image) plus one
        # last pixel that is never written: a stamp is a list of flat offsets and levels (its non-zero pixels).
        drawn = np.concatenate([seed_rad, [flip_by_pi(o) for o in ring_rad]])
        lines, masks = zip(*(paddle(shape, o) for o in drawn), strict=True)
        lines, masks = np.stack(lines), np.stack(masks)
        self.half = half = (masks.shape[1] - 1) // 2
        self.pad = half + margin + 3
        self.width = width = n + 2 * self.pad
        self.lines = lines.reshape(len(lines), -1)
        self.line_off = _offsets(half, width)
        self.masks = masks.reshape(len(masks), -1)
        self.mask_off, self.mask_val = _sparse(self.masks, half, width)
        padded = np.zeros((len(masks), 2 * (half + margin) + 1, 2 * (half + margin) + 1))
        padded[:, margin:-margin, margin:-margin] = masks
        small = disk(margin)
        dilated = np.stack([dilate(p, small) for p in padded]).astype(np.uint8).reshape(len(masks), -1)
        self.dilated_off, self.dilated_val = _sparse(dilated, half + margin, width)
        self.ring_off = self.ring_dy * width + self.ring_dx
        # A paddle fits when max(mask + its mask) < 1.8; masks are ≤ 1, so only its pixels of value ≥ 0.8 can
        # fail, and each fails exactly when the canvas level there reaches a limit (256: never; padding).
        limits = np.array([np.flatnonzero(LEVELS + v >= FITS_BELOW).min(initial=256) for v in LEVELS])
        core = [np.flatnonzero(LEVELS[m] + 1.0 >= FITS_BELOW) for m in self.masks]
        self.core_off = np.zeros((len(core), max(map(len, core))), np.int64)
        self.core_limit = np.full_like(self.core_off, 256)
        for i, c in enumerate(core):
            self.core_off[i, : len(c)] = self.line_off[c]
            self.core_limit[i, : len(c)] = limits[self.masks[i, c]]

        # Canvas before any paddle: the padding border is occupied, then dilated by the margin disk.
        base = np.zeros((n, n))
        p = shape.padding
        base[:p, :] = base[-p:, :] = base[:, :p] = base[:, -p:] = 255
        self.base_mask = self.padded(base.astype(np.uint8), 0)
        self.base_dilated = self.padded(dilate(base, small).astype(np.uint8), 255)  # outside: never free
        self.inside = self.padded(np.ones((n, n), bool), False)

        self.kernels = [self._seed_kernel(d) for d in range(SEED_DEGREES)]
        border = 2 * shape.seed_distance
        lined = base.copy()
        lined[:border, :] = lined[n - border :, :] = lined[:, :border] = lined[:, n - border :] = 255
        free = [
            self.free_pixels(lined > FREE_LEVEL, d) if k else np.zeros(0, np.int64) for d, k in enumerate(self.kernels)
        ]
        self.first_valid = np.array([d for d in range(SEED_DEGREES) if len(free[d])])
        self.first_count = np.array([len(f) for f in free])
        self.first_free = np.zeros((SEED_DEGREES, self.first_count.max()), np.int64)
        for d, f in enumerate(free):
            self.first_free[d, : len(f)] = f

    def _seed_kernel(self, degree_id: int) -> tuple[tuple[int, int], ...] | None:
        """The offsets of PF's seed dilation kernel for a seed orientation, or None when PF can never seed there.

        PF dilates the occupancy mask by the paddle's own mask drawn in a ``2(length + margin) + 1`` square with
        the paddle's start at ``length + margin + 1`` (one pixel off the kernel's centre) and keeps the pixels that
        equal exactly 1.0 (``astype(uint8)``). Where every kernel source of some image pixel falls outside the
        image, OpenCV returns ``-DBL_MAX`` there, ``find_available_coordinates`` sees a negative minimum and
        reports no free pixel, and the seed fails whatever the mask holds: such an orientation is never seeded.
        """
        s, half = self.shape, self.half
        side = 2 * (s.length + s.margin) + 1
        start = s.length + s.margin + 1
        stamp = self.masks[degree_id].reshape(2 * half + 1, 2 * half + 1)
        kernel = np.zeros((side, side), np.uint8)
        for i, j in zip(*np.nonzero(stamp == 255), strict=True):
            y, x = start - half + i, start - half + j
            if 0 <= y < side and 0 <= x < side:
                kernel[y, x] = 1
        if not kernel.any() or not np.isfinite(dilate(np.zeros((s.size, s.size)), kernel)).all():
            return None
        centre = side // 2
        return tuple((int(i) - centre, int(j) - centre) for i, j in zip(*np.nonzero(kernel), strict=True))

    def free_pixels(self, occupied: np.ndarray, degree_id: int) -> np.ndarray:
        """Flat indices (row-major, PF's ``np.nonzero`` order) where a seed of this orientation may start: no
        kernel source inside the image is occupied (sources outside are ignored, as by ``cv2.dilate``)."""
        offsets = self.kernels[degree_id]
        assert offsets is not None
        n = self.shape.size
        reach = self.shape.length + self.shape.margin
        padded = np.zeros((n + 2 * reach, n + 2 * reach), bool)
        padded[reach:-reach, reach:-reach] = occupied
        blocked = np.zeros((n, n), bool)
        for dy, dx in offsets:
            blocked |= padded[reach + dy : reach + dy + n, reach + dx : reach + dx + n]
        return np.flatnonzero(~blocked)

    def padded(self, image: np.ndarray, outside: object) -> np.ndarray:
        """A ``size × size`` image as a flat padded canvas, ``outside`` around it and in the last pixel."""
        out = np.full(self.width**2 + 1, outside, image.dtype)
        self.unpadded(out)[...] = image
        return out

    def unpadded(self, canvas: np.ndarray) -> np.ndarray:
        """The ``size × size`` image of a flat padded canvas (a view)."""
        n, pad = self.shape.size, self.pad
        return canvas[: self.width**2].reshape(self.width, self.width)[pad : pad + n, pad : pad + n]

    def index(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Flat canvas index of image pixel ``(y, x)``."""
        return (y + self.pad) * self.width + x + self.pad


def _offsets(half: int, width: int) -> np.ndarray:
    """Flat offsets (in a canvas ``width`` wide) of the pixels of a ``2·half + 1`` square around its centre."""
    dy, dx = np.divmod(np.arange((2 * half + 1) ** 2), 2 * half + 1)
    return (dy - half) * width + (dx - half)


def _sparse(stamps: np.ndarray, half: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero pixels of flat ``2·half + 1`` square stamps as ``(offsets, levels)``, one row per stamp,
    padded to a common length by cycling through its pixels again (writing a pixel twice is harmless)."""
    rows = [np.flatnonzero(s) for s in stamps]
    nz = np.stack([np.resize(r, max(map(len, rows))) for r in rows])
    levels = np.take_along_axis(stamps, nz, axis=1).astype(np.uint8)
    return _offsets(half, width)[nz], levels


@functools.lru_cache(maxsize=8)
def tables(shape: Shape) -> Tables:
    """The tables of ``shape``, built once per process (about a second for all of them)."""
    return Tables(shape)
