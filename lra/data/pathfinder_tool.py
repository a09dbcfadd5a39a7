"""Look at generated Pathfinder / Path-X images and measure every speed figure the README quotes.

    python -m lra.data.pathfinder_tool --grid docs/images/pathfinder_hard.png [--size 32] [--difficulty hard]
    python -m lra.data.pathfinder_tool --bench [--count 2000] [--workers N] [--generate-count N]
                                       [--prepare-count N] [--json PATH]

``--grid`` saves 16 labelled samples (4×4, upscaled to 128 px tiles). ``--bench`` measures, in this order:

1. ``render``: ``--count`` images per 32-px difficulty (``--count / 20`` per 128-px one) in this process, in
   images per second of wall and of CPU time (the CPU figure is less sensitive to other load on a shared machine);
   for 128 px also the estimated time of 200,000 images on ``--workers`` CPUs.
2. ``one_process``: ``generate`` of Pathfinder-32 hard on one process (``--count`` images: rendering, PNG encoding
   and files), the work one core does, per second of wall and of CPU.
3. ``generate``: ``generate`` of ``--generate-count`` Pathfinder-32 hard images (PNG files and metadata) on
   ``--workers`` processes, and the time that rate gives for 200,000 images.
4. ``prepare``: ``lra-data prepare pathfinder --generate`` end to end (generate, decode, cache) of
   ``--prepare-count`` images split 80/10/10 into a temporary data root, on ``--workers`` processes. With
   ``--prepare-count 200000`` it is exactly the default command (160,000 / 20,000 / 20,000).

Everything is written under a temporary folder that is removed afterwards; ``--json`` saves the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from lra.data import progress
from lra.data.api import prepare
from lra.data.pathfinder_gen import CONTOUR_LENGTHS, JOB_SIZE, Generator, generate, image_rng, params, tables
from lra.data.workers import default_workers
from lra.io import atomic_write_json
from lra.machine import cpu_model

TILE = 128  # grid tile side in pixels
FULL = 200_000  # images in LRA's Pathfinder set, the size the README's times are given for


def grid(size: int, difficulty: str, seed: int = 0) -> Image.Image:
    """A 4×4 grid of images ``0..15`` of ``seed``, each captioned with its index and label."""
    p = params(size, difficulty)
    caption, gap = 12, 4
    out = Image.new("L", (4 * TILE + 5 * gap, 4 * (TILE + caption) + 5 * gap), 96)
    draw = ImageDraw.Draw(out)
    for i, (pixels, label, _) in enumerate(Generator(p).render([image_rng(seed, p, i) for i in range(16)])):
        x, y = gap + (i % 4) * (TILE + gap), gap + (i // 4) * (TILE + caption + gap)
        out.paste(Image.fromarray(pixels).resize((TILE, TILE), Image.Resampling.NEAREST), (x, y + caption))
        draw.text((x + 2, y), f"#{i} label {label} ({'connected' if label else 'not connected'})", fill=255)
    return out


def _timed(images: int, fn: Callable[[], object]) -> dict[str, float]:
    """Run ``fn`` once; its wall and CPU (this process) time, and the rates for ``images`` images."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"images": images, "seconds": wall, "per_s_wall": images / wall, "per_s_cpu": images / max(cpu, 1e-9)}


def _render(size: int, difficulty: str, n: int) -> dict[str, float]:
    p = params(size, difficulty)
    start = time.perf_counter()
    for margin in p.margins:
        tables(p.shape(margin))  # built once per process; timed apart from the images
    built = time.perf_counter() - start
    gen = Generator(p)

    def run() -> None:
        for lo in range(0, n, JOB_SIZE):
            gen.render([image_rng(0, p, i) for i in range(lo, min(lo + JOB_SIZE, n))])

    return _timed(n, run) | {"tables_s": built}


def _split(total: int) -> dict[str, int]:
    """LRA's 80/10/10 of ``total`` images (160,000 / 20,000 / 20,000 for 200,000)."""
    held_out = max(1, total // 10)
    return {"train_size": total - 2 * held_out, "val_size": held_out, "test_size": held_out}


def bench(count: int, workers: int, generate_count: int, prepare_count: int) -> dict[str, Any]:
    """Every figure of the module docstring, with the machine and its load before and after."""
    figures: dict[str, Any] = {
        "machine": {
            "cpus": default_workers(),
            "processor": cpu_model(),
            **{lib: metadata.version(lib) for lib in ("numpy", "pillow")},
        },
        "workers": workers,
        "load_before": os.getloadavg(),
        "render": {},
    }
    for size, n in ((32, count), (128, max(1, count // 20))):
        for difficulty in CONTOUR_LENGTHS:
            row = figures["render"][f"{size}_{difficulty}"] = _render(size, difficulty, n)
            if size == 128:
                row["200k_minutes_estimate"] = FULL / (row["per_s_cpu"] * workers) / 60
    root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-"))
    try:
        common = {"size": 32, "difficulty": "hard", "seed": 0}
        figures["one_process"] = _timed(count, lambda: generate(root / "one", count=count, workers=1, **common))
        figures["generate"] = _timed(
            generate_count, lambda: generate(root / "many", count=generate_count, workers=workers, **common)
        )
        for folder in ("one", "many"):  # 200,000 PNGs take 0.8 GB: free the disk before prepare writes its own
            shutil.rmtree(root / folder)
        sizes = _split(prepare_count)
        figures["prepare"] = (
            _timed(
                prepare_count,
                lambda: prepare("pathfinder", root / "data", generate=True, workers=workers, **sizes),
            )
            | sizes
        )
        for key in ("generate", "prepare"):
            del figures[key]["per_s_cpu"]  # the workers' CPU time is not this process's
            figures[key]["workers"] = workers
            figures[key]["200k_minutes"] = FULL / figures[key]["per_s_wall"] / 60
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures["load_after"] = os.getloadavg()
    return figures


def report(figures: dict[str, Any]) -> str:
    """The figures as the lines the README's speed table is made from."""
    m, w = figures["machine"], figures["workers"]
    lines = [
        f"machine: {m['cpus']} CPUs ({m['processor']}), numpy {m['numpy']}, Pillow {m['pillow']}; {w} workers",
        f"load average before {figures['load_before']}, after {figures['load_after']}",
    ]
    for key, r in figures["render"].items():
        extra = f"; 200,000 on {w} CPUs ≈ {r['200k_minutes_estimate']:.0f} min" if "200k_minutes_estimate" in r else ""
        lines.append(
            f"  render {key:<17} {r['per_s_wall']:7.1f} images/s wall, {r['per_s_cpu']:7.1f} per CPU-second "
            f"({r['images']} images; tables {r['tables_s']:.1f} s){extra}"
        )
    one = figures["one_process"]
    lines.append(
        f"  generate 32 hard, PNG files, 1 process: {one['per_s_wall']:.1f} images/s wall, "
        f"{one['per_s_cpu']:.1f} per CPU-second ({one['images']} images)"
    )
    for key, what in (("generate", "generate 32 hard, PNG files"), ("prepare", "prepare pathfinder --generate")):
        r = figures[key]
        lines.append(
            f"  {what}, {w} workers: {r['images']} images in {r['seconds']:.1f} s = {r['per_s_wall']:.1f} images/s "
            f"-> 200,000 images in {r['200k_minutes']:.1f} min"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=Path, metavar="PNG", help="save a 4×4 grid of labelled samples here")
    parser.add_argument("--size", type=int, default=32, choices=(32, 128), help="32 (Pathfinder) or 128 (Path-X)")
    parser.add_argument("--difficulty", default="hard", choices=tuple(CONTOUR_LENGTHS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bench", action="store_true", help="measure images per second")
    parser.add_argument("--count", type=int, default=2000, help="--bench: images per 32-px setting (128 px: /20)")
    parser.add_argument("--workers", type=int, default=None, help="--bench: processes (default: all CPUs)")
    parser.add_argument("--generate-count", type=int, help="--bench: images for generate (count × workers)")
    parser.add_argument("--prepare-count", type=int, help="--bench: images for prepare, 80/10/10 (count × workers)")
    parser.add_argument("--json", type=Path, help="--bench: also write the figures here")
    args = parser.parse_args(argv)
    if not (args.grid or args.bench):
        parser.error("nothing to do: pass --grid PNG and/or --bench")
    for name in ("count", "workers", "generate_count", "prepare_count"):
        value = getattr(args, name)
        if value is not None and value < (3 if name == "prepare_count" else 1):
            parser.error(f"--{name.replace('_', '-')} must be at least {3 if name == 'prepare_count' else 1}")
    if args.grid:
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        grid(args.size, args.difficulty, args.seed).save(args.grid, optimize=True)
        print(f"saved {args.grid}")
    if args.bench:
        progress.set_enabled(False)
        workers = args.workers or default_workers()
        default = args.count * workers
        figures = bench(args.count, workers, args.generate_count or default, args.prepare_count or default)
        print(report(figures))
        if args.json:
            atomic_write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
