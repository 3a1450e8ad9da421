"""Mirror the city configuration into ``meta.*`` tables, where dbt reads it as sources.

The YAML stays the one source of truth; these tables are rewritten from it on every
run, so the mart always reflects the configuration that was in force for the build.
"""

from __future__ import annotations

import duckdb

from cim.city.agenda import Indicator, Term
from cim.city.config import City

CONFIG_TABLES = {
    "areas": "area_code VARCHAR PRIMARY KEY, name VARCHAR, level VARCHAR, depth INTEGER, "
    "parent_code VARCHAR, valid_from DATE, valid_to DATE, grid_row INTEGER, grid_col INTEGER",
    "partners": "partner_id VARCHAR PRIMARY KEY, name VARCHAR, kind VARCHAR, "
    "contact_name VARCHAR, contact_email VARCHAR",
    "feeds": "feed_id VARCHAR PRIMARY KEY, partner_id VARCHAR, description VARCHAR, "
    "file_pattern VARCHAR, format VARCHAR, grain VARCHAR, cadence VARCHAR, due_from VARCHAR, "
    "due_days INTEGER, grace_days INTEGER, start_period VARCHAR, end_period VARCHAR, "
    "contact_name VARCHAR, "
    "contact_email VARCHAR",
    # a feed's periods delivered late on purpose (contract key backfill), one row per range
    "feed_backfills": "feed_id VARCHAR, first_period VARCHAR, last_period VARCHAR",
    "goals": "goal_id VARCHAR PRIMARY KEY, name VARCHAR, description VARCHAR",
    "indicators": "indicator_id VARCHAR PRIMARY KEY, name VARCHAR, definition VARCHAR, "
    "goal_id VARCHAR, owner_partner_id VARCHAR, kind VARCHAR, unit VARCHAR, multiplier DOUBLE, "
    "direction VARCHAR, reported_events BOOLEAN, cadence VARCHAR, lowest_level VARCHAR, "
    "min_cell INTEGER, min_respondents INTEGER, numerator_feeds VARCHAR[], "
    "denominator_feed VARCHAR, "
    "formula VARCHAR",
    "targets": "indicator_id VARCHAR, area_code VARCHAR, baseline_period VARCHAR, "
    "baseline_value DOUBLE, target_value DOUBLE, target_date DATE",
}


def _describe(term: Term) -> str:
    measure = (
        "count of rows"
        if term.count
        else f"{'sum' if term.sum else 'max'} of {term.measure_column}"
    )
    filters = "; ".join(f"{k} in {', '.join(v)}" for k, v in term.where.items())
    return f"{measure} in {term.feed}" + (f" where {filters}" if filters else "")


def formula(indicator: Indicator) -> str:
    """The indicator's definition as one readable line, shown beside every figure."""
    if indicator.survey:
        s = indicator.survey
        items = " + ".join(s.items)
        mean = f"({items}) / {len(s.items)}" if len(s.items) > 1 else items
        return f"sum({s.weight} x {mean}) / sum({s.weight}) x {indicator.scale:g} in {s.feed}"
    numerator = " + ".join(_describe(t) for t in indicator.numerator)
    if indicator.denominator is None:  # a count: the total itself, nothing divides it
        return numerator
    return f"[{numerator}] / [{_describe(indicator.denominator)}] x {indicator.scale:g}"


def _rows(city: City) -> dict[str, list[tuple]]:
    depth = {
        level: len(city.settings.area_levels) - 1 - i
        for i, level in enumerate(city.settings.area_levels)
    }
    agenda = city.agenda
    return {
        "areas": [
            (
                a.area_code,
                a.name,
                a.level,
                depth[a.level],
                a.parent_code,
                a.valid_from,
                a.valid_to,
                a.grid_row,
                a.grid_col,
            )
            for a in city.areas
        ],
        "partners": [
            (p.id, p.name, p.kind, p.contact.name, p.contact.email) for p in city.partners
        ],
        "feeds": [
            (
                c.feed,
                c.partner,
                c.description.strip(),
                c.file_pattern,
                c.format,
                c.period.grain,
                c.sla.cadence,
                c.sla.due_from,
                c.sla.due_days,
                c.sla.grace_days,
                c.start_period,
                c.end_period,
                city.contact_for(c).name,
                city.contact_for(c).email,
            )
            for c in city.contracts
        ],
        "feed_backfills": [(c.feed, b.first, b.last) for c in city.contracts for b in c.backfill],
        "goals": [(g.id, g.name, g.description.strip()) for g in agenda.goals],
        "indicators": [
            (
                i.id,
                i.name,
                i.definition.strip(),
                i.goal,
                i.owner,
                i.kind,
                i.unit,
                i.scale,
                i.direction,
                i.reported_events,
                i.cadence,
                i.lowest_level,
                i.min_cell,
                i.min_respondents,
                sorted({t.feed for t in i.numerator} | ({i.survey.feed} if i.survey else set())),
                i.denominator.feed if i.denominator else None,
                formula(i),
            )
            for i in agenda.indicators
        ],
        "targets": [
            (
                t.indicator,
                t.area,
                t.baseline_period,
                t.baseline_value,
                t.target_value,
                t.target_date,
            )
            for t in agenda.targets
        ],
    }


def mirror_city(con: duckdb.DuckDBPyConnection, city: City) -> dict[str, int]:
    """Rewrite every ``meta`` configuration table in one transaction; returns row counts."""
    rows = _rows(city)
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute("BEGIN TRANSACTION")
    try:
        for table, columns in CONFIG_TABLES.items():
            con.execute(f"CREATE OR REPLACE TABLE meta.{table} ({columns})")
            if rows[table]:
                marks = ", ".join("?" * len(rows[table][0]))
                con.executemany(f"INSERT INTO meta.{table} VALUES ({marks})", rows[table])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return {table: len(r) for table, r in rows.items()}
