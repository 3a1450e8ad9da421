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
from cim.appstate import default_url, open_state
from cim.city import load_city
from cim.health.reminders import send_now, send_reminders
from cim.health.report import health_report
from cim.publish import connect_published

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


@pytest.fixture
def fresh_state(tmp_path):
    """An empty app state of its own: the demo build's reminder log stays as it was."""
    return open_state(f"sqlite:///{tmp_path / 'app' / 'state.sqlite'}")


def test_a_rejected_delivery_gets_exactly_one_reminder(demo_build, smtp, tmp_path, fresh_state):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_build.paths.warehouse, warehouse)
    city = load_city(DEMO_CITY)
    # the pipeline already "sent" them to the log (no SMTP configured there), and its
    # reminder log is the deployment's app state, not the warehouse
    pipeline_log = open_state(default_url(demo_build.paths.home)).reminders.list()
    assert {(r.channel, r.sent_by) for r in pipeline_log} == {("log", "pipeline")}
    con = duckdb.connect(str(warehouse))
    try:
        assert con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'reminders'"
        ).fetchone() == (0,)
        first = send_reminders(con, city, state=fresh_state)
        second = send_reminders(con, city, state=fresh_state)  # the next run, the same day
        later = send_reminders(
            con, city, now=dt.datetime.now() + dt.timedelta(days=8), state=fresh_state
        )
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
    logged = fresh_state.reminders.list(feed="housing_complaints")
    assert [(r.period, r.kind, r.channel) for r in logged] == [("2023-Q2", "rejected", "smtp")] * 2
    assert logged[0].partner_id == city.contract_by_feed["housing_complaints"].partner
    assert sorted(logged[0].recipients) == sorted(recipients)


def test_send_now_respects_the_interval_and_says_when_the_next_may_go(
    demo_build, smtp, fresh_state
):
    city, now = load_city(DEMO_CITY), dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    week = dt.timedelta(days=7)
    with connect_published(demo_build.paths) as snapshot:
        sent = send_now(snapshot, city, fresh_state, "housing_complaints", "2023-Q2", "boss", now)
        soon = send_now(
            snapshot, city, fresh_state, "housing_complaints", "2023-Q2", "kim", now + week / 2
        )
        received = send_now(snapshot, city, fresh_state, "police_incidents", "2025-02", "boss")
        again = send_now(
            snapshot, city, fresh_state, "housing_complaints", "2023-Q2", "kim", now + week
        )
    assert (sent.status, sent.channel, sent.next_allowed_at) == ("sent", "smtp", now + week)
    assert sent.reminder.kind == "rejected" and "klachten_2023-Q2.xlsx" in sent.reminder.body
    assert (soon.status, soon.last_sent_at, soon.next_allowed_at) == ("too_soon", now, now + week)
    assert (received.status, received.reminder) == ("nothing_due", None)  # late, not owed
    assert (again.status, again.last_sent_at) == ("sent", now)
    assert len(smtp.messages) == 2
    logged = fresh_state.reminders.list(feed="housing_complaints")
    assert [(r.sent_by, r.sent_at) for r in logged] == [("kim", now + week), ("boss", now)]


def test_an_old_warehouse_reminder_log_moves_to_the_app_state_once(
    demo_build, smtp, tmp_path, fresh_state
):
    """A warehouse from before the app state kept its log in meta.reminders: carried over
    (so a reminder sent yesterday is not sent again), then dropped."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_build.paths.warehouse, warehouse)
    city, yesterday = load_city(DEMO_CITY), dt.datetime.now() - dt.timedelta(days=1)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "CREATE TABLE meta.reminders (feed VARCHAR, period VARCHAR, kind VARCHAR, "
            "recipients VARCHAR[], subject VARCHAR, channel VARCHAR, sent_at TIMESTAMP)"
        )
        con.execute(
            "INSERT INTO meta.reminders VALUES ('housing_complaints', '2023-Q2', 'rejected', "
            "['a@x.example'], 'old subject', 'smtp', ?)",
            [yesterday],
        )
        sent = send_reminders(con, city, state=fresh_state)
        dropped = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'reminders'"
        ).fetchone()
        again = send_reminders(con, city, state=fresh_state)
    finally:
        con.close()
    assert dropped == (0,) and again == []
    assert [(r.feed, r.kind) for r in sent] == [("youth_participation", "overdue")]
    carried = [r for r in fresh_state.reminders.list() if r.subject == "old subject"]
    assert [(r.recipients, r.channel, r.sent_at.replace(tzinfo=None)) for r in carried] == [
        (["a@x.example"], "smtp", yesterday)
    ]
    assert len(smtp.messages) == 1


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
