"""``lra-data``: prepare, download, inspect and verify the LRA data.

    lra-data prepare listops --generate [--size N]       # ListOps from the LRA generator, seeded
    lra-data prepare pathfinder --generate [--size N]    # Pathfinder (and pathx) from PF's generator, seeded
    lra-data download text && lra-data prepare text      # IMDB from Stanford, then tokenise
    lra-data prepare image --source cifar-10-python.tar.gz
    lra-data info                                        # what is prepared, where, sizes, settings
    lra-data verify                                      # checksums and invariants of caches and downloads

The data root is ``--data-dir`` > ``$LRA_DATA_DIR`` > ``./data``. Errors in the data print ``error: …`` naming
the file and line or record, and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lra.data import progress
from lra.data.api import TASKS, get_task, prepare
from lra.data.cache import read_manifest, verify_cache
from lra.data.download import REMOTES, download, read_sidecar, remote_for, sha256_hex, sidecar, verify_file
from lra.data.errors import DataError
from lra.data.pathfinder import DIFFICULTIES
from lra.data.paths import ENV_VAR, cache_root, downloads_dir, raw_dir, resolve_data_dir
from lra.data.spec import SPLITS
from lra.data.task import SETTING_FLAGS


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in SETTING_FLAGS if getattr(args, key, None) is not None}


def cmd_prepare(args: argparse.Namespace, root: Path) -> int:
    start = time.perf_counter()
    path = prepare(
        args.task,
        root,
        source=args.source,
        generate=args.generate,
        force=args.force,
        workers=args.workers,
        **_settings(args),
    )
    manifest = read_manifest(path)
    assert manifest is not None
    counts = " / ".join(f"{s} {manifest['splits'][s]['count']:,}" for s in SPLITS)
    print(f"{args.task}: {counts} in {path} ({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_download(args: argparse.Namespace, root: Path) -> int:
    task = get_task(args.task)
    default = REMOTES[task.remotes[0]]
    url = args.url or default.url
    filename = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    known = remote_for(filename)
    if args.sha256:
        expected = {"size": None, "sha256": sha256_hex(args.sha256), "md5": None}
    elif known is not None:
        expected = {"size": known.size, "sha256": known.sha256, "md5": known.md5}
    else:
        expected = {"size": None, "sha256": None, "md5": None}
    dest = downloads_dir(root) / filename
    digest = download(url, dest, **expected)
    note = "verified" if expected["sha256"] else f"no published checksum; recorded in {sidecar(dest).name}"
    print(f"{dest}: sha256 {digest} ({note})")
    settings = task.settings(_settings(args), source=dest)
    source = task.from_archive(dest, root, settings)
    print(f"{args.task}: source ready in {source}; next: {task.prepare_command(settings, root)}")
    return 0


def _cache_rows(root: Path) -> list[dict[str, Any]]:
    """One row per cache under ``root``; a cache whose manifest cannot be read is a row with its ``error``."""
    rows = []
    base = cache_root(root)
    for directory in sorted(base.iterdir()) if base.is_dir() else []:
        if directory.name.startswith("."):  # a build in progress (its manifest may be half-written) or a leftover
            continue
        try:
            manifest = read_manifest(directory)
        except DataError as error:  # damaged: reported, and the other caches are still listed and checked
            rows.append({"task": directory.name.rsplit("-", 1)[0], "path": str(directory), "error": str(error)})
            continue
        if manifest is None:
            continue
        rows.append(
            {
                "task": manifest["task"],
                "path": str(directory),
                "bytes": _dir_size(directory),
                "counts": {s: manifest["splits"][s]["count"] for s in SPLITS},
                "settings": manifest["settings"],
                "created": manifest["created"],
            }
        )
    return rows


def cmd_info(args: argparse.Namespace, root: Path) -> int:
    downloads = sorted(downloads_dir(root).glob("*")) if downloads_dir(root).is_dir() else []
    raw = []
    for entry in sorted(raw_dir(root).iterdir()) if raw_dir(root).is_dir() else []:
        grouped = entry.name in ("lra_release", "listops-generated", "pathfinder-generated")  # several sources
        raw += sorted(p for p in entry.iterdir() if p.is_dir()) if grouped else [entry]
    info = {
        "data_dir": str(root),
        "caches": _cache_rows(root),
        "downloads": [{"path": str(p), "bytes": p.stat().st_size} for p in downloads if p.is_file()],
        "raw": [str(p) for p in raw],
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"data root: {root}  (--data-dir > ${ENV_VAR} > ./data)")
    print("prepared:" if info["caches"] else "prepared: nothing yet (lra-data prepare TASK)")
    for row in info["caches"]:
        if "error" in row:
            print(f"  {row['task']:<10} DAMAGED: {row['error']}")
            continue
        counts = " / ".join(f"{s} {n:,}" for s, n in row["counts"].items())
        settings = " ".join(f"{k}={v}" for k, v in row["settings"].items())
        print(f"  {row['task']:<10} {counts:<36} {_size(row['bytes']):>9}  {settings}")
        print(f"  {'':<10} {row['path']}  ({row['created']})")
    if info["downloads"]:
        print("downloads:")
        for d in info["downloads"]:
            state = " (incomplete: run the download again to resume)" if d["path"].endswith(".part") else ""
            print(f"  {Path(d['path']).name:<28} {_size(d['bytes']):>9}{state}")
    if info["raw"]:
        print("raw sources:")
        for r in info["raw"]:
            print(f"  {r}")
    return 0


def cmd_verify(args: argparse.Namespace, root: Path) -> int:
    for name in args.tasks:
        get_task(name)
    failed = 0
    checked = 0
    for row in _cache_rows(root):
        if args.tasks and row["task"] not in args.tasks:
            continue
        checked += 1
        problems = [row["error"]] if "error" in row else verify_cache(Path(row["path"]))
        failed += bool(problems)
        print(f"{'FAILED' if problems else 'ok':<6} {row['path']}")
        for p in problems:
            print(f"       {p}")
    for path in sorted(downloads_dir(root).glob("*")) if downloads_dir(root).is_dir() else []:
        known = remote_for(path.name)
        if path.suffix in (".part", ".sha256"):
            continue
        try:
            recorded = read_sidecar(path)
            if not (known or recorded):
                continue
            verify_file(
                path,
                size=known.size if known else None,
                sha256=(known.sha256 if known else None) or recorded,
                md5=known.md5 if known else None,
            )
            print(f"ok     {path}")
        except DataError as e:
            failed += 1
            print(f"FAILED {path}\n       {e}")
        checked += 1
    if checked == 0:
        print(f"nothing to verify under {root}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=f"data root (default: ${ENV_VAR}, else ./data)")
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    parser = argparse.ArgumentParser(
        prog="lra-data",
        description="Prepare, download, inspect and verify the Long Range Arena data.",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tasks = list(TASKS)

    def settings_flags(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("settings (each changes the arrays and is part of the cache key)")
        g.add_argument(
            "--max-length", metavar="N", type=int, help="tokens per sequence/document (image and pathfinder: fixed)"
        )
        g.add_argument(
            "--size",
            metavar="N",
            dest="train_size",
            type=int,
            help="generated ListOps / Pathfinder: training examples (96000 / 160000)",
        )
        g.add_argument(
            "--val-size",
            metavar="N",
            type=int,
            help="ListOps: validation examples (2000); generated Pathfinder, Path-X (20000); image: last N (5000)",
        )
        g.add_argument(
            "--test-size",
            metavar="N",
            type=int,
            help="ListOps: test examples (2000); generated Pathfinder, Path-X (20000)",
        )
        g.add_argument("--seed", metavar="S", type=int, help="ListOps / Pathfinder generator seed (0)")
        g.add_argument(
            "--origin",
            choices=("generated", "files"),
            help="ListOps: generated (default) or LRA files; Pathfinder: files (default) or generated",
        )
        g.add_argument(
            "--val-source",
            dest="val_source",
            choices=("holdout", "test"),
            help="Text: validation from a train hold-out (default) or test (LRA)",
        )
        g.add_argument("--holdout-size", metavar="N", type=int, help="Text: hold-out size (2500)")
        g.add_argument("--split-seed", metavar="S", type=int, help="Text hold-out / Pathfinder split seed (0)")
        g.add_argument("--difficulty", choices=tuple(DIFFICULTIES), help="Pathfinder / Path-X difficulty (hard)")

    p = sub.add_parser("prepare", parents=[common], help="build the cached splits of a task")
    p.add_argument("task", choices=tasks)
    p.add_argument("--source", type=Path, help="folder or archive in the task's real format")
    p.add_argument("--generate", action="store_true", help="generate the data (ListOps, Pathfinder, Path-X)")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache exists")
    p.add_argument("--workers", type=int, help="worker processes (default: all CPUs; never changes the result)")
    settings_flags(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("download", parents=[common], help="fetch a task's source archive and extract what it needs")
    p.add_argument("task", choices=tasks)
    p.add_argument("--url", help="another address for the same file (a mirror)")
    p.add_argument("--sha256", help="expected sha256 (for a file without a published one)")
    p.add_argument("--difficulty", choices=tuple(DIFFICULTIES), help="Pathfinder / Path-X difficulty to extract")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("info", parents=[common], help="what is prepared, where, sizes, settings")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("verify", parents=[common], help="check caches and downloads against their checksums")
    p.add_argument("tasks", nargs="*", metavar="TASK", help=f"only these tasks' caches ({', '.join(tasks)})")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):
        progress.set_enabled(False)
    try:
        return args.func(args, resolve_data_dir(getattr(args, "data_dir", None)))
    except (DataError, OSError) as e:  # bad data, or the file system refused (permissions, disk full)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept; run the command again", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
