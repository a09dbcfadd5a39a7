"""Worker processes for the CPU-bound steps (ListOps generation, PNG decoding)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os


def default_workers() -> int:
    """CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def process_pool(workers: int) -> multiprocessing.pool.Pool:
    """A pool of ``workers`` processes, started by a fork server where the platform has one (else spawned): never
    a plain fork of the caller, which may hold threads (torch, a DataLoader) that a forked child would inherit
    in an unknown state."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn").Pool(workers)
