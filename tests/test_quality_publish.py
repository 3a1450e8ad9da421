"""The bar of write-audit-publish: bad data blocks publication, and says where it is."""

from __future__ import annotations

import html
import json

import duckdb
import pytest
from cim.publish import current_manifest

from tests.quirky import police_csv, police_row

pytestmark = pytest.mark.slow
NEGATIVE = "deelname_202611.csv"
FUTURE = "politie_incidenten_2027-05.csv"


def test_negative_counts_block_publication_and_a_future_month_is_quarantined(
    demo_build, tmp_path, monkeypatch
):
    paths = demo_build.copy_to(tmp_path)
    served = current_manifest(paths)["snapshot_id"]
    (paths.landing / NEGATIVE).write_text(
        "buurt;actie;activiteiten;deelnemers;deelnemers 12-24\n"
        "04017F001;ACT-014;-3;12;9\n04017F002;ACT-014;4;-7;2\n",
        encoding="utf-8",
    )
    rows = [
        police_row(i, **{"Datum feit": "02/05/2027", "Datum registratie": "03/05/2027"})
        for i in range(1, 4)
    ]
    (paths.landing / FUTURE).write_bytes(police_csv(rows).encode("cp1252"))

    result, _ = demo_build.run(paths, monkeypatch)
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "published/snapshot" not in materialized
    assert current_manifest(paths)["snapshot_id"] == served  # the dashboard keeps the old one

    failed_checks = {
        (c.asset_key.to_user_string(), c.check_name)
        for c in result.get_asset_check_evaluations()
        if not c.passed
    }
    assert ("raw/youth_participation", "quality_errors") in failed_checks
    # a month that has not started is stopped at the door, before any quality suite
    assert ("raw/police_incidents", "quality_errors") not in failed_checks

    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        quarantined = con.execute(
            "SELECT status, reason FROM meta.file_ledger WHERE original_name = ?", [FUTURE]
        ).fetchone()
        future_rows = con.execute(
            "SELECT count(*) FROM raw.police_incidents WHERE _period = '2027-05'"
        ).fetchone()[0]
        failures = con.execute(
            "SELECT asset, expectation, message FROM meta.dq_results "
            "WHERE run_id = ? AND severity = 'ERROR' AND NOT success",
            [result.run_id],
        ).fetchall()
    finally:
        con.close()
    youth = [f for f in failures if f[0] == "raw/youth_participation"]
    police = [f for f in failures if f[0] == "raw/police_incidents"]
    assert youth and all(NEGATIVE in message for _, _, message in youth)
    assert {e for _, e, _ in youth} >= {
        e for _, e, _ in youth if "sessions" in e or "participants" in e
    }
    assert any("sessions" in e for _, e, _ in youth) and any(
        "participants" in e for _, e, _ in youth
    )
    assert not police
    assert quarantined[0] == "rejected" and "quarantined: period 2027-05" in quarantined[1]
    assert future_rows == 0

    log = [
        json.loads(line)
        for line in (paths.published / "publish_log.jsonl").read_text().splitlines()
    ]
    blocked = [e for e in log if e["run_id"] == result.run_id and e["event"] == "blocked"]
    assert blocked and any(NEGATIVE in reason for e in blocked for reason in e["reasons"])

    docs = (paths.home / "quality" / "docs" / "index.html").read_text(encoding="utf-8")
    assert NEGATIVE in docs
    assert html.escape(youth[0][1], quote=False) in docs  # the failing expectation, by name
