"""Feed lifecycle: history delivered late on purpose (backfill) and the demo judged on its
own date, whatever day it is run on."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
from zoneinfo import ZoneInfo

import duckdb
import pytest
import yaml
from cim import settings
from cim.appstate import default_url, open_state
from cim.city import load_city
from cim.health.reminders import due_reminders
from cim.health.report import health_report

from tests.conftest import DEMO_CITY, query_warehouse

BACKFILL = ["2016", "2017", "2018", "2019", "2020"]
DELIVERED = "2017"  # the one backfilled year that arrives, years after its due date


def _health(query) -> dict[tuple[str, str], tuple]:
    rows = query(
        "SELECT feed_id, period_id, delivery_status, backfill, received, on_time, days_late, "
        "missing FROM marts.fct_feed_health"
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def _rates(query) -> dict[tuple[str, str | None], tuple]:
    rows = query(
        "SELECT partner_id, feed_id, deliveries_expected, deliveries_received, "
        "deliveries_on_time, reporting_rate, on_time_rate, deliveries_missing "
        "FROM marts.fct_partner_health"
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def _population_file(city, year: str) -> bytes:
    """A population delivery as the statistics office writes it (cp1252, ';', codes
    without their leading zero), for every neighbourhood and age band."""
    contract = city.contract_by_feed["population"]
    bands = contract.column("age_band").allowed
    lines = ["sector;leeftijdsklasse;inwoners;woningen"]
    for area in (a for a in city.areas if a.level == "neighbourhood"):
        for n, band in enumerate(bands):
            lines.append(f"{area.area_code.lstrip('0')};{band};{600 + 10 * n};{200 + n}")
    assert year in contract.periods_in(f"bevolking_{year}.csv")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


@pytest.fixture(scope="module")
def backfilled(demo_build, tmp_path_factory):
    """The demo home run again with a city whose population contract starts in 2016 and
    declares 2016-2020 as backfill (the demo delivers from 2021); of those years only 2017
    arrives, days before the demo's "today", about nine years after its due date."""
    folder = tmp_path_factory.mktemp("backfill")
    city_dir = folder / "city"
    shutil.copytree(DEMO_CITY, city_dir)
    contract = city_dir / "feeds" / "population.yaml"
    data = yaml.safe_load(contract.read_text(encoding="utf-8"))
    data.update(start_period=BACKFILL[0], backfill={"from": 2016, "to": 2020})
    contract.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    city = load_city(city_dir)
    paths = demo_build.copy_to(folder)
    late = paths.landing / f"bevolking_{DELIVERED}.csv"
    late.write_bytes(_population_file(city, DELIVERED))
    demo_today = dt.date.fromisoformat(demo_build.manifest["as_of"])
    sent = dt.datetime.combine(demo_today - dt.timedelta(days=5), dt.time(10))
    moment = sent.replace(tzinfo=ZoneInfo(city.settings.timezone)).timestamp()
    os.utime(late, (moment, moment))
    with pytest.MonkeyPatch.context() as env:
        result, _ = demo_build.run(paths, env, city=city_dir)
    assert result.success
    return paths, city, result


@pytest.mark.slow
def test_a_backfilled_year_delivered_years_late_is_neither_late_nor_missing(demo_build, backfilled):
    paths, _, result = backfilled
    query = functools.partial(query_warehouse, paths)
    loaded = query(
        "SELECT status FROM meta.file_ledger WHERE original_name = ? AND run_id = ?",
        [f"bevolking_{DELIVERED}.csv", result.run_id],
    )
    assert loaded == [("loaded",)]
    health, before = _health(query), _health(demo_build.query)
    for year in BACKFILL:
        status, backfill, received, on_time, days_late, missing = health[("population", year)]
        assert (status, backfill, days_late, missing, on_time) == ("backfill", True, 0, False, None)
        assert received is (year == DELIVERED), year
    # what the feed owed before is judged exactly as before
    population = {k: v for k, v in health.items() if k[0] == "population"}
    assert {k: v for k, v in population.items() if k[1] not in BACKFILL} == {
        k: v for k, v in before.items() if k[0] == "population"
    }
    assert sorted(k[1] for k, v in population.items() if v[0] == "backfill") == BACKFILL


@pytest.mark.slow
def test_backfill_gets_no_reminder_and_leaves_the_rates_unchanged(demo_build, backfilled):
    paths, city, _ = backfilled
    query = functools.partial(query_warehouse, paths)
    statistics = city.contract_by_feed["population"].partner
    after, before = _rates(query), _rates(demo_build.query)
    assert after[(statistics, "population")] == before[(statistics, "population")]
    assert after[(statistics, None)] == before[(statistics, None)]
    # the window of 12 deliveries would reach back into 2016-2020 if backfill counted
    assert before[(statistics, "population")][0] < 12
    assert open_state(default_url(paths.home)).reminders.list(feed="population") == []
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        assert [r for r in due_reminders(con, city) if r.feed == "population"] == []
        report = health_report(con)
    finally:
        con.close()
    chase = report.split("Deliveries to chase")[1].split("Backfill")[0]
    assert "population" not in chase
    assert f"  population {BACKFILL[0]}..{BACKFILL[-1]}: 1 of 5 periods received" in report


@pytest.mark.slow
def test_the_health_page_shows_backfill_apart_from_problems(backfilled, monkeypatch):
    from tests.test_app import run

    paths, _, _ = backfilled
    monkeypatch.setenv("CIM_HOME", str(paths.home))
    at = run("health")
    feeds = at.dataframe[0].value
    # a status cell is its icon, then its word
    words = feeds["status"].str.split().str[-1]
    population = words[feeds["feed"] == "population"].set_axis(
        feeds.loc[feeds["feed"] == "population", "period"]
    )
    assert population[BACKFILL].tolist() == ["backfill"] * len(BACKFILL)
    assert "population" not in set(feeds[words.isin(["missing", "late"])]["feed"])
    captions = " ".join(c.value for c in at.caption)
    assert f"{len(BACKFILL)} periods are backfill" in captions and "1 received" in captions


def test_a_demo_home_is_judged_on_the_demos_own_date_and_a_real_city_on_today(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("CIM_AS_OF", raising=False)
    far_later = dt.date(2031, 6, 1)
    home = tmp_path / "home"
    home.mkdir()
    demo_date = home / settings.DEMO_DATE_FILE
    demo_date.write_text(json.dumps({"city": "leiestad", "as_of": "2026-11-20"}))
    day, source = settings.judgement_day(home, DEMO_CITY, far_later)
    assert (day, source) == (dt.date(2026, 11, 20), f"the demo's own date, from {demo_date}")
    # a real city on the same home (the default CIM_HOME once filled by `make run`)
    real = tmp_path / "real"
    shutil.copytree(DEMO_CITY, real)
    (real / "city.yaml").write_text(
        (real / "city.yaml").read_text().replace("id: leiestad", "id: gent")
    )
    assert settings.judgement_day(home, real, far_later) == (far_later, "today")
    assert settings.judgement_day(tmp_path / "empty", DEMO_CITY, far_later) == (
        far_later,
        "today",
    )
    monkeypatch.setenv("CIM_AS_OF", "2025-01-31")
    assert settings.judgement_day(home, DEMO_CITY, far_later) == (
        dt.date(2025, 1, 31),
        "CIM_AS_OF",
    )


@pytest.mark.slow
def test_the_demo_run_without_cim_as_of_shows_exactly_the_designed_truths(demo_build):
    """The session's demo build ran as `make run` does, without CIM_AS_OF, on a real date
    after the demo's last day: health is judged on the demo's date and shows one late
    delivery, one missing, the rejected file (a correction is not a problem), nothing else."""
    manifest, truths = demo_build.manifest, demo_build.manifest["truths"]
    assert dt.date.today() > dt.date.fromisoformat(manifest["as_of"])
    demo_date = json.loads((demo_build.paths.home / settings.DEMO_DATE_FILE).read_text())
    assert demo_date["as_of"] == manifest["as_of"] and demo_date["city"] == manifest["city"]
    assert demo_build.query("SELECT DISTINCT health_as_of FROM marts.fct_feed_health") == [
        (dt.date.fromisoformat(manifest["as_of"]),)
    ]
    problems = demo_build.query(
        "SELECT feed_id, period_id, delivery_status FROM marts.fct_feed_health "
        "WHERE delivery_status IN ('late', 'missing', 'rejected', 'in grace') ORDER BY 1, 2"
    )
    # the answer key, from the manifest: a period is late when its first readable file
    # came after the grace period, rejected when no file of it could be read, missing
    # when none was sent
    files: dict[tuple[str, str], list[dict]] = {}
    for f in manifest["files"]:
        if f["kind"] != "registry_csv":
            files.setdefault((f["feed"], f["period"]), []).append(f)
    designed = {(m["feed"], m["period"], "missing") for m in manifest["missing"]}
    for (feed, period), sent in files.items():
        readable = [f for f in sent if not f["malformed"]]
        if not readable:
            designed.add((feed, period, "rejected"))
        elif min(readable, key=lambda f: dt.datetime.fromisoformat(f["delivered_at"]))["late"]:
            designed.add((feed, period, "late"))
    assert sorted(problems) == sorted(designed)
    missing = truths["missing_delivery"]
    assert designed == {
        ("police_incidents", "2025-02", "late"),
        (missing["feed"], missing["period"], "missing"),
        ("housing_complaints", "2023-Q2", "rejected"),
    }
    reminded = open_state(default_url(demo_build.paths.home)).reminders.list()
    assert sorted({(r.feed, r.period, r.kind) for r in reminded}) == [
        ("housing_complaints", "2023-Q2", "rejected"),
        (missing["feed"], missing["period"], "overdue"),
    ]
