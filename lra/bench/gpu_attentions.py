"""GPU check and timing of all five attentions (softmax, Nyström, Linformer, Performer, Reformer), one GPU, < 8 min.

    python -m lra.bench.gpu_attentions --out runs/reference/gpu-attentions-<gpu>

(a) Checks on the device, per attention: bf16 output finite and close to fp32 evaluated on the same
    (bf16-rounded) inputs, with a padded example (n = 4096, batch 2); and finite bf16 output at the longest n.
    Reformer is compared with a fixed seed and on the rounded inputs because LSH is discontinuous in q.
(b) Times every attention at its LRA setting at n = 1K…32K, batch × heads = 128 (32 × 4), head_dim = 64, bf16,
    forward and forward+backward, CUDA events with an L2 flush (``lra.bench.measure.time_cuda``).
Needs only torch and this repository (no peer packages). ``--device cpu`` runs a small smoke version of the
same code (used by the tests).
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

# The LRA settings (nystrom.md §2, baselines.md §0); Performer features frozen while timing; Reformer seeded.
IMPLS: dict[str, dict[str, Any]] = {
    "softmax": {},
    "nystrom": {"num_landmarks": 64, "pinv_iterations": 6, "conv_kernel_size": 35},
    "linformer": {"k": 256},
    "performer": {"num_features": 256, "redraw_interval": None, "seed": 0},
    "reformer": {"num_hashes": 2, "bucket_size": 64, "seed": 0},
}


def _inputs(name: str, batch: int, heads: int, n: int, dim: int, device: str, dtype: torch.dtype):
    q, k, v = (torch.randn(batch, heads, n, dim, device=device, dtype=dtype) for _ in range(3))
    return q, (q if name == "reformer" else k), v


def check_bf16(name: str, device: str, n: int, heads: int, dim: int) -> dict[str, Any]:
    """bf16 vs fp32 on the same values (relative max error at real positions), one example padded to n/3."""
    attention = build_attention(name, num_heads=heads, head_dim=dim, max_seq_len=n, **IMPLS[name]).to(device)
    attention.eval()
    q, k, v = _inputs(name, 2, heads, n, dim, device, torch.bfloat16)
    mask = torch.ones(2, n, dtype=torch.bool, device=device)
    mask[0, n // 3 :] = False
    q32 = q.float()
    k32 = q32 if name == "reformer" else k.float()
    with torch.no_grad():
        out = attention(q, k, v, mask)
        reference = attention(q32, k32, v.float(), mask)
    real = mask[:, None, :, None].expand_as(reference)
    error = ((out.float() - reference)[real].abs().max() / reference[real].abs().max()).item()
    finite = bool(torch.isfinite(out).all())
    return {"check": "bf16_vs_fp32", "impl": name, "n": n, "relative_max_error": error, "finite": finite}


def check_long(name: str, device: str, n: int, heads: int, dim: int) -> dict[str, Any]:
    attention = build_attention(name, num_heads=heads, head_dim=dim, max_seq_len=n, **IMPLS[name]).to(device)
    q, k, v = _inputs(name, 1, heads, n, dim, device, torch.bfloat16)
    with torch.no_grad():
        out = attention.eval()(q, k, v)
    return {"check": "finite_at_length", "impl": name, "n": n, "finite": bool(torch.isfinite(out).all())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--impls", nargs="+", choices=list(IMPLS), default=list(IMPLS))
    parser.add_argument("--n", nargs="+", type=int, default=[1024, 2048, 4096, 8192, 16384, 32768])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="CPU only: seconds of timed runs per cell")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is available (use --device cpu for a smoke run)")

    started = time.time()
    torch.manual_seed(0)
    checks = []
    for name in args.impls:
        checks.append(check_bf16(name, args.device, min(4096, max(args.n)), args.heads, args.head_dim))
        checks.append(check_long(name, args.device, max(args.n), args.heads, args.head_dim))
        for check in checks[-2:]:
            print(check, flush=True)

    rows = []
    for mode in ("fwd", "fwd_bwd"):
        for n in args.n:
            for name in args.impls:
                case = BenchCase(
                    impl=name, n=n, mode=mode, batch=args.batch, heads=args.heads, head_dim=args.head_dim,
                    dtype=args.dtype, device=args.device, options=IMPLS[name],
                )  # fmt: skip
                row = {**case.__dict__, **run_case(case, args.min_run_time)}
                rows.append(row)
                shown = f"{row['median_ms']:.3f} ms" if row["status"] == "ok" else row["status"]
                print(f"{mode:8s} n={n:<6d} {name:10s} {shown}", flush=True)
                if args.device == "cuda":
                    torch.cuda.empty_cache()

    payload = {"machine": describe(), "options": IMPLS, "checks": checks, "rows": rows, "seconds": 0.0}
    payload["seconds"] = time.time() - started
    atomic_write_json(args.out / "results.json", payload)
    atomic_write_text(args.out / "table.md", _table(rows) + "\n")
    print(_table(rows))
    print(f"\n{time.time() - started:.0f} s; written to {args.out}")


def _table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per (mode, n), ms per attention (and peak MB), speed-up of each vs softmax."""
    names = list(dict.fromkeys(r["impl"] for r in rows))
    others = [name for name in names if name != "softmax"]
    header = ["mode", "n", *names, *(f"{name} vs softmax" for name in others if "softmax" in names)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_key = {(r["mode"], r["n"], r["impl"]): r for r in rows}
    for mode, n in dict.fromkeys((r["mode"], r["n"]) for r in rows):
        cells = []
        for name in names:
            row = by_key[(mode, n, name)]
            ok = row["status"] == "ok"
            cells.append(f"{row['median_ms']:.2f} ms / {row['peak_mb']:.0f} MB" if ok else row["status"].upper())
        exact = by_key.get((mode, n, "softmax"))
        for name in others if exact else []:
            mine = by_key[(mode, n, name)]
            both = mine["status"] == exact["status"] == "ok"
            cells.append(f"{exact['median_ms'] / mine['median_ms']:.1f}×" if both else "—")
        lines.append(f"| {mode} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
