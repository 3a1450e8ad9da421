"""Smoke test of the benchmark at a tiny scale: every step runs, results are written, the
pipeline equals the hand-written SQL and GX equals the SQL rules. No timing is asserted."""

from __future__ import annotations

import json

from benchmarks.run import main


def test_benchmark_runs_end_to_end_and_writes_results(tmp_path):
    out = tmp_path / "results"
    assert main(["--scales", "20000", "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    results = json.loads((out / "latest.json").read_text())
    (scale,) = results["scales"]
    assert scale["police_rows"] > 15_000
    ingested, read = scale["ingestion"]["ours"]["rows"], scale["ingestion"]["bare"]["rows"]
    assert 0 < ingested <= read  # rows the contract rejects are kept aside, not in raw
    headline = scale["full_build"]["headline"]
    assert headline["cells"] > 1000 and headline["equal"] and headline["missing_in_bare"] == 0
    assert scale["incremental"]["headline"]["equal"]
    assert scale["quality"]["counts_equal"]
    assert set(scale["dashboard"]["apptest"]) >= {"overview", "impact", "health"}
    summary = (out / "latest.md").read_text()
    assert "## Targets at 20,000 rows" in summary and results["machine"]["cores"] >= 1
    assert not (tmp_path / "work" / "20000").exists()  # the work folder is cleaned up
