"""``experiment=smoke task=text`` trains on a view of the prepared Text cache: a seeded subset of each split at 1000
bytes, with no second cache."""

from __future__ import annotations

from pathlib import Path

from lra.data import load_split, prepare
from lra.results import read_result
from tests.data.fixtures import make_aclimdb
from tests.train.harness import TINY_SCHEDULE, finish, lra_train


def test_smoke_text_trains_on_a_subset_of_the_full_length_cache(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cache = prepare("text", data_dir, source=make_aclimdb(tmp_path / "src", per_class=10), holdout_size=4)
    sizes = {split: len(load_split("text", split, data_dir, holdout_size=4)) for split in ("train", "val", "test")}
    assert sizes == {"train": 16, "val": 4, "test": 20}
    job = tmp_path / "job"
    view = ["task.view.train_size=8", "task.view.val_size=3", "task.view.test_size=5"]
    process = lra_train(
        "experiment=smoke", "task=text", "+task.data.holdout_size=4", *TINY_SCHEDULE, *view,
        f"hydra.run.dir={job}", "logger=none", data_dir=data_dir, runs=tmp_path, tiny=False,
    )  # fmt: skip
    code, output = finish(process)
    assert code == 0, output
    result = read_result(job / "result.json")
    assert result["status"] == "ok"
    data = result["data"]
    assert data["cache"] == str(cache)  # the 4000-byte cache, not a new one
    assert data["max_length"] == 1000  # the smoke view's length (conf/task_scale/text_smoke.yaml)
    assert data["examples"] == {"train": 8, "val": 3, "test": 5}
    assert data["cache_examples"] == sizes
    assert not [p for p in (data_dir / "cache").iterdir() if p.name.startswith("text-") and p != cache]
