"""The result.json schema: written atomically, validated on read, failures must carry their error."""

from __future__ import annotations

import json

import pytest

from lra.results import ResultError, read_result, write_result

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
