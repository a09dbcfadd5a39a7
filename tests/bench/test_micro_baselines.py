"""The micro-benchmark covers the three baselines and their peers, with matching settings on both sides."""

from __future__ import annotations

from lra.bench.micro import DEFAULT_IMPLS, family_tables, options_for
from lra.bench.peers import PEER_OF, PEERS


def test_defaults_pair_every_attention_with_its_peers() -> None:
    for name in ("linformer", "performer", "reformer"):
        peers = [p for p in DEFAULT_IMPLS if PEER_OF.get(p.removeprefix("peer:")) == name]
        assert name in DEFAULT_IMPLS and peers and all(p.removeprefix("peer:") in PEERS for p in peers)
        assert all(options_for(p) == options_for(name) for p in peers)
    assert options_for("linformer") == {"k": 256}
    assert options_for("peer:lucidrains-performer")["num_features"] == 256
    assert options_for("peer:lucidrains-reformer") == {"num_hashes": 4, "bucket_size": 64}


def test_family_tables_give_each_attention_its_peers_and_ratios() -> None:
    def cell(impl: str, ms: float, status: str = "ok") -> dict:
        row = {"impl": impl, "mode": "fwd", "n": 4096, "status": status}
        return {**row, "median_ms": ms, "peak_mb": 3.0} if status == "ok" else row

    rows = [cell("softmax", 80.0), cell("reformer", 10.0), cell("peer:lucidrains-reformer", 25.0)]
    rows += [cell("performer", 4.0), cell("peer:lucidrains-performer", 0, status="oom")]
    text = family_tables(rows)
    reformer, performer = text.split("\n\n**performer**")
    assert reformer.splitlines()[-1] == "| fwd | 4096 | 10.0 ms / 3 MB | 25.0 ms / 3 MB | 80.0 ms / 3 MB | 2.5× |"
    assert performer.splitlines()[-1].endswith("| OOM | 80.0 ms / 3 MB | — |")
