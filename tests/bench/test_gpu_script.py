"""The prepared GPU script runs end to end (here on the CPU, at smoke size)."""

from __future__ import annotations

import json

from lra.bench.gpu_nystrom import main


def test_gpu_script_smoke_on_cpu(tmp_path) -> None:
    argv = ["--device", "cpu", "--n", "128", "256", "--batch", "1", "--heads", "2", "--head-dim", "16"]
    main([*argv, "--dtype", "float32", "--min-run-time", "0.01", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "results.json").read_text())
    checks = {(c["check"], c["dtype"]): c for c in payload["checks"]}
    assert checks[("fast_vs_reference", "torch.float32")]["relative_max_error"] < 1e-5
    assert checks[("fast_vs_reference", "torch.bfloat16")]["relative_max_error"] < 5e-2
    assert checks[("finite_at_length", "torch.bfloat16")]["finite"]
    assert {r["label"] for r in payload["rows"]} == {"nystrom", "softmax", "softmax[flash]"}
    assert all(r["status"] == "ok" for r in payload["rows"])
    assert "nystrom speed-up vs softmax" in (tmp_path / "table.md").read_text()
