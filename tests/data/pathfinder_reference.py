"""A plain, slow port of PF ``snakes2.py``/``snakes.py`` (drewlinsley/pathfinder ``ab9c130``) for the tests.

It follows PF statement by statement (whole-image dilations at every step, paddles rendered on the fly, the
global RNG replaced by a ``numpy.random.Generator``), with ``cv2.dilate`` and ``scipy.misc.imresize`` emulated
by ``pathfinder_stamps``' helpers; display and segmentation branches are left out. The fast generator must
produce the same distribution of images.
"""

from __future__ import annotations

import numpy as np

from lra.data.pathfinder_gen import Params
from lra.data.pathfinder_stamps import bytescale, dilate, disk, flip_by_pi, imresize, marker, paddle


def translate_coord(coord, orientation, dist):
    return [
        int(np.ceil(coord[0] + float(dist) * np.sin(orientation))),
        int(np.ceil(coord[1] + float(dist) * np.cos(orientation))),
    ]


def draw_line_n_mask(im_size, start, orientation, p: Params, margin, contrast=1.0):
    line, mask = paddle(p.shape(margin), orientation)  # PIL line at aa×, Lanczos-resized (uint8)
    line = line.astype(np.float64) / 255
    if contrast != 1.0:
        line *= contrast
    mask = mask.astype(np.float64) / 255
    half = (line.shape[0] - 1) // 2
    l_im = np.zeros(im_size, np.float32)
    m_im = np.zeros(im_size, np.float32)
    for i in range(line.shape[0]):
        for j in range(line.shape[1]):
            y, x = start[0] - half + i, start[1] - half + j
            if 0 <= y < im_size[0] and 0 <= x < im_size[1]:
                l_im[y, x], m_im[y, x] = line[i, j], mask[i, j]
    return l_im, m_im


def find_available_coordinates(mask):
    if np.min(mask) < 0:
        return (np.array([]), np.array([])), 0
    available = np.nonzero(1 - mask.astype(np.uint8))
    return available, available[0].shape[0]


def _inside(c, shape):
    return 0 <= c[0] < shape[0] and 0 <= c[1] < shape[1]


def _seed_paddle(rng, mask, lined, p, margin):
    """The sampling loop shared by ``seed_snake`` and ``initialize_two_seeds`` (first seed)."""
    length = p.paddle_length
    side = (length + margin) * 2 + 1
    head_in_struct = [length + margin + 1] * 2
    orientation = rng.integers(-180, 180) * np.pi / 180
    reverse = orientation + np.pi if orientation + np.pi < np.pi else orientation - np.pi
    _, struct = draw_line_n_mask((side, side), head_in_struct, orientation, p, margin)
    dilated = dilate(lined, struct.astype(np.uint8))
    available, count = find_available_coordinates(np.ceil(dilated - 0.3))
    if count == 0:
        return None, orientation, reverse, None
    k = rng.integers(0, count)
    return [int(available[0][k]), int(available[1][k])], orientation, reverse, count


def seed_snake(rng, image, mask, p, margin, contrast, stop_with_availability=None):
    length = p.paddle_length
    trial = 0
    while trial <= p.max_paddle_retrial:
        lined = mask.copy()
        lined[0, :] = lined[-1, :] = lined[:, 0] = lined[:, -1] = 1
        raw = find_available_coordinates(np.ceil(mask - 0.3))[1]
        tail, orientation, reverse, _ = _seed_paddle(rng, mask, lined, p, margin)
        if stop_with_availability is not None and raw / mask.size < stop_with_availability:
            return image, mask, None, None, None, False
        if tail is None:
            return image, mask, None, None, None, False
        head = translate_coord(tail, orientation, length)
        pivot = translate_coord(head, reverse, length + margin)
        if not (_inside(head, mask.shape) and _inside(pivot, mask.shape)):
            trial += 1
            continue
        break
    if trial > p.max_paddle_retrial:
        return image, mask, None, None, None, False
    l_im, m_im = draw_line_n_mask(mask.shape, tail, orientation, p, margin, contrast)
    return np.maximum(image, l_im), mask, m_im, pivot, orientation, True


def get_coords_cmf(last_endpoint, last_orientation, step_length, mask, continuity):
    height, width = mask.shape
    deg_per_pixel = 360.0 / (2 * step_length * np.pi)
    rad = np.arange(0, 360, deg_per_pixel) * np.pi / 180
    ys = last_endpoint[0] + step_length * np.sin(rad)
    xs = last_endpoint[1] + step_length * np.cos(rad)
    coords = np.stack([ys, xs], axis=1).astype(int)
    oob = (ys >= height) | (ys < 0) | (xs >= width) | (xs < 0)
    coords = np.delete(coords, np.where(oob), axis=0)
    if coords.shape[0] == 0:
        return None, None, None
    coords = np.unique(coords, axis=0)
    disp = coords - last_endpoint
    orientations = np.arctan2(disp[:, 0], disp[:, 1])
    delta = np.minimum(np.abs(orientations - last_orientation), 2 * np.pi - np.abs(orientations - last_orientation))
    delta = np.minimum(delta * continuity, 0.5 * np.pi)
    weights = np.maximum(np.cos(delta), 0) ** 2
    pmf = (1 - mask[coords[:, 0], coords[:, 1]]) * weights
    total = np.sum(pmf)
    if total < 1e-4:
        return None, None, None
    return coords, orientations, np.cumsum(pmf / total)


def extend_snake(rng, last_pivot, last_orientation, last_segment_mask, image, mask, p, margin, contrast):
    length = p.paddle_length
    new_pivot = translate_coord(last_pivot, last_orientation, length + 2 * margin)
    dilated = dilate(mask, disk(margin))
    coords, orientations, cmf = get_coords_cmf(new_pivot, last_orientation, length + margin, dilated, p.continuity)
    if cmf is None:
        return image, mask, None, None, None, None, False
    for _ in range(p.max_paddle_retrial + 1):
        k = int(np.argmax(cmf - rng.random() > 0))
        orientation, head = orientations[k], [int(c) for c in coords[k]]
        l_im, m_im = draw_line_n_mask(mask.shape, head, flip_by_pi(orientation), p, margin, contrast)
        if np.max(mask + m_im) < 1.8:
            return (
                np.maximum(image, l_im),
                np.maximum(mask, last_segment_mask),
                m_im,
                new_pivot,
                orientation,
                head,
                True,
            )
    return image, mask, None, None, None, None, False


def make_snake(rng, image, mask, p, margin, num_segments, contrasts, stop_with_availability):
    contrast = contrasts[rng.integers(0, len(contrasts))]
    cur_image, cur_mask, segment, pivot, orientation, ok = seed_snake(
        rng, image.copy(), mask.copy(), p, margin, contrast, stop_with_availability
    )
    if not ok:
        return image, mask, False
    for _ in range(num_segments - 1):
        contrast = contrasts[rng.integers(0, len(contrasts))]
        cur_image, cur_mask, segment, pivot, orientation, _, ok = extend_snake(
            rng, list(pivot), orientation, segment, cur_image, cur_mask, p, margin, contrast
        )
        if not ok:
            return image, mask, False
    return cur_image, np.maximum(cur_mask, segment), True


def initialize_two_seeds(rng, p, margin, mus):
    n, length, sd = p.size, p.paddle_length, p.seed_distance
    mask = np.zeros((n, n))
    mask[: p.padding, :] = mask[-p.padding :, :] = mask[:, : p.padding] = mask[:, -p.padding :] = 1
    lined = mask.copy()
    lined[: sd * 2, :] = lined[n - sd * 2 :, :] = lined[:, : sd * 2] = lined[:, n - sd * 2 :] = 1
    contrast = p.paddle_contrasts[rng.integers(0, len(p.paddle_contrasts))] * mus[0]
    trial = 0
    while trial <= p.max_paddle_retrial:
        tail1, orientation1, reverse, _ = _seed_paddle(rng, mask, lined, p, margin)
        if tail1 is None:
            return None
        head1 = translate_coord(tail1, orientation1, length)
        pivot1 = translate_coord(head1, reverse, length + margin)
        if not (_inside(head1, mask.shape) and _inside(pivot1, mask.shape)):
            trial += 1
            continue
        break
    if trial > p.max_paddle_retrial:
        return None
    image1, m1 = draw_line_n_mask(mask.shape, tail1, orientation1, p, margin, contrast)
    contrast = p.paddle_contrasts[rng.integers(0, len(p.paddle_contrasts))] * mus[1]
    trial = 0
    while trial <= p.max_paddle_retrial:
        orientation2 = rng.integers(-180, 180) * np.pi / 180
        reverse = orientation2 + np.pi if orientation2 + np.pi < np.pi else orientation2 - np.pi
        angle = rng.integers(0, 360) * np.pi / 180
        tail2 = [int(np.round(tail1[0] + sd * np.sin(angle))), int(np.round(tail1[1] + sd * np.cos(angle)))]
        head2 = translate_coord(tail2, orientation2, length)
        pivot2 = translate_coord(head2, reverse, length + margin)
        if not (_inside(head2, mask.shape) and _inside(pivot2, mask.shape)):
            trial += 1
            continue
        break
    if trial > p.max_paddle_retrial:
        return None
    image2, m2 = draw_line_n_mask(mask.shape, tail2, orientation2, p, margin, contrast)
    return [image1, image2], mask, [m1, m2], [pivot1, pivot2], [orientation1, orientation2], [tail1, tail2]


def two_snakes(rng, p, margin):
    mus = list(p.snake_contrasts) * 2
    rng.shuffle(mus)
    seeds = initialize_two_seeds(rng, p, margin, mus[:2])
    if seeds is None:
        return None
    images, mask, segments, pivots, orientations, origins = seeds
    terminals = [None, None]
    for _ in range(p.contour_length - 1):
        contrast = p.paddle_contrasts[rng.integers(0, len(p.paddle_contrasts))]
        for s in range(2):
            images[s], mask, segments[s], pivots[s], orientations[s], terminals[s], ok = extend_snake(
                rng, list(pivots[s]), orientations[s], segments[s], images[s], mask, p, margin, contrast * mus[s]
            )
            if not ok:
                return None
    return np.maximum(images[0], images[1]), np.maximum(mask, segments[-1]), origins, terminals


def render(p: Params, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One image (uint8) and its label, by PF's procedure."""
    label = int(rng.integers(0, 2))
    margin = p.margins[rng.integers(0, len(p.margins))]
    targets = None
    while targets is None:
        targets = two_snakes(rng, p, margin)
    image, mask, origins, terminals = targets
    for _ in range(p.num_distractors):
        for _ in range(p.max_distractor_retrial + 1):
            image, mask, ok = make_snake(rng, image, mask, p, margin, p.distractor_length, p.snake_contrasts, 0.01)
            if ok:
                break
    origin = int(rng.integers(0, 2))
    terminal = origin if label == 1 else 1 - origin
    markers = np.maximum(
        marker(p.size, p.aa, p.marker_radius, *origins[origin]),
        marker(p.size, p.aa, p.marker_radius, *terminals[terminal]),
    )
    return bytescale(np.maximum(image, markers.astype(np.float64) / 255)), label


__all__ = ["imresize", "render"]
