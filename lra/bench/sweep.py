"""The measurement grid: which implementations, with which options, at which lengths and modes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lra.bench.case import BenchCase, run_case, run_isolated
from lra.bench.peers import PEER_OF

# One setting per attention for the attention-core modes, given to ours and to its peers alike (the peer
# adapters read the same names). Nyström: m = 64, 6 iterations, conv 35 (the nystrom-64 LRA model); Linformer
# k = 256 and Performer 256 features (the Nyströmformer LRA settings; features frozen while timing, the peer
# never redraws by itself); Reformer bucket 64 and 4 hashes on both sides (the setting of the reformer-pytorch
# figure in issue 3; the LRA runs used 2 hashes and the cost is linear in it).
CORE_OPTIONS: dict[str, dict[str, Any]] = {
    "nystrom": {"num_landmarks": 64, "pinv_iterations": 6, "conv_kernel_size": 35},
    "linformer": {"k": 256},
    "performer": {"num_features": 256, "redraw_interval": None},
    "reformer": {"num_hashes": 4, "bucket_size": 64},
}


def ours_of(impl: str) -> str:
    """The attention of ours that ``impl`` implements (itself, or the one a peer package implements)."""
    return PEER_OF.get(impl.removeprefix("peer:"), impl)


def core_options(impl: str) -> dict[str, Any]:
    return dict(CORE_OPTIONS.get(ours_of(impl), {}))


def run_cases(cases: Iterable[BenchCase], *, isolated: bool, min_run_time: float, timeout: float) -> list[dict]:
    """Measure each case (in a fresh process when ``isolated``), printing one line per cell as it lands."""
    rows = []
    for case in cases:
        if isolated:
            row = run_isolated(case, min_run_time=min_run_time, timeout=timeout)
        else:
            row = {**case.__dict__, **run_case(case, min_run_time=min_run_time)}
        row["peer_of"] = ours_of(case.impl) if case.impl.startswith("peer:") else None
        rows.append(row)
        shown = f"{row['median_ms']:10.2f} ms {row['peak_mb']:9.1f} MB" if row["status"] == "ok" else row["status"]
        print(f"{case.mode:10s} {case.dtype:9s} n={case.n:<6d} {case.impl:28s} {shown}", flush=True)
    return rows
