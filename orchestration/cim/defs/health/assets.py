"""Reminders and overdue checks read the feed-health mart dbt builds."""

import datetime as dt

import dagster as dg

from cim.appstate import default_url, open_state
from cim.city import City, FeedContract
from cim.defs.resources import Deployment, loaded_city
from cim.health.reminders import send_reminders

FEED_HEALTH_KEY = dg.AssetKey(["marts", "fct_feed_health"])
REMINDERS_KEY = dg.AssetKey(["meta", "reminders"])
_CADENCE_DAYS = {"monthly": 31, "quarterly": 92, "yearly": 366, "biennial": 731}


def freshness_policy(contract: FeedContract) -> dg.FreshnessPolicy | None:
    """A feed is stale when no run has loaded it for a full cadence plus due and grace.

    Evaluated by the daemon (``make dev``); the per-period view (which delivery, how
    late) is ``marts.fct_feed_health`` and the check below."""
    days = _CADENCE_DAYS.get(contract.sla.cadence)
    if days is None:
        return None
    warn = dt.timedelta(days=days + contract.sla.due_days)
    return dg.FreshnessPolicy.time_window(
        fail_window=warn + dt.timedelta(days=contract.sla.grace_days), warn_window=warn
    )


def build_health_assets(city: City) -> list:
    @dg.asset_check(asset=FEED_HEALTH_KEY, name="no_overdue_deliveries", blocking=False)
    def _overdue(deployment: Deployment) -> dg.AssetCheckResult:
        """In-run view of late, missing and rejected deliveries (a warning, not a block)."""
        with deployment.warehouse() as con:
            rows = con.execute(
                "SELECT feed_id, period_id, delivery_status, days_late "
                "FROM marts.fct_feed_health "
                "WHERE delivery_status IN ('missing', 'rejected', 'in grace') "
                "ORDER BY days_late DESC"
            ).fetchall()
            as_of = con.execute("SELECT max(health_as_of) FROM marts.fct_feed_health").fetchone()[0]
        lines = [
            f"- {feed} {period}: {status}, {days} days after the due date"
            for feed, period, status, days in rows
        ]
        return dg.AssetCheckResult(
            passed=not rows,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{len(rows)} deliveries overdue or rejected on {as_of}" if rows else None,
            metadata={
                "overdue": dg.MetadataValue.md("\n".join(lines) or "none"),
                "health_as_of": str(as_of),
            },
        )

    @dg.asset(
        key=REMINDERS_KEY,
        group_name="health",
        deps=[FEED_HEALTH_KEY],
        kinds={"duckdb"},
        description="Reminders to partners (and the backbone) about overdue or rejected "
        "deliveries: by SMTP when CIM_SMTP_HOST is set, else in the log; at most once "
        "per period within CIM_REMINDER_INTERVAL_DAYS, which the app state's reminder log "
        "(CIM_APP_DB, else CIM_HOME/app/state.sqlite) remembers.",
    )
    def _reminders(
        context: dg.AssetExecutionContext, deployment: Deployment, city: dg.ResourceParam[City]
    ) -> dg.MaterializeResult:
        state = open_state(default_url(deployment.paths.home))
        with deployment.warehouse() as con:
            sent = send_reminders(con, city, state=state)
        for reminder in sent:
            context.log.info(
                f"reminder sent: {reminder.subject} -> {', '.join(reminder.recipients)}"
            )
        return dg.MaterializeResult(
            metadata={
                "reminders_sent": len(sent),
                "subjects": dg.MetadataValue.md(
                    "\n".join(f"- {r.subject}" for r in sent) or "none"
                ),
            }
        )

    return [_overdue, _reminders]


@dg.definitions
def defs() -> dg.Definitions:
    overdue, reminders = build_health_assets(loaded_city())
    return dg.Definitions(assets=[reminders], asset_checks=[overdue])
