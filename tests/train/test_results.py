"""The result.json schema: written atomically (mode 0644), validated on read, failures must carry their error,
unknown metrics rejected on write but kept (with a warning) on read."""

from __future__ import annotations

import json
import stat

import pytest

from lra.results import ResultError, ResultWarning, read_result, write_result

GOOD = {"status": "ok", "task": "listops", "attention": "nystrom", "seed": 0, "metrics": {"test_accuracy": 0.3}}


def test_round_trip(tmp_path) -> None:
    path = write_result(tmp_path, GOOD)
    assert read_result(path)["metrics"]["test_accuracy"] == 0.3
    assert not [p for p in tmp_path.iterdir() if p.name != "result.json"]  # no temporary files left behind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema": "lra-result", "schema_version": 1, "status": "ok"', "not valid JSON"),
        ('{"schema": "lra-result", "schema_version": 7}', "unknown schema_version 7"),
        ('{"schema": "other"}', "not an LRA result"),
        ('{"schema": "lra-result", "schema_version": 1, "status": "ok"}', "missing field"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_files_are_named_with_their_problem(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(text)
    with pytest.raises(ResultError, match=message) as info:
        read_result(path)
    assert str(path) in str(info.value)


def test_a_failed_result_must_say_why(tmp_path) -> None:
    with pytest.raises(ResultError, match="must say why"):
        write_result(tmp_path, {**GOOD, "status": "failed"})
    path = write_result(tmp_path, {**GOOD, "status": "failed", "error": {"type": "X", "message": "boom"}})
    assert json.loads(path.read_text())["error"]["message"] == "boom"


def test_metrics_outside_the_schema_are_rejected(tmp_path) -> None:
    with pytest.raises(ResultError, match="unknown metric"):
        write_result(tmp_path, {**GOOD, "metrics": {"test_acc": 0.3}})


def test_unknown_metrics_on_read_are_kept_with_a_warning(tmp_path) -> None:
    """Forward compatibility: a result written by a newer version (one more metric) is still read."""
    path = write_result(tmp_path, GOOD)
    newer = json.loads(path.read_text())
    newer["metrics"]["flops_per_token"] = 1.5e6
    path.write_text(json.dumps(newer))
    with pytest.warns(ResultWarning, match=r"unknown metric\(s\) flops_per_token"):
        assert read_result(path)["metrics"] == {"test_accuracy": 0.3, "flops_per_token": 1.5e6}
    collected: list[str] = []
    assert read_result(path, on_warning=collected.append)["metrics"]["test_accuracy"] == 0.3
    assert len(collected) == 1 and str(path) in collected[0] and "flops_per_token" in collected[0]


def test_results_are_readable_by_others(tmp_path) -> None:
    path = write_result(tmp_path, GOOD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
