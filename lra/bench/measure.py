"""Timing and peak-memory primitives: median of repeated runs after warm-up, peak memory above the inputs."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Timing:
    """Per-call wall time in milliseconds over ``runs`` timed repetitions."""

    median_ms: float
    p20_ms: float
    p80_ms: float
    runs: int


def _summarise(times_s: list[float]) -> Timing:
    ms = sorted(t * 1e3 for t in times_s)
    cuts = statistics.quantiles(ms, n=5, method="inclusive") if len(ms) > 1 else [ms[0]] * 4
    return Timing(median_ms=statistics.median(ms), p20_ms=cuts[0], p80_ms=cuts[3], runs=len(ms))


def time_cpu(fn: Callable[[], object], min_run_time: float = 1.0) -> Timing:
    """``torch.utils.benchmark`` timing with all of torch's intra-op threads (Timer defaults to one thread)."""
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    per_call = [t / measurement.number_per_run for t in measurement.raw_times]
    return _summarise(per_call)


def time_cuda(fn: Callable[[], object], budget_s: float = 1.0, max_reps: int = 100, flush_mb: int = 256) -> Timing:
    """CUDA-event timing of single calls, the L2 cache flushed (a 256 MB write) before each one.

    Warm-up runs at least 3 calls and 25 ms; the number of timed calls then fits ``budget_s`` (5 to ``max_reps``).
    """
    flush = torch.empty(flush_mb * 2**20, dtype=torch.uint8, device="cuda")
    warmup_calls, started = 0, time.perf_counter()
    while warmup_calls < 3 or time.perf_counter() - started < 0.025:
        fn()
        torch.cuda.synchronize()
        warmup_calls += 1
    per_call = (time.perf_counter() - started) / warmup_calls
    reps = max(5, min(max_reps, int(budget_s / per_call)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for start, end in zip(starts, ends, strict=True):
        flush.zero_()
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return _summarise([s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends, strict=True)])


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{field} not found in {_STATUS}")
    return int(match.group(1))


def reset_peak_rss() -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux ``/proc/self/clear_refs``)."""
    _CLEAR_REFS.write_text("5")


def peak_rss_mb() -> float:
    """Process peak RSS since start or since the last ``reset_peak_rss()``, in MB."""
    return _status_kb("VmHWM") / 1024


def peak_rss_delta_mb(fn: Callable[[], object]) -> float:
    """Process peak RSS during ``fn()`` minus the RSS before it.

    Run it in a fresh process per measurement: an allocator that keeps freed memory resident would hide the
    next measurement's allocations.
    """
    reset_peak_rss()
    before = _status_kb("VmRSS") / 1024
    fn()
    return peak_rss_mb() - before


def cuda_peak_mb(fn: Callable[[], object]) -> float:
    """CUDA max allocated during ``fn()`` minus what was allocated before (the inputs)."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20
