"""``lra-bench``: efficiency of every attention and of the peer packages, side by side in one run.

Attention-core cells (forward, forward+backward) over sequence lengths and dtypes, and whole-model training steps
on the Text shape, run in priority order (:func:`lra.bench.sweep.priority`) within a per-cell and an optional total
time limit, then each of ours against its peers paired in one process at ``device.paired_lengths``
(:mod:`lra.bench.paired`); writes ``results.json`` (rows, paired rows, machine, config, seconds), ``results.csv``
(the rows, each with the machine description in ``machine_*`` columns), the Nyströmformer-Table-1-style and
LRA-Table-2-style tables, per-attention tables against their peers, ``paired.md``, and ``summary.md`` (the issues'
targets met or not, ours vs each peer, the headline ratios and slopes). ``lra-report --bench <dir>/results.json``
draws the efficiency curves.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from lra import CONF_DIR
from lra.bench.case import BenchCase
from lra.bench.paired import run_groups
from lra.bench.peers import PEER_OF
from lra.bench.sweep import core_options, priority, run_cases
from lra.bench.tables import family_tables, loglog_slope, lra_table2, paper_table1, ratio_table, speedup
from lra.bench.targets import evaluate, find_row, paired_table, peer_ratios, targets_table
from lra.io import atomic_write_json, atomic_write_text
from lra.machine import describe, git_commit

CSV_COLUMNS = ("impl", "peer_of", "mode", "dtype", "device", "n", "batch", "heads", "head_dim", "status",
               "median_ms", "p20_ms", "p80_ms", "runs", "peak_mb", "memory_method", "error", "options")  # fmt: skip
# The machine description on every CSV row (results.json holds it once, under "machine").
MACHINE_COLUMNS = ("cpu", "cpu_count", "torch_threads", "gpu", "cuda", "python", "platform", "torch", "git_commit")


def cases(cfg: DictConfig) -> Iterator[BenchCase]:
    """Attention-core cells first, then training steps; each dtype × mode × length × implementation."""
    device = cfg.device
    for dtype in device.dtypes:
        for mode in cfg.modes:
            for n in device.lengths:
                for impl in cfg.impls:
                    yield BenchCase(
                        impl=impl, n=n, mode=mode, batch=device.batch, heads=device.heads, head_dim=device.head_dim,
                        dtype=dtype, device=device.device, options=core_options(impl),
                    )  # fmt: skip
        model = OmegaConf.to_container(cfg.train_step.model, resolve=True)
        for n in cfg.train_step.lengths:
            for name in cfg.train_step.include:
                attention = cfg.train_step.attentions[name]
                yield BenchCase(
                    impl=attention.name, n=n, mode="train_step", batch=device.train_batch,
                    heads=model["num_heads"], head_dim=model["head_dim"], dtype=dtype, device=device.device,
                    options=OmegaConf.to_container(attention.options, resolve=True), model=model,
                )  # fmt: skip


def headline(rows: list[dict[str, Any]], cfg: DictConfig) -> str:
    """Nyström against exact SDPA and its peers at the longest length, the log–log slopes of its time and memory,
    and whole-model training speed of each attention against softmax at the longest length."""
    lines = ["| figure | measured |", "|---|---|"]

    def add(label: str, value: float | None, unit: str = "×") -> None:
        lines.append(f"| {label} | {'—' if value is None else f'{value:.2f}{unit}'} |")

    for dtype in cfg.device.dtypes:
        core = [r for r in rows if r["dtype"] == dtype and r["mode"] != "train_step"]
        lengths = sorted({r["n"] for r in core})
        if lengths:
            top = lengths[-1]
            for mode in cfg.modes:
                nystrom = find_row(core, "nystrom", mode, top, dtype)
                add(
                    f"nystrom vs softmax, {mode}, n = {top}, {dtype}",
                    speedup(find_row(core, "softmax", mode, top, dtype), nystrom),
                )
                peers = [
                    find_row(core, f"peer:{p}", mode, top, dtype) for p, ours in PEER_OF.items() if ours == "nystrom"
                ]
                measured = [p for p in peers if p and p["status"] == "ok"]
                fastest = min(measured, key=lambda p: p["median_ms"]) if measured else None
                add(f"nystrom vs fastest peer Nyström, {mode}, n = {top}, {dtype}", speedup(fastest, nystrom))
            lo, hi = (2048, 16384) if {2048, 16384} <= set(lengths) else (lengths[0], top)
            for key, label in (("median_ms", "time"), ("peak_mb", "memory")):
                slope = loglog_slope(core, "nystrom", "fwd", dtype, key, lo, hi)
                add(f"nystrom fwd {label} log–log slope, n = {lo}…{hi}, {dtype}", slope, "")
        steps = [r for r in rows if r["dtype"] == dtype and r["mode"] == "train_step"]
        if steps:
            top = max(r["n"] for r in steps)
            base = find_row(steps, "softmax", "train_step", top, dtype)
            for name in dict.fromkeys(r["impl"] for r in steps if r["impl"] != "softmax"):
                ratio = speedup(base, find_row(steps, name, "train_step", top, dtype))
                add(f"{name} training steps/s vs softmax, n = {top}, {dtype}", ratio)
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]], paired: list[dict[str, Any]], cfg: DictConfig) -> str:
    """The issues' targets (met or not, with the p20/p80 spread), ours vs each peer package at every length (from
    the cells, and paired where measured), and the headline figures at the longest length."""
    parts = []
    for dtype in cfg.device.dtypes:
        parts += [
            f"**Targets, {dtype}** (issues 2, 3 and 8; set for the 2-core CPU in fp32, batch 1, 2 heads × 32: on other "
            "hardware or shapes, for reference only). Speed ratios: baseline time ÷ our time (> 1: ours faster).",
            targets_table(evaluate(rows, dtype, paired)),
        ]
    ratios = peer_ratios([r for r in rows if r["mode"] != "train_step"])
    if ratios:
        parts += ["**Ours vs each peer package**, from the cells: peer time ÷ our time (> 1: ours faster).", ratios]
    if paired:
        parts += [
            "**Ours vs each peer package, paired** (one process per group, alternating blocks; lra/bench/paired.py): "
            "median of the per-round ratios peer ÷ ours (> 1: ours faster), p20–p80 in parentheses.",
            paired_table(paired),
        ]
    parts += ["**Headline figures at the longest length**", headline(rows, cfg)]
    return "\n\n".join(parts)


def _csv(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    """The rows, each followed by the ``machine_*`` columns (:data:`MACHINE_COLUMNS`)."""
    flat = {**machine, "torch": machine["packages"].get("torch")}
    described = {f"machine_{key}": flat.get(key) for key in MACHINE_COLUMNS}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*CSV_COLUMNS, *described], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "options": json.dumps(row.get("options", {}), sort_keys=True), **described})
    return buffer.getvalue()


def check_limits(cfg: DictConfig) -> None:
    """Reject time limits and paired settings that cannot mean what they say, naming the option (key lengths
    that are not measured are allowed: they only order the cells)."""
    if not cfg.timeout_s or cfg.timeout_s <= 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {cfg.timeout_s!r}")
    if cfg.device.max_total_s is not None and cfg.device.max_total_s <= 0:
        raise ValueError(f"device.max_total_s must be positive or null (no budget), got {cfg.device.max_total_s!r}")
    if cfg.device.paired_lengths and cfg.device.device != "cpu":
        raise ValueError(
            f"device.paired_lengths must be [] on {cfg.device.device!r}: the paired comparison times with the wall "
            "clock, without device synchronisation (CPU only)"
        )
    if cfg.device.paired_lengths and (cfg.paired.rounds < 1 or cfg.paired.block_s <= 0):
        raise ValueError(
            f"paired.rounds must be at least 1 and paired.block_s positive (or device.paired_lengths=[] for no "
            f"paired comparison), got rounds={cfg.paired.rounds!r}, block_s={cfg.paired.block_s!r}"
        )


def run(cfg: DictConfig, out: Path) -> list[dict[str, Any]]:
    """Run the sweep (most important cells first), then write every output with the rows in grid order."""
    check_limits(cfg)
    grid = list(cases(cfg))
    order = sorted(range(len(grid)), key=lambda i: priority(grid[i], cfg.device.key_lengths))
    started = time.monotonic()
    measured = run_cases(
        [grid[i] for i in order], isolated=cfg.device.isolated, min_run_time=cfg.min_run_time,
        timeout=cfg.timeout_s, max_total_s=cfg.device.max_total_s,
    )  # fmt: skip
    budget = cfg.device.max_total_s
    paired = run_groups(
        grid, cfg.device.paired_lengths, rounds=cfg.paired.rounds, block_s=cfg.paired.block_s,
        timeout=cfg.timeout_s, budget_s=None if budget is None else budget - (time.monotonic() - started),
    )  # fmt: skip
    seconds = time.monotonic() - started
    rows = [row for _, row in sorted(zip(order, measured, strict=True), key=lambda pair: pair[0])]
    machine = {**describe(), "git_commit": git_commit()}
    caption = (
        f"{machine['gpu'] or machine['cpu']}, {machine['torch_threads']} threads, torch "
        f"{machine['packages'].get('torch')}; attention cells: batch {cfg.device.batch}, {cfg.device.heads} heads × "
        f"{cfg.device.head_dim}; training steps: batch {cfg.device.train_batch}, model {dict(cfg.train_step.model)}"
    )
    config = OmegaConf.to_container(cfg, resolve=True)
    atomic_write_json(
        out / "results.json",
        {"machine": machine, "config": config, "seconds": seconds, "rows": rows, "paired": paired},
    )
    atomic_write_text(out / "results.csv", _csv(rows, machine))
    core = [r for r in rows if r["mode"] != "train_step"]
    sections = {
        "summary.md": summary(rows, paired, cfg),
        "table.md": ratio_table(core) if core else "",
        "families.md": family_tables(core) if core else "",
        "table1.md": "\n\n".join(paper_table1(core, mode) for mode in cfg.modes) if core else "",
        "table2.md": lra_table2(rows),
        "paired.md": paired_table(paired),
    }
    for name, text in sections.items():
        atomic_write_text(out / name, f"{caption}\n\n{text}\n")
    print(f"\n{caption}\n\n{sections['summary.md']}\n\n{sections['table1.md']}\n\n{sections['table2.md']}")
    print(f"\n{len(rows)} cells in {seconds:.0f} s; written to {out}")
    return rows


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="bench")
def main(cfg: DictConfig) -> None:
    run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
