"""GPU check and timing of Nyström attention against SDPA (flash / cuDNN), for one H100-class GPU in < 8 min.

    python -m lra.bench.gpu_nystrom --out runs/reference/gpu-nystrom-<gpu>

(a) Checks on the device: fast path vs reference path in fp32 and bf16, and finite output at n = 65536.
(b) Times nystrom (m = 64, conv 35) and exact SDPA (auto backend, and flash only) at n = 1K…64K,
    batch × heads = 128, head_dim = 64, bf16, forward and forward+backward, CUDA events with an L2 flush.
Needs only torch and this repository (no Hydra, W&B or peer packages). ``--device cpu`` runs a small smoke
version of the same code (used by the tests).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from attention_zoo import build_attention
from lra.bench.case import BenchCase, run_case
from lra.io import atomic_write_json, atomic_write_text
from lra.machine import describe

IMPLS = {
    "nystrom": {"num_landmarks": 64, "pinv_iterations": 6, "conv_kernel_size": 35},
    "softmax": {},
    "softmax[flash]": {"backend": "flash"},
}


def check_paths(device: str, n: int, batch: int, heads: int, dim: int) -> list[dict[str, Any]]:
    """Fast vs reference path on ``device`` (relative max error) in fp32 and bf16, with a padded example."""
    rows = []
    mask = torch.ones(batch, n, dtype=torch.bool, device=device)
    mask[0, n // 3 :] = False
    real = mask[:, None, :, None].expand(batch, heads, n, dim)
    for dtype in (torch.float32, torch.bfloat16):
        q, k, v = (torch.randn(batch, heads, n, dim, device=device, dtype=dtype) for _ in range(3))
        outputs = {}
        for path in ("fast", "reference"):
            attention = build_attention("nystrom", num_heads=heads, head_dim=dim, max_seq_len=n, path=path)
            torch.manual_seed(0)
            attention.conv.reset_parameters()  # same conv weights in both paths
            with torch.no_grad():
                outputs[path] = attention.to(device)(q, k, v, mask).float()[real]
        error = ((outputs["fast"] - outputs["reference"]).abs().max() / outputs["reference"].abs().max()).item()
        rows.append({"check": "fast_vs_reference", "dtype": str(dtype), "n": n, "relative_max_error": error})
    return rows


def check_long(device: str, n: int, heads: int, dim: int) -> dict[str, Any]:
    q, k, v = (torch.randn(1, heads, n, dim, device=device, dtype=torch.bfloat16) for _ in range(3))
    attention = build_attention("nystrom", num_heads=heads, head_dim=dim, max_seq_len=n).to(device)
    with torch.no_grad():
        out = attention(q, k, v)
    return {"check": "finite_at_length", "dtype": "torch.bfloat16", "n": n, "finite": bool(torch.isfinite(out).all())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", nargs="+", type=int, default=[1024, 2048, 4096, 8192, 16384, 32768, 65536])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="CPU only: seconds of timed runs per cell")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is available (use --device cpu for a smoke run)")

    started = time.time()
    checks = check_paths(args.device, min(4096, max(args.n)), 2, args.heads, args.head_dim)
    checks.append(check_long(args.device, max(args.n), args.heads, args.head_dim))
    for check in checks:
        print(check, flush=True)

    rows = []
    for mode in ("fwd", "fwd_bwd"):
        for n in args.n:
            for impl, options in IMPLS.items():
                name = impl.split("[")[0]
                case = BenchCase(
                    impl=name, n=n, mode=mode, batch=args.batch, heads=args.heads, head_dim=args.head_dim,
                    dtype=args.dtype, device=args.device, options=options,
                )  # fmt: skip
                row = {"label": impl, **case.__dict__, **run_case(case, args.min_run_time)}
                if name == "softmax" and row["status"] == "ok":
                    row["sdpa_backend"] = _backend(case)
                rows.append(row)
                shown = f"{row['median_ms']:.3f} ms" if row["status"] == "ok" else row["status"]
                print(f"{mode:8s} n={n:<6d} {impl:15s} {shown}", flush=True)
                if args.device == "cuda":
                    torch.cuda.empty_cache()

    payload = {"machine": describe(), "checks": checks, "rows": rows, "seconds": time.time() - started}
    atomic_write_json(args.out / "results.json", payload)
    atomic_write_text(args.out / "table.md", _table(rows) + "\n")
    print(_table(rows))
    print(f"\n{time.time() - started:.0f} s; written to {args.out}")


def _backend(case: BenchCase) -> str:
    attention = build_attention(
        "softmax", num_heads=case.heads, head_dim=case.head_dim, max_seq_len=case.n, **case.options
    ).to(case.device)
    q = torch.randn(1, case.heads, case.n, case.head_dim, device=case.device, dtype=getattr(torch, case.dtype))
    return attention.sdpa_backend(q, q, q)


def _table(rows: list[dict[str, Any]]) -> str:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    lines = [
        "| mode | n | " + " | ".join(labels) + " | nystrom speed-up vs softmax |",
        "|" + "---|" * (len(labels) + 3),
    ]
    by_key = {(r["mode"], r["n"], r["label"]): r for r in rows}
    for mode, n in dict.fromkeys((r["mode"], r["n"]) for r in rows):
        cells = []
        for label in labels:
            row = by_key[(mode, n, label)]
            cells.append(f"{row['median_ms']:.3f} ms" if row["status"] == "ok" else row["status"].upper())
        mine, exact = by_key[(mode, n, "nystrom")], by_key[(mode, n, "softmax")]
        both_ok = mine["status"] == exact["status"] == "ok"
        ratio = f"{exact['median_ms'] / mine['median_ms']:.1f}×" if both_ok else "—"
        lines.append(f"| {mode} | {n} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
