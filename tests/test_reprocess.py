"""`cim reprocess`: the deliveries in force loaded again from the archive after a fix to
the city folder, with the real engine, DuckDB and (end to end) the whole pipeline."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from cim import cli
from cim.city import City, load_city
from cim.ingest import FeedRunner
from cim.ingest.archive import readable
from cim.ingest.files import scan_landing
from cim.ingest.reprocess import ReprocessError, reprocess
from cim.ingest.withdraw import withdraw

from tests.conftest import DEMO_CITY, DemoBuild, query_warehouse
from tests.quirky import POLICE_HEADER, police_csv, police_row

# a neighbourhood the partner already uses and the city's areas.csv lacks at first
NEW_AREA = "04017A007"
NEW_AREA_LINE = f"{NEW_AREA},Nieuwe Kaai,neighbourhood,04017A,2000-01-01,,2,0\n"
PROPERTY_CRIME = ("woninginbraak", "fietsdiefstal", "diefstal_uit_voertuig", "winkeldiefstal")


def city_copy(folder: Path, change=None) -> Path:
    """The demo city folder copied, with ``change(copy)`` applied to it."""
    target = folder / "city"
    shutil.copytree(DEMO_CITY, target)
    if change:
        change(target)
    return target


def add_new_area(city: Path) -> None:
    with (city / "areas.csv").open("a", encoding="utf-8") as areas:
        areas.write(NEW_AREA_LINE)


@pytest.fixture
def fixed_city(tmp_path: Path) -> City:
    """The demo city once its areas file was fixed: it now knows the new neighbourhood."""
    return load_city(city_copy(tmp_path, add_new_area))


def _march(n_known: int, n_new: int) -> str:
    rows = [police_row(i, **_dates("2024-03")) for i in range(1, n_known + 1)]
    rows += [
        police_row(i, **_dates("2024-03"), **{"Statistische sector": NEW_AREA})
        for i in range(n_known + 1, n_known + n_new + 1)
    ]
    return police_csv(rows)


def _dates(month: str) -> dict[str, str]:
    year, mm = month.split("-")
    return {"Datum feit": f"02/{mm}/{year}", "Datum registratie": f"03/{mm}/{year}"}


def _ledger(warehouse, load_id: str) -> tuple:
    return warehouse.one(
        "SELECT status, rows_accepted, rows_rejected, superseded_by, replay_of, reason "
        "FROM meta.file_ledger WHERE load_id = ?",
        [load_id],
    )


def test_replay_accepts_rows_after_the_areas_fix(warehouse, fixed_city: City):
    # a first delivery of March, then a correction that uses a code the city lacks
    warehouse.drop("politie_incidenten_2024-03.csv", _march(3, 0), "cp1252", mtime=1.7e9)
    warehouse.drop("politie_incidenten_2024-03_v2.csv", _march(6, 4), "cp1252", mtime=1.7e9 + 60)
    warehouse.drop("politie_incidenten_2024-04.csv", police_csv([police_row(1)]), "cp1252")
    first, correction, april = warehouse.ingest()
    assert (correction.status, correction.rows_accepted, correction.rows_rejected) == (
        "loaded",
        6,
        4,
    )

    replays = reprocess(warehouse.con, fixed_city, warehouse.paths, run_id="replay")

    # every delivery in force, in the order received, and only those
    assert [r.replaced.load_id for r in replays] == [correction.load_id, april.load_id]
    march = replays[0].outcome
    assert (march.status, march.rows_read, march.rows_accepted, march.rows_rejected) == (
        "loaded",
        10,
        10,
        0,
    )
    # nothing duplicated: the period holds exactly the file's rows, once, from the replay
    assert warehouse.all(
        "SELECT count(*), count(DISTINCT incident_id), min(_load_id), max(_load_id) "
        "FROM raw.police_incidents WHERE _period = '2024-03'"
    ) == [(10, 10, march.load_id, march.load_id)]
    assert warehouse.one(
        "SELECT count(*) FROM raw.police_incidents WHERE area_code = ?", [NEW_AREA]
    ) == (4,)
    # the ledger: the replay names the load it replaces, which keeps its own counts
    assert _ledger(warehouse, march.load_id)[:5] == ("loaded", 10, 0, None, correction.load_id)
    replaced = _ledger(warehouse, correction.load_id)
    assert replaced[:4] == ("replayed", 6, 4, march.load_id)
    # the rows rejected the first time stay on record, under the load that rejected them
    assert warehouse.one(
        "SELECT count(*) FROM meta.rejected_rows WHERE load_id = ?", [correction.load_id]
    ) == (4,)
    # the first delivery is now superseded by the replay: withdrawing it restores March v1
    assert _ledger(warehouse, first.load_id)[:4] == ("superseded", 3, 0, march.load_id)
    done = withdraw(warehouse.con, fixed_city, warehouse.paths, march.load_id)
    assert done.restored is not None and done.restored.name == "politie_incidenten_2024-03.csv"
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents WHERE _period = '2024-03'") == (
        3,
    )


def test_same_file_dropped_after_a_replay_is_a_duplicate(warehouse, fixed_city: City):
    content = _march(2, 2)
    warehouse.drop("politie_incidenten_2024-03.csv", content, "cp1252")
    warehouse.ingest()
    (replay,) = reprocess(warehouse.con, fixed_city, warehouse.paths)
    assert replay.applied
    warehouse.drop("politie_incidenten_2024-03.csv", content, "cp1252")
    runner = FeedRunner(warehouse.con, fixed_city, warehouse.paths, run_id="again")
    (again,) = runner.ingest(scan_landing(warehouse.paths.landing, fixed_city))
    assert again.status == "duplicate"
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (4,)


def test_feed_and_period_filters(warehouse, fixed_city: City):
    from tests.quirky import housing_xlsx

    warehouse.drop("politie_incidenten_2024-03.csv", _march(2, 1), "cp1252")
    warehouse.drop("politie_incidenten_2024-04.csv", police_csv([police_row(1)]), "cp1252")
    warehouse.drop(
        "klachten_2023-Q2.xlsx",
        housing_xlsx([["04017A003", "Stationskwartier", "geluid", 4, 300]]),
    )
    warehouse.ingest()
    feeds = warehouse.all("SELECT DISTINCT feed FROM meta.file_ledger WHERE status = 'loaded'")
    assert len(feeds) == 2

    only_april = reprocess(
        warehouse.con, fixed_city, warehouse.paths, feed="police_incidents", period="2024-04"
    )
    assert [(r.replaced.feed, r.replaced.period) for r in only_april] == [
        ("police_incidents", "2024-04")
    ]
    only_housing = reprocess(warehouse.con, fixed_city, warehouse.paths, feed="housing_complaints")
    assert [(r.replaced.feed, r.replaced.period) for r in only_housing] == [
        ("housing_complaints", "2023-Q2")
    ]
    # the period filter alone takes that period of every feed
    march = reprocess(warehouse.con, fixed_city, warehouse.paths, period="2024-03")
    assert [r.replaced.name for r in march] == ["politie_incidenten_2024-03.csv"]
    assert march[0].outcome.rows_accepted == 3
    # untouched: March was not replayed by the first two, and nothing was loaded twice
    assert warehouse.one(
        "SELECT count(*) FILTER (status = 'replayed'), count(*) FILTER (status = 'loaded') "
        "FROM meta.file_ledger"
    ) == (3, 3)


def test_unknown_feed_or_period_is_named(warehouse, demo_city: City):
    warehouse.drop("politie_incidenten_2024-03.csv", _march(2, 0), "cp1252")
    warehouse.ingest()
    with pytest.raises(ReprocessError, match=r"no feed 'politie'.*police_incidents"):
        reprocess(warehouse.con, demo_city, warehouse.paths, feed="politie")
    with pytest.raises(ReprocessError, match=r"2024-3 is in force.*periods in force.*2024-03"):
        reprocess(
            warehouse.con, demo_city, warehouse.paths, feed="police_incidents", period="2024-3"
        )
    with pytest.raises(ReprocessError, match=r"feed population is in force"):
        reprocess(warehouse.con, demo_city, warehouse.paths, feed="population")


def test_cli_names_an_unknown_feed_without_a_traceback(
    warehouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    warehouse.drop("politie_incidenten_2024-03.csv", _march(2, 0), "cp1252")
    warehouse.ingest()
    warehouse.con.close()  # the command opens the warehouse itself
    monkeypatch.setenv("CIM_CITY", str(DEMO_CITY))
    assert cli.main(["reprocess", "--feed", "politie"]) == cli.EXIT_SETUP
    err = capsys.readouterr().err
    assert "not reprocessed: the city has no feed 'politie'" in err
    assert "Traceback" not in err


def test_a_replay_that_rejects_every_row_keeps_the_period(warehouse, tmp_path: Path):
    warehouse.drop("politie_incidenten_2024-03.csv", _march(5, 0), "cp1252")
    (loaded,) = warehouse.ingest()

    def rename_category_column(city: Path) -> None:
        contract = city / "feeds" / "police_incidents.yaml"
        contract.write_text(
            contract.read_text().replace("source: Feitcategorie", "source: Categorie")
        )

    broken = load_city(city_copy(tmp_path, rename_category_column))
    (replay,) = reprocess(warehouse.con, broken, warehouse.paths)

    assert not replay.applied
    assert replay.outcome.status == "replay_failed"
    assert "Categorie" in replay.outcome.reason
    assert f"the delivery in force (load_id {loaded.load_id}) keeps its rows" in (
        replay.outcome.reason
    )
    # the period keeps its rows and its delivery in force; the failure is on record
    assert warehouse.one(
        "SELECT count(*), min(_load_id) FROM raw.police_incidents WHERE _period = '2024-03'"
    ) == (5, loaded.load_id)
    assert _ledger(warehouse, loaded.load_id)[0] == "loaded"
    assert warehouse.one(
        "SELECT status, replay_of FROM meta.file_ledger WHERE replay_of IS NOT NULL"
    ) == ("replay_failed", loaded.load_id)


# -- end to end: the demo city, a fix to its areas, `cim reprocess`, the mart rebuilt ----


def _property_numerator(paths, area: str) -> dict[str, float]:
    return dict(
        query_warehouse(
            paths,
            "SELECT period_id, numerator FROM marts.fct_indicator_values "
            "WHERE indicator_id = 'property_crime_rate' AND area_id = ? ORDER BY 1",
            [area],
        )
    )


def test_reprocess_end_to_end(
    demo_build: DemoBuild,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
):
    paths = demo_build.copy_to(tmp_path)
    period, archived, old_name = query_warehouse(
        paths,
        "SELECT period, archive_path, original_name FROM meta.file_ledger "
        "WHERE feed = 'police_incidents' AND status = 'loaded' ORDER BY period DESC LIMIT 1",
    )[0]
    # the police move five property crimes of district Centrum to a neighbourhood code
    # the city's areas.csv does not have yet (a correction of the period)
    with readable(Path(archived), paths) as plain:  # encrypted at rest: a personal feed
        text = plain.read_bytes().decode("cp1252")
    records = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, rows = records[0], records[1:]
    at = {name: header.index(name) for name in POLICE_HEADER}
    moved = [
        i
        for i, row in enumerate(rows)
        if row[at["Statistische sector"]].startswith("04017A")
        and row[at["Feitcategorie"]] in PROPERTY_CRIME
    ][:5]
    assert len(moved) == 5
    for i in moved:
        rows[i][at["Statistische sector"]] = NEW_AREA
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows([header, *rows])
    correction = f"politie_incidenten_{period}_correctie.csv"
    (paths.landing / correction).write_bytes(out.getvalue().encode("cp1252"))
    runner = _runner_before_fix(paths)
    (loaded,) = runner.ingest(scan_landing(paths.landing, runner.city))
    runner.con.close()
    assert loaded.status == "loaded" and loaded.rows_rejected >= 5
    rejected_before = loaded.rows_rejected

    city = city_copy(tmp_path, add_new_area)
    monkeypatch.setenv("CIM_HOME", str(paths.home))
    monkeypatch.setenv("CIM_CITY", str(city))
    monkeypatch.setenv("CIM_AS_OF", demo_build.manifest["as_of"])
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    capsys.readouterr()
    code = cli.main(["reprocess", "--feed", "police_incidents", "--period", period])
    printed = capsys.readouterr().out
    assert code == 0, printed

    line = (
        f"replayed: {correction} (police_incidents {period}): accepted {loaded.rows_accepted} "
        f"-> {loaded.rows_accepted + 5}, rejected {rejected_before} -> {rejected_before - 5}"
    )
    assert line in printed
    assert "1 of 1 deliveries replayed" in printed
    with capsys.disabled():  # the figures, for whoever runs the test with -s
        print(printed)
    # only the asked period was replayed; the older police delivery stays as it was
    assert query_warehouse(
        paths,
        "SELECT count(*), count(*) FILTER (period = ?) FROM meta.file_ledger "
        "WHERE replay_of IS NOT NULL",
        [period],
    ) == [(1, 1)]
    # nothing duplicated: the period holds each accepted record of the file once
    stored, distinct = query_warehouse(
        paths,
        "SELECT count(*), count(DISTINCT incident_id) FROM raw.police_incidents WHERE _period = ?",
        [period],
    )[0]
    assert stored == distinct == len(rows) - (rejected_before - 5)
    # the ledger shows the old and the new counts (`cim ledger`)
    capsys.readouterr()
    cli.main(["ledger"])
    assert line.replace("replayed: ", "  replayed: ") in capsys.readouterr().out

    # the rebuilt mart: the five records now count in the new neighbourhood, and the
    # totals of the district and the city are those of the first build
    before_city = _property_numerator(demo_build.paths, "04017")
    before_district = _property_numerator(demo_build.paths, "04017A")
    assert _property_numerator(paths, "04017") == before_city
    assert _property_numerator(paths, "04017A") == before_district
    # (a neighbourhood's cell of a few records is suppressed in the mart: its terms)
    new_area = dict(
        query_warehouse(
            paths,
            "SELECT period_id, sum(amount) FROM intermediate.int_indicator_terms "
            "WHERE indicator_id = 'property_crime_rate' AND term = 'numerator' "
            "AND area_code = ? GROUP BY 1",
            [NEW_AREA],
        )
    )
    expected: dict[str, int] = {}
    for i in moved:
        _day, month, year = rows[i][at["Datum feit"]].split("/")
        expected[f"{year}-{month}"] = expected.get(f"{year}-{month}", 0) + 1
    assert {p: v for p, v in new_area.items() if v} == expected
    assert old_name != correction


def _runner_before_fix(paths) -> FeedRunner:
    """A FeedRunner of the demo city, as it was before the fix, on ``paths``."""
    import duckdb

    return FeedRunner(duckdb.connect(str(paths.warehouse)), load_city(DEMO_CITY), paths, "fix")
