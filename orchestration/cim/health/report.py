"""The feed-health table for a terminal: worst feeds first.

Worst means the lowest reporting rate, then the lowest on-time rate, then the most open
problems (the rates come from ``marts.fct_partner_health``, whose rule is written there: a
delivery still missing counts against its feed until it arrives, one not yet overdue is not
counted). Only deliveries that never arrived are listed to chase; a file that arrived after
its grace period is received, and is listed apart as received late, never as owed.
Backfill periods (history a partner delivers late on purpose) are never chased: they get
a section of their own, received or awaited, and do not count as problems.
"""

from __future__ import annotations

import datetime as dt

import duckdb

_FEEDS = """
WITH latest AS (
    SELECT *, row_number() OVER (PARTITION BY feed_id ORDER BY due_date DESC) AS recency
    FROM marts.fct_feed_health WHERE expected AND NOT backfill
), problems AS (
    SELECT feed_id,
           count(*) FILTER (WHERE delivery_status IN ('missing', 'rejected')) AS open_problems
    FROM marts.fct_feed_health GROUP BY ALL
)
SELECT l.feed_id, l.partner_id, l.period_id, l.delivery_status, l.days_late,
       p.reporting_rate, p.on_time_rate, pr.open_problems, l.health_as_of
FROM latest AS l
-- a feed with nothing settled yet (all in grace) has no rates: listed last, not dropped
LEFT JOIN marts.fct_partner_health AS p ON p.feed_id = l.feed_id
JOIN problems AS pr ON pr.feed_id = l.feed_id
WHERE l.recency = 1
ORDER BY p.reporting_rate NULLS LAST, p.on_time_rate NULLS LAST,
         pr.open_problems DESC, l.days_late DESC, l.feed_id
"""

_BACKFILLS = """
SELECT feed_id, min(period_id), max(period_id), count(*), count(*) FILTER (WHERE received)
FROM marts.fct_feed_health
WHERE backfill
GROUP BY feed_id
ORDER BY feed_id
"""

# owed and not received: a received file is never chased, however late it came
_PROBLEMS = """
SELECT feed_id, period_id, delivery_status, days_late, due_date
FROM marts.fct_feed_health
WHERE NOT received AND delivery_status IN ('missing', 'rejected', 'in grace')
ORDER BY CASE delivery_status WHEN 'missing' THEN 0 WHEN 'rejected' THEN 1 ELSE 2 END,
         days_late DESC, feed_id, period_id
"""

_RECEIVED_LATE = """
SELECT feed_id, period_id, cast(delivered_at AS date), days_late
FROM marts.fct_feed_health
WHERE received AND delivery_status = 'late'
ORDER BY due_date DESC, feed_id
"""


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0%}"


def health_report(con: duckdb.DuckDBPyConnection) -> str:
    feeds = con.execute(_FEEDS).fetchall()
    if not feeds:
        return "no feed health yet: run `make pipeline`"
    as_of = feeds[0][-1]
    # an older snapshot, CIM_AS_OF or a demo home's own date must not pass for today
    not_today = "" if as_of == dt.date.today() else f"; not today, {dt.date.today()}"
    lines = [
        f"Feed health on {as_of} (rates over the last 12 deliveries owed, plus any still"
        f" missing; lowest rate first{not_today})",
        f"{'feed':<25}{'partner':<16}{'latest owed':<13}{'status':<13}{'days late':>10}"
        f"{'reporting':>11}{'on time':>9}{'problems':>10}",
    ]
    for feed, partner, period, status, late, reporting, on_time, problems, _ in feeds:
        lines.append(
            f"{feed:<25}{partner:<16}{period:<13}{status:<13}{late:>10}"
            f"{_pct(reporting):>11}{_pct(on_time):>9}{problems:>10}"
        )
    problems = con.execute(_PROBLEMS).fetchall()
    if problems:
        lines += ["", "Deliveries to chase (missing and rejected first):"]
        lines += [
            f"  {feed} {period}: {status}, {late} days after the due date {due}"
            for feed, period, status, late, due in problems
        ]
    received_late = con.execute(_RECEIVED_LATE).fetchall()
    if received_late:
        lines += ["", "Received after the grace period (nothing to chase):"]
        lines += [
            f"  {feed} {period}: received {received}, {late} days after the due date"
            for feed, period, received, late in received_late
        ]
    backfills = con.execute(_BACKFILLS).fetchall()
    if backfills:
        lines += [
            "",
            "Backfill (history delivered late on purpose; never late, missing or chased):",
        ]
        lines += [
            f"  {feed} {first}..{last}: {received} of {owed} periods received"
            for feed, first, last, owed, received in backfills
        ]
    return "\n".join(lines)
