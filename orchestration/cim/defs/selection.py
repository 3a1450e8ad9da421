"""A run's selection from what changed (cim.publish.changes), in Dagster's asset graph.

A changed feed selects its asset, its checks and everything downstream of it: its dbt
staging model and the models that read it (dagster-dbt turns the subset into ``dbt build
--select``), the impact results computed from them, the ledger and feed health, and the
publish step. Nothing else runs; the tables it would have written are unchanged in the
warehouse, so the snapshot still holds the whole mart.
"""

from __future__ import annotations

import dagster as dg

from cim.defs.ingestion.assets import LEDGER_KEY, TRIAGE_KEY, feed_asset_key
from cim.defs.report.assets import REPORTS_GROUP
from cim.publish.changes import Plan

# the council reports are quarterly (cim.defs.report), not part of a snapshot's build
NOT_PER_SNAPSHOT = dg.AssetSelection.groups(REPORTS_GROUP)
EVERYTHING = dg.AssetSelection.all() - NOT_PER_SNAPSHOT


def changed_roots(feeds: list[str] | tuple[str, ...], triage: bool) -> list[dg.AssetKey]:
    return [feed_asset_key(feed) for feed in feeds] + ([TRIAGE_KEY] if triage else [])


def selection_for(plan: Plan) -> dg.AssetSelection:
    if plan.full:
        return EVERYTHING
    # feed health is judged on the day: it and what reads it are downstream of the ledger
    roots = [LEDGER_KEY] if plan.day_only else changed_roots(plan.feeds, plan.triage)
    return dg.AssetSelection.assets(*roots).downstream() - NOT_PER_SNAPSHOT


def resolve(selection: dg.AssetSelection, graph) -> tuple[set[dg.AssetKey], set[dg.AssetCheckKey]]:
    """The asset keys and the check keys a selection names in ``graph``: the checks of
    the selected assets come with them."""
    assets = set(selection.resolve(graph))
    checks = set(dg.AssetSelection.checks_for_assets(*assets).resolve_checks(graph))
    return assets, checks
