"""The Pathfinder generator judged from its files: layout, determinism, labels against pixels, PF's distribution.

How labels are checked without the generator's bookkeeping: the PNG files and the metadata labels go through the
reader, and a pixel judge (``pathfinder_judge``: the image and the published parameters only) says whether the two
markers are joined by one contour. The generator's scenes (recomputed from the seeds, checked to be the files'
pixels) only classify the judge's exceptions (``pathfinder_explain``); they never enter a verdict.

* **Path-X geometry (128 px)**: paddles 5 px long and 1.5 px thick, 4–6 px apart, so directions can be read. The
  continuity judge (dashes linked within PF's turn limit, the straightest continuation traced from marker to
  marker, exactly ``contour_length`` paddles) must agree with the labels on ≥ 99 % of 600 easy images, ≥ 97 % of
  500 intermediate and ≥ 95 % of 96 hard ones, each label within 2 points of that, and on ≥ 99 % of the easy and
  intermediate images whose two targets do not touch. PF grows the targets in lockstep, neither seeing the other's
  newest paddle, so they touch or cross in 6–17 % of the images; there a marker's target can be ambiguous. Every
  exception is classified by the contours the judge's traces followed, and none may be unexplained. Labels
  permuted among the images must fail the same check. Generation keeps the sizes modest (hard: ≈ 32 images/s);
  the label logic (markers on one target or on the two) is the same at every difficulty.
* **Pathfinder (32 px)**: paddles 2 px long and 0.5 px thick, mostly hidden at the markers (radius 1.5), and the
  targets, grown from seeds 7 px apart, touch in most hard images: directions cannot be read and the continuity
  judge is at chance (≈ 50 % agreement). What holds is checked: a flood fill bridging the inter-paddle gap (up to
  2·margin + 1 px along the contour and one aside, √10 px) joins every label-1 image but for a gap in the contour
  itself, each label-0 join is a contact between contours, and the per-label joined rates equal those of the
  plain PF port, with a large label effect that permuted labels erase.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lra.data.pathfinder import read_metadata
from lra.data.pathfinder_gen import Generator, Params, Scene, generate, image_rng, params
from lra.data.pathfinder_stamps import bytescale, marker
from tests.data import pathfinder_reference
from tests.data.pathfinder_explain import TOUCH, explain, target_gap
from tests.data.pathfinder_judge import Geometry, Verdict, components, find_markers, flood, flood_joined, verdict

INK = 40  # 32 px: 8-bit level counted as ink, above Lanczos ringing (≤ ~10), below any paddle's core (≥ ~100)
SEED = 11
COUNT = 600
REFERENCE = 200  # images from the plain PF port (about 50 ms each at 32 px easy)
PATHX_SEED = 3
PATHX = {"easy": (600, 0.99), "intermediate": (500, 0.97)}  # images, least agreement
PATHX_HARD = (96, 0.95)  # images, least agreement
APART = 0.99  # least agreement on the images whose targets do not touch


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


# --- Path-X: the continuity judge -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Judged:
    """Generated files, their labels and the judge's verdicts; scenes, recomputed from the seed, only classify."""

    p: Params
    seed: int
    pixels: np.ndarray
    labels: np.ndarray  # from the metadata files
    verdicts: list[Verdict]  # from the pixels alone
    target_gap: np.ndarray | None = None  # px between the two targets' ink, from the scenes

    @property
    def joined(self) -> np.ndarray:
        return np.array([v.joined for v in self.verdicts])

    def scenes(self, indices: list[int]) -> list[Scene]:
        """The scenes of images ``indices``, checked to be those images."""
        gen = Generator(self.p)
        scenes = gen.scenes([image_rng(self.seed, self.p, i) for i in indices])
        for i, scene in zip(indices, scenes, strict=True):
            assert (bytescale(gen.draw(scene)) == self.pixels[i]).all(), f"image {i} is not its scene"
        return scenes

    def exceptions(self) -> dict[str, list[int]]:
        """The images whose verdict contradicts their label, by what the judge's traces followed in the scene."""
        gen, g = Generator(self.p), Geometry.of(self.p)
        wrong = np.flatnonzero(self.joined != (self.labels == 1)).tolist()
        kinds: dict[str, list[int]] = {}
        for i, scene in zip(wrong, self.scenes(wrong), strict=True):
            kinds.setdefault(explain(gen, scene, self.verdicts[i], g), []).append(i)
        return kinds


def _judge_files(tmp_path_factory: pytest.TempPathFactory, difficulty: str, count: int, gaps: bool) -> Judged:
    """Generate ``count`` Path-X images into files, read them back and judge them; with ``gaps``, also measure
    from every scene how close the two targets come."""
    folder = tmp_path_factory.mktemp("pathx") / "pathfinder128" / difficulty
    generate(folder, size=128, difficulty=difficulty, count=count, seed=PATHX_SEED, workers=1)
    pixels, labels, _ = _read(folder)
    p = params(128, difficulty)
    g = Geometry.of(p)
    judged = Judged(p, PATHX_SEED, pixels, labels, [verdict(px, g) for px in pixels])
    if not gaps:
        return judged
    gen = Generator(p)
    target_gaps = [target_gap(gen, scene, g.ink) for scene in judged.scenes(list(range(count)))]
    return dataclasses.replace(judged, target_gap=np.array(target_gaps))


@pytest.fixture(scope="session")
def pathx_easy(tmp_path_factory: pytest.TempPathFactory) -> Judged:
    return _judge_files(tmp_path_factory, "easy", PATHX["easy"][0], gaps=True)


@pytest.fixture(scope="session")
def pathx_intermediate(tmp_path_factory: pytest.TempPathFactory) -> Judged:
    return _judge_files(tmp_path_factory, "intermediate", PATHX["intermediate"][0], gaps=True)


@pytest.fixture(scope="session")
def pathx_hard(tmp_path_factory: pytest.TempPathFactory) -> Judged:
    return _judge_files(tmp_path_factory, "hard", PATHX_HARD[0], gaps=False)


def agreement(joined: np.ndarray, labels: np.ndarray) -> float:
    return float((joined == (labels == 1)).mean())


def check_labels(joined: np.ndarray, labels: np.ndarray, least: float) -> None:
    """Label 1 exactly when the judge sees the markers joined: on at least ``least`` of the images, and on at
    least ``least − 2 %`` of each label's (so that neither "always joined" nor "never" can pass)."""
    assert agreement(joined, labels) >= least, f"agreement {agreement(joined, labels):.2%} < {least:.0%}"
    for label in (0, 1):
        mine = labels == label
        share = agreement(joined[mine], labels[mine])
        assert share >= least - 0.02, f"label {label}: agreement {share:.2%} < {least - 0.02:.0%}"


def _report(name: str, judged: Judged, kinds: dict[str, list[int]]) -> str:
    joined, labels = judged.joined, judged.labels
    rows = [
        f"label {label}: joined {joined[labels == label].mean():6.1%} of {(labels == label).sum()}" for label in (1, 0)
    ]
    out = f"{name}: {'; '.join(rows)}; agreement {agreement(joined, labels):.2%} of {len(labels)}; exceptions {kinds}"
    if judged.target_gap is not None:
        apart = judged.target_gap > TOUCH
        elsewhere = agreement(joined[apart], labels[apart])
        out += f"; targets touch in {1 - apart.mean():.1%}, agreement elsewhere {elsewhere:.2%}"
    return out


@pytest.mark.parametrize("difficulty", sorted(PATHX))
def test_pathx_labels_agree_with_the_continuity_judge(difficulty: str, request: pytest.FixtureRequest) -> None:
    judged: Judged = request.getfixturevalue(f"pathx_{difficulty}")
    kinds = judged.exceptions()
    print(_report(f"128 px {difficulty}", judged, kinds))
    check_labels(judged.joined, judged.labels, PATHX[difficulty][1])
    assert judged.target_gap is not None
    apart = judged.target_gap > TOUCH
    assert agreement(judged.joined[apart], judged.labels[apart]) >= APART, "where the targets do not touch"
    assert "unexplained" not in kinds, kinds


def test_pathx_hard_sample_agrees_with_the_continuity_judge(pathx_hard: Judged) -> None:
    kinds = pathx_hard.exceptions()
    print(_report("128 px hard", pathx_hard, kinds))
    check_labels(pathx_hard.joined, pathx_hard.labels, PATHX_HARD[1])
    assert "unexplained" not in kinds, kinds


def test_permuted_labels_fail_the_judge_check(pathx_easy: Judged) -> None:
    """Negative control: the same check on labels shuffled among the images must fail, at about chance."""
    shuffled = np.random.default_rng(0).permutation(pathx_easy.labels)
    assert agreement(pathx_easy.joined, shuffled) < 0.6
    with pytest.raises(AssertionError):
        check_labels(pathx_easy.joined, shuffled, PATHX["easy"][1])


def test_pathx_lit_fraction_and_markers_within_the_parameters(pathx_hard: Judged) -> None:
    """At half the target core level a stroke of thickness t covers about L·t pixels (at most (L + 1)(t + 1) when
    rasterised), a marker about π r²; at 128 px nearly every distractor is placed (354 of 360 seed orientations).
    Markers (contrast 1) are the only pixels brighter than the strokes (0.9): their plateaus, the discs less the
    anti-aliased rim, are two and lie between radii r − 1 and r."""
    p, pixels = pathx_hard.p, pathx_hard.pixels
    g = Geometry.of(p)
    n, per, full = p.size**2, p.paddle_length * p.thickness, (p.paddle_length + 1) * (p.thickness + 1)
    paddles = 2 * p.contour_length + p.num_distractors * p.distractor_length
    lit = (pixels >= g.ink).mean(axis=(1, 2))
    low = (2 * p.contour_length * per + 2 * math.pi * (p.marker_radius - 0.5) ** 2) / n  # the targets alone
    high = (paddles * full + 2 * math.pi * (p.marker_radius + 0.5) ** 2) / n
    expected = (paddles * per + 2 * math.pi * p.marker_radius**2) / n
    print(f"lit fraction {lit.min():.2%}…{lit.max():.2%}, mean {lit.mean():.2%} (expected {expected:.2%})")
    assert low <= lit.min() and lit.max() <= high, (lit.min(), lit.max(), low, high)
    assert abs(lit.mean() / expected - 1) <= 0.1, (lit.mean(), expected)
    stroke_top = max(p.paddle_contrasts) * max(p.snake_contrasts) * 255
    for img in pixels:
        plateaus = components(img >= (stroke_top + 255) / 2)
        areas = np.bincount(plateaus.ravel())[1:]
        assert len(areas) == 2, f"{len(areas)} marker plateaus"
        low, high = math.pi * (p.marker_radius - 1) ** 2, math.pi * p.marker_radius**2
        assert ((low <= areas) & (areas <= high)).all(), (areas, low, high)


# --- Pathfinder-32: layout, files, what the pixels can say ----------------------------------------------------------


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


def _bridge(margin: int) -> float:
    return math.hypot(2 * margin + 1, 1) + 0.01  # next paddle up to 2·margin + 1 px on, one px aside


def test_label_1_markers_joined_in_the_pixels(hard) -> None:
    """Label-1 images are joined by the bridged flood fill (it needs no direction, only the gap); a rare miss must
    be a gap in the contour's own ink wider than the bridge."""
    pixels, labels, _, scenes = hard
    gen = Generator(params(32, "hard"))
    missed = []
    for i in np.flatnonzero(labels == 1):
        bridge = _bridge(scenes[i].margin)
        if not flood_joined(pixels[i], 2, bridge, INK):
            own = contour_ink(gen, scenes[i], gen.draw(scenes[i]).max())[scenes[i].markers[0][2]]
            (ay, ax, _), (by, bx, _) = scenes[i].markers
            reached = flood(own, [(ay, ax), (ay - 1, ax - 1)], bridge)[by - 1 : by + 1, bx - 1 : bx + 1].any()
            missed.append((int(i), not reached))
    assert len(missed) <= 0.01 * (labels == 1).sum(), missed
    assert all(gap for _, gap in missed), missed


def test_label_0_joins_are_contacts_between_contours(hard) -> None:
    """At 32 px the flood fill joins most label-0 images: each such join must be a contact, in the scene, between
    the two marked contours (directly or through distractors), never markers placed on one contour."""
    pixels, labels, _, scenes = hard
    gen = Generator(params(32, "hard"))
    label0 = np.flatnonzero(labels == 0)
    kinds = {"targets touch": 0, "through a distractor": 0}
    for i in label0:
        bridge = _bridge(scenes[i].margin)
        if not flood_joined(pixels[i], 2, bridge, INK):
            continue
        inks = contour_ink(gen, scenes[i], gen.draw(scenes[i]).max())
        a, b = scenes[i].markers[0][2], scenes[i].markers[1][2]
        chain = contact_chain(inks, a, b, bridge)
        assert a != b and chain is not None, f"image {i}: markers joined in the pixels without a contact"
        kinds["targets touch" if len(chain) == 2 else "through a distractor"] += 1
    print(f"label 0 joined in the pixels: {sum(kinds.values()) / len(label0):.1%} of {len(label0)} ({kinds})")


def test_same_rates_as_a_plain_port_of_pf() -> None:
    """Easy difficulty (fast to port): pixel statistics and the flood fill's joined rate per label, ours vs PF's;
    the label effect is large, and labels shuffled among the images erase it."""
    p = params(32, "easy")
    ours = Generator(p).render([image_rng(3, p, i) for i in range(COUNT)])
    theirs = [pathfinder_reference.render(p, np.random.default_rng([3, i])) for i in range(REFERENCE)]
    bridge = 3.01  # joins straight 2-px gaps, not knight moves: misses some label-1 images, so both rates vary

    def rates(images: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lit = np.array([(px >= INK).mean() for px, _ in images])
        judged = np.array([flood_joined(px, 2, bridge, INK) for px, _ in images])
        label = np.array([lab for _, lab in images])
        return lit, judged, label

    lit_a, judged_a, label_a = rates([(px, lab) for px, lab, _ in ours])
    lit_b, judged_b, label_b = rates(theirs)
    one_a, zero_a = judged_a[label_a == 1], judged_a[label_a == 0]
    one_b, zero_b = judged_b[label_b == 1], judged_b[label_b == 0]
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
    shuffled = np.random.default_rng(0).permutation(label_a)
    assert abs(judged_a[shuffled == 1].mean() - judged_a[shuffled == 0].mean()) < 0.1  # negative control


def test_same_seed_same_bytes_for_any_worker_count(tmp_path: Path) -> None:
    for workers, name in ((1, "a"), (2, "b")):
        generate(tmp_path / name, size=32, difficulty="intermediate", count=450, seed=4, workers=workers)
    generate(tmp_path / "c", size=32, difficulty="intermediate", count=450, seed=5, workers=1)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 450 + 1
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (tmp_path / "a" / "metadata/0.npy").read_bytes() != (tmp_path / "c" / "metadata/0.npy").read_bytes()
