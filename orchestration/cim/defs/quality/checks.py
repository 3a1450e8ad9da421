"""One pair of checks per checked asset: ERROR expectations (blocking) and WARN ones.

A failed blocking check stops everything downstream, so the publish step never runs and
the previous snapshot stays served; the check itself records why (publish log,
meta.dq_results, Data Docs), since the skipped publish step cannot.
"""

from collections.abc import Callable

import dagster as dg

from cim import settings
from cim.city import City
from cim.defs.resources import Deployment, loaded_city
from cim.publish import record_blocked
from cim.quality import (
    ERROR,
    WARN,
    CheckOutcome,
    build_data_docs,
    read_results,
    run_feed_suite,
    run_mart_suite,
    write_results,
)
from cim.quality.suites import MART_TABLES

CHECK_NAMES = {ERROR: "quality_errors", WARN: "quality_warnings"}


def _results(
    key: dg.AssetKey, outcomes: list[CheckOutcome], severity: str, docs: str
) -> dg.AssetCheckResult:
    failed = [o for o in outcomes if o.severity == severity and not o.success]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAMES[severity],
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if severity == ERROR else dg.AssetCheckSeverity.WARN,
        description="; ".join(o.message for o in failed)[:2000] or None,
        metadata={
            "expectations": len([o for o in outcomes if o.severity == severity]),
            "failed": len(failed),
            "failures": dg.MetadataValue.md(
                "\n".join(f"- **{o.expectation}**: {o.message}" for o in failed) or "none"
            ),
            "data_docs": dg.MetadataValue.path(docs),
        },
    )


def _build_check(
    key: dg.AssetKey, suite: Callable[..., list[CheckOutcome]], name: str
) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"quality_{'__'.join(key.path)}",
        specs=[
            dg.AssetCheckSpec(
                "quality_errors",
                asset=key,
                blocking=True,
                description="ERROR expectations of the suite: a failure blocks publication",
            ),
            dg.AssetCheckSpec(
                "quality_warnings",
                asset=key,
                blocking=False,
                description="WARN expectations of the suite: shown, not blocking",
            ),
        ],
    )
    def _check(
        context: dg.AssetCheckExecutionContext,
        deployment: Deployment,
        city: dg.ResourceParam[City],
    ):
        paths = deployment.paths
        with deployment.warehouse() as con:
            outcomes = suite(con, city, context.run.run_id)
            write_results(con, outcomes)
            docs = build_data_docs(paths.home, read_results(con, context.run.run_id))
        errors = [o for o in outcomes if o.severity == ERROR and not o.success]
        if errors:
            record_blocked(
                paths, context.run.run_id, [f"{name}: {o.expectation}: {o.message}" for o in errors]
            )
        yield _results(key, outcomes, ERROR, str(docs))
        yield _results(key, outcomes, WARN, str(docs))

    return _check


def build_quality_checks(city: City) -> list[dg.AssetChecksDefinition]:
    today = settings.as_of

    def feed_suite(feed: str):
        return lambda con, city, run_id: run_feed_suite(con, city, feed, run_id, today())

    def mart_suite(table: str):
        return lambda con, city, run_id: run_mart_suite(con, city, table, run_id, today())

    checks = [
        _build_check(dg.AssetKey(["raw", c.feed]), feed_suite(c.feed), f"raw/{c.feed}")
        for c in city.contracts
    ]
    checks += [
        _build_check(dg.AssetKey(["marts", t]), mart_suite(t), f"marts/{t}") for t in MART_TABLES
    ]
    return checks


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(asset_checks=build_quality_checks(loaded_city()))
