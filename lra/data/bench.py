"""Performance figures of the data layer (``python -m lra.data.bench``).

1. ListOps: generating the full LRA-size set (96k/2k/2k) with the default workers, then the whole
   ``prepare listops --generate`` (generation + TSV + tokenising + cache) end to end.
2. Reading a random batch of 32 from a prepared cache, warm page cache: ``LRADataset.batch`` (gather from the
   memory maps + int64 tensors) for the ListOps cache just built and for caches of the Text, Retrieval and
   Path-X shapes (random tokens, ``--rows`` rows each); per-item ``ds[i]`` + ``default_collate`` for contrast.

Prints a table and, with ``--json PATH``, writes the figures.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import default_collate

from lra.data import TASKS, LRADataset, prepare, progress
from lra.data.cache import CacheWriter
from lra.data.hashing import file_digest
from lra.data.listops_gen import generate_tsv
from lra.data.spec import SPLITS
from lra.data.workers import default_workers
from lra.io import atomic_write_json
from lra.machine import cpu_model

BATCH = 32


def _timings(fn: Any, repeats: int) -> dict[str, float]:
    """Median and 95th percentile of ``repeats`` calls, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}


def _synthetic_cache(root: Path, task: str, rows: int) -> Path:
    """A cache with ``task``'s shape and dtype filled with random tokens (the reading cost depends only on that)."""
    spec = TASKS[task]
    rng = np.random.default_rng(0)
    with CacheWriter(root / f"synthetic-{task}", spec, {"synthetic_rows": rows}) as writer:
        for split in SPLITS:
            inputs, lengths, labels = writer.allocate(split, rows, spec.max_length)
            inputs[...] = rng.integers(1, spec.vocab_size, inputs.shape, dtype=inputs.dtype)
            lengths[...] = spec.max_length
            labels[...] = rng.integers(0, spec.num_classes, rows)
        return writer.commit()


def bench_batches(ds: LRADataset, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    draws = [rng.choice(len(ds), BATCH, replace=False) for _ in range(repeats)]
    it = iter(draws)
    ds.batch(draws[0])  # map the pages once
    gathered = _timings(lambda: ds.batch(next(it)), repeats)
    it = iter(draws)
    per_item = _timings(lambda: default_collate([ds[int(i)] for i in next(it)]), min(repeats, 300))
    return {
        "shape": list(ds.inputs.shape[1:]),
        "dtype": str(ds.inputs.dtype),
        "batch": gathered,
        "per_item_collate": per_item,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="where to build (default: a temporary folder, removed after)")
    parser.add_argument("--train-size", type=int, default=96_000, help="ListOps training examples (default 96000)")
    parser.add_argument("--eval-size", type=int, default=2_000, help="ListOps validation and test examples each")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of each synthetic cache")
    parser.add_argument("--repeats", type=int, default=2000, help="random batches timed per cache")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    progress.set_enabled(False)
    workers = args.workers or default_workers()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="lra-data-bench-"))
    figures: dict[str, Any] = {
        "machine": {"cpus": default_workers(), "processor": cpu_model()},
        "workers": workers,
    }
    try:
        sizes = {"train_size": args.train_size, "val_size": args.eval_size, "test_size": args.eval_size}
        out = root / "generate-only"
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        generate_tsv(out, seed=0, workers=workers, **sizes)
        figures["listops_generate_s"] = time.perf_counter() - start
        figures["listops_tsv_bytes"] = sum(p.stat().st_size for p in out.iterdir())
        figures["listops_tsv_sha256"] = {p.name: file_digest(p) for p in sorted(out.iterdir())}
        shutil.rmtree(out)
        start = time.perf_counter()
        listops_dir = prepare("listops", root, generate=True, force=True, workers=workers, **sizes)
        figures["listops_prepare_s"] = time.perf_counter() - start
        figures["listops_examples"] = sum(sizes.values())

        caches = {"listops": LRADataset(listops_dir, "train")}
        for task in ("text", "retrieval", "pathx"):
            caches[task] = LRADataset(_synthetic_cache(root / "synthetic", task, args.rows), "train")
        figures["random_batch_of_32"] = {name: bench_batches(ds, args.repeats) for name, ds in caches.items()}
    finally:
        if args.data_dir is None:
            shutil.rmtree(root, ignore_errors=True)

    print(f"machine: {figures['machine']['cpus']} CPUs ({figures['machine']['processor']}), workers {workers}")
    n = figures["listops_examples"]
    print(
        f"ListOps generate {n:,} examples + TSV ({figures['listops_tsv_bytes'] / 1e6:.0f} MB): "
        f"{figures['listops_generate_s']:.1f} s"
    )
    print(f"ListOps prepare --generate end to end: {figures['listops_prepare_s']:.1f} s")
    for name, digest in figures["listops_tsv_sha256"].items():
        print(f"  seed 0 {name}: sha256 {digest}")
    print(f"random batch of {BATCH} (median / p95 ms):  LRADataset.batch   per-item + collate")
    for name, r in figures["random_batch_of_32"].items():
        b, p = r["batch"], r["per_item_collate"]
        print(
            f"  {name:<10} {r['shape']!s:<12} {r['dtype']:<7} {b['median_ms']:6.3f} / {b['p95_ms']:6.3f}"
            f"      {p['median_ms']:6.3f} / {p['p95_ms']:6.3f}"
        )
    if args.json:
        atomic_write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
