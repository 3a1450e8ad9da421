"""The two entry points: validate a raw feed table or a mart table, get outcomes back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd

from cim.city import City
from cim.city.errors import ConfigError
from cim.ingest.store import quote_ident
from cim.periods import period_start
from cim.quality import frames
from cim.quality.baseline import baseline_rules, default_advice
from cim.quality.engine import Tally, outcome, validate
from cim.quality.outcome import ERROR, CheckOutcome, now
from cim.quality.rules import (
    PERIODS,
    ROWS,
    Rule,
    SuiteFile,
    load_suite,
    merge,
    resolve,
    suite_file,
)
from cim.settings import REPO_ROOT

CHUNK_ROWS = 1_000_000  # rows per GX validation: 10M rows peak ~0.9 GB RSS, 500k ~0.7 GB
MART_ADVICE = "rebuild the mart (dbt build) and check the model's SQL; see docs/quality.md"


# The mart tables with a suite of their own (expectations/<table>.yaml).
MART_TABLES = ("fct_indicator_values", "fct_progress")


def suite_folders(city: City) -> list[Path]:
    """A city's own ``expectations/`` folder first, then the repository's."""
    return [city.folder / "expectations", REPO_ROOT / "expectations"]


def check_suite_files(city: City) -> list[ConfigError]:
    """Read every suite file a run would read, now: a mistake is named by
    ``cim check-config``, not when a run reaches its check. In the city's own folder, a
    file that names no feed of the city and no mart table would never be read (a typo in
    its name), so it is a mistake too."""
    known = {c.feed for c in city.contracts} | set(MART_TABLES)
    own = city.folder / "expectations"
    errors: list[ConfigError] = []
    for folder in suite_folders(city):
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
                continue
            problems = []
            if path.suffix == ".yml":
                problems.append("suite files end in .yaml: this one is never read; rename it")
            elif folder == own and path.stem not in known:
                problems.append(
                    f"no feed of the city and no mart table is called {path.stem!r}, so this "
                    f"file is never read; name it after one of: {', '.join(sorted(known))}"
                )
            try:
                suite = load_suite(path)
            except ConfigError as exc:
                problems += exc.problems
            else:
                named = suite.feed or suite.table
                if named and named != path.stem:
                    problems.append(
                        f"{'feed' if suite.feed else 'table'}: {named!r} differs from the file "
                        f"name {path.stem!r}; the suite is read by its file name"
                    )
            if problems:
                errors.append(ConfigError(path, problems))
    return errors


def _missing(run_id: str, asset: str, suite: str, table: str, todo: str) -> list[CheckOutcome]:
    return [
        CheckOutcome(
            run_id=run_id,
            asset=asset,
            suite=suite,
            expectation=f"{table} exists",
            severity=ERROR,
            success=False,
            observed_value=None,
            unexpected_count=None,
            unexpected_examples=[],
            message=f"{table} does not exist: {todo}",
            checked_at=now(),
        )
    ]


def unique_names(rules: list[Rule]) -> list[Rule]:
    """Expectation names key Dagster checks and results: make repeated names distinct."""
    seen: dict[str, int] = {}
    named = []
    for rule in rules:
        seen[rule.name] = seen.get(rule.name, 0) + 1
        count = seen[rule.name]
        named.append(rule if count == 1 else replace(rule, name=f"{rule.name} ({count})"))
    return named


def _by_frame(rules: list[Rule]) -> dict[str, list[Rule]]:
    grouped: dict[str, list[Rule]] = {}
    for rule in rules:
        grouped.setdefault(rule.frame, []).append(rule)
    return grouped


def _run(
    con: duckdb.DuckDBPyConnection,
    rules: list[Rule],
    spec: SuiteFile,
    rows_source: tuple[str, dict[int, str]] | None,
    periods: Callable[[], pd.DataFrame] | None,
    common: dict,
    chunk_rows: int,
) -> list[CheckOutcome]:
    """Validate each frame once, then give the outcomes back in the order of the rules."""
    done: dict[int, CheckOutcome] = {}
    for name, group in _by_frame(rules).items():
        files: dict[int, str] = {}
        if name == ROWS and rows_source is not None:
            sql, files = rows_source
            chunks, keep = frames.iter_rows(con, sql, chunk_rows), [*frames.LINEAGE, *spec.keys]
            shown = spec.keys
        elif name == PERIODS and periods is not None:
            chunks, keep = [periods()], ["_period", "_file", "rows", "median_rows_previous_6"]
            shown = ["_period"]
        else:
            frame = spec.frames[name]
            keep, shown = [*frame.keys, "_file"], frame.keys
            try:
                chunks = [frames.sql_frame(con, frame.sql)]
            except duckdb.Error as exc:  # e.g. a table the frame joins is not there yet
                for rule in group:
                    tally = Tally(rule, exception=f"frame {name!r}: {exc}".splitlines()[0])
                    done[id(rule)] = outcome(tally, keys=shown, **common)
                continue
        for rule, tally in zip(group, validate(chunks, group, keep), strict=True):
            done[id(rule)] = outcome(tally, keys=shown, files=files, **common)
    return [done[id(rule)] for rule in rules]


def feed_rules(city: City, feed: str, today: dt.date) -> tuple[Path | None, SuiteFile, list[Rule]]:
    """The feed's rules for ``today``: the contract's baseline plus its suite file."""
    contract = city.contract_by_feed[feed]
    path, spec = suite_file(suite_folders(city), feed)
    if path is not None and spec.feed != feed:
        raise ConfigError(path, [f"feed: expected {feed!r} (the file name), got {spec.feed!r}"])
    dates = {"today": today, "start": period_start(contract.start_period, contract.period.grain)}
    advice = default_advice(city, contract)
    declared = [resolve(r, dates, path) for r in spec.rules] if path else []
    declared = [r if r.advice else replace(r, advice=advice) for r in declared]
    return path, spec, unique_names(merge(baseline_rules(city, contract, today), declared))


def run_feed_suite(
    con: duckdb.DuckDBPyConnection,
    city: City,
    feed: str,
    run_id: str,
    today: dt.date,
    chunk_rows: int = CHUNK_ROWS,
) -> list[CheckOutcome]:
    """Validate ``raw.<feed>``: the contract's baseline plus ``expectations/<feed>.yaml``."""
    contract = city.contract_by_feed.get(feed)
    if contract is None:
        known = sorted(city.contract_by_feed)
        raise ValueError(f"{feed!r} is not a feed of {city.settings.id}; feeds are {known}")
    asset = f"raw/{feed}"
    if not frames.table_exists(con, "raw", feed):
        return _missing(run_id, asset, feed, f"raw.{feed}", f"ingest a delivery of {feed} first")
    path, spec, rules = feed_rules(city, feed, today)
    rows = [r for r in rules if r.frame == ROWS]
    try:
        sql = frames.rows_sql(contract, rows)
    except KeyError as exc:
        stored = sorted(frames.raw_columns(contract))
        raise ConfigError(
            path or Path(f"feeds/{feed}.yaml"),
            [f"column {exc.args[0]!r} is not in raw.{feed}; columns are {stored}"],
        ) from exc
    files = frames.lid_names(con, contract) if rows else {}
    common = {
        "run_id": run_id,
        "asset": asset,
        "suite": feed,
        "place": f"raw.{feed}",
        "checked_at": now(),
    }
    return _run(
        con,
        rules,
        spec,
        (sql, files),
        lambda: frames.periods_frame(con, contract),
        common,
        chunk_rows,
    )


def run_mart_suite(
    con: duckdb.DuckDBPyConnection,
    city: City,
    table: str,
    run_id: str,
    today: dt.date,
    chunk_rows: int = CHUNK_ROWS,
) -> list[CheckOutcome]:
    """Validate ``marts.<table>`` with the rules of ``expectations/<table>.yaml``."""
    asset = f"marts/{table}"
    if not frames.table_exists(con, "marts", table):
        return _missing(run_id, asset, table, f"marts.{table}", "build the mart (dbt build) first")
    path, spec = suite_file(suite_folders(city), table)
    if path is None:
        raise ConfigError(Path(f"expectations/{table}.yaml"), ["no suite file for this table"])
    if spec.table != table:
        raise ConfigError(path, [f"table: expected {table!r} (the file name), got {spec.table!r}"])
    if any(r.frame == PERIODS for r in spec.rules):
        raise ConfigError(path, ["the periods frame exists for raw feeds only"])
    rules = [resolve(r, {"today": today, "start": None}, path) for r in spec.rules]
    rules = unique_names([r if r.advice else replace(r, advice=MART_ADVICE) for r in rules])
    used = dict.fromkeys(c for r in rules if r.frame == ROWS for c in [*r.columns, *spec.keys])
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND table_name = ?",
            [table],
        ).fetchall()
    }
    if unknown := [c for c in used if c not in present]:
        raise ConfigError(path, [f"columns {unknown} are not in marts.{table}: {sorted(present)}"])
    selected = ", ".join(map(quote_ident, used)) or "1 AS one"
    sql = f"SELECT {selected} FROM marts.{quote_ident(table)}"
    common = {
        "run_id": run_id,
        "asset": asset,
        "suite": table,
        "place": f"marts.{table}",
        "checked_at": now(),
    }
    return _run(con, rules, spec, (sql, {}), None, common, chunk_rows)
