"""The indicator mart against the delivered files, recomputed without the warehouse.

Every figure is rebuilt in plain Python from the archived bytes of the files the ledger
keeps as current, applying the feed contracts' rules by hand (encoding, delimiter, decimal
comma, thousands separator, date formats, area codes, allowed values, summary rows), and
compared with what dbt built. Definitions come from cities/demo (feeds, agenda, areas), so
the tests follow the city's configuration, never the SQL that implements it.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import yaml
from cim.ingest.archive import readable
from scipy.stats import chi2

from tests.conftest import DEMO_CITY

pytestmark = pytest.mark.slow

Z = 1.959964
REL = 1e-9
MIN_CELL, MIN_RESPONDENTS = 5, 10


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


CONTRACTS = {c["feed"]: c for c in map(_yaml, sorted((DEMO_CITY / "feeds").glob("*.yaml")))}
INDICATORS = {i["id"]: i for i in _yaml(DEMO_CITY / "agenda" / "indicators.yaml")["indicators"]}
LEVELS = _yaml(DEMO_CITY / "city.yaml")["area_levels"]
with (DEMO_CITY / "areas.csv").open(encoding="utf-8", newline="") as _handle:
    AREAS = {row["area_code"]: row for row in csv.DictReader(_handle)}
CITY = next(code for code, area in AREAS.items() if not area["parent_code"])
# the feeds whose files are read back here
FEEDS = (
    "police_incidents",
    "contact_centre_reports",
    "population",
    "resident_survey",
    "early_school_leavers",
    "housing_complaints",
)
MONTHLY_COUNT_RATES = [
    "property_crime_rate",
    "violent_crime_rate",
    "nuisance_report_rate",
    "vandalism_report_rate",
]
SURVEY_INDICATORS = [i for i, spec in INDICATORS.items() if spec["kind"].startswith("survey")]


# ---------------------------------------------------------------- reading the delivered files


@dataclass(frozen=True)
class Delivery:
    feed: str
    name: str
    period: str
    rows: list[dict]  # accepted rows, typed, keyed by canonical column name
    rejected: Counter  # (reason, column) -> rows dropped


def _feed_of(name: str) -> str:
    return next(f for f, c in CONTRACTS.items() if fnmatch.fnmatch(name, c["file_pattern"]))


def _records(contract: dict, path: Path) -> list[dict]:
    """The file's data rows as delivered, keyed by canonical column name."""
    d = contract.get("dialect") or {}
    names = {c.get("source", c["name"]): c["name"] for c in contract["columns"]}
    if contract["format"] == "csv":
        with path.open(encoding=d.get("encoding", "utf-8"), newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter=d.get("delimiter", ",")))
    elif contract["format"] == "json":
        rows = json.loads(path.read_text(encoding=d.get("encoding", "utf-8")))[d["records_key"]]
    else:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        cells = list(book[d["sheet"]].iter_rows(min_row=d["header_row"], values_only=True))
        book.close()
        rows = [dict(zip(cells[0], r, strict=False)) for r in cells[1:] if any(r)]
    return [{names[k]: v for k, v in row.items() if k in names} for row in rows]


@cache
def _moment(text: str, fmt: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, fmt)
    except ValueError:
        return None


def _typed(column: dict, text: str, d: dict):
    """Typed value of a non-empty text, or None when it does not parse."""
    kind = column["type"]
    if kind == "area_code":
        code = text.upper().rjust(int(column.get("pad_to", 0)), "0")
        return code if AREAS.get(code, {}).get("level") == column["area_level"] else None
    if kind in ("integer", "decimal"):
        number = text.replace(d["thousands"], "") if d.get("thousands") else text
        number = number.replace(d.get("decimal", "."), ".")
        try:
            return int(number) if kind == "integer" else float(number)
        except ValueError:
            return None
    if kind in ("date", "timestamp"):
        moment = _moment(text, d[f"{kind}_format"])
        return moment.date() if moment and kind == "date" else moment
    return text


REASONS = {"area_code": "unknown_area_code", "date": "bad_date", "timestamp": "bad_date"}


def _check(contract: dict, record: dict) -> tuple[dict | None, tuple[str, str] | None]:
    """(typed row, None) for an acceptable record, (None, (reason, column)) otherwise."""
    d = contract.get("dialect") or {}
    skip = d.get("skip_rows_where") or {}
    row = {}
    for column in contract["columns"]:
        name, raw = column["name"], record.get(column["name"])
        text = "" if raw is None else str(raw).strip()
        if skip.get("column") == name and text in skip["equals"]:
            return None, ("summary_row", name)
        if not text:
            if column.get("required"):
                return None, ("required_missing", name)
            row[name] = None
            continue
        value = _typed(column, text, d)
        if value is None:
            return None, (REASONS.get(column["type"], "not_a_number"), name)
        if "allowed" in column and str(value) not in map(str, column["allowed"]):
            return None, ("value_not_allowed", name)
        too_low = "min" in column and value < column["min"]
        if too_low or ("max" in column and value > column["max"]):
            return None, ("out_of_range", name)
        row[name] = value
    return row, None


def _read(feed: str, name: str, path: Path, period: str) -> Delivery:
    contract, rows, rejected = CONTRACTS[feed], [], Counter()
    for record in _records(contract, path):
        row, defect = _check(contract, record)
        if defect:
            rejected[defect] += 1
        else:
            rows.append(row)
    return Delivery(feed, name, period, rows, rejected)


@pytest.fixture(scope="module")
def files(demo_build) -> list[Delivery]:
    current = demo_build.query(
        "SELECT original_name, archive_path, period FROM meta.file_ledger "
        "WHERE status = 'loaded' ORDER BY original_name"
    )
    out = []
    for name, archive, period in current:
        feed = _feed_of(name)
        if feed in FEEDS:
            # personal feeds' copies are encrypted at rest: read the original bytes
            with readable(Path(archive), demo_build.paths) as plain:
                out.append(_read(feed, name, plain, period))
    return out


def _deliveries(files: list[Delivery], feed: str) -> list[Delivery]:
    found = [d for d in files if d.feed == feed]
    assert found, f"no loaded file of {feed}"
    return found


# ---------------------------------------------------------------- areas, periods, intervals


def _ancestors(code: str):
    while code:
        yield code
        code = AREAS[code]["parent_code"]


def _rollup(leaf: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Sum amounts per (area, period) up the hierarchy; a blank area counts for the city."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    for (area, period), amount in leaf.items():
        for ancestor in _ancestors(area or CITY):
            out[ancestor, period] += amount
    return out


def _published_areas(indicator: dict) -> list[str]:
    levels = LEVELS[LEVELS.index(indicator["lowest_level"]) :]
    return [code for code, area in AREAS.items() if area["level"] in levels]


def _month(moment: dt.date) -> str:
    return f"{moment.year}-{moment.month:02d}"


def _months(first: str, last: str) -> list[str]:
    (y, m), (y_end, m_end) = map(int, first.split("-")), map(int, last.split("-"))
    out = []
    while (y, m) <= (y_end, m_end):
        out.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _quarters(first: str, last: str) -> list[str]:
    (y, q), (y_end, q_end) = (map(int, p.split("-Q")) for p in (first, last))
    out = []
    while (y, q) <= (y_end, q_end):
        out.append(f"{y}-Q{q}")
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    return out


def _wilson(p: float, n: float) -> tuple[float, float]:
    centre, spread = p + Z**2 / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return (centre - spread) / (1 + Z**2 / n), (centre + spread) / (1 + Z**2 / n)


def _close(got, want) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=REL, abs_tol=1e-12)


def _mart(demo_build, indicator_id: str, columns: str) -> dict[tuple[str, str], tuple]:
    rows = demo_build.query(
        f"SELECT area_id, period_id, {columns} FROM intermediate.int_indicator_values "
        "WHERE indicator_id = ?",
        [indicator_id],
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def _assert_same(expected: dict, mart: dict, what: str) -> None:
    assert set(mart) == set(expected), (
        f"{what}: cells only in the mart {sorted(set(mart) - set(expected))[:5]}, "
        f"only expected {sorted(set(expected) - set(mart))[:5]}"
    )
    differ = [
        (key, "expected", want, "got", mart[key])
        for key, want in sorted(expected.items())
        if not all(_close(g, w) for g, w in zip(mart[key], want, strict=True))
    ]
    assert not differ, f"{what}: {len(differ)} cells differ, e.g. {differ[:5]}"


# ---------------------------------------------------------------- the files themselves


def test_rows_dropped_by_hand_are_exactly_the_rows_made_invalid(files, demo_build):
    manifest = {f["file"]: f for f in demo_build.manifest["files"]}
    assert {d.feed for d in files} == set(FEEDS)
    for delivery in files:
        record = manifest[delivery.name]
        expected = Counter()
        for item in record["invalid"]:
            expected[item["reason"], item["column"]] += item["rows"]
        if record["skipped_rows"]:
            skip = CONTRACTS[delivery.feed]["dialect"]["skip_rows_where"]["column"]
            expected["summary_row", skip] += record["skipped_rows"]
        assert delivery.rejected == expected, delivery.name
        assert len(delivery.rows) == record["rows"] - record["invalid_rows"], delivery.name


# ---------------------------------------------------------------- monthly counts per resident


def _residents(files: list[Delivery], denominator: dict) -> dict[int, dict[str, float]]:
    """Rolled-up residents per year of the population files, {year: {area: residents}}."""
    out = {}
    where = denominator.get("where") or {}
    for delivery in _deliveries(files, denominator["feed"]):
        leaf: dict[tuple[str, str], float] = defaultdict(float)
        for row in delivery.rows:
            if all(row[c] in allowed for c, allowed in where.items()):
                leaf[row[denominator["area"]], delivery.period] += row[denominator["sum"]]
        out[int(delivery.period)] = {area: v for (area, _), v in _rollup(leaf).items()}
    return out


def _event_counts(files: list[Delivery], indicator: dict) -> dict[tuple[str, str], float]:
    """Events per (area or None, month of the event) over every current file."""
    counts: dict[tuple[str, str], float] = Counter()
    for term in indicator["numerator"]:
        where = term.get("where") or {}
        for delivery in _deliveries(files, term["feed"]):
            for row in delivery.rows:
                if all(row[c] in allowed for c, allowed in where.items()):
                    counts[row[term["area"]], _month(row[term["date"]])] += 1
    return counts


@pytest.mark.parametrize("indicator_id", MONTHLY_COUNT_RATES)
def test_monthly_count_rates_are_recounted_from_the_files(indicator_id, files, demo_build):
    """Events by the month they happened (late registrations included) per resident."""
    indicator = INDICATORS[indicator_id]
    events = _event_counts(files, indicator)
    first = max(CONTRACTS[t["feed"]]["start_period"] for t in indicator["numerator"])
    months = _months(first, max(month for _, month in events))
    numerators = _rollup({key: n for key, n in events.items() if key[1] >= first})
    residents = _residents(files, indicator["denominator"])

    def denominator(area: str, month: str) -> float | None:
        years = [y for y in residents if y <= int(month[:4])]
        return residents[max(years)].get(area) if years else None

    expected = {
        (area, month): (numerators.get((area, month), 0), denominator(area, month))
        for area in _published_areas(indicator)
        for month in months
    }
    mart = _mart(demo_build, indicator_id, "numerator, denominator, value")
    _assert_same(expected, {k: v[:2] for k, v in mart.items()}, indicator_id)
    for key, (numerator, denom, value) in mart.items():
        want = numerator / denom * indicator["multiplier"]
        assert math.isclose(value, want, rel_tol=REL), (indicator_id, key, value, want)


def test_late_registered_incidents_count_in_the_month_they_happened(files):
    """The recount above attributes by occurrence: make sure that is not a no-op."""
    police = _deliveries(files, "police_incidents")
    late = [row for d in police for row in d.rows if _month(row["occurred_on"]) < d.period]
    assert len(late) > 100
    assert any(row["area_code"] is None for d in police for row in d.rows)


def test_rate_bounds_are_exact_poisson(demo_build):
    rates = [i for i, spec in INDICATORS.items() if spec["kind"] == "rate"]
    rows = demo_build.query(
        "SELECT indicator_id, numerator, denominator, lower_95, upper_95 "
        "FROM intermediate.int_indicator_values "
        f"WHERE indicator_id IN ({', '.join('?' * len(rates))}) "
        "AND numerator IS NOT NULL AND denominator > 0 ORDER BY ALL",
        rates,
    )
    assert len(rows) > 1000
    ids = [r[0] for r in rows]
    x, den, low, up = (np.array([r[i] for r in rows], dtype=float) for i in range(1, 5))
    scale = np.array([INDICATORS[i]["multiplier"] for i in ids]) / den
    assert (x == 0).any() and (x < MIN_CELL).sum() > 10  # the small counts that matter
    lower = np.where(x > 0, chi2.ppf(0.025, np.where(x > 0, 2 * x, 1)) / 2, 0.0) * scale
    upper = chi2.ppf(0.975, 2 * (x + 1)) / 2 * scale
    np.testing.assert_allclose(low, lower, rtol=REL, atol=1e-12)
    np.testing.assert_allclose(up, upper, rtol=REL)


# ---------------------------------------------------------------- survey, school, housing


def _survey_expected(files: list[Delivery], indicator: dict) -> dict[tuple[str, str], tuple]:
    spec, multiplier = indicator["survey"], indicator["multiplier"]
    sums: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(5))
    for delivery in _deliveries(files, spec["feed"]):
        for row in delivery.rows:
            items, w = [row[item] for item in spec["items"]], row[spec["weight"]]
            if None in items or not w > 0:
                continue
            y = sum(items) / len(items)
            for area in _ancestors(row[spec["area"]]):
                sums[area, delivery.period] += (w, w * y, w * w, w * y * y, 1)
    expected = {}
    for key, (sw, swy, sw2, swy2, n) in sums.items():
        ratio, n_eff = swy / sw, sw**2 / sw2
        if indicator["kind"] == "survey_share":
            lower, upper = _wilson(ratio, n_eff)
        else:
            spread = Z * math.sqrt(max(swy2 / sw - ratio**2, 0) / n_eff)
            lower, upper = ratio - spread, ratio + spread
        bounds = (lower * multiplier, upper * multiplier)
        expected[key] = (ratio * multiplier, n, n_eff, *bounds)
    return expected


@pytest.mark.parametrize("indicator_id", SURVEY_INDICATORS)
def test_survey_indicators_are_reweighted_from_the_microdata(indicator_id, files, demo_build):
    expected = _survey_expected(files, INDICATORS[indicator_id])
    assert {area for area, _ in expected} == set(_published_areas(INDICATORS[indicator_id]))
    columns = "value, n, n_effective, lower_95, upper_95"
    _assert_same(expected, _mart(demo_build, indicator_id, columns), indicator_id)


def test_early_school_leaving_share_per_district_and_school_year(files, demo_build):
    indicator = INDICATORS["early_school_leaving_share"]
    leavers, pupils = {}, {}
    for delivery in _deliveries(files, "early_school_leavers"):
        for row in delivery.rows:
            leavers[row["district_code"], delivery.period] = row["early_leavers"]
            pupils[row["district_code"], delivery.period] = row["pupils"]
    leavers, pupils = _rollup(leavers), _rollup(pupils)
    expected = {}
    for key, num in leavers.items():
        share = num / pupils[key]
        bounds = (b * indicator["multiplier"] for b in _wilson(share, pupils[key]))
        expected[key] = (num, pupils[key], share * indicator["multiplier"], pupils[key], *bounds)
    columns = "numerator, denominator, value, n, lower_95, upper_95"
    mart = _mart(demo_build, "early_school_leaving_share", columns)
    _assert_same(expected, mart, "early_school_leaving_share")


def test_tenant_complaint_rate_per_neighbourhood_and_quarter(files, demo_build):
    indicator = INDICATORS["tenant_complaint_rate"]
    complaints: dict[tuple[str, str], float] = defaultdict(float)
    dwellings: dict[tuple[str, str], float] = defaultdict(float)
    deliveries = _deliveries(files, "housing_complaints")
    for delivery in deliveries:
        for row in delivery.rows:
            key = (row["neighbourhood_code"], delivery.period)
            complaints[key] += row["complaints"]
            dwellings[key] = max(dwellings[key], row["dwellings"])
    complaints, dwellings = _rollup(complaints), _rollup(dwellings)
    loaded = sorted(d.period for d in deliveries)
    quarters = _quarters(CONTRACTS["housing_complaints"]["start_period"], loaded[-1])
    assert len(loaded) < len(quarters)  # the malformed quarter has no data

    def latest_dwellings(area: str, quarter: str) -> float | None:
        known = [q for q in loaded if q <= quarter and (area, q) in dwellings]
        return dwellings[area, known[-1]] if known else None

    expected = {}
    for area in _published_areas(indicator):
        for quarter in quarters:
            num = complaints.get((area, quarter), 0) if quarter in loaded else None
            # the dwellings come with the complaints: a quarter without a delivery has no
            # denominator either, not an earlier quarter's
            den = latest_dwellings(area, quarter) if quarter in loaded else None
            value = num / den * indicator["multiplier"] if num is not None and den else None
            expected[area, quarter] = (num, den, value)
    mart = _mart(demo_build, "tenant_complaint_rate", "numerator, denominator, value")
    _assert_same(expected, mart, "tenant_complaint_rate")


# ---------------------------------------------------------------- disclosure control


def _published(demo_build, sql: str) -> list[tuple]:
    return demo_build.query(
        "SELECT f.indicator_id, f.area_id, f.period_id, f.numerator, f.n, f.value "
        "FROM marts.fct_indicator_values AS f "
        "JOIN marts.dim_indicator AS i USING (indicator_id) "
        f"WHERE NOT f.suppressed AND ({sql}) ORDER BY ALL"
    )


def test_no_published_cell_breaks_the_primary_rule(demo_build):
    small_counts = _published(
        demo_build,
        f"i.indicator_kind IN ('rate', 'share') AND f.numerator < {MIN_CELL}",
    )
    assert not small_counts, f"{len(small_counts)} published small counts: {small_counts[:5]}"
    few_persons = _published(
        demo_build,
        f"i.indicator_kind NOT IN ('rate') AND f.n < {MIN_RESPONDENTS}",
    )
    assert not few_persons, f"{len(few_persons)} published small surveys: {few_persons[:5]}"


def _family(demo_build) -> list[tuple]:
    """Per parent cell with children in the mart: parent hidden, children, hidden children."""
    return demo_build.query(
        "SELECT p.indicator_id, p.area_id, p.period_id, p.suppressed, count(*), "
        "count(*) FILTER (WHERE c.suppressed) "
        "FROM marts.fct_indicator_values AS p "
        "JOIN marts.dim_area AS a ON a.parent_area_id = p.area_id "
        "JOIN marts.fct_indicator_values AS c "
        "ON c.indicator_id = p.indicator_id AND c.period_id = p.period_id "
        "AND c.area_id = a.area_id "
        "GROUP BY ALL ORDER BY ALL"
    )


def test_a_hidden_cell_cannot_be_recomputed_from_its_family(demo_build):
    family = _family(demo_build)
    assert any(row[3] for row in family) and any(row[5] for row in family)
    one_hidden = [row[:3] for row in family if not row[3] and row[5] == 1]
    assert not one_hidden, (
        f"{len(one_hidden)} published parents, one hidden child: {one_hidden[:5]}"
    )
    all_open = [row[:3] for row in family if row[3] and row[5] == 0]
    assert not all_open, f"{len(all_open)} hidden parents, all children shown: {all_open[:5]}"


def test_complementary_cells_are_not_known_zeros(demo_build):
    """A hidden child without a denominator (say, no dwellings of the association there)
    holds nothing; hiding it next to one real hidden child protects nothing, since the
    published denominator shows it is empty and the real one is the parent minus the rest."""
    rows = demo_build.query(
        "SELECT p.indicator_id, p.area_id, p.period_id, "
        "count(*) FILTER (WHERE c.suppressed AND c.denominator IS NOT NULL) "
        "FROM marts.fct_indicator_values AS p "
        "JOIN marts.dim_area AS a ON a.parent_area_id = p.area_id "
        "JOIN marts.fct_indicator_values AS c "
        "ON c.indicator_id = p.indicator_id AND c.period_id = p.period_id "
        "AND c.area_id = a.area_id "
        "WHERE NOT p.suppressed AND p.numerator IS NOT NULL GROUP BY ALL ORDER BY ALL"
    )
    exposed = [row[:3] for row in rows if row[3] == 1]
    assert not exposed, f"{len(exposed)} hidden cells recoverable by difference: {exposed[:5]}"


def test_suppressed_cells_withhold_their_figures(demo_build):
    leaks = demo_build.query(
        "SELECT indicator_id, area_id, period_id FROM marts.fct_indicator_values "
        "WHERE suppressed AND (numerator IS NOT NULL OR value IS NOT NULL "
        "OR lower_95 IS NOT NULL OR upper_95 IS NOT NULL OR n IS NOT NULL)"
    )
    assert not leaks, f"{len(leaks)} suppressed cells show figures: {leaks[:5]}"


def test_published_cells_carry_the_values_before_suppression(demo_build):
    changed = demo_build.query(
        "SELECT f.indicator_id, f.area_id, f.period_id "
        "FROM marts.fct_indicator_values AS f "
        "JOIN intermediate.int_indicator_values AS v USING (indicator_id, area_id, period_id) "
        "WHERE NOT f.suppressed AND v.primary_suppressed IS NOT NULL "
        "AND (f.numerator IS DISTINCT FROM v.numerator "
        "OR f.denominator IS DISTINCT FROM v.denominator OR f.value IS DISTINCT FROM v.value "
        "OR f.lower_95 IS DISTINCT FROM v.lower_95 OR f.upper_95 IS DISTINCT FROM v.upper_95)"
    )
    assert not changed, f"{len(changed)} published cells differ from int_indicator_values"
    # cells with nothing to publish (no delivery, or a structural zero without a
    # denominator) show no count: a published 0 there would be a known complement
    shown = demo_build.query(
        "SELECT count(*) FROM marts.fct_indicator_values AS f "
        "JOIN intermediate.int_indicator_values AS v USING (indicator_id, area_id, period_id) "
        "WHERE v.primary_suppressed IS NULL AND (f.numerator IS NOT NULL OR f.value IS NOT NULL)"
    )
    assert shown == [(0,)]


def test_rolling_year_hides_when_any_month_in_it_is_hidden(demo_build):
    rows = demo_build.query(
        "SELECT indicator_id, area_id, period_id, suppressed, rolling_12m_value "
        "FROM marts.fct_indicator_values WHERE period_type = 'month'"
    )
    hidden = {(i, a, p): s for i, a, p, s, _ in rows}
    assert any(hidden.values())
    leaks, published = [], 0
    for indicator_id, area, period, _, rolling in rows:
        if rolling is None:
            continue
        published += 1
        year, month = period.split("-")
        window = _months(f"{int(year) - 1}-{month}", period)[1:]
        if any(hidden.get((indicator_id, area, p), True) for p in window):
            leaks.append((indicator_id, area, period))
    assert published > 1000
    assert not leaks, f"{len(leaks)} rolling values over a hidden month: {leaks[:5]}"
