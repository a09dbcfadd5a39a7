"""``lra-report``: tables and plots from training runs (and attention benchmarks).

    lra-report runs/multirun/2026-01-01_12-00-00                      # -> <that dir>/report
    lra-report runs/multirun/A runs/multirun/B --out runs/report
    lra-report runs/main/X --bench runs/bench/micro-X/results.json
    lra-report --wandb-project me/lra-harness --out runs/report       # online, needs `wandb login`

Reads every job's ``result.json`` (or its offline W&B run when there is none), prints the LRA accuracy table and
writes ``report.md`` with the tables (Markdown, LaTeX, CSV) and figures (PNG, SVG) into ``--out``. Problems with
the input (unreadable files, empty directories, mixed experiments) are printed as warnings; the report is built
from the valid runs. Exit status 1 when there is nothing to report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.bench import read_bench
from analysis.collect import collect
from analysis.report import build_report


def _default_out(run_dirs: list[Path]) -> Path:
    return run_dirs[0] / "report" if len(run_dirs) == 1 and run_dirs[0].is_dir() else Path("runs/report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lra-report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="run or multirun directories")
    parser.add_argument("--out", type=Path, help="report directory (default: RUN_DIR/report, or runs/report)")
    parser.add_argument("--wandb-project", metavar="ENTITY/PROJECT", help="also read this W&B project (online)")
    parser.add_argument("--bench", nargs="+", type=Path, default=[], metavar="RESULTS_JSON",
                        help="micro-benchmark / lra-bench results.json files (or their directories)")  # fmt: skip
    parser.add_argument("--experiment", help="report only this experiment (name or label)")
    args = parser.parse_args(argv)
    if not args.run_dirs and not args.wandb_project and not args.bench:
        parser.error("give at least one RUN_DIR, --wandb-project or --bench")

    collection = collect(args.run_dirs, wandb_project=args.wandb_project)
    bench = read_bench(args.bench, collection.warnings)
    for warning in collection.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.experiment:
        runs = collection.runs
        chosen = (runs["experiment"] == args.experiment) | (runs["experiment_label"] == args.experiment)
        if not chosen.any():
            known = ", ".join(sorted(runs["experiment_label"].unique())) or "none"
            print(f"lra-report: no runs of experiment {args.experiment!r} (found: {known})", file=sys.stderr)
            return 1
        collection.runs = runs[chosen]
    if collection.runs.empty and bench.empty:
        print("lra-report: nothing to report (no valid runs or benchmark rows)", file=sys.stderr)
        return 1
    out = args.out or _default_out(args.run_dirs)
    summary = build_report(collection, out, bench=bench)
    if summary:
        print(summary)
    print(f"\nreport: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
