"""Files whose rows say their period (period.column), and area codes placed at a coarser
level (placement): the contract rules, and ingestion with the real engine and DuckDB on
the Atlasstadt city of tests/atlas.py. The pipeline end to end is tests/test_atlas_city.py."""

from __future__ import annotations

import copy
from pathlib import Path

import duckdb
import pytest
import yaml
from cim import settings
from cim.city import ConfigError, load_city
from cim.ingest import FeedRunner
from cim.ingest.files import scan_landing

from tests import atlas

FEED = "kriminalitaetsatlas"


def _contract(folder: Path) -> dict:
    return yaml.safe_load((folder / "feeds" / f"{FEED}.yaml").read_text(encoding="utf-8"))


def _rewrite(folder: Path, change) -> None:
    data = _contract(folder)
    change(data)
    (folder / "feeds" / f"{FEED}.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    return atlas.write_city(tmp_path / "city")


class Atlas:
    def __init__(self, city_dir: Path, home: Path):
        self.city = load_city(city_dir)
        self.paths = settings.Paths(home).ensure()
        self.con = duckdb.connect(str(self.paths.warehouse))
        self.mtime = 1.7e9

    def deliver(self, name: str, rows: list[dict]) -> list:
        import os

        path = self.paths.landing / name
        path.write_bytes(atlas.atlas_csv(rows))
        self.mtime += 60
        os.utime(path, (self.mtime, self.mtime))
        runner = FeedRunner(self.con, self.city, self.paths, run_id="test")
        return runner.ingest(scan_landing(self.paths.landing, self.city))

    def all(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()


@pytest.fixture
def city(city_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Atlas:
    monkeypatch.setenv("CIM_AS_OF", "2026-12-01")
    wh = Atlas(city_dir, tmp_path / "home")
    yield wh
    wh.con.close()


def _years(rows: list[dict], *years: int) -> list[dict]:
    return [r for r in rows if int(r["Jahr"]) in years]


def test_each_period_of_a_file_replaces_only_that_period(city: Atlas):
    history = atlas.atlas_rows()
    (first,) = city.deliver("kriminalitaetsatlas_2012-2019.csv", history)
    assert first.status == "loaded" and first.periods == [str(y) for y in atlas.YEARS]
    # a correction of 2019 alone, with other figures
    corrected = copy.deepcopy(_years(atlas.atlas_rows(seed=99), 2019))
    (fix,) = city.deliver("kriminalitaetsatlas_2019_korrektur.csv", corrected)
    assert (fix.status, fix.period, fix.periods) == ("loaded", "2019", ["2019"])
    loads = dict(city.all(f"SELECT _period, min(_load_id) FROM raw.{FEED} GROUP BY 1"))
    assert loads.pop("2019") == fix.load_id
    assert set(loads.values()) == {first.load_id}  # 2012-2018 untouched
    graffiti = city.all(f"SELECT sum(graffiti) FROM raw.{FEED} WHERE _period = '2019'")[0][0]
    assert graffiti == sum(
        int(r["Graffiti"]) for r in corrected if r["LOR-Schlüssel"] != atlas.UNKNOWN
    )
    # the multi-year file still holds 2012-2018: it stays in force
    statuses = dict(city.all("SELECT load_id, status FROM meta.file_ledger"))
    assert statuses == {first.load_id: "loaded", fix.load_id: "loaded"}
    # the same multi-year bytes again: nothing to do
    (again,) = city.deliver("kriminalitaetsatlas_2012-2019_kopie.csv", history)
    assert again.status == "duplicate"
    # a new file for every year supersedes both earlier deliveries
    (whole,) = city.deliver("kriminalitaetsatlas_2012-2019_v2.csv", atlas.atlas_rows(seed=5))
    statuses = dict(city.all("SELECT load_id, status FROM meta.file_ledger"))
    assert statuses[first.load_id] == statuses[fix.load_id] == "superseded"
    assert statuses[whole.load_id] == "loaded"
    assert city.all(f"SELECT DISTINCT _load_id FROM raw.{FEED}") == [(whole.load_id,)]


def test_a_row_with_a_bad_period_is_rejected_with_its_reason(city: Atlas):
    rows = _years(atlas.atlas_rows(), 2015)
    bad = {"": "missing", "20x4": "not a whole number", "1850": "1850", "2031": "2031"}
    for n, (year, _) in enumerate(bad.items()):
        rows.append(dict(rows[n], Jahr=year, **{"LOR-Schlüssel": rows[n]["LOR-Schlüssel"]}))
    (outcome,) = city.deliver("kriminalitaetsatlas_2015.csv", rows)
    assert outcome.status == "loaded" and outcome.periods == ["2015"]
    reasons = [r for (r,) in city.all("SELECT reason FROM meta.rejected_rows ORDER BY row_number")]
    unknown = "is not a known lor code"
    assert [r for r in reasons if unknown not in r] == [
        "jahr ('Jahr'): required value missing",
        "jahr ('Jahr'): '20x4' is not a whole number (decimal mark '.')",
        "period 1850 lies before 1900, which is not plausible: check the row",
        "period 2031 has not started yet (the latest possible is 2026): check the row",
    ]
    # the unknown code of 2015 is counted in 2015; the bad years in no period
    assert outcome.period_rows == [{"period": "2015", "rows_accepted": 11, "rows_rejected": 1}]
    assert outcome.rows_rejected == 5


def test_two_pseudo_areas_of_one_district_are_two_rows(city_dir: Path, tmp_path, monkeypatch):
    def two_codes(contract: dict) -> None:
        contract["columns"][0]["placement"][0]["pattern"] = r"(\d{2})99\d\d"

    _rewrite(city_dir, two_codes)
    monkeypatch.setenv("CIM_AS_OF", "2026-12-01")
    wh = Atlas(city_dir, tmp_path / "home")
    rows = _years(atlas.atlas_rows(), 2016)
    rows.append(dict(rows[-2], **{"LOR-Schlüssel": "019901"}))  # a second pseudo-area of 01
    (outcome,) = wh.deliver("kriminalitaetsatlas_2016.csv", rows)
    assert (outcome.rows_accepted, outcome.rows_rejected) == (12, 1)
    placed = wh.all(f"SELECT lor_as_delivered FROM raw.{FEED} WHERE lor = '01' ORDER BY 1")
    assert placed == [("019900",), ("019901",)]
    levels = {(x["area_level"], x["row_count"]) for x in outcome.rows_by_level}
    assert levels == {("lor", 8), ("bezirk", 3), ("stadt", 1)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["period"].update(grain="snapshot"),
            "period.column needs a grain with a calendar",
        ),
        (
            lambda c: c["period"].update(from_filename=r"(?P<year>\d{4})"),
            "give either period.column (each row says its period) or period.from_filename",
        ),
        (
            lambda c: c["period"].update(column="jahrgang"),
            "period.column 'jahrgang' is not a column",
        ),
        (
            lambda c: c["period"].update(grain="month"),
            "period.column 'jahr' is an integer, which can only say a year",
        ),
        (
            lambda c: c["columns"][0]["placement"][0].update(level="lor"),
            "columns.lor.placement.0.level: 'lor' must be a level above lor",
        ),
        (
            lambda c: c["columns"][0]["placement"][1].update(level="bezirk"),
            "columns.lor.placement.1.area: level bezirk has 3 areas; say which one",
        ),
        (
            lambda c: c["columns"][0]["placement"][1].update(level="bezirk", area="07"),
            "columns.lor.placement.1.area: '07' is not a bezirk in the areas file",
        ),
        (
            lambda c: c["columns"][0]["placement"][1].update(pattern="99(?=9)999"),
            "columns.lor.placement.1.pattern: '99(?=9)999' is not a pattern the warehouse reads",
        ),
        (
            lambda c: c["columns"][0]["placement"][0].update(area=r"\2"),
            "names group 2, but pattern",
        ),
        (
            lambda c: c["columns"][3].update(placement=[{"pattern": "x", "level": "stadt"}]),
            "placement only applies to type area_code",
        ),
    ],
)
def test_contract_mistakes_name_the_key_and_the_fix(city_dir: Path, change, message):
    _rewrite(city_dir, change)
    with pytest.raises(ConfigError) as caught:
        load_city(city_dir)
    assert message in str(caught.value)
    assert f"feeds/{FEED}.yaml" in str(caught.value)


def _agenda(folder: Path, change) -> None:
    path = folder / "agenda" / "indicators.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["indicators"][0])
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_a_snapshot_feed_behind_a_yearly_indicator_is_refused_with_the_fix(city_dir: Path):
    # what the crime atlas looked like before: a year column, but grain snapshot
    _rewrite(city_dir, lambda c: c.update(period={"grain": "snapshot"}, backfill=[]))
    with pytest.raises(ConfigError) as caught:
        load_city(city_dir)
    message = str(caught.value)
    assert (
        "indicators.graffiti.numerator: feed 'kriminalitaetsatlas' has grain snapshot (one "
        "state, no period), so its rows fall in no year of indicator graffiti and every value "
        "would be empty"
    ) in message
    assert f"in feeds/{FEED}.yaml set period.grain: year and period.column:" in message


def test_a_feed_of_another_grain_without_a_date_is_refused(city_dir: Path):
    _agenda(city_dir, lambda ind: ind.update(cadence="month"))
    with pytest.raises(ConfigError) as caught:
        load_city(city_dir)
    assert (
        "indicators.graffiti.numerator: feed 'kriminalitaetsatlas' is delivered per year, but "
        "indicator graffiti has cadence month"
    ) in str(caught.value)


@pytest.mark.parametrize(
    ("column", "grain", "written", "expected"),
    [
        ("text", "month", ["2015-03", "2015-3", "2015-13"], ["2015-03", None, None]),
        ("text", "quarter", ["2015-q2", "2015-Q5"], ["2015-Q2", None]),
        ("text", "school_year", ["2015/16", "2015/17"], ["2015/16", None]),
        ("integer", "school_year", ["2015"], ["2015/16"]),
        ("date", "month", ["15.03.2015", "31.02.2015"], ["2015-03", None]),
        ("date", "school_year", ["31.08.2015", "01.09.2015"], ["2014/15", "2015/16"]),
        ("date", "quarter", ["30.06.2015"], ["2015-Q2"]),
    ],
)
def test_a_period_column_reads_its_grain(
    city_dir: Path, tmp_path, monkeypatch, column, grain, written, expected
):
    def to_grain(contract: dict) -> None:
        contract.pop("backfill")
        contract["period"]["grain"] = grain
        contract["sla"]["cadence"] = "monthly"
        contract["start_period"] = None
        contract["dialect"]["date_format"] = "%d.%m.%Y"
        contract["columns"][2]["type"] = column

    _rewrite(city_dir, to_grain)
    _agenda_all(city_dir, lambda i: i.update(cadence=grain))
    monkeypatch.setenv("CIM_AS_OF", "2026-12-01")
    wh = Atlas(city_dir, tmp_path / "home")
    row = _years(atlas.atlas_rows(), 2015)[0]
    lors = atlas.DISTRICTS["01"] + atlas.DISTRICTS["02"]
    rows = [
        dict(row, Jahr=w, **{"LOR-Schlüssel": lor}) for w, lor in zip(written, lors, strict=False)
    ]
    (outcome,) = wh.deliver("kriminalitaetsatlas_x.csv", rows)
    stored = dict(wh.all(f"SELECT _row_number, _period FROM raw.{FEED}"))
    reasons = dict(wh.all("SELECT row_number, reason FROM meta.rejected_rows"))
    for n, want in enumerate(expected, start=2):  # line 1 is the header
        if want is None:
            assert n in reasons and n not in stored, (n, written[n - 2])
        else:
            assert stored.get(n) == want, (n, written[n - 2], reasons.get(n))
    assert outcome.periods == sorted({p for p in expected if p})


def _agenda_all(folder: Path, change) -> None:
    path = folder / "agenda" / "indicators.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for ind in data["indicators"]:
        if ind["numerator"][0]["feed"] == FEED:
            change(ind)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _sources(city: Atlas) -> dict[str, str]:
    """Period -> the file its rows come from now."""
    return dict(
        city.all(
            f"SELECT r._period, min(l.original_name) FROM raw.{FEED} AS r "
            "JOIN meta.file_ledger AS l ON l.load_id = r._load_id GROUP BY 1"
        )
    )


def test_replay_and_withdrawal_keep_each_period_with_its_delivery(city: Atlas):
    from cim.ingest.reprocess import reprocess
    from cim.ingest.withdraw import withdraw

    history = "kriminalitaetsatlas_2012-2019.csv"
    fix = "kriminalitaetsatlas_2019_korrektur.csv"
    city.deliver(history, atlas.atlas_rows())
    city.deliver(fix, _years(atlas.atlas_rows(seed=99), 2019))
    expected = {str(y): history for y in atlas.YEARS} | {"2019": fix}
    assert _sources(city) == expected
    # replaying everything: the multi-year file does not take 2019 back from its correction
    replays = reprocess(city.con, city.city, city.paths, feed=FEED)
    assert sorted(r.outcome.status for r in replays) == ["loaded", "loaded"]
    multi = next(r.outcome for r in replays if r.outcome.name == history)
    assert multi.periods == [str(y) for y in atlas.YEARS if y != 2019]
    assert any("rows of 2019 were not replayed" in w for w in multi.warnings)
    assert _sources(city) == expected
    # --period names a period of a multi-year file
    assert [r.outcome.name for r in reprocess(city.con, city.city, city.paths, period="2015")] == [
        history
    ]
    # withdrawing the correction gives 2019 back to the multi-year file
    done = withdraw(city.con, city.city, city.paths, fix)
    assert done.rows_removed == 11 and done.restored is not None
    assert _sources(city) == {str(y): history for y in atlas.YEARS}
    graffiti = city.all(f"SELECT sum(graffiti) FROM raw.{FEED} WHERE _period = '2019'")[0][0]
    assert graffiti == atlas.expected_totals(atlas.atlas_rows(), "graffiti")[(atlas.CITY, "2019")]


def test_every_broken_contract_is_named_at_once(city_dir: Path):
    _rewrite(city_dir, lambda c: c["period"].update(grain="snapshot"))
    reports = city_dir / "feeds" / "buergermeldungen.yaml"
    data = yaml.safe_load(reports.read_text(encoding="utf-8"))
    data["partner"] = "feuerwehr"
    reports.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_city(city_dir)
    message = str(caught.value)
    assert "buergermeldungen.yaml: partner: 'feuerwehr' is not in partners.yaml" in message
    assert f"{FEED}.yaml: period: period.column needs a grain with a calendar" in message
