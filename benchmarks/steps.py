"""One measured step per process: ``python -m benchmarks.steps <step> <args>``.

Each step runs in a fresh interpreter so its peak memory is its own (``os.wait4`` in the
parent reads the child's rusage) and no cache of an earlier step helps it. A step prints
one JSON line with what it counted; the parent adds seconds and peak memory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import cim  # noqa: F401  (offline, no-telemetry environment first)
import duckdb

POLICE = "police_incidents"


def _police_files(folder: Path) -> list[Path]:
    from cim.city import load_city
    from cim.ingest.files import match_feed

    city = load_city(Path(os.environ["CIM_CITY"]))
    return sorted(p for p in folder.iterdir() if match_feed(p.name, city.contracts) == [POLICE])


def ingest_police(home: str) -> dict:
    """Our ingestion engine on the police files in ``home/landing`` (archive, check, load)."""
    from cim import settings
    from cim.city import load_city
    from cim.ingest import FeedRunner
    from cim.ingest.files import scan_landing

    paths = settings.Paths(Path(home)).ensure()
    city = load_city(Path(os.environ["CIM_CITY"]))
    deliveries = [d for d in scan_landing(paths.landing, city) if d.feed == POLICE]
    with duckdb.connect(str(paths.warehouse)) as con:
        outcomes = FeedRunner(con, city, paths, "benchmark").ingest(deliveries)
        rows = con.execute(f"SELECT count(*) FROM raw.{POLICE}").fetchone()[0]
    return {"files": len(outcomes), "rows": rows}


def bare_read(folder: str, database: str) -> dict:
    """Bare DuckDB: read_csv of the same files into a typed table (types detected; lines
    that do not fit, such as 31/06/2023, are skipped: bare DuckDB keeps no reject)."""
    files = [str(p) for p in _police_files(Path(folder))]
    with duckdb.connect(database) as con:
        con.execute(
            """
            CREATE OR REPLACE TABLE incidents AS
            SELECT * FROM read_csv(?, delim = ';', header = true, encoding = 'latin-1',
                                   decimal_separator = ',', dateformat = '%d/%m/%Y',
                                   union_by_name = true, ignore_errors = true)
            """,
            [files],
        )
        rows = con.execute("SELECT count(*) FROM incidents").fetchone()[0]
    return {"files": len(files), "rows": rows}


def bare_indicators(folder: str, database: str) -> dict:
    """The hand-written SQL script computing the headline indicators from the files."""
    script = (Path(__file__).with_name("bare_indicators.sql")).read_text(encoding="utf-8")
    police = [str(p) for p in _police_files(Path(folder))]
    population = sorted(str(p) for p in Path(folder).glob("bevolking_*.csv"))
    areas = str(Path(os.environ["CIM_CITY"]) / "areas.csv")
    with duckdb.connect(database) as con:
        con.execute("SET VARIABLE police_files = ?", [police])
        con.execute("SET VARIABLE population_files = ?", [population])
        con.execute("SET VARIABLE areas_file = ?", [areas])
        con.execute(script)
        rows = con.execute("SELECT count(*) FROM headline").fetchone()[0]
    return {"rows": rows}


def quality_gx(home: str, as_of: str) -> dict:
    """The police feed's GX suite (baseline + expectations/police_incidents.yaml)."""
    from cim import settings
    from cim.city import load_city
    from cim.quality import run_feed_suite
    from cim.quality.engine import _batch

    paths = settings.Paths(Path(home))
    city = load_city(Path(os.environ["CIM_CITY"]))
    _batch()  # GX imported and its context made once per process, as in a Dagster run
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        started = time.perf_counter()
        outcomes = run_feed_suite(con, city, POLICE, "benchmark", dt.date.fromisoformat(as_of))
        seconds = time.perf_counter() - started
    return {
        "validate_seconds": seconds,
        "unexpected": {o.expectation: o.unexpected_count for o in outcomes},
    }


def quality_sql(home: str, as_of: str) -> dict:
    """The same rules as one DuckDB query (see benchmarks/quality_sql.py)."""
    from cim import settings

    from benchmarks.quality_sql import police_rules, police_rules_sql

    paths = settings.Paths(Path(home))
    rules = police_rules(dt.date.fromisoformat(as_of))
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        started = time.perf_counter()
        counts = police_rules_sql(con, rules)
        seconds = time.perf_counter() - started
    return {"validate_seconds": seconds, "unexpected": counts}


STEPS = {
    f.__name__: f for f in (ingest_police, bare_read, bare_indicators, quality_gx, quality_sql)
}

if __name__ == "__main__":
    print(json.dumps(STEPS[sys.argv[1]](*sys.argv[2:]), default=str))
