"""Look at generated Pathfinder / Path-X images and measure the generator's speed.

    python -m lra.data.pathfinder_tool --grid docs/images/pathfinder_hard.png [--size 32] [--difficulty hard]
    python -m lra.data.pathfinder_tool --bench [--count 2000] [--workers N] [--json PATH]

``--grid`` saves 16 labelled samples (4×4, upscaled to 128 px tiles). ``--bench`` renders ``--count`` images per
32-px difficulty (``--count / 20`` at 128 px) in this process, reporting images per second of wall and of CPU
time (the CPU figure is less sensitive to other load on a shared machine), then times ``generate`` (PNG files and
metadata) of Pathfinder-32 hard on ``--workers`` processes, the command behind ``lra-data prepare pathfinder
--generate``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from lra.data import progress
from lra.data.pathfinder_gen import CONTOUR_LENGTHS, JOB_SIZE, Generator, generate, image_rng, params, tables
from lra.data.workers import default_workers

TILE = 128  # grid tile side in pixels


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


def bench(count: int, workers: int) -> dict[str, Any]:
    """Rendering speed per setting on one process, then ``generate`` with files on ``workers`` processes."""
    figures: dict[str, Any] = {"load_before": os.getloadavg()}
    for size, n in ((32, count), (128, max(1, count // 20))):
        for difficulty in CONTOUR_LENGTHS:
            p = params(size, difficulty)
            start = time.perf_counter()
            for margin in p.margins:
                tables(p.shape(margin))
            built = time.perf_counter() - start
            gen = Generator(p)
            wall, cpu = time.perf_counter(), time.process_time()
            for lo in range(0, n, JOB_SIZE):
                gen.render([image_rng(0, p, i) for i in range(lo, min(lo + JOB_SIZE, n))])
            figures[f"{size}_{difficulty}"] = {
                "images": n,
                "per_s_wall": n / (time.perf_counter() - wall),
                "per_s_cpu": n / (time.process_time() - cpu),
                "tables_s": built,
            }
    root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-"))
    try:
        n = count * workers
        start = time.perf_counter()
        generate(root / "hard", size=32, difficulty="hard", count=n, seed=0, workers=workers)
        elapsed = time.perf_counter() - start
        figures["generate_32_hard"] = {"images": n, "workers": workers, "per_s_wall": n / elapsed}
        figures["generate_32_hard"]["200k_minutes"] = 200_000 / (n / elapsed) / 60
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures["load_after"] = os.getloadavg()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=Path, metavar="PNG", help="save a 4×4 grid of labelled samples here")
    parser.add_argument("--size", type=int, default=32, choices=(32, 128), help="32 (Pathfinder) or 128 (Path-X)")
    parser.add_argument("--difficulty", default="hard", choices=tuple(CONTOUR_LENGTHS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bench", action="store_true", help="measure images per second")
    parser.add_argument("--count", type=int, default=2000, help="--bench: images per 32-px setting (128 px: /20)")
    parser.add_argument("--workers", type=int, default=None, help="--bench: processes for generate (all CPUs)")
    parser.add_argument("--json", type=Path, help="--bench: also write the figures here")
    args = parser.parse_args(argv)
    if not (args.grid or args.bench):
        parser.error("nothing to do: pass --grid PNG and/or --bench")
    if args.grid:
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        grid(args.size, args.difficulty, args.seed).save(args.grid, optimize=True)
        print(f"saved {args.grid}")
    if args.bench:
        progress.set_enabled(False)
        workers = args.workers or default_workers()
        figures = bench(args.count, workers)
        print(f"machine: {default_workers()} CPUs ({platform.processor() or platform.machine()})")
        print(f"load average before {figures['load_before']}, after {figures['load_after']}")
        for key, f in figures.items():
            if key.startswith(("32_", "128_")):
                print(
                    f"  render {key:<16} {f['per_s_wall']:7.1f} images/s wall, {f['per_s_cpu']:7.1f} per CPU-second "
                    f"({f['images']} images; tables {f['tables_s']:.1f} s)"
                )
        g = figures["generate_32_hard"]
        print(
            f"  generate 32 hard, PNG files, {g['workers']} workers: {g['per_s_wall']:.1f} images/s "
            f"-> 200,000 images in {g['200k_minutes']:.1f} min"
        )
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
