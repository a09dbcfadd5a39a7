"""The main job (``make run``): prepare smoke-size data, run the smoke sweep over every attention, compare.

    python -m lra.main_job [--attentions softmax nystrom ...] [--tasks listops] [--jobs 2] [--out DIR] [overrides ...]

Data that needs no download (generated tasks) is prepared with the smoke settings of ``conf/``; the sweep is a
real ``lra-train`` Hydra multirun (joblib launcher, one job per core); the table is read back from the jobs'
``result.json`` files, and ``lra-report`` builds the full report (tables and plots) in ``<out>/report``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from attention_zoo import available_attentions
from lra import CONF_DIR
from lra.data import prepare
from lra.data.paths import resolve_data_dir
from lra.train.summary import collect, comparison_table

GENERATED_TASKS = ("listops", "pathfinder")


def smoke_settings(task: str, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """The data settings ``experiment=smoke`` uses for ``task`` (read from conf/, so they cannot drift), with the
    ``task.data.*`` ones of ``overrides`` applied: the cache the jobs will open."""
    data = [o for o in overrides if o.lstrip("+~").startswith("task.data.")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=smoke", f"task={task}", *data])
    return OmegaConf.to_container(cfg.task.data, resolve=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(GENERATED_TASKS))
    parser.add_argument("--attentions", nargs="+", default=available_attentions())
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs (joblib launcher)")
    parser.add_argument("--out", type=Path, default=Path("runs/main") / time.strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every job")
    args = parser.parse_args(argv)
    started = time.time()

    data_dir = resolve_data_dir(None)
    for task in args.tasks:
        print(f"[main] preparing {task} (smoke size) under {data_dir}", flush=True)
        prepare(task, data_dir, generate=True, **smoke_settings(task, args.overrides))

    command = [
        sys.executable, "-m", "lra.train.app", "-m",
        "experiment=smoke",
        f"task={','.join(args.tasks)}",
        f"attention={','.join(args.attentions)}",
        "hydra/launcher=parallel",
        f"hydra.launcher.n_jobs={args.jobs}",
        f"hydra.sweep.dir={args.out}",
        "trainer.progress_bar=false",
        *args.overrides,
    ]  # fmt: skip
    print("[main] " + " ".join(command[2:]), flush=True)
    sweep = subprocess.run(command)

    results = collect(args.out)
    print(f"\nSmoke sweep ({len(results)} jobs, {time.time() - started:.0f} s), results in {args.out}:\n")
    print(comparison_table(results))
    # lra-report as a command (analysis sits above lra and is never imported here), with this interpreter so it
    # works whether or not the environment's bin/ is on PATH.
    print(f"\n[main] lra-report {args.out} --out {args.out / 'report'}", flush=True)
    report = subprocess.run([sys.executable, "-m", "analysis.cli", str(args.out), "--out", str(args.out / "report")])
    failed = sweep.returncode != 0 or report.returncode != 0 or any(r["status"] != "ok" for r in results)
    expected = len(args.tasks) * len(args.attentions)
    if len(results) < expected:
        print(f"[main] only {len(results)} of {expected} jobs wrote a result", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
