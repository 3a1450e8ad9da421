"""Smoke test of the impact benchmark at a tiny size: every measurement runs in its own
process, results are written, and our estimate equals pyfixest's. No timing is asserted."""

from __future__ import annotations

import json

from benchmarks.impact_scale import main


def test_impact_benchmark_runs_end_to_end_and_equals_pyfixest(tmp_path):
    out = tmp_path / "results"
    argv = ["--areas", "200", "--periods", "24", "--placebo-areas", "60"]
    assert main([*argv, "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    results = json.loads((out / "impact-latest.json").read_text())
    (scale,) = results["scales"]
    assert scale["rows"] == 200 * 24 == scale["ours"]["rows"] == scale["pyfixest"]["rows"]
    ours, theirs, equal = scale["ours"], scale["pyfixest"], scale["equal"]
    assert ours["interval_method"] == "cluster_robust" and ours["status"] == "estimated"
    assert abs(ours["effect"] - theirs["effect"]) <= 1e-6 * abs(theirs["effect"])
    assert abs(ours["cluster_se_nested"] - theirs["cluster_se"]) <= 1e-6 * theirs["cluster_se"]
    assert equal["equal"] and equal["event_bins"] == 23 and not equal["event_bins_missing"]
    assert set(ours["event_study"]) == set(theirs["event_study"])
    for offset, coef in ours["event_study"].items():
        assert abs(coef - theirs["event_study"][offset]) <= 1e-6 * max(1, abs(coef))
    assert ours["peak_rss_mb"] > 0 and theirs["peak_rss_mb"] > 0  # each its own process
    placebo = results["placebo"]["ours"]
    assert placebo["interval_method"] == "placebo_in_space" and placebo["placebo_sets"] == 2000
    assert results["verdict"]["equal"] and results["machine"]["cores"] >= 1
    summary = (out / "impact-latest.md").read_text()
    assert "## Target" in summary and "## Placebo in space" in summary
    assert not list((tmp_path / "work").glob("*/*.parquet"))  # the panels are cleaned up
