"""Timing and peak-memory primitives: median of repeated runs after warm-up, peak memory of a warm call.

Peak memory is measured on a *warm* call: the step runs once (lazy initialisation, allocator and library start-up,
one-time buffers), the freed memory is handed back to the OS, the high-water mark is reset, and then one call is
measured. The cold first call carries start-up cost that is no property of the attention (softmax fwd+bwd at
n = 512 on CPU: about 41 MB cold, under 1 MB warm).

CPU peak RSS needs a resettable high-water mark: Linux ``/proc/self/clear_refs``. Where that file is missing or
not writable (macOS, some containers), the helpers fall back to the process high-water mark, which cannot be
reset: ``VmHWM`` where ``/proc/self/status`` exists, else ``resource.getrusage`` (``ru_maxrss``: KB on Linux,
bytes on macOS). A fallback measurement is an upper bound (it may include earlier peaks of the process, such as
the cold call's) and is labelled ``high-water`` instead of ``reset``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
RESET = "reset"  # the high-water mark was reset before the measured call
HIGH_WATER = "high-water"  # fallback: the process high-water mark since its start (an upper bound)


@dataclass(frozen=True)
class Timing:
    """Per-call wall time in milliseconds over ``runs`` timed repetitions."""

    median_ms: float
    p20_ms: float
    p80_ms: float
    runs: int


@dataclass(frozen=True)
class PeakMemory:
    """Peak memory of one warm call above the memory held before it, in MB, and how it was measured
    (``reset``, ``high-water`` or ``cuda``)."""

    mb: float
    method: str


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


def _status_kb(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status``; None where the file or the field does not exist (not Linux)."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None with another C library (macOS, musl without it, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release_memory() -> None:
    """Collect garbage and hand freed heap memory back to the OS (glibc ``malloc_trim(0)`` where available), so
    that memory kept resident by the allocator does not hide the next call's allocations."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS through Linux ``/proc/self/clear_refs``.

    Returns False, resetting nothing, where that file is missing or not writable: the high-water mark then stays
    the process's since its start, and :func:`peak_rss_mb` reads that.
    """
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _ru_maxrss_mb() -> float:
    import resource  # POSIX only; imported here so that importing this module works everywhere

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KB on Linux


def current_rss_mb() -> float | None:
    """The process's resident set now, in MB; None where ``/proc/self/status`` does not exist."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb() -> float:
    """Process peak RSS since start or since the last successful :func:`reset_peak_rss`, in MB (VmHWM; without
    ``/proc/self/status``, ``ru_maxrss``, which is never reset)."""
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else _ru_maxrss_mb()


def peak_rss_delta(fn: Callable[[], object], warm: bool = True) -> PeakMemory:
    """Peak RSS during one call of ``fn`` above the RSS just before it; with ``warm``, after one unmeasured call.

    Run it in a fresh process per measurement, so that earlier work leaves nothing resident. Without a resettable
    high-water mark (see the module docstring) it is the process high-water mark minus the RSS before the measured
    call (or, without ``/proc``, minus the high-water mark before the first call): an upper bound, ``high-water``.
    """
    start = current_rss_mb()
    start = peak_rss_mb() if start is None else start
    if warm:
        fn()
        release_memory()
    if reset_peak_rss():
        before = peak_rss_mb()  # just reset: the current RSS
        fn()
        return PeakMemory(peak_rss_mb() - before, RESET)
    before = current_rss_mb()
    fn()
    return PeakMemory(peak_rss_mb() - (start if before is None else before), HIGH_WATER)


def cuda_peak(fn: Callable[[], object], warm: bool = True) -> PeakMemory:
    """CUDA max allocated during one call of ``fn`` minus what was allocated just before it (the inputs and state
    kept between calls); with ``warm``, after one unmeasured call (cuBLAS workspaces, lazy buffers)."""
    if warm:
        fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return PeakMemory((torch.cuda.max_memory_allocated() - before) / 2**20, "cuda")
