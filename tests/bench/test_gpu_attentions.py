"""The prepared all-attention GPU script runs end to end (here on the CPU, at smoke size)."""

from __future__ import annotations

import json

from lra.bench.gpu_attentions import IMPLS, main


def test_gpu_attentions_script_smoke_on_cpu(tmp_path) -> None:
    argv = ["--device", "cpu", "--n", "128", "256", "--batch", "1", "--heads", "2", "--head-dim", "16"]
    main([*argv, "--dtype", "float32", "--min-run-time", "0.01", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "results.json").read_text())
    bf16 = {c["impl"]: c for c in payload["checks"] if c["check"] == "bf16_vs_fp32"}
    assert set(bf16) == set(IMPLS)
    assert all(c["finite"] and c["relative_max_error"] < 5e-2 for c in bf16.values()), bf16
    assert all(c["finite"] for c in payload["checks"] if c["check"] == "finite_at_length")
    assert {r["impl"] for r in payload["rows"]} == set(IMPLS)
    assert all(r["status"] == "ok" for r in payload["rows"]), [r for r in payload["rows"] if r["status"] != "ok"]
    assert "reformer vs softmax" in (tmp_path / "table.md").read_text()
