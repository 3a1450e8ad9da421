"""Count indicators (numerator only) and denominators from the numerator's own feed.

A count publishes the total at every level, with the exact Poisson interval of the count
and the disclosure rules of a rate's numerator. The figures are checked here against the
accepted rows of the demo's police file, rolled up the areas file in plain Python, never
against the SQL that builds them.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
import yaml
from cim.city import ConfigError, load_city
from cim.city.mirror import mirror_city
from cim.defs.dbt.project import DBT_DIR, DBT_EXECUTABLE
from cim.mart.codegen import generate
from scipy.stats import chi2

from tests.conftest import DEMO_CITY

MIN_CELL = 5
COUNT = {
    "id": "violent_crime_count",
    "name": "Violent incidents in public space",
    "definition": "Violent incidents in public space registered by the police, by month.",
    "goal": "G1-overlast",
    "owner": "police",
    "kind": "count",
    "unit": "incidents",
    "direction": "down",
    "cadence": "month",
    "lowest_level": "neighbourhood",
    "numerator": [
        {
            "feed": "police_incidents",
            "count": True,
            "area": "area_code",
            "date": "occurred_on",
            "where": {"offence_category": ["geweld_openbare_ruimte"]},
        }
    ],
}


@pytest.fixture
def city_copy(tmp_path: Path) -> Path:
    target = tmp_path / "city"
    shutil.copytree(DEMO_CITY, target)
    return target


def _with_indicator(folder: Path, indicator: dict, target: dict | None = None) -> int:
    """Append ``indicator`` (and a target) to the agenda; its position in the list."""
    path = folder / "agenda" / "indicators.yaml"
    data = yaml.safe_load(path.read_text())
    data["indicators"].append(indicator)
    position = len(data["indicators"]) - 1
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    if target:
        path = folder / "agenda" / "targets.yaml"
        data = yaml.safe_load(path.read_text())
        data["targets"].append(target)
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return position


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"denominator": {"feed": "population", "sum": "residents", "area": "area_code"}},
            "violent_crime_count: kind count takes no `denominator:`; remove it, or use kind: rate",
        ),
        ({"multiplier": 1000}, "kind count is published as counted: remove `multiplier: 1000`"),
        ({"numerator": []}, "kind count takes `numerator:` (a list of terms)"),
        (
            {"kind": "rate"},  # a rate without denominator or multiplier
            "kind rate takes numerator (a list) and denominator",
        ),
    ],
)
def test_count_mistakes_name_the_indicator_and_the_fix(city_copy, change, expected):
    position = _with_indicator(city_copy, COUNT | change)
    with pytest.raises(ConfigError) as caught:
        load_city(city_copy)
    message = str(caught.value)
    assert expected in message
    # the file, the indicator's place in it and the key to change
    assert "agenda/indicators.yaml" in message and f"indicators.{position}" in message


def test_a_rate_without_a_multiplier_is_refused(city_copy):
    rate = COUNT | {
        "id": "violent_crime_rate_2",
        "kind": "rate",
        "denominator": {"feed": "population", "sum": "residents", "area": "area_code"},
    }
    _with_indicator(city_copy, rate)
    with pytest.raises(ConfigError) as caught:
        load_city(city_copy)
    assert "kind rate needs `multiplier:`" in str(caught.value)


def test_a_count_loads_and_reads_as_a_total(city_copy):
    _with_indicator(city_copy, COUNT)
    city = load_city(city_copy)
    count = next(i for i in city.agenda.indicators if i.id == "violent_crime_count")
    assert count.denominator is None and count.scale == 1.0
    from cim.city.mirror import formula

    assert formula(count) == (
        "count of rows in police_incidents where offence_category in geweld_openbare_ruimte"
    )


def _dbt(warehouse: Path, project: Path, *args: str) -> str:
    env = os.environ | {"CIM_WAREHOUSE": str(warehouse)}
    command = [DBT_EXECUTABLE, *args, "--project-dir", str(project), "--profiles-dir", str(project)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:]
    return done.stdout


def _independent_counts(con: duckdb.DuckDBPyConnection, city_dir: Path) -> dict:
    """(area, month) -> violent incidents, from the accepted police rows and areas.csv:
    each row counts for its area and every ancestor; rows without a code for the city."""
    with (city_dir / "areas.csv").open(encoding="utf-8", newline="") as handle:
        parent = {r["area_code"]: r["parent_code"] or None for r in csv.DictReader(handle)}
    top = next(code for code, up in parent.items() if up is None)
    rows = con.execute(
        "SELECT area_code, strftime(occurred_on, '%Y-%m') FROM raw.police_incidents "
        "WHERE offence_category = 'geweld_openbare_ruimte' AND occurred_on IS NOT NULL"
    ).fetchall()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for area, month in rows:
        area = area or top
        while area is not None:
            counts[(area, month)] += 1
            area = parent[area]
    return counts


def _impact_of_the_count(con: duckdb.DuckDBPyConnection, city, as_of: str):
    """The first action aimed at violent crime, analysed on the count instead of the rate:
    its design, impact row and trend rows."""
    import datetime as dt

    from cim.impact.design import design, load_inputs
    from cim.impact.tables import _estimated

    inputs = load_inputs(con, city, dt.date.fromisoformat(as_of))
    indicator = inputs.indicators.loc["violent_crime_count"].to_dict()
    for action in inputs.actions:
        if "violent_crime_rate" not in action.indicator_ids:
            continue
        d = design(con, action, indicator, inputs)
        if not d.problems:
            trends: list[dict] = []
            ids = {"action_id": action.action_id, "indicator_id": "violent_crime_count"}
            return d, _estimated(d, inputs.settings, [], trends, [], ids), trends
    pytest.fail("no action aimed at violent crime could be designed on the count")


def _dashboard_shows_whole_numbers(paths, monkeypatch, latest: float, period_rows: list) -> None:
    """Overview card and indicator page of the count: the 12-month total as a whole
    number, the breakdown table's values too."""
    from cim.publish.snapshot import publish
    from streamlit.testing.v1 import AppTest

    from app.data import fmt
    from tests.test_app import go

    publish(paths, "count-test", {"expectations": 0})
    monkeypatch.setenv("CIM_HOME", str(paths.home))
    app = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
    at = go(AppTest.from_file(app, default_timeout=60), "overview")
    cards = {m.label: m.value for m in at.metric}
    assert cards[COUNT["name"]] == fmt(latest, 0) == f"{int(latest):,}"
    at = go(
        AppTest.from_file(app, default_timeout=60), "indicator", indicator=COUNT["id"], area="04017"
    )
    assert at.metric[0].value == fmt(latest, 0)
    period, level = period_rows[0][1], "neighbourhood"
    at.selectbox(key="breakdown_period").set_value(period).run()
    at.radio(key="breakdown_level").set_value(level).run()
    shown = at.dataframe[0].value
    # a monthly count: the table shows the 12-month total, the overview's scale
    expected = {r[0]: "suppressed" if r[6] else fmt(r[8], 0) for r in period_rows}
    assert dict(zip(shown["area code"], shown["value"], strict=True)) == expected


@pytest.mark.slow
def test_a_count_publishes_the_files_totals_at_every_level(demo_build, tmp_path, monkeypatch):
    city_dir, project = tmp_path / "city", tmp_path / "dbt_project"
    shutil.copytree(DEMO_CITY, city_dir)
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    target = {
        "indicator": "violent_crime_count",
        "baseline_period": "2022",
        "target_value": 100,
        "target_date": "2027-12-31",
    }
    _with_indicator(city_dir, COUNT, target)
    city = load_city(city_dir)
    generate(city, project)
    paths = demo_build.copy_to(tmp_path)
    con = duckdb.connect(str(paths.warehouse))
    mirror_city(con, city)
    con.close()
    # the whole project: models, the disclosure and sum tests and the unit tests
    out = _dbt(paths.warehouse, project, "build")
    assert "ERROR=0" in out, out[-3000:]

    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        expected = _independent_counts(con, city_dir)
        before = con.execute(
            "SELECT area_id, period_id, area_level, numerator, denominator, value, lower_95, "
            "upper_95, n, primary_suppressed FROM intermediate.int_indicator_values "
            "WHERE indicator_id = 'violent_crime_count'"
        ).fetchall()
        published = con.execute(
            "SELECT area_id, period_id, parent_area_id, value, lower_95, upper_95, suppressed, "
            "suppression_reason, rolling_12m_value, numerator "
            "FROM marts.fct_indicator_values JOIN marts.dim_area USING (area_id, area_level) "
            "WHERE indicator_id = 'violent_crime_count'"
        ).fetchall()
        progress = con.execute(
            "SELECT p.latest_value, p.status, v.rolling_12m_value FROM marts.fct_progress p "
            "JOIN marts.dim_area a USING (area_id) JOIN marts.fct_indicator_values v "
            "ON v.indicator_id = p.indicator_id AND v.area_id = p.area_id "
            "AND v.period_id = p.latest_period_id "
            "WHERE p.indicator_id = 'violent_crime_count' AND a.area_depth = 0"
        ).fetchone()
        formula = con.execute(
            "SELECT formula, indicator_kind FROM marts.dim_indicator "
            "WHERE indicator_id = 'violent_crime_count'"
        ).fetchone()
        impact = _impact_of_the_count(con, city, demo_build.manifest["as_of"])
    finally:
        con.close()

    # impact: a count is analysed as a value per area; the trend of a group is its mean
    # count per area, from the input rows
    design, row, trends = impact
    assert row["result"] in {"estimated", "insufficient_evidence"}
    assert row["pre_periods"] > 0 and row["post_periods"] > 0
    treated = [t for t in trends if t["area_group"] == "treated" and not t["suppressed"]]
    assert treated
    for t in treated:
        mean = sum(expected.get((a, t["period_id"]), 0) for a in design.treated) / len(
            design.treated
        )
        assert math.isclose(t["value"], mean, rel_tol=1e-12), t

    # value at every level == the independent sum of the input rows (zero where none)
    assert {row[2] for row in before} == {"city", "district", "neighbourhood"}
    assert len(before) > 1000
    for area, period, _, numerator, denominator, value, lower, upper, n, small in before:
        total = expected.get((area, period), 0)
        assert numerator == value == total, (area, period)
        assert denominator is None and n == total
        # the exact (Garwood) Poisson interval of the count itself
        low = 0.0 if total == 0 else chi2.ppf(0.025, 2 * total) / 2
        assert math.isclose(lower, low, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(upper, chi2.ppf(0.975, 2 * total + 2) / 2, rel_tol=1e-12)
        assert small == (total < MIN_CELL)

    # small cells withheld; a suppressed cell cannot be recovered from parent minus siblings
    cells = {(r[0], r[1]): r for r in published}
    hidden = [r for r in published if r[6]]
    assert any(r[7].startswith("primary: count below 5") for r in hidden)
    assert any(r[7].startswith("secondary") for r in hidden)
    for area, period, _, value, lower, _, suppressed, _, _, numerator in published:
        total = expected.get((area, period), 0)
        if suppressed:
            assert value is None and numerator is None and lower is None
        else:
            assert total >= MIN_CELL and value == numerator == total
    children = defaultdict(list)
    for area, period, parent, *_ in published:
        if parent is not None:
            children[(parent, period)].append(cells[(area, period)][6])
    for (parent, period), flags in children.items():
        if not cells[(parent, period)][6]:
            assert flags.count(True) != 1, (parent, period)
        elif flags:
            assert any(flags), (parent, period)

    # rolling 12 months: the total of the last 12 months, when all are published
    series = defaultdict(dict)
    for area, period, *_ in published:
        series[area][period] = expected.get((area, period), 0)
    rolled = [r for r in published if r[8] is not None]
    assert rolled
    for area, period, *_, rolling, _ in rolled:
        months = sorted(p for p in series[area] if p <= period)[-12:]
        assert rolling == sum(series[area][p] for p in months)

    # progress against the target reads the count's 12-month total
    latest, status, rolling = progress
    assert latest == rolling and status in {"on track", "off track"}
    last = max(r[1] for r in published)
    lowest = {r[0] for r in before if r[2] == "neighbourhood"}
    neighbourhoods = sorted(r for r in published if r[1] == last and r[0] in lowest)
    _dashboard_shows_whole_numbers(paths, monkeypatch, latest, neighbourhoods)
    assert formula == (
        "count of rows in police_incidents where offence_category in geweld_openbare_ruimte",
        "count",
    )


@pytest.mark.slow
def test_a_same_feed_denominator_serves_its_own_period_only(demo_build):
    """tenant_complaint_rate divides by the dwellings delivered with the complaints: every
    cell's denominator is that period's delivery, at every level."""
    rows = demo_build.query(
        "SELECT v.area_id, v.period_id, v.denominator, r.amount, r.period_id "
        "FROM intermediate.int_indicator_values v "
        "LEFT JOIN intermediate.int_indicator_rollup r ON r.indicator_id = v.indicator_id "
        "AND r.area_id = v.area_id AND r.period_id = v.period_id AND r.term = 'denominator' "
        "WHERE v.indicator_id = 'tenant_complaint_rate'"
    )
    assert len(rows) > 100
    for area, period, denominator, own, own_period in rows:
        assert denominator == own, (area, period)
        assert denominator is None or own_period == period
