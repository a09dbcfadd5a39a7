"""The Pathfinder generator judged from its files: layout, determinism, labels against pixels, PF's distribution.

How labels are checked without the generator's bookkeeping. Markers are found in the pixels as the two brightest
non-overlapping ``k × k`` blocks (discs of ``marker_radius``; paddles are about 1 px wide, so none fills a
block). Contours are dashed: PF starts the next paddle ``margin`` beyond a pivot that lies ``margin`` beyond the
previous paddle's end, so consecutive paddles' rendered ink is up to ``2·margin + 1`` pixels apart along the
contour and one aside (a knight's move, √10 px, at 32 px). The judge bridges exactly that: ink pixels (≥ ``INK``)
closer than ``bridge`` are joined, and the markers are connected when a flood fill from one reaches the other.

Why not 99 % agreement: that bridge is the smallest that joins every target contour (no label-1 miss in 300),
but PF itself does not keep distinct contours that far apart. A paddle is accepted while ``max(mask + paddle
mask) < 1.8``, which lets strokes of different contours come within 1–3 px, and the two targets grow in lockstep
from seeds 7 px apart with each one's newest paddle missing from the mask the other is checked against, so they
touch or even cross near their seeds. At 32 px hard the bridge joins ~96 % of label-0 images; a bridge small
enough never to merge distinct contours splits most real ones. Only continuity separates PF's contours, and a
flood fill has none; images from the plain PF port in ``pathfinder_reference`` give the same rates as ours. The
checks are therefore:

* label 1 ⇒ the markers are joined in the pixels (≥ 99 %, every exception explained by a gap in the contour);
* label 0 and joined ⇒ explained by the scene: the markers lie on two distinct contours whose ink comes within
  the bridge of each other, directly or through distractors (contacts PF allows);
* the judge's joined rates per label equal those of the plain PF port (a label that did not mean what PF's label
  means would change them), and the label effect is large (3-px bridge, easy: ≈ 96 % vs ≈ 66 %).

The scenes used for explanations are recomputed from the same seeds (``Generator.scenes``) and first checked to be
exactly the files' pixels; the judge itself only sees the PNGs.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lra.data import DataError, load_split, prepare, settings_for
from lra.data.api import get_task
from lra.data.cache import read_manifest
from lra.data.pathfinder import read_metadata
from lra.data.pathfinder_gen import Generator, generate, image_rng, params
from lra.data.pathfinder_stamps import bytescale, marker
from tests.data import pathfinder_reference

INK = 40  # 8-bit level counted as ink: above Lanczos ringing (≤ ~10), below any paddle's core
SEED = 11
COUNT = 600
REFERENCE = 200  # images from the plain PF port (about 30 ms each at 32 px easy)


def _read(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pixels and labels of a generated difficulty folder, through the reader, in index order."""
    records = read_metadata(folder)
    pixels = np.stack([np.asarray(Image.open(r.image)) for r in records])
    rows = [line for f in sorted((folder / "metadata").glob("*.npy")) for line in f.read_text().splitlines()]
    return pixels, np.array([r.label for r in records]), rows


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, list[str], list]:
    folder = tmp_path_factory.mktemp("pf") / "pathfinder32" / "curv_contour_length_14"
    generate(folder, size=32, difficulty="hard", count=COUNT, seed=SEED, workers=2)
    pixels, labels, rows = _read(folder)
    p = params(32, "hard")
    scenes = Generator(p).scenes([image_rng(SEED, p, i) for i in range(COUNT)])
    return pixels, labels, rows, scenes


# --- the pixel judge ----------------------------------------------------------------------------------------------


def find_markers(pixels: np.ndarray, k: int) -> list[tuple[int, int]]:
    """Top-left corners of the two brightest non-overlapping ``k × k`` blocks."""
    a = pixels.astype(np.int64)
    h, w = a.shape
    sums = sum(a[i : h - k + 1 + i, j : w - k + 1 + j] for i in range(k) for j in range(k))
    first = np.unravel_index(np.argmax(sums), sums.shape)
    sums[max(0, first[0] - k + 1) : first[0] + k, max(0, first[1] - k + 1) : first[1] + k] = -1
    second = np.unravel_index(np.argmax(sums), sums.shape)
    return [(int(first[0]), int(first[1])), (int(second[0]), int(second[1]))]


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


def joined(pixels: np.ndarray, k: int, bridge: float) -> bool:
    """Whether the pixel judge sees the two markers on one (bridged) stroke."""
    (ay, ax), (by, bx) = find_markers(pixels, k)
    seen = flood(pixels >= INK, [(ay + i, ax + j) for i in range(k) for j in range(k)], bridge)
    return bool(seen[by : by + k, bx : bx + k].any())


def _bridge(size: int, margin: int) -> float:
    return math.hypot(2 * margin + 1, 1) + 0.01  # next paddle up to 2·margin + 1 px on, one px aside


# --- explanations from the scene ----------------------------------------------------------------------------------


def contour_ink(gen: Generator, scene, full_max: float) -> dict[int, np.ndarray]:
    """Each contour's ink (with its markers) as the 8-bit image would show it."""
    p, out = gen.p, {}
    for contour in sorted({c for _, _, c in scene.paddles}):
        layer = gen.draw(scene, {contour}, markers=False)
        for y, x, c in scene.markers:
            if c == contour:
                layer = np.maximum(layer, marker(p.size, p.aa, p.marker_radius, y, x) / 255)
        out[contour] = (layer / full_max * 255).clip(0, 255) + 0.5 >= INK
    return out


def near(mask: np.ndarray, bridge: float) -> np.ndarray:
    """Pixels closer than ``bridge`` to ``mask``."""
    h, w = mask.shape
    r = int(bridge)
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if 0 < dy * dy + dx * dx < bridge**2:
                out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] |= mask[
                    max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)
                ]
    return out


def contact_chain(inks: dict[int, np.ndarray], start: int, goal: int, bridge: float) -> list[int] | None:
    """Contours linking ``start`` to ``goal`` where their ink comes within ``bridge`` (breadth first)."""
    grown = {c: near(m, bridge) for c, m in inks.items()}
    prev = {start: start}
    queue = deque([start])
    while queue:
        c = queue.popleft()
        if c == goal:
            chain = [c]
            while chain[-1] != start:
                chain.append(prev[chain[-1]])
            return chain[::-1]
        for d, m in inks.items():
            if d not in prev and (grown[c] & m).any():
                prev[d] = c
                queue.append(d)
    return None


# --- tests ----------------------------------------------------------------------------------------------------------


def test_lra_release_layout_and_metadata_rows(hard) -> None:
    pixels, labels, rows, scenes = hard
    assert pixels.shape == (COUNT, 32, 32) and pixels.dtype == np.uint8
    assert len(rows) == COUNT and rows[0].startswith("imgs/0 sample_0.png 0 ")
    for i, row in enumerate(rows):
        fields = row.split(" ")
        assert fields[:3] == ["imgs/0", f"sample_{i}.png", str(i)]
        assert fields[3] == str(labels[i]) == str(scenes[i].label)
        assert fields[4:] == ["1.0", "14", "4", "2", "0.5", "1", "1"]  # continuity … paddle margin, contrasts


def test_files_are_the_scenes(hard) -> None:
    pixels, _, _, scenes = hard
    gen = Generator(params(32, "hard"))
    for i in range(0, COUNT, 7):
        assert (bytescale(gen.draw(scenes[i])) == pixels[i]).all()


def test_labels_balanced_and_marker_placement(hard) -> None:
    _, labels, _, scenes = hard
    assert abs(labels.mean() - 0.5) <= 0.05
    for scene in scenes:  # label 1: both markers on one target; label 0: one on each
        assert (scene.markers[0][2] == scene.markers[1][2]) == bool(scene.label)


def test_lit_fraction_and_marker_size_within_the_parameters(hard) -> None:
    pixels = hard[0]
    p = params(32, "hard")
    n = p.size**2
    stroke = p.paddle_length + 1  # a paddle rasterises to about length + 1 px, ≈ 1 px wide (thickness 0.5)
    disc = math.pi * p.marker_radius**2
    low = (2 * p.contour_length * stroke + 2 * disc) / n  # the two targets and markers alone
    high = ((2 * p.contour_length + p.num_distractors * p.distractor_length) * stroke * 3 + 2 * (2 * disc)) / n
    lit = (pixels >= INK).mean(axis=(1, 2))
    assert low * 0.8 <= lit.min() and lit.max() <= high, (lit.min(), lit.max(), low, high)
    for img in pixels[:100]:  # each marker: a bright disc of about π r² pixels
        for y, x in find_markers(img, 2):
            cy, cx = y + 0.5, x + 0.5
            yy, xx = np.mgrid[:32, :32]
            near = np.hypot(yy - cy, xx - cx) <= p.marker_radius + 1.5
            area = (near & (img >= 0.5 * img[y : y + 2, x : x + 2].max())).sum()
            assert math.pi * (p.marker_radius - 0.5) ** 2 <= area <= math.pi * (p.marker_radius + 1) ** 2


def test_label_1_markers_joined_in_the_pixels(hard) -> None:
    pixels, labels, _, scenes = hard
    gen = Generator(params(32, "hard"))
    missed = []
    for i in np.flatnonzero(labels == 1):
        bridge = _bridge(32, scenes[i].margin)
        if not joined(pixels[i], 2, bridge):
            # explained when the contour's own ink already has a gap wider than the bridge between its markers
            own = contour_ink(gen, scenes[i], gen.draw(scenes[i]).max())[scenes[i].markers[0][2]]
            (ay, ax, _), (by, bx, _) = scenes[i].markers
            missed.append(
                (i, not flood(own, [(ay, ax), (ay - 1, ax - 1)], bridge)[by - 1 : by + 1, bx - 1 : bx + 1].any())
            )
    assert len(missed) <= 0.01 * (labels == 1).sum(), missed
    assert all(gap for _, gap in missed), missed


def test_label_0_joins_are_contacts_between_contours(hard) -> None:
    pixels, labels, _, scenes = hard
    gen = Generator(params(32, "hard"))
    label0 = np.flatnonzero(labels == 0)
    kinds = {"targets touch": 0, "through a distractor": 0}
    for i in label0:
        bridge = _bridge(32, scenes[i].margin)
        if not joined(pixels[i], 2, bridge):
            continue
        inks = contour_ink(gen, scenes[i], gen.draw(scenes[i]).max())
        a, b = scenes[i].markers[0][2], scenes[i].markers[1][2]
        chain = contact_chain(inks, a, b, bridge)
        assert a != b and chain is not None, f"image {i}: markers joined in the pixels without a contact"
        kinds["targets touch" if len(chain) == 2 else "through a distractor"] += 1
    joined_rate = sum(kinds.values()) / len(label0)
    print(f"label 0 joined in the pixels: {joined_rate:.1%} of {len(label0)} ({kinds})")
    assert joined_rate < 1  # some label-0 images are cleanly apart even at this bridge


def test_same_rates_as_a_plain_port_of_pf() -> None:
    """Easy difficulty (fast to port): pixel statistics and the judge's joined rate per label, ours vs PF's."""
    p = params(32, "easy")
    ours = Generator(p).render([image_rng(3, p, i) for i in range(COUNT)])
    theirs = [pathfinder_reference.render(p, np.random.default_rng([3, i])) for i in range(REFERENCE)]
    bridge = 3.01  # joins straight 2-px gaps, not knight moves: misses some label-1 images, so both rates vary

    def rates(images: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lit = np.array([(px >= INK).mean() for px, _ in images])
        label = np.array([lab for _, lab in images])
        judged = np.array([joined(px, 2, bridge) for px, _ in images])
        return lit, judged[label == 1], judged[label == 0]

    lit_a, one_a, zero_a = rates([(px, lab) for px, lab, _ in ours])
    lit_b, one_b, zero_b = rates(theirs)
    print(f"joined | label 1: ours {one_a.mean():.1%}, PF port {one_b.mean():.1%}", end="; ")
    print(f"label 0: ours {zero_a.mean():.1%}, PF port {zero_b.mean():.1%}")
    assert abs(lit_a.mean() - lit_b.mean()) <= 4 * math.hypot(
        lit_a.std() / len(lit_a) ** 0.5, lit_b.std() / REFERENCE**0.5
    )
    for a, b in ((one_a, one_b), (zero_a, zero_b)):
        pooled = np.concatenate([a, b]).mean()
        se = math.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
        assert abs(a.mean() - b.mean()) <= 4 * se + 1e-9, (a.mean(), b.mean())
    assert one_a.mean() - zero_a.mean() >= 0.25  # the label means "joined"


def test_same_seed_same_bytes_for_any_worker_count(tmp_path: Path) -> None:
    for workers, name in ((1, "a"), (2, "b")):
        generate(tmp_path / name, size=32, difficulty="intermediate", count=450, seed=4, workers=workers)
    generate(tmp_path / "c", size=32, difficulty="intermediate", count=450, seed=5, workers=1)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 450 + 1
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (tmp_path / "a" / "metadata/0.npy").read_bytes() != (tmp_path / "c" / "metadata/0.npy").read_bytes()


def test_path_x_handful() -> None:
    p = params(128, "hard")
    gen = Generator(p)
    scenes = gen.scenes([image_rng(0, p, i) for i in range(4)])
    for scene in scenes:
        px = bytescale(gen.draw(scene))
        assert px.shape == (128, 128) and scene.margin in (2, 3)
        lit = (px >= INK).mean()
        assert 0.02 <= lit <= 0.25, lit
        if scene.label == 1:
            assert joined(px, 4, _bridge(128, scene.margin))
        for y, x in find_markers(px, 4):  # discs of radius 3: a 4 × 4 block fits inside
            assert px[y : y + 4, x : x + 4].min() >= 0.5 * px.max()


def test_prepare_generate_splits_and_settings(tmp_path: Path) -> None:
    root = tmp_path / "data"
    path = prepare("pathfinder", root, generate=True, train_size=40, workers=1)
    manifest = read_manifest(path)
    assert manifest is not None
    assert [manifest["splits"][s]["count"] for s in ("train", "val", "test")] == [40, 5, 5]
    assert manifest["settings"] == settings_for("pathfinder", origin="generated", train_size=40)
    assert manifest["notes"]["generator"]["params"]["contour_length"] == 14
    train = load_split("pathfinder", "train", root, origin="generated", train_size=40)
    assert train.inputs.shape == (40, 1024) and set(np.unique(train.labels)) <= {0, 1}
    again = prepare("pathfinder", root, generate=True, train_size=40, val_size=2, test_size=8, workers=1)
    val = load_split("pathfinder", "val", root, origin="generated", train_size=40, val_size=2, test_size=8)
    first = load_split("pathfinder", "val", root, origin="generated", train_size=40)
    assert again != path and (val.inputs == first.inputs[:2]).all()  # val is the first images either way
    command = get_task("pathfinder").prepare_command(manifest["settings"], root)
    assert "--generate" in command and "--size 40" in command and "--val-size 5" in command
    with pytest.raises(DataError, match="contradicts --generate"):
        prepare("pathfinder", root, generate=True, origin="files")
    with pytest.raises(DataError, match="do not apply"):
        settings_for("pathx", split_seed=3, origin="generated")
