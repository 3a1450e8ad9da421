"""The mart built by dbt: incremental equals full refresh (its docs: test_docs_server)."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from cim.city import load_city
from cim.city.mirror import mirror_city
from cim.defs.dbt.project import DBT_DIR, DBT_EXECUTABLE
from cim.ingest import FeedRunner
from cim.ingest.archive import readable
from cim.ingest.files import scan_landing
from cim.mart.codegen import generate
from cim.settings import Paths

from tests.conftest import DEMO_CITY

pytestmark = pytest.mark.slow
MARTS = ["fct_indicator_values", "fct_progress", "fct_activities"]
# DuckDB keeps a row's rowid until the row is rewritten: unchanged ids prove the
# incremental build left that delivery period alone.
UNTOUCHED_SQL = (
    "SELECT incident_id, rowid FROM staging.stg_police_incidents WHERE delivery_period = '2023-01'"
)


def _dbt(home: Paths, *args: str, project: Path = DBT_DIR) -> None:
    env = os.environ | {"CIM_WAREHOUSE": str(home.warehouse)}
    command = [DBT_EXECUTABLE, *args, "--project-dir", str(project), "--profiles-dir", str(project)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def _snapshot(home: Paths) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return {
            t: sorted(con.execute(f"SELECT * FROM marts.{t}").fetchall(), key=repr) for t in MARTS
        }
    finally:
        con.close()


def _same(a: list[tuple], b: list[tuple]) -> bool:
    def close(x, y) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        return x == y

    return len(a) == len(b) and all(
        len(r) == len(s) and all(close(x, y) for x, y in zip(r, s, strict=True))
        for r, s in zip(a, b, strict=True)
    )


def _original_lines(archived: str, home: Paths) -> list[str]:
    with readable(Path(archived), home) as plain:
        return plain.read_text(encoding="cp1252").splitlines()


def _new_month(lines: list[str], month: str) -> bytes:
    """Next month's police file: fresh ids, registered in `month`; some incidents still
    happened in the previous month, so an older occurrence month changes too."""
    year, number = month.split("-")
    out = [lines[0]]
    for i, line in enumerate(lines[1:], start=1):
        fields = line.split(";")
        fields[0] = f"PV/{year}/9{i:05d}"
        fields[2] = f"{(i % 28) + 1:02d}/{number}/{year}"
        out.append(";".join(fields))
    return ("\r\n".join(out) + "\r\n").encode("cp1252")


@pytest.fixture
def built_copy(demo_build, tmp_path) -> Paths:
    home = tmp_path / "home"
    shutil.copytree(demo_build.paths.home, home, ignore=shutil.ignore_patterns("landing"))
    paths = Paths(home).ensure()
    return paths  # ledger archive paths still name the original home: tests map them


def test_new_and_corrected_periods_rebuild_incrementally_and_equal_a_full_refresh(built_copy):
    home, city = built_copy, load_city(DEMO_CITY)
    con = duckdb.connect(str(home.warehouse))
    last = con.execute(
        "SELECT period, archive_path FROM meta.file_ledger WHERE feed = 'police_incidents' "
        "AND status = 'loaded' ORDER BY period DESC LIMIT 1"
    ).fetchone()
    corrected = con.execute(
        "SELECT period, archive_path FROM meta.file_ledger WHERE feed = 'police_incidents' "
        "AND status = 'loaded' AND period = '2024-06'"
    ).fetchone()
    untouched = sorted(con.execute(UNTOUCHED_SQL).fetchall())
    before_total = con.execute("SELECT count(*) FROM staging.stg_police_incidents").fetchone()[0]
    con.close()
    archive = str(home.archive)
    base = os.path.dirname(os.path.dirname(last[1]))
    new_month = (dt.date.fromisoformat(last[0] + "-01") + dt.timedelta(days=32)).strftime("%Y-%m")
    (home.landing / f"politie_incidenten_{new_month}.csv").write_bytes(
        _new_month(_original_lines(last[1].replace(base, archive), home), new_month)
    )
    rows = _original_lines(corrected[1].replace(base, archive), home)
    (home.landing / "politie_incidenten_2024-06_v2.csv").write_bytes(
        ("\r\n".join(rows[:-25]) + "\r\n").encode("cp1252")  # 25 incidents withdrawn
    )
    con = duckdb.connect(str(home.warehouse))
    outcomes = FeedRunner(con, city, home).ingest(scan_landing(home.landing, city))
    con.close()
    assert [o.status for o in outcomes] == ["loaded", "loaded"]

    _dbt(home, "run")
    incremental = _snapshot(home)
    con = duckdb.connect(str(home.warehouse), read_only=True)
    assert sorted(con.execute(UNTOUCHED_SQL).fetchall()) == untouched, (
        "an untouched period was rewritten by the incremental build"
    )
    after_total = con.execute("SELECT count(*) FROM staging.stg_police_incidents").fetchone()[0]
    con.close()
    assert after_total == before_total + (len(_new_month_rows(home, new_month))) - 25

    _dbt(home, "run", "--full-refresh")
    full = _snapshot(home)
    for table in MARTS:
        assert _same(incremental[table], full[table]), table


def _new_month_rows(home: Paths, month: str) -> list[tuple]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT 1 FROM raw.police_incidents WHERE _period = ?", [month]
        ).fetchall()
    finally:
        con.close()


NEW_INDICATOR = """
  - id: bicycle_theft_rate
    name: Bicycle thefts per 1,000 residents
    definition: Bicycle thefts registered by the police, by quarter of occurrence.
    goal: G1-overlast
    owner: police
    kind: rate
    unit: per 1,000 residents
    multiplier: 1000
    direction: down
    cadence: quarter
    lowest_level: district
    numerator:
      - feed: police_incidents
        count: true
        area: area_code
        date: occurred_on
        where: {offence_category: [fietsdiefstal]}
    denominator: {feed: population, sum: residents, area: area_code}
"""


def test_a_new_indicator_over_an_existing_feed_is_a_few_lines_of_yaml(built_copy, tmp_path):
    city_dir, project = tmp_path / "city", tmp_path / "dbt_project"
    shutil.copytree(DEMO_CITY, city_dir)
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    hand_written = _sql_files(project)
    indicators = city_dir / "agenda" / "indicators.yaml"
    indicators.write_text(indicators.read_text() + NEW_INDICATOR)
    city = load_city(city_dir)
    generate(city, project)
    con = duckdb.connect(str(built_copy.warehouse))
    mirror_city(con, city)
    con.close()
    _dbt(built_copy, "run", project=project)

    con = duckdb.connect(str(built_copy.warehouse), read_only=True)
    mart = dict(
        con.execute(
            "SELECT period_id, numerator FROM marts.fct_indicator_values "
            "WHERE indicator_id = 'bicycle_theft_rate' AND area_level = 'city'"
        ).fetchall()
    )
    independent = dict(
        con.execute(
            "SELECT strftime(occurred_on, '%Y') || '-Q' || quarter(occurred_on), count(*)::DOUBLE "
            "FROM raw.police_incidents WHERE offence_category = 'fietsdiefstal' "
            "AND occurred_on >= DATE '2021-01-01' GROUP BY 1"
        ).fetchall()
    )
    levels = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT area_level FROM marts.fct_indicator_values "
            "WHERE indicator_id = 'bicycle_theft_rate'"
        ).fetchall()
    }
    con.close()
    assert len(mart) >= 20 and mart == independent
    assert levels == {"city", "district"}  # its lowest_level, not the neighbourhoods
    # no SQL file was added by hand: only the generated folders changed
    assert _sql_files(project) == hand_written


def _sql_files(project: Path) -> list[str]:
    generated = ("models/staging/feeds/", "models/intermediate/agenda/", "target/")
    files = (str(p.relative_to(project)) for p in project.rglob("*.sql"))
    return sorted(f for f in files if not f.startswith(generated))
