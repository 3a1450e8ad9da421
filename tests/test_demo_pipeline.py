"""The demo city through the real Dagster pipeline: every file and every row accounted for."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from cim.definitions import defs
from cim.ingest.archive import copy_original, readable
from cim.settings import Paths

from tests.conftest import DEMO_CITY

pytestmark = pytest.mark.slow


def _ledger(demo_build) -> dict[str, tuple]:
    rows = demo_build.query(
        "SELECT original_name, status, period, rows_read, rows_accepted, rows_rejected, reason, "
        "received_at FROM meta.file_ledger"
    )
    return {r[0]: r[1:] for r in rows}


def test_one_materialized_asset_per_feed(demo_build, demo_city):
    materialized = {
        e.asset_key.to_user_string() for e in demo_build.result.get_asset_materialization_events()
    }
    assert {f"raw/{c.feed}" for c in demo_city.contracts} <= materialized
    checks = demo_build.result.get_asset_check_evaluations()
    accounted = [c for c in checks if c.check_name == "files_accounted"]
    assert len(accounted) == len(demo_city.contracts) and all(c.passed for c in accounted)
    flagged = {
        c.asset_key.to_user_string()
        for c in checks
        if c.check_name == "no_rejected_files" and not c.passed
    }
    assert flagged == {"raw/housing_complaints"}  # the malformed spreadsheet


def test_every_generated_file_is_in_the_ledger_with_the_expected_counts(demo_build, demo_city):
    ledger = _ledger(demo_build)
    files = demo_build.manifest["files"]
    # A snapshot feed replaces everything with each delivery: only its newest one stays loaded.
    grains = {c.feed: c.period.grain for c in demo_city.contracts}
    snapshots = [f for f in files if grains[f["feed"]] == "snapshot"]
    replaced = {f["file"] for f in files if f["superseded_by"]}
    replaced |= {f["file"] for f in sorted(snapshots, key=lambda f: f["mtime"])[:-1]}
    assert set(ledger) == {f["file"] for f in files}
    for f in files:
        status, period, read, accepted, rejected, reason, _ = ledger[f["file"]]
        assert period == f["period"] or f["feed"] == "activity_registry", f["file"]
        if f["malformed"]:
            assert (status, read, accepted, rejected) == ("rejected", 0, 0, 0)
            assert "not a readable .xlsx" in reason
            continue
        assert status == ("superseded" if f["file"] in replaced else "loaded"), f["file"]
        assert read == accepted + rejected, f["file"]
        assert read == f["rows"] + f["skipped_rows"], f["file"]
        assert rejected == f["invalid_rows"] + f["skipped_rows"], f["file"]


def test_raw_tables_hold_exactly_the_current_accepted_rows(demo_build, demo_city):
    for contract in demo_city.contracts:
        [(stored,)] = demo_build.query(f'SELECT count(*) FROM raw."{contract.feed}"')
        [(accepted,)] = demo_build.query(
            "SELECT coalesce(sum(rows_accepted), 0) FROM meta.file_ledger "
            "WHERE feed = ? AND status = 'loaded'",
            [contract.feed],
        )
        assert stored == accepted, contract.feed
    totals = demo_build.manifest["feeds"]["police_incidents"]
    [(police,)] = demo_build.query("SELECT count(*) FROM raw.police_incidents")
    assert police == totals["rows_current"] - totals["invalid_rows_current"]


def test_rejected_rows_name_the_column_and_the_injected_defect(demo_build):
    expected = demo_build.manifest["truths"]["invalid_rows"]
    got = dict(
        demo_build.query(
            "SELECT feed, count(*) FROM meta.rejected_rows "
            "WHERE reason NOT LIKE 'summary row%' GROUP BY feed"
        )
    )
    assert {feed: n for feed, n in expected.items() if n} == got
    reasons = demo_build.query(
        "SELECT DISTINCT column_name FROM meta.rejected_rows WHERE feed = 'police_incidents'"
    )
    assert {r[0] for r in reasons} == {"area_code", "offence_category", "occurred_on"}


def test_truths_late_correction_missing(demo_build):
    truths = demo_build.manifest["truths"]
    ledger = _ledger(demo_build)
    late = truths["late_delivery"]
    received = ledger[late["file"]][6]
    due = dt.date.fromisoformat(late["due_date"])
    assert (received.date() - due).days == late["days_late"] > late["grace_days"]
    correction = truths["correction"]
    assert ledger[correction["original"]][0] == "superseded"
    assert ledger[correction["correction"]][0] == "loaded"
    [(rows,)] = demo_build.query(
        "SELECT count(*) FROM raw.contact_centre_reports WHERE _period = ?",
        [ledger[correction["correction"]][1]],
    )
    assert rows == ledger[correction["correction"]][3]
    missing = truths["missing_delivery"]
    assert demo_build.query(
        "SELECT count(*) FROM meta.file_ledger WHERE feed = ? AND period = ?",
        [missing["feed"], missing["period"]],
    ) == [(0,)]


def test_personal_data_does_not_survive_ingestion(demo_build):
    columns = demo_build.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'raw'"
    )
    names = {c for _, c in columns}
    assert not {"victim_name", "birth_year", "reporter_email"} & names
    sample = [
        p
        for r in demo_build.query("SELECT respondent_id FROM raw.resident_survey LIMIT 5")
        for p in r
    ]
    assert all(len(s) == 64 for s in sample)  # keyed hashes, not the BB-... ids
    clear_ids, at_rest = set(), []
    for (archived,) in demo_build.query(
        "SELECT DISTINCT archive_path FROM meta.file_ledger WHERE feed = 'resident_survey' "
        "AND status = 'loaded'"
    ):
        at_rest.append(Path(archived).read_bytes())
        with readable(Path(archived), demo_build.paths) as plain:
            clear_ids |= {
                line.split(";")[0]
                for line in plain.read_text(encoding="utf-8", errors="replace").splitlines()[1:50]
                if line.startswith("BB")
            }
    assert clear_ids, "expected survey ids in the archived survey files"
    # the archived originals are encrypted at rest: no survey id in their bytes
    assert not [i for i in sorted(clear_ids) if any(i.encode() in b for b in at_rest)]
    [(leaks,)] = demo_build.query(
        "SELECT count(*) FROM raw.resident_survey WHERE list_contains(?, respondent_id)",
        [sorted(clear_ids)],
    )
    assert leaks == 0


def test_dropping_every_file_again_adds_no_row(demo_build, tmp_path, monkeypatch):
    """Every file sent again, in receipt order: the data in force ends exactly as before.

    Bytes equal to the delivery in force are duplicates; an original that a correction
    had superseded is applied again and then superseded again by its re-sent correction,
    and a rejected file is tried again and rejected again for the same reason.
    """
    home = tmp_path / "home"
    shutil.copytree(demo_build.paths.home, home, ignore=shutil.ignore_patterns("landing"))
    (home / "landing").mkdir()
    archived = demo_build.query(
        "SELECT original_name, archive_path, received_at, status FROM meta.file_ledger "
        "WHERE sha256 IS NOT NULL"
    )
    in_force_sql = (
        "SELECT feed, period, sha256 FROM meta.file_ledger WHERE status = 'loaded' ORDER BY 1, 2"
    )
    in_force = demo_build.query(in_force_sql)
    for name, archive_path, received, _ in archived:
        target = home / "landing" / name
        copy_original(
            Path(str(archive_path).replace(str(demo_build.paths.home), str(home))),
            target,
            Paths(home),
        )
        stamp = received.replace(tzinfo=dt.UTC).timestamp()
        os.utime(target, (stamp, stamp))
    count_sql = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY 1"

    def counts():
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            tables = [r[0] for r in con.execute(count_sql).fetchall()]
            return {t: con.execute(f'SELECT count(*) FROM raw."{t}"').fetchone()[0] for t in tables}
        finally:
            con.close()

    before = counts()
    monkeypatch.setenv("CIM_HOME", str(home))
    monkeypatch.setenv("CIM_CITY", str(DEMO_CITY))
    with dg.instance_for_test() as instance:
        result = defs().resolve_job_def("ingest_feeds").execute_in_process(instance=instance)
    assert result.success
    assert counts() == before
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    statuses = dict(
        con.execute(
            "SELECT status, count(*) FROM meta.file_ledger WHERE run_id = ? GROUP BY 1",
            [result.run_id],
        ).fetchall()
    )
    again = con.execute(in_force_sql).fetchall()
    con.close()
    assert again == in_force
    rejected_before = sum(1 for *_, status in archived if status == "rejected")
    superseded_before = sum(1 for *_, status in archived if status == "superseded")
    assert sum(statuses.values()) == len(archived)  # every file accounted for
    assert statuses["rejected"] == rejected_before
    # each superseded original is applied again and superseded again by its correction
    assert statuses["superseded"] == superseded_before
    assert 0 < statuses["loaded"] <= superseded_before
