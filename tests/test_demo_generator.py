"""The deterministic demo-city generator (tools/cim_demo): files, truths and the manifest.

Every expectation is read from cities/demo (demo.yaml, the feed contracts, areas.csv), never
restated here, so the tests follow the spec when it changes.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml
from cim_demo import generate_demo_city, load_demo_spec

REPO = Path(__file__).resolve().parents[1]
CITY = REPO / "cities" / "demo"
SOURCE = REPO / "tools" / "cim_demo"
SMALL = 20_000
LARGE = 300_000


@pytest.fixture(scope="module")
def spec():
    return load_demo_spec(CITY)


def _run(root: Path, incidents: int) -> tuple[Path, dict]:
    landing = root / "landing"
    generate_demo_city(CITY, landing, incidents=incidents)
    manifest = json.loads((root / "demo_manifest.json").read_text(encoding="utf-8"))
    return landing, manifest


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("small"), SMALL)


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("large"), LARGE)


def _feed_of_kind(spec, kind: str) -> str:
    return next(f for f, s in spec.feeds.items() if s["kind"] == kind)


def _files(manifest: dict, feed: str) -> list[dict]:
    return [r for r in manifest["files"] if r["feed"] == feed]


def _csv_rows(path: Path, contract: dict) -> list[dict[str, str]]:
    d = contract["dialect"]
    text = path.read_text(encoding=d["encoding"])
    return list(csv.DictReader(io.StringIO(text), delimiter=d["delimiter"]))


def _xlsx_rows(path: Path, contract: dict) -> list[tuple]:
    d = contract["dialect"]
    ws = openpyxl.load_workbook(path, read_only=True)[d["sheet"]]
    return list(ws.iter_rows(min_row=d["header_row"] + 1, values_only=True))


def _json_records(path: Path, contract: dict) -> list[dict]:
    d = contract["dialect"]
    return json.loads(path.read_text(encoding=d["encoding"]))[d["records_key"]]


def _period_of(contract: dict, name: str) -> str | None:
    period = contract["period"]
    if period["grain"] == "snapshot":
        return None
    m = re.search(period["from_filename"], name)
    assert m, name
    year = int(m["year"])
    return {
        "month": lambda: f"{year}-{int(m['month']):02d}",
        "quarter": lambda: f"{year}-Q{m['quarter']}",
        "school_year": lambda: f"{year}/{(year + 1) % 100:02d}",
        "year": lambda: str(year),
    }[period["grain"]]()


def _occurrence_counts(landing: Path, contract: dict, feed: str) -> dict[tuple, int]:
    """Incident rows by (area code, category, occurrence month 'YYYY-MM')."""
    fmt = contract["dialect"]["date_format"]
    head = {c["name"]: c["source"] for c in contract["columns"]}
    counts: dict[tuple, int] = {}
    for path in sorted(landing.glob(contract["file_pattern"])):
        for row in _csv_rows(path, contract):
            try:
                day = datetime.strptime(row[head["occurred_on"]], fmt)
            except ValueError:
                continue
            key = (row[head["area_code"]], row[head["offence_category"]], f"{day:%Y-%m}")
            counts[key] = counts.get(key, 0) + 1
    return counts


# -- determinism and layout --------------------------------------------------------------


def test_same_seed_gives_identical_files_and_mtimes(small, tmp_path):
    landing, manifest = small
    again, manifest_again = _run(tmp_path, SMALL)
    assert manifest == manifest_again

    def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
        return {
            p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir())
        }

    assert fingerprint(landing) == fingerprint(again)


def test_every_file_matches_its_contract_and_is_in_the_manifest(small, spec):
    landing, manifest = small
    assert not (landing / "demo_manifest.json").exists()
    on_disk = {p.name for p in landing.iterdir()}
    assert on_disk == {r["file"] for r in manifest["files"]}
    assert set(manifest["feeds"]) == set(spec.feeds)
    for record in manifest["files"]:
        contract = spec.contract(record["feed"])
        assert fnmatch.fnmatch(record["file"], contract["file_pattern"]), record["file"]
        period = _period_of(contract, record["file"])
        assert period in (None, record["period"]), record["file"]
        mtime = (landing / record["file"]).stat().st_mtime
        assert mtime == datetime.fromisoformat(record["delivered_at"]).timestamp()
        assert datetime.fromisoformat(record["delivered_at"]).date() <= spec.as_of


def test_headers_are_the_contract_source_texts(small, spec):
    landing, manifest = small
    for record in manifest["files"]:
        contract = spec.contract(record["feed"])
        sources = [c["source"] for c in contract["columns"]]
        path = landing / record["file"]
        if contract["format"] == "csv":
            assert list(_csv_rows(path, contract)[0]) == sources
        elif contract["format"] == "json":
            assert set(_json_records(path, contract)[0]) <= set(sources)


def test_encodings_and_partner_quirks(small, spec):
    landing, manifest = small
    police = spec.contract(_feed_of_kind(spec, "event_csv"))
    raw = (landing / _files(manifest, police["feed"])[0]["file"]).read_bytes()
    text = raw.decode(police["dialect"]["encoding"])
    assert any(ord(ch) > 127 for ch in text)
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert re.search(r";\d{1,3}(\.\d{3})+,\d{2};", text), "damage with thousands dot"
    for record in manifest["files"]:
        contract = spec.contract(record["feed"])
        head = (landing / record["file"]).read_bytes()[:3]
        expect_bom = contract.get("dialect", {}).get("encoding") == "utf-8-sig"
        assert (head == b"\xef\xbb\xbf") == expect_bom, record["file"]
    youth = spec.contract(_feed_of_kind(spec, "participation_csv"))
    marker = youth["suppressed_markers"][0]
    assert any(
        marker in (landing / r["file"]).read_text(encoding="utf-8-sig")
        for r in _files(manifest, youth["feed"])
    )
    population = next(
        c for c in spec.contracts.values() if any(col.get("pad_to") for col in c["columns"])
    )
    rows = _csv_rows(landing / _files(manifest, population["feed"])[0]["file"], population)
    codes = {r["sector"] for r in rows}
    assert all(len(code) < 9 for code in codes)
    assert any("." in r["inwoners"] for r in rows)


def test_police_covers_the_city(small, spec):
    landing, _ = small
    contract = spec.contract(_feed_of_kind(spec, "event_csv"))
    counts = _occurrence_counts(landing, contract, contract["feed"])
    used = {area for area, _, _ in counts if area}
    valid = {a.code for a in spec.neighbourhoods}
    assert len(used & valid) >= 30
    assert len({spec.area(a).parent for a in used & valid}) >= 5
    blank = sum(n for (area, _, _), n in counts.items() if not area)
    assert 0.005 < blank / sum(counts.values()) < 0.03


# -- manifest exactness ------------------------------------------------------------------


def test_manifest_counts_match_the_files(small, spec):
    landing, manifest = small
    for record in manifest["files"]:
        contract = spec.contract(record["feed"])
        path = landing / record["file"]
        if record["malformed"]:
            continue
        by_name = {c["name"]: c["source"] for c in contract["columns"]}
        if contract["format"] == "csv":
            rows = _csv_rows(path, contract)
        elif contract["format"] == "json":
            rows = _json_records(path, contract)
        else:
            header = [c["source"] for c in contract["columns"]]
            skip = contract["dialect"]["skip_rows_where"]
            rows = [dict(zip(header, r, strict=True)) for r in _xlsx_rows(path, contract)]
            totals = [r for r in rows if r[by_name[skip["column"]]] in skip["equals"]]
            assert len(totals) == record["skipped_rows"] == 1
            rows = [r for r in rows if r not in totals]
        assert len(rows) == record["rows"], record["file"]
        for item in record["invalid"]:
            column = by_name[item["column"]]
            hits = sum(1 for r in rows if r[column] in item["values"])
            assert hits == item["rows"], (record["file"], item)
        assert record["invalid_rows"] == sum(i["rows"] for i in record["invalid"])
    for feed, items in spec.truths["invalid_rows"].items():
        assert manifest["truths"]["invalid_rows"][feed] == sum(i["rows"] for i in items)
        assert manifest["feeds"][feed]["invalid_rows"] == sum(i["rows"] for i in items)


def test_survey_weights_sum_to_adult_population(small, spec):
    landing, manifest = small
    survey = _feed_of_kind(spec, "survey_csv")
    pop_feed = _feed_of_kind(spec, "population_csv")
    contract, pop_contract = spec.contract(survey), spec.contract(pop_feed)
    adult = next(c for c in contract["columns"] if c["name"] == "age_band")["allowed"]
    for record in _files(manifest, survey):
        rows = _csv_rows(landing / record["file"], contract)
        total = sum(int(r["gewicht"].replace(",", "")) for r in rows)
        pop_file = next(r for r in _files(manifest, pop_feed) if r["period"] == record["period"])
        residents = sum(
            int(r["inwoners"].replace(".", ""))
            for r in _csv_rows(landing / pop_file["file"], pop_contract)
            if r["leeftijdsklasse"] in adult
        )
        assert total == residents * 10_000, record["file"]


# -- embedded truths ---------------------------------------------------------------------


def test_survey_unsafe_share_follows_the_declared_truth(small, spec):
    landing, manifest = small
    truth = spec.truths["survey_unsafe"]
    contract = spec.contract(truth["feed"])
    for record in _files(manifest, truth["feed"]):
        rows = _csv_rows(landing / record["file"], contract)
        for district, share in truth["share"].items():
            expected = share + (
                truth["change"]
                if district == truth["district"] and int(record["period"]) >= truth["from_wave"]
                else 0
            )
            mine = [
                (float(r["gewicht"].replace(",", ".")), int(r["voelt_zich_onveilig"]))
                for r in rows
                if r["wijk"] == district
            ]
            weighted = sum(w * y for w, y in mine) / sum(w for w, _ in mine)
            assert weighted == pytest.approx(expected, abs=0.015), (record["file"], district)


def test_late_missing_corrected_and_malformed_deliveries(small, spec):
    landing, manifest = small
    truths, tz = spec.truths, ZoneInfo(spec.timezone)

    late = truths["late_delivery"]
    contract = spec.contract(late["feed"])
    record = next(r for r in _files(manifest, late["feed"]) if r["period"] == late["period"])
    year, month = map(int, late["period"].split("-"))
    period_end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    due = period_end + timedelta(days=contract["sla"]["due_days"])
    deadline = datetime.combine(due + timedelta(days=contract["sla"]["grace_days"] + 1), time(), tz)
    assert (landing / record["file"]).stat().st_mtime > deadline.timestamp()
    assert record["late"] and record["days_late"] == late["days_late"]
    assert record["due_date"] == due.isoformat()
    assert sum(r["late"] for r in manifest["files"]) == 1

    missing = truths["missing_delivery"]
    assert not [r for r in _files(manifest, missing["feed"]) if r["period"] == missing["period"]]
    assert missing in manifest["missing"]
    neighbours = [r["period"] for r in _files(manifest, missing["feed"])]
    assert len(neighbours) > 12

    fix = truths["correction"]
    pair = [r for r in _files(manifest, fix["feed"]) if r["period"] == fix["period"]]
    first = next(r for r in pair if r["superseded_by"])
    second = next(r for r in pair if r["corrects"])
    assert first["superseded_by"] == second["file"] and second["corrects"] == first["file"]
    assert (landing / second["file"]).stat().st_mtime > (landing / first["file"]).stat().st_mtime
    assert second["rows"] > first["rows"] == round(second["rows"] * fix["first_version_share"])
    contract = spec.contract(fix["feed"])
    assert len(_json_records(landing / second["file"], contract)) == second["rows"]

    bad = truths["malformed"]
    record = next(r for r in _files(manifest, bad["feed"]) if r["period"] == bad["period"])
    assert record["malformed"]
    with pytest.raises(Exception):  # noqa: B017 - any failure to open is the point
        openpyxl.load_workbook(landing / record["file"])


def test_action_with_effect_has_untreated_neighbours(spec):
    cells = {(a.row, a.col): a.code for a in spec.neighbourhoods}
    for effect in spec.truths["action_effects"]:
        treated = set(effect["treated"])
        assert not treated & set(effect["comparison"])
        if not effect["relative_effect"]:
            continue
        assert effect["comparison"]
        lonely = []
        for code in treated:
            area = spec.area(code)
            around = {
                cells.get((area.row + dr, area.col + dc))
                for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
            } - {None}
            lonely.append(bool(around - treated))
        assert any(lonely)


def test_action_effect_recovered_by_difference_in_differences(large, spec):
    landing, _ = large
    effects = spec.truths["action_effects"]
    feed = effects[0]["feed"]
    counts = _occurrence_counts(landing, spec.contract(feed), feed)
    first = spec.demo["period"]["first_month"]
    every = {a.code for a in spec.neighbourhoods}
    for effect in effects:
        start = str(effect["start"])[:7]
        others = set(effect["comparison"]) or (
            every - {c for e in effects for c in [*e["treated"], *e["comparison"]]}
        )

        def total(areas, post, effect=effect, start=start):
            return sum(
                n
                for (a, c, m), n in counts.items()
                if a in areas and c in effect["categories"] and m >= first and (m >= start) == post
            )

        treated, control = set(effect["treated"]), others
        ratio = (total(treated, True) / total(treated, False)) / (
            total(control, True) / total(control, False)
        )
        assert ratio == pytest.approx(1 + effect["relative_effect"], abs=0.06), effect


def test_seasonality_shows_in_occurrence_months(large, spec):
    landing, _ = large
    feed = _feed_of_kind(spec, "event_csv")
    counts = _occurrence_counts(landing, spec.contract(feed), feed)
    season = spec.truths["seasonality"]
    for category, profile in season[feed].items():
        factors = season["profiles"][profile]
        by_month = [0] * 12
        for (_, c, m), n in counts.items():
            if c == category and "2022" <= m[:4] <= "2025":
                by_month[int(m[5:]) - 1] += n
        peak, low = factors.index(max(factors)), factors.index(min(factors))
        if factors[peak] > factors[low]:
            assert by_month[peak] > by_month[low], category


def test_scale_run_writes_requested_incidents(large, spec):
    landing, manifest = large
    feed = _feed_of_kind(spec, "event_csv")
    contract = spec.contract(feed)
    written = sum(len(_csv_rows(landing / r["file"], contract)) for r in _files(manifest, feed))
    assert written == manifest["feeds"][feed]["rows"]
    assert written == pytest.approx(LARGE, rel=0.01)
    ids = {
        row["Registratienummer"]
        for r in _files(manifest, feed)[:3]
        for row in _csv_rows(landing / r["file"], contract)
    }
    assert len(ids) == sum(r["rows"] for r in _files(manifest, feed)[:3])


# -- the generator stays generic ---------------------------------------------------------


def test_generator_source_names_no_demo_area_partner_or_feed():
    feeds = [
        yaml.safe_load(p.read_text(encoding="utf-8"))["feed"]
        for p in (CITY / "feeds").glob("*.yaml")
    ]
    partners = [
        p["id"]
        for p in yaml.safe_load((CITY / "partners.yaml").read_text(encoding="utf-8"))["partners"]
    ]
    names = "|".join(map(re.escape, feeds + partners))
    literal = re.compile(rf"""(["'])({names})\1""")
    sources = sorted(SOURCE.glob("*.py"))
    assert sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "04017" not in text, path.name
        assert not literal.search(text), (path.name, literal.search(text))
