"""The cache: reload, keys, atomic writes, verification, and the Dataset the harness consumes."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lra.data import TASKS, DataError, DataFormatError, LRADataset, NotPreparedError, load_split, prepare
from lra.data import listops as listops_module
from lra.data.cache import FORMAT_VERSION, cache_key, verify_cache
from lra.data.cli import main
from tests.data.fixtures import make_aan, make_listops_release

SMALL = {"train_size": 40, "val_size": 6, "test_size": 6}


@pytest.fixture
def listops(data_dir: Path) -> Path:
    return prepare("listops", data_dir, generate=True, workers=1, **SMALL)


def test_task_specs_match_the_harness_interface() -> None:
    expected = {
        "listops": (2000, 16, 10, False),
        "text": (4000, 257, 2, False),
        "retrieval": (4000, 257, 2, True),
        "image": (1024, 256, 10, False),
        "pathfinder": (1024, 256, 2, False),
        "pathx": (16384, 256, 2, False),
    }
    assert {n: (s.max_length, s.vocab_size, s.num_classes, s.dual) for n, s in TASKS.items()} == expected
    assert all(s.pad_id == 0 for s in TASKS.values())
    assert {n: s.token_dtype for n, s in TASKS.items()} == {
        "listops": np.uint8,
        "text": np.uint16,
        "retrieval": np.uint16,
        "image": np.uint8,
        "pathfinder": np.uint8,
        "pathx": np.uint8,
    }


def test_reload_gives_identical_arrays(listops: Path, data_dir: Path) -> None:
    first = load_split("listops", "train", data_dir, **SMALL)
    copy = [np.array(a) for a in (first.inputs, first.lengths, first.labels)]
    assert prepare("listops", data_dir, generate=True, **SMALL) == listops  # reused, not rebuilt
    again = load_split("listops", "train", data_dir, **SMALL)
    for a, b in zip(copy, (again.inputs, again.lengths, again.labels), strict=True):
        assert np.array_equal(a, b)
    assert isinstance(again.inputs, np.memmap) and not again.inputs.flags.writeable


def test_manifest_records_settings_counts_histogram_checksums(listops: Path) -> None:
    m = json.loads((listops / "manifest.json").read_text())
    assert m["format_version"] == FORMAT_VERSION and m["task"] == "listops"
    assert m["settings"] == {"origin": "generated", "max_length": 2000, "seed": 0, **SMALL}
    assert m["key"] == cache_key("listops", m["settings"]) and listops.name == f"listops-{m['key']}"
    labels = np.load(listops / "train.labels.npy")
    assert (
        m["splits"]["train"]["count"] == 40
        and m["splits"]["train"]["label_histogram"] == np.bincount(labels, minlength=10).tolist()
    )
    assert m["splits"]["train"]["files"]["inputs"]["bytes"] == (listops / "train.inputs.npy").stat().st_size
    assert all(len(src["sha256"]) == 64 for src in m["sources"].values())


def test_changing_any_setting_rebuilds(listops: Path, data_dir: Path) -> None:
    for change in ({"max_length": 1500}, {"seed": 1}, {"train_size": 41}):
        other = prepare("listops", data_dir, generate=True, workers=1, **(SMALL | change))
        assert other != listops and other.is_dir()
    assert load_split("listops", "train", data_dir, **(SMALL | {"max_length": 1500})).inputs.shape[1] == 1500


def test_not_prepared_names_the_exact_command(data_dir: Path) -> None:
    with pytest.raises(NotPreparedError) as err:
        load_split("listops", "val", data_dir, seed=3, **SMALL)
    command = str(err.value).splitlines()[-1].strip()
    assert command == (
        f"lra-data prepare listops --data-dir {data_dir} --generate --size 40 --val-size 6 --test-size 6 --seed 3"
    )
    assert main([*command.split()[1:], "--quiet"]) == 0
    assert len(load_split("listops", "val", data_dir, seed=3, **SMALL)) == 6


def test_an_interrupted_prepare_leaves_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    real_read = listops_module.read_tsv
    calls = []

    def interrupted(path: Path, max_length: int):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_read(path, max_length)

    monkeypatch.setattr(listops_module, "read_tsv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare("listops", tmp_path / "data", source=tmp_path / "src")
    assert list((tmp_path / "data" / "cache").iterdir()) == []
    monkeypatch.setattr(listops_module, "read_tsv", real_read)
    path = prepare("listops", tmp_path / "data", source=tmp_path / "src")
    assert verify_cache(path) == []


def test_leftovers_of_a_killed_prepare_are_removed(tmp_path: Path) -> None:
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    path = prepare("listops", tmp_path / "data", source=tmp_path / "src")
    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid now belongs to no process: a killed prepare
    stale = path.parent / f".tmp-{path.name}-{finished.pid}@{socket.gethostname()}-abc"
    stale.mkdir()
    (stale / "train.inputs.npy").write_bytes(b"half")
    prepare("listops", tmp_path / "data", source=tmp_path / "src", force=True)
    assert not stale.exists() and [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_rebuild_killed_between_its_two_renames_keeps_the_old_cache(tmp_path: Path) -> None:
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    data = tmp_path / "data"
    path = prepare("listops", data, source=tmp_path / "src")
    (path / "marker").write_text("the cache that was swapped out")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    # A child process rebuilds with --force and is killed (SIGKILL) right after install() moved the old cache
    # aside, before the new one is renamed into place.
    crash = f"""
import os, signal
from lra.data import atomic, prepare
rename = os.replace
def replace(src, dst):
    rename(src, dst)
    if os.path.basename(dst).startswith(".old-"):
        os.kill(os.getpid(), signal.SIGKILL)
atomic.os.replace = replace
prepare("listops", {str(data)!r}, source={str(tmp_path / "src")!r}, force=True)
"""
    child = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr
    leftovers = sorted(p.name for p in path.parent.iterdir())
    assert not path.exists() and [name[:5] for name in leftovers] == [".old-", ".tmp-"], leftovers
    with pytest.raises(NotPreparedError):  # readers never rename: only the next build recovers
        load_split("listops", "train", data, origin="files")
    assert prepare("listops", data, source=tmp_path / "src") == path  # puts the old cache back and reuses it
    assert len(load_split("listops", "train", data, origin="files")) == 3
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before  # the same files, marker included
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_prepare_after_a_killed_swap_reuses_the_restored_cache(tmp_path: Path) -> None:
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    path = prepare("listops", tmp_path / "data", source=tmp_path / "src")
    (path / "marker").write_text("the cache that was swapped out")
    finished = subprocess.Popen(["true"])
    finished.wait()  # a pid that no longer runs: the killed rebuild
    os.replace(path, path.parent / f".old-{path.name}-{finished.pid}@{socket.gethostname()}")
    shutil.rmtree(tmp_path / "src")  # a rebuild would fail: the source is gone
    assert prepare("listops", tmp_path / "data", source=tmp_path / "src") == path
    assert (path / "marker").is_file() and verify_cache(path) == []  # put back and reused, not rebuilt
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_leftovers_of_another_host_are_left_alone(tmp_path: Path) -> None:
    """On a shared file system a pid of another host says nothing about that host's running build."""
    make_listops_release(tmp_path / "src", sizes=(3, 2, 2))
    path = prepare("listops", tmp_path / "data", source=tmp_path / "src")
    building = path.parent / f".tmp-{path.name}-1@another-host-abc"
    swapped = path.parent / f".old-{path.name}-1@another-host"
    building.mkdir()
    shutil.copytree(path, swapped)
    prepare("listops", tmp_path / "data", source=tmp_path / "src", force=True)
    assert building.is_dir() and swapped.is_dir()


def test_a_failed_rebuild_leaves_the_existing_cache_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "tsv_data"
    make_aan(folder)
    path = prepare("retrieval", tmp_path / "data", source=folder)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    (folder / "new_aan_pairs.test.tsv").write_bytes(b"1\tA\tB\tx\n")
    with pytest.raises(DataFormatError, match=r"new_aan_pairs\.test\.tsv:1: expected 5 tab-separated columns"):
        prepare("retrieval", tmp_path / "data", source=folder, force=True)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_damaged_manifest_names_its_file_and_line(
    listops: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = listops / "manifest.json"
    manifest.write_text(manifest.read_text()[:300])  # cut short
    with pytest.raises(
        DataFormatError, match=r"manifest\.json:\d+: unreadable manifest .*rebuild the cache with --force"
    ):
        load_split("listops", "train", data_dir, **SMALL)
    command = ["prepare", "listops", "--generate", "--size", "40", "--val-size", "6", "--test-size", "6"]
    assert main([*command, "--data-dir", str(data_dir), "--quiet"]) == 1
    assert f"error: {manifest}:" in capsys.readouterr().err
    assert main([*command, "--force", "--data-dir", str(data_dir), "--quiet"]) == 0
    assert verify_cache(listops) == []


def test_verify_finds_a_changed_byte(listops: Path) -> None:
    assert verify_cache(listops) == []
    raw = bytearray((listops / "val.labels.npy").read_bytes())
    raw[-1] ^= 1
    (listops / "val.labels.npy").write_bytes(bytes(raw))
    assert verify_cache(listops) == [f"{listops / 'val.labels.npy'}: size or sha256 differs from the manifest"]


def test_dataset_items_batches_and_loader(listops: Path) -> None:
    ds = LRADataset(listops, "train")
    item = ds[3]
    assert set(item) == {"input_ids", "length", "label"}
    assert item["input_ids"].dtype == torch.long and item["input_ids"].shape == (2000,)
    assert item["length"].shape == () and item["label"].shape == ()
    assert (item["input_ids"][item["length"] :] == 0).all() and (item["input_ids"][: item["length"]] > 0).all()
    batch = ds.batch([5, 1, 3])
    assert batch["input_ids"].shape == (3, 2000) and torch.equal(batch["input_ids"][2], item["input_ids"])
    assert batch["length"].tolist() == [ds[i]["length"].item() for i in (5, 1, 3)]
    restored = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 10_000 and torch.equal(restored[3]["input_ids"], item["input_ids"])
    loaded = next(iter(DataLoader(ds, batch_size=8, num_workers=1)))
    assert loaded["input_ids"].shape == (8, 2000) and loaded["label"].dtype == torch.long
    assert len(ds) == 40 and ds.manifest["task"] == "listops"


def test_dual_items(tmp_path: Path) -> None:
    make_aan(tmp_path / "tsv_data")
    path = prepare("retrieval", tmp_path / "data", source=tmp_path / "tsv_data", max_length=64)
    ds = LRADataset(path, "test")
    assert ds[0]["input_ids"].shape == (2, 64) and ds[0]["length"].shape == (2,)
    assert ds.batch([0, 1])["length"].shape == (2, 2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_length": "long"}, "max_length must be an integer"),
        ({"max_length": 0}, "max_length must be positive"),
        ({"max_length": True}, "max_length must be an integer"),
        ({"difficulty": "hard"}, r"unknown setting\(s\) difficulty; valid settings: max_length"),
    ],
)
def test_settings_are_validated(tmp_path: Path, settings: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_split("retrieval", "train", tmp_path, **settings)


def test_unknown_task_and_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown task 'cifar'"):
        load_split("cifar", "train", tmp_path)
    with pytest.raises(DataError, match="unknown split 'dev'"):
        load_split("text", "dev", tmp_path)
