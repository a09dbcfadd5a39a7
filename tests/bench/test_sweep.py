"""The sweep driver's limits and order: an in-process cell past its deadline is TIMEOUT, cells after the total
budget are SKIPPED, the most important cells run first; and the GPU configuration's code path, run on the CPU
through the real Hydra app."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from lra.bench.app import check_limits
from lra.bench.case import BenchCase
from lra.bench.sweep import priority, run_cases


def test_an_in_process_cell_past_its_deadline_is_a_timeout_cell() -> None:
    cells = [BenchCase(impl="softmax", n=64), BenchCase(impl="nystrom", n=64)]
    rows = run_cases(cells, isolated=False, min_run_time=2.0, timeout=0.3)  # timing alone takes 2 s
    assert [r["status"] for r in rows] == ["timeout", "timeout"]
    assert all("no result within 0.3 s" in r["error"] and "median_ms" not in r for r in rows)


def test_cells_after_the_total_budget_are_skipped_never_numbers() -> None:
    cells = [BenchCase(impl="softmax", n=64, mode=mode) for mode in ("fwd", "fwd_bwd", "fwd")]
    rows = run_cases(cells, isolated=False, min_run_time=2.0, timeout=60, max_total_s=0.3)
    assert [r["status"] for r in rows] == ["timeout", "skipped", "skipped"]  # the first is cut at the budget
    assert "the rest of the sweep's time budget" in rows[0]["error"]
    assert all("max_total_s = 0.3 s" in r["error"] and "median_ms" not in r for r in rows[1:])


def test_priority_puts_nystrom_against_sdpa_at_the_key_lengths_first() -> None:
    key = [4096, 16384]
    grid = [
        BenchCase(impl=impl, n=n, mode=mode)
        for mode in ("fwd", "fwd_bwd")
        for n in (1024, 4096, 16384)
        for impl in ("softmax", "nystrom", "peer:hf-nystrom", "linformer", "peer:lucidrains-linformer")
    ]
    grid += [BenchCase(impl="softmax", n=n, mode="train_step") for n in (1024, 4096)]
    ordered = sorted(grid, key=lambda case: priority(case, key))
    first = [(c.mode, c.n, c.impl) for c in ordered[:6]]
    assert first == [
        ("fwd", n, impl) for n in (4096, 16384) for impl in ("softmax", "nystrom", "peer:hf-nystrom")
    ]  # fmt: skip
    assert [(c.mode, c.impl) for c in ordered[6:9]] == [("fwd_bwd", "softmax"), ("fwd_bwd", "nystrom"),
                                                         ("fwd_bwd", "peer:hf-nystrom")]  # fmt: skip
    assert {c.impl for c in ordered[12:20]} == {"linformer", "peer:lucidrains-linformer"}
    assert (ordered[20].mode, ordered[20].n) == ("train_step", 4096)
    assert all(c.n == 1024 for c in ordered[21:]) and ordered[-1].mode == "train_step"


def test_the_gpu_configuration_runs_on_cpu_through_the_app(tmp_path) -> None:
    """``lra-bench device=gpu`` (in-process cells, deadline, budget, priority order) with the device forced to
    the CPU, tiny lengths and float32."""
    command = [
        sys.executable, "-m", "lra.bench.app", "device=gpu", "device.device=cpu", "device.dtypes=[float32]",
        "device.lengths=[128,256]", "device.key_lengths=[256]", "device.batch=1", "device.heads=2",
        "device.head_dim=16", "device.train_batch=2", "impls=[softmax,nystrom,peer:hf-nystrom,linformer]",
        "train_step.lengths=[128]", "train_step.include=[softmax,nystrom]", "train_step.model.depth=1",
        "train_step.model.dim=32", "train_step.model.num_heads=2", "train_step.model.head_dim=16",
        "min_run_time=0.01", f"hydra.run.dir={tmp_path}",
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["config"]["device"]["isolated"] is False and payload["config"]["timeout_s"] == 60
    assert payload["config"]["device"]["max_total_s"] == 420 and 0 < payload["seconds"] < 420
    rows = payload["rows"]
    assert len(rows) == 2 * 2 * 4 + 2 and all(r["status"] == "ok" for r in rows), rows
    assert all(r["device"] == "cpu" and r["memory_method"] == "reset" for r in rows)
    # run in priority order (printed as they land), written in grid order
    printed = [line.split() for line in done.stdout.splitlines() if line.startswith(("fwd ", "fwd_bwd ", "train_"))]
    assert [(p[0], p[2], p[3]) for p in printed[:3]] == [
        ("fwd", "n=256", "softmax"), ("fwd", "n=256", "nystrom"), ("fwd", "n=256", "peer:hf-nystrom"),
    ]  # fmt: skip
    assert [(r["mode"], r["n"], r["impl"]) for r in rows[:2]] == [("fwd", 128, "softmax"), ("fwd", 128, "nystrom")]
    with open(tmp_path / "results.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [r["impl"] for r in table] == [r["impl"] for r in rows]
    assert {r["peer_of"] for r in table if r["impl"] == "peer:hf-nystrom"} == {"nystrom"}
    for name in ("summary.md", "table.md", "families.md", "table1.md", "table2.md"):
        assert (tmp_path / name).read_text().strip(), name
    summary = (tmp_path / "summary.md").read_text()
    assert "**Targets, float32**" in summary and "not measured (nystrom fwd n = 16384: not in the sweep)" in summary


def test_limits_that_cannot_hold_are_rejected_naming_the_option() -> None:
    good = {"timeout_s": 60, "device": {"max_total_s": None, "paired_lengths": [4096], "device": "cpu"},
            "paired": {"rounds": 12, "block_s": 0.25}}  # fmt: skip
    check_limits(OmegaConf.create(good))
    with pytest.raises(ValueError, match=r"device\.max_total_s must be positive or null"):
        check_limits(OmegaConf.create({**good, "device": {"max_total_s": 0}}))
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        check_limits(OmegaConf.create({**good, "timeout_s": -5}))
    with pytest.raises(ValueError, match=r"paired\.rounds must be at least 1 .* got rounds=0"):
        check_limits(OmegaConf.create({**good, "paired": {"rounds": 0, "block_s": 0.25}}))
    with pytest.raises(ValueError, match=r"device\.paired_lengths must be \[\] on 'cuda'"):
        check_limits(OmegaConf.create({**good, "device": {"max_total_s": None, "paired_lengths": [4096],
                                                          "device": "cuda"}}))  # fmt: skip
    no_pairs = {**good, "device": {"max_total_s": None, "paired_lengths": []}, "paired": {"rounds": 0, "block_s": 0}}
    check_limits(OmegaConf.create(no_pairs))  # nothing is paired: the settings do not matter
