"""Demo: every registered attention on one input, against exact softmax (error, forward time, peak memory).

    python -m lra.demo [--n 4096]

The error is measured on locally smooth random sequences (low-frequency signals plus noise), the regime where
low-rank attention approximations are meaningful; on i.i.d. noise every approximation is poor. The Nyström
conv skip is switched off here: it adds a learned term that exact softmax does not have.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from attention_zoo import available_attentions, build_attention
from lra.bench.case import BenchCase, run_isolated

DEMO_OPTIONS = {"nystrom": {"conv_kernel_size": None}}


def smooth_sequences(batch: int, heads: int, n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """``[batch, heads, n, dim]`` sums of a few random sinusoids along the sequence, plus 10 % noise."""
    t = torch.linspace(0, 1, n)[:, None]
    freqs = torch.arange(1, 9)[None]
    basis = torch.cat([torch.sin(2 * math.pi * t * freqs), torch.cos(2 * math.pi * t * freqs)], dim=1)
    coefficients = torch.randn(batch, heads, basis.shape[1], dim, generator=generator) / 4
    return basis @ coefficients + 0.1 * torch.randn(batch, heads, n, dim, generator=generator)


def errors_vs_softmax(name: str, n: int, heads: int, dim: int) -> tuple[float, float]:
    """(max |error|, relative RMS error) of attention ``name`` against exact softmax attention."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (smooth_sequences(1, heads, n, dim, generator) for _ in range(3))
    attention = build_attention(name, num_heads=heads, head_dim=dim, max_seq_len=n, **DEMO_OPTIONS.get(name, {}))
    if attention.shared_qk:  # Reformer hashes one shared query/key space
        k = q
    with torch.no_grad():
        out, exact = attention.eval()(q, k, v), F.scaled_dot_product_attention(q, k, v)
    return (out - exact).abs().max().item(), ((out - exact).norm() / exact.norm()).item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=32)
    args = parser.parse_args(argv)

    print(f"attention_zoo demo: batch 1, {args.heads} heads × {args.head_dim}, n = {args.n}, fp32, CPU\n")
    header = f"| {'attention':10s} | max abs error | rel. RMS error | fwd time (ms) | peak memory (MB) |"
    print(header + "\n|" + "---|" * 5)
    for name in available_attentions():
        max_error, rms_error = errors_vs_softmax(name, args.n, args.heads, args.head_dim)
        case = BenchCase(
            impl=name, n=args.n, heads=args.heads, head_dim=args.head_dim, options=DEMO_OPTIONS.get(name, {})
        )
        cell = run_isolated(case, min_run_time=0.5)
        timing = f"{cell['median_ms']:.2f}" if cell["status"] == "ok" else cell["status"]
        memory = f"{cell['peak_mb']:.1f}" if cell["status"] == "ok" else cell["status"]
        print(f"| {name:10s} | {max_error:13.2e} | {rms_error:14.2e} | {timing:>13s} | {memory:>16s} |", flush=True)
    print("\nerror: against exact softmax on locally smooth sequences; time: median after warm-up;")
    print("memory: peak RSS above the inputs, one fresh process per attention. Nyström conv skip off.")


if __name__ == "__main__":
    main()
