"""Backbone cockpit: delivery calendar, feed health, reminders over real SMTP, report."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shutil
import socket

import duckdb
import pytest
from aiosmtpd.controller import Controller
from cim.city import load_city
from cim.health.reminders import send_reminders
from cim.health.report import health_report

from tests.conftest import DEMO_CITY

pytestmark = pytest.mark.slow


def _health(demo_build) -> dict[tuple[str, str], tuple]:
    rows = demo_build.query(
        "SELECT feed_id, period_id, delivery_status, days_late, received, on_time, corrected, "
        "due_date, health_as_of FROM marts.fct_feed_health"
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def test_embedded_late_missing_rejected_and_corrected_deliveries(demo_build):
    health, truths = _health(demo_build), demo_build.manifest["truths"]
    late = truths["late_delivery"]
    status, days_late, received, on_time, _, due, as_of = health[("police_incidents", "2025-02")]
    assert (status, days_late, received, on_time) == ("late", late["days_late"], True, False)
    assert str(due) == late["due_date"] and str(as_of) == demo_build.manifest["as_of"]
    missing = truths["missing_delivery"]
    status, days_late, received, *_ = health[(missing["feed"], missing["period"])]
    assert (status, received) == ("missing", False)
    assert (
        days_late
        == (
            dt.date.fromisoformat(demo_build.manifest["as_of"])
            - health[(missing["feed"], missing["period"])][5]
        ).days
    )
    assert health[("housing_complaints", "2023-Q2")][0] == "rejected"
    correction = demo_build.query(
        "SELECT period FROM meta.file_ledger WHERE original_name = ?",
        [truths["correction"]["correction"]],
    )[0][0]
    assert health[("contact_centre_reports", correction)][4] is True  # corrected
    assert {s for s, *_ in health.values()} <= {
        "on time",
        "late",
        "rejected",
        "missing",
        "not yet due",
    }


def _due(contract, period: str) -> dt.date:
    """Independent due date: period start/end from the id, + due_days (contract SLA)."""
    if contract.period.grain == "month":
        start = dt.date.fromisoformat(period + "-01")
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    elif contract.period.grain == "quarter":
        year, quarter = int(period[:4]), int(period[-1])
        start = dt.date(year, 3 * quarter - 2, 1)
        end = (dt.date(year + quarter // 4, (3 * quarter) % 12 + 1, 1)) - dt.timedelta(days=1)
    elif contract.period.grain == "school_year":
        start, end = dt.date(int(period[:4]), 9, 1), dt.date(int(period[:4]) + 1, 8, 31)
    else:
        start, end = dt.date(int(period), 1, 1), dt.date(int(period), 12, 31)
    anchor = start if contract.sla.due_from == "period_start" else end
    return anchor + dt.timedelta(days=contract.sla.due_days)


def test_reporting_and_on_time_rates_match_an_independent_computation(demo_build):
    city = load_city(DEMO_CITY)
    as_of = dt.date.fromisoformat(demo_build.manifest["as_of"])
    files = demo_build.manifest["files"]
    mart = {
        feed: (rate, on_time)
        for _, feed, rate, on_time in demo_build.query(
            "SELECT partner_id, feed_id, reporting_rate, on_time_rate "
            "FROM marts.fct_partner_health WHERE feed_id IS NOT NULL"
        )
    }
    owed = {
        (f["feed"], f["period"])
        for f in files
        if city.contract_by_feed[f["feed"]].period.grain != "snapshot"
    } | {(m["feed"], m["period"]) for m in demo_build.manifest["missing"]}
    for feed, (rate, on_time_rate) in mart.items():
        contract = city.contract_by_feed[feed]
        grace = dt.timedelta(days=contract.sla.grace_days)
        first_valid = {}
        for f in files:
            if f["feed"] == feed and not f["malformed"]:
                delivered = dt.datetime.fromisoformat(f["delivered_at"]).date()
                first_valid[f["period"]] = min(first_valid.get(f["period"], delivered), delivered)
        # counted once settled (received, or the grace period over); the last 12 of those,
        # plus every older one still not received
        settled = sorted(
            {
                p
                for f, p in owed
                if f == feed
                and _due(contract, p) <= as_of
                and (p in first_valid or _due(contract, p) + grace < as_of)
            },
            key=lambda p: _due(contract, p),
        )
        periods = settled[-12:] + [p for p in settled[:-12] if p not in first_valid]
        received = [p for p in periods if p in first_valid]
        in_time = [p for p in received if first_valid[p] <= _due(contract, p) + grace]
        assert rate == pytest.approx(len(received) / len(periods)), feed
        assert on_time_rate == pytest.approx(len(in_time) / len(periods)), feed


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, f"{message['Subject']}\n{message.get_content()}"))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch):
    inbox = _Inbox()
    with socket.socket() as probe:  # a free port on loopback for the real SMTP server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("CIM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CIM_SMTP_PORT", str(port))
    monkeypatch.setenv("CIM_SMTP_FROM", "backbone-data@leiestad.example")
    yield inbox
    controller.stop()


def test_a_rejected_delivery_gets_exactly_one_reminder(demo_build, smtp, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_build.paths.warehouse, warehouse)
    city = load_city(DEMO_CITY)
    con = duckdb.connect(str(warehouse))
    try:
        # the pipeline already "sent" them to the log (no SMTP configured there)
        assert con.execute("SELECT DISTINCT channel FROM meta.reminders").fetchall() == [("log",)]
        con.execute("DELETE FROM meta.reminders")
        first = send_reminders(con, city)
        second = send_reminders(con, city)  # the next run, the same day: nothing new
        later = send_reminders(con, city, now=dt.datetime.now() + dt.timedelta(days=8))
    finally:
        con.close()
    rejected = [m for m in smtp.messages if "klachten_2023-Q2.xlsx" in m[1]]
    assert len(rejected) == 2  # once now, once after the 7-day interval: never twice in it
    assert {r.kind for r in first} == {"rejected", "overdue"} and second == []
    assert len(smtp.messages) == len(first) + len(later)
    recipients, body = rejected[0]
    assert "rapportering@woonpuntleie.example" in recipients
    assert "backbone@leiestad.example" in recipients
    assert "not a readable .xlsx" in body and "klachten_*.xlsx" in body and "2023-Q2" in body
    overdue = next(m for m in smtp.messages if "youth_participation 2025-07" in m[1])
    assert "has not arrived" in overdue[1] and "info@jeugdwerkleiestad.example" in overdue[0]


def test_terminal_report_lists_problem_feeds_first(demo_build):
    con = duckdb.connect(str(demo_build.paths.warehouse), read_only=True)
    try:
        report = health_report(con)
    finally:
        con.close()
    lines = report.splitlines()
    assert lines[0].startswith(f"Feed health on {demo_build.manifest['as_of']}")
    feeds = [line.split()[0] for line in lines[2:9]]
    assert set(feeds[:2]) == {"housing_complaints", "youth_participation"}
    chase = lines[lines.index("Deliveries to chase (missing and rejected first):") + 1 :]
    assert chase[0].strip().startswith("youth_participation 2025-07: missing")
    assert chase[1].strip().startswith("housing_complaints 2023-Q2: rejected")
    # a file received after its grace period is not chased: it is listed as received
    owed_lines = chase[: chase.index("") if "" in chase else len(chase)]
    assert not any("police_incidents 2025-02" in line for line in owed_lines)
    received_late = lines[lines.index("Received after the grace period (nothing to chase):") + 1 :]
    delivered = min(
        dt.datetime.fromisoformat(f["delivered_at"]).date()
        for f in demo_build.manifest["files"]
        if f["feed"] == "police_incidents" and f["period"] == "2025-02"
    )
    assert received_late[0].strip() == (
        f"police_incidents 2025-02: received {delivered}, 12 days after the due date"
    )


def test_freshness_policies_and_daily_schedule_come_from_the_contracts():
    from cim.definitions import defs

    definitions = defs()
    police = definitions.resolve_assets_def(["raw", "police_incidents"])
    policy = police.specs_by_key[next(iter(police.keys))].freshness_policy
    assert policy is not None and policy.fail_window.to_timedelta() == dt.timedelta(
        days=31 + 10 + 5
    )
    registry = definitions.resolve_assets_def(["raw", "activity_registry"])
    assert registry.specs_by_key[next(iter(registry.keys))].freshness_policy is None  # on change
    schedule = definitions.resolve_schedule_def("daily_refresh")
    assert schedule.cron_schedule == "0 6 * * *"
