"""Great Expectations Data Docs for the quality results, readable offline.

The GX file context lives in ``<home>/quality/gx`` and its site in ``<home>/quality/docs``.
Outcomes (from this process or from meta.dq_results) are stored as GX validation results,
GX renders the pages, and then every page is made self-contained: no CDN stylesheet,
script or image stays, a local stylesheet replaces them, and a summary naming the failing
expectations, the files and what to do is put at the top.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections import Counter
from pathlib import Path

import duckdb

from cim.quality.offline import make_offline, offline_css
from cim.quality.offline import summary as summary_html
from cim.quality.outcome import CheckOutcome
from cim.quality.results import read_results

SITE = "cim"
CSS = Path(__file__).with_name("docs.css")


def _context(root: Path):
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(root))
    if context.variables.analytics_enabled is not False:  # GX_ANALYTICS_ENABLED is set too
        context.variables.analytics_enabled = False
        context.variables.save()
    context.variables.progress_bars = {"globally": False}
    sites = context.get_config().data_docs_sites or {}
    if SITE not in sites:
        context.add_data_docs_site(
            SITE,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": "../docs",  # relative to <home>/quality/gx
                },
            },
        )
    for name in [s for s in sites if s != SITE]:
        context.delete_data_docs_site(name)
    return context


def _safe(name: str) -> str:
    return re.sub(r"[/\\]", "_", name)


def _result(outcome: CheckOutcome):
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    d = outcome.details
    config = ExpectationConfiguration(
        type=d["expectation_type"],
        kwargs=d.get("kwargs") or {},
        meta={"cim": {"name": outcome.expectation, "message": outcome.message}},
        severity="critical" if outcome.severity == "ERROR" else "warning",
    )
    partial = d.get("partial_unexpected_list") or []
    result = {
        "element_count": d.get("element_count"),
        "unexpected_count": outcome.unexpected_count,
        "missing_count": d.get("missing_count"),
        "partial_unexpected_list": partial,
    }
    if all(not isinstance(v, dict | list) for v in partial):
        counts = Counter(partial).most_common()
        result["partial_unexpected_counts"] = [{"value": v, "count": n} for v, n in counts]
    if d.get("element_count"):
        result["unexpected_percent"] = 100 * (outcome.unexpected_count or 0) / d["element_count"]
    if outcome.observed_value is not None:
        result["observed_value"] = outcome.observed_value
    exception = {
        "raised_exception": bool(d.get("exception")),
        "exception_message": d.get("exception"),
        "exception_traceback": None,
    }
    return config, ExpectationValidationResult(
        success=outcome.success, expectation_config=config, result=result, exception_info=exception
    )


def _store(context, outcomes: list[CheckOutcome]) -> None:
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    groups: dict[tuple[str, str, str], list[CheckOutcome]] = {}
    for o in outcomes:
        if o.details.get("expectation_type"):
            groups.setdefault((o.run_id, o.asset, o.suite), []).append(o)
    for (run_id, asset, suite_name), group in groups.items():
        pairs = [_result(o) for o in group]
        expectations = []
        for config, _ in pairs:
            try:
                expectations.append(config.to_domain_obj())
            except Exception:  # noqa: S112 - a suite page is a nicety
                continue
        suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
        context.suites.add_or_update(suite)
        passed = sum(o.success for o in group)
        result = ExpectationSuiteValidationResult(
            success=passed == len(group),
            results=[r for _, r in pairs],
            suite_name=suite_name,
            statistics={
                "evaluated_expectations": len(group),
                "successful_expectations": passed,
                "unsuccessful_expectations": len(group) - passed,
                "success_percent": 100 * passed / len(group),
            },
            meta={"batch_kwargs": {"data_asset_name": asset}, "run_id": run_id},
        )
        run_time = group[0].checked_at.replace(tzinfo=dt.UTC)
        key = ValidationResultIdentifier(
            ExpectationSuiteIdentifier(name=suite_name),
            RunIdentifier(run_name=_safe(run_id), run_time=run_time),
            asset.replace("/", "."),
        )
        context.validation_results_store.set(key, result)


def _prune(context, keep_runs: int) -> dict[tuple[str, ...], bool]:
    """Drop results of older runs; the success of the kept ones by (run, time, asset)."""
    store = context.validation_results_store
    keys = store.list_keys()
    runs = sorted({(k.run_id.run_time, k.run_id.run_name) for k in keys}, reverse=True)
    kept = {name for _, name in runs[:keep_runs]}
    status = {}
    for key in keys:
        if key.run_id.run_name not in kept:
            store.remove_key(key)
        else:
            status[tuple(key.to_tuple()[-3:])] = bool(store.get(key).success)
    return status


def build_data_docs(
    home: Path,
    outcomes: list[CheckOutcome] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    keep_runs: int = 20,
) -> Path:
    """Render Data Docs for ``outcomes`` (or the last run in meta.dq_results via ``con``).

    Returns ``<home>/quality/docs/index.html``. Results of the last ``keep_runs`` runs stay
    in ``<home>/quality/gx`` and keep their pages; older ones are dropped.
    """
    if outcomes is None:
        outcomes = read_results(con) if con is not None else []
    root = Path(home) / "quality"
    docs = root / "docs"
    context = _context(root)
    _store(context, outcomes)
    status = _prune(context, keep_runs)
    for stale in ("validations", "expectations"):
        shutil.rmtree(docs / stale, ignore_errors=True)
    context.build_data_docs(site_names=[SITE])
    (docs / "static" / "styles").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CSS, docs / "static" / "styles" / "cim.css")
    pages = sorted(
        docs.glob("validations/**/*.html"), key=lambda p: (p.parts[-2], p.stem), reverse=True
    )
    listed = [
        (
            p.relative_to(docs),
            {True: "passed", False: "FAILED"}.get(status.get((*p.parts[-3:-1], p.stem))),
            f"{p.stem}, run {p.parts[-3]} ({p.parts[-2]})",
        )
        for p in pages
    ]
    for path in docs.rglob("*.css"):
        offline_css(path)
    for page in docs.rglob("*.html"):
        summary = None
        if page.name == "index.html" and page.parent == docs:
            summary = summary_html(outcomes, listed, "Data quality: Collective Impact Monitor")
        elif "validations" in page.relative_to(docs).parts:
            key = (page.parts[-3], page.stem)  # validations/<suite>/<run>/<time>/<asset>.html
            mine = [o for o in outcomes if (_safe(o.run_id), o.asset.replace("/", ".")) == key]
            if mine:
                summary = summary_html(mine, [], f"{mine[0].asset}: data quality")
        make_offline(page, docs, summary)
    return docs / "index.html"
