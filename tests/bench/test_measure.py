"""Peak memory of a warm call: a known allocation reads as its size, start-up cost is left out, and the helpers
fall back to the process high-water mark where ``/proc/self/clear_refs`` is missing (macOS, some containers)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lra.bench import measure
from lra.bench.measure import HIGH_WATER, RESET, peak_rss_delta, peak_rss_mb, reset_peak_rss

N_MB, STARTUP_MB, TRANSIENT_MB = 64, 24, 40


def _step_with_startup_cost() -> tuple[list[torch.Tensor], object]:
    """A step that allocates, touches and frees N_MB on every call; its first call also keeps a STARTUP_MB buffer
    (a lazily built cache) and passes through a TRANSIENT_MB one (one-time set-up work)."""
    kept: list[torch.Tensor] = []

    def step() -> None:
        if not kept:
            kept.append(torch.ones(STARTUP_MB * 2**18))  # float32: 2**18 elements per MB
            transient = torch.ones(TRANSIENT_MB * 2**18)
            del transient
        block = torch.ones(N_MB * 2**18)
        del block

    return kept, step


needs_reset = pytest.mark.skipif(not reset_peak_rss(), reason="needs Linux /proc/self/clear_refs")


@needs_reset
def test_a_warm_call_reads_its_own_allocation_without_startup_cost() -> None:
    _, step = _step_with_startup_cost()
    warm = peak_rss_delta(step)
    assert warm.method == RESET
    assert N_MB - 1 <= warm.mb <= N_MB + 6, warm  # the N MB block, plus a little interpreter noise
    _, fresh = _step_with_startup_cost()
    cold = peak_rss_delta(fresh, warm=False)  # what the benchmark used to report: start-up cost included
    assert cold.mb >= N_MB + STARTUP_MB - 1, cold


def test_without_clear_refs_the_high_water_mark_is_an_upper_bound(monkeypatch, tmp_path: Path) -> None:
    for unusable in (tmp_path / "absent" / "clear_refs", tmp_path):  # missing, and not writable (a directory)
        monkeypatch.setattr(measure, "_CLEAR_REFS", unusable)
        assert reset_peak_rss() is False  # no crash: nothing can be reset
    _, step = _step_with_startup_cost()
    peak = peak_rss_delta(step)
    assert peak.method == HIGH_WATER
    assert peak.mb >= N_MB - 1  # never below the call's own allocation
    assert peak_rss_mb() > 0


@pytest.mark.parametrize(("platform", "maxrss", "expected_mb"), [("linux", 2048 * 1024, 2048), ("darwin", 2**30, 1024)])
def test_without_proc_the_peak_comes_from_getrusage(monkeypatch, tmp_path, platform, maxrss, expected_mb) -> None:
    """macOS has neither /proc/self/status nor clear_refs: ru_maxrss (bytes there, KB on Linux) is the peak."""
    import resource

    monkeypatch.setattr(measure, "_STATUS", tmp_path / "status")
    monkeypatch.setattr(measure, "_CLEAR_REFS", tmp_path / "absent" / "clear_refs")
    monkeypatch.setattr(sys, "platform", platform)
    usage = SimpleNamespace(ru_maxrss=maxrss)
    monkeypatch.setattr(resource, "getrusage", lambda who: usage)
    assert measure.current_rss_mb() is None and reset_peak_rss() is False
    assert peak_rss_mb() == pytest.approx(expected_mb)

    def step() -> None:  # the process high-water mark rises by 100 MB during the call
        usage.ru_maxrss = maxrss + (100 * 2**20 if platform == "darwin" else 100 * 1024)

    peak = peak_rss_delta(step)
    assert (peak.method, peak.mb) == (HIGH_WATER, pytest.approx(100))
