"""Partial deliveries keep the mart consistent (issue 12, item 7).

Two legitimate deliveries used to fail `assert_aggregates_are_sums_of_their_parts`, and
with it the pipeline's dbt build and publication: a population file whose rows for two
neighbourhoods were rejected (those neighbourhoods kept last year's residents while their
district was summed from this year's rows only), and a housing-complaints correction that
lists 19 of the association's 20 neighbourhoods (the missing one kept an older quarter's
dwellings while its district was summed from the correction). Here both go through the
ingestion engine into DuckDB and the pipeline's dbt build, on a small data set of the
demo city: every parent equals the sum of the children it shows, the city what the
partner delivered, and what was carried forward or missing is shown (docs/method.md).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from dataclasses import dataclass

import pytest
from cim import settings
from cim.city import load_city
from cim.city.mirror import mirror_city
from cim.defs.dbt.project import DBT_DIR, DBT_EXECUTABLE
from cim.mart.codegen import generate

from tests.conftest import DEMO_CITY, Warehouse, query_warehouse
from tests.quirky import housing_xlsx, police_csv, police_row

pytestmark = pytest.mark.slow

AS_OF = "2024-06-30"
CITY = load_city(DEMO_CITY)
PARENT = {a.area_code: a.parent_code for a in CITY.areas}
LEVEL = {a.area_code: a.level for a in CITY.areas}
TOP = next(code for code, parent in PARENT.items() if parent is None)
NEIGHBOURHOODS = sorted(code for code, level in LEVEL.items() if level == "neighbourhood")
MONTHS = ["2024-01", "2024-02", "2024-03"]
UNPLACED = 4  # property crimes per month without an area code: they count for the city only

# population: one row per neighbourhood (residents aged 25-44); in 2024 the statistics
# office's rows for two neighbourhoods are rejected by the contract
REJECTED = {"04017A002": "x", "04017B005": "04017B05"}  # bad count; mangled area code
# housing association: 20 neighbourhoods; the 2024-Q1 correction omits one of them
HOUSING = NEIGHBOURHOODS[:20]
DROPPED = "04017C003"


def residents(code: str, year: int) -> int:
    return 900 + 37 * NEIGHBOURHOODS.index(code) + 11 * (year - 2023)


def _population_csv(year: int) -> str:
    lines = ["sector;leeftijdsklasse;inwoners;woningen"]
    for code in NEIGHBOURHOODS:
        sector, count = code.lstrip("0"), f"{residents(code, year):,}".replace(",", ".")
        if year == 2024 and code in REJECTED:
            bad = REJECTED[code]
            sector, count = (sector, bad) if bad == "x" else (bad.lstrip("0"), count)
        lines.append(f"{sector};25-44;{count};")
    return "\r\n".join(lines) + "\r\n"


def property_crimes(code: str, month: str) -> int:
    return 3 + (NEIGHBOURHOODS.index(code) + int(month[-2:])) % 6


def _police_csv(month: str) -> str:
    year, number = month.split("-")
    rows, n = [], 0
    for code in [*NEIGHBOURHOODS, *[""] * UNPLACED]:
        for day in range(1, (property_crimes(code, month) if code else 1) + 1):
            n += 1
            date = f"{day:02d}/{number}/{year}"
            rows.append(
                police_row(
                    n,
                    **{
                        "Registratienummer": f"PV/{year}/{number}{n:05d}",
                        "Datum feit": date,
                        "Datum registratie": date,
                        "Feitcategorie": "woninginbraak",
                        "Statistische sector": code,
                    },
                )
            )
    return police_csv(rows)


def housing_rows(quarter: str) -> list[list[object]]:
    """Two complaint types per neighbourhood; dwellings repeat on each row."""
    offset = {"2023-Q4": 0, "2024-Q1": 1, "2024-Q1_v2": 2}[quarter]
    rows = []
    for i, code in enumerate(HOUSING):
        if quarter == "2024-Q1_v2" and code == DROPPED:
            continue
        dwellings = 150 + 13 * i + (5 if quarter != "2023-Q4" else 0)
        for kind, complaints in (("geluid", 4 + (i + offset) % 7), ("burenruzie", 2 + i % 3)):
            rows.append([code, code, kind, complaints, dwellings])
    return rows


def _deliveries() -> list[list[tuple[str, str | bytes]]]:
    """The files in two batches: everything first, then the housing correction."""
    files: list[tuple[str, str | bytes]] = [
        ("bevolking_2023.csv", _population_csv(2023)),
        ("bevolking_2024.csv", _population_csv(2024)),
        ("klachten_2023-Q4.xlsx", housing_xlsx(housing_rows("2023-Q4"), "Klachten 2023 Q4")),
        ("klachten_2024-Q1.xlsx", housing_xlsx(housing_rows("2024-Q1"), "Klachten 2024 Q1")),
    ]
    files += [(f"politie_incidenten_{m}.csv", _police_csv(m)) for m in MONTHS]
    corrected = housing_xlsx(housing_rows("2024-Q1_v2"), "Klachten 2024 Q1 (correctie)")
    return [files, [("klachten_2024-Q1_v2.xlsx", corrected)]]


@dataclass
class Built:
    paths: settings.Paths
    outcomes: dict[str, tuple[str, int]]  # file -> (status, rows rejected) at ingestion
    results: dict[str, str]  # dbt node name -> status of the build

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return query_warehouse(self.paths, sql, params)

    def cells(self, indicator_id: str, period_id: str) -> dict[str, tuple]:
        """area -> (numerator, denominator, carried forward, areas carried, areas missing):
        the published cell with the numerator before disclosure control (a published
        numerator may be withheld; the aggregates are built before that)."""
        rows = self.query(
            "SELECT f.area_id, v.numerator, f.denominator, f.denominator_carried_forward, "
            "f.areas_carried_forward, f.areas_missing "
            "FROM marts.fct_indicator_values AS f "
            "JOIN intermediate.int_indicator_values AS v USING (indicator_id, area_id, period_id) "
            "WHERE f.indicator_id = ? AND f.period_id = ?",
            [indicator_id, period_id],
        )
        return {row[0]: row[1:] for row in rows}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The files through the ingestion engine into DuckDB, then the pipeline's dbt build
    (every model and test of the project) on the city's generated models."""
    base = tmp_path_factory.mktemp("partial")
    paths = settings.Paths(base / "home").ensure()
    warehouse = Warehouse(paths, CITY)
    outcomes = {}
    try:
        for batch in _deliveries():
            for name, content in batch:
                warehouse.drop(name, content, "cp1252" if name.endswith(".csv") else "utf-8")
            outcomes |= {o.name: (o.status, o.rows_rejected) for o in warehouse.ingest()}
        mirror_city(warehouse.con, CITY)
    finally:
        warehouse.con.close()
    generate(CITY)
    target = base / "target"  # apart from DBT_DIR/target: other builds may run meanwhile
    command = [
        DBT_EXECUTABLE, "build", "--vars", json.dumps({"as_of": AS_OF}),
        "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target-path", str(target),
    ]  # fmt: skip
    env = os.environ | {"CIM_WAREHOUSE": str(paths.warehouse)}
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    results = json.loads((target / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"].split(".", 2)[2]: r["status"] for r in results}
    failed = [name for name, status in statuses.items() if status in ("fail", "error")]
    assert run.returncode == 0, f"dbt build failed: {failed}\n{run.stdout[-3000:]}"
    return Built(paths, outcomes, statuses)


def _children(area: str, cells: dict) -> list[str]:
    return [code for code in cells if PARENT[code] == area]


def _sum(values: list) -> float | None:
    """SQL's sum: nulls left out, null when there is nothing to add."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _assert_parents_are_sums(cells: dict, unplaced: float = 0) -> None:
    """Every parent's numerator and denominator are the sums of the children it shows, at
    every level (the city also holds records without an area), and so are the amounts and
    areas carried forward or missing."""
    parents = [area for area in cells if _children(area, cells)]
    assert {LEVEL[area] for area in parents} == {"district", "city"}
    for area in parents:
        kids = [cells[c] for c in _children(area, cells)]
        for column, value in enumerate(cells[area]):
            expected = _sum([k[column] for k in kids])
            if column == 0 and area == TOP and unplaced:
                expected = (expected or 0) + unplaced
            assert value == pytest.approx(expected), (area, column)


def test_partial_deliveries_pass_every_dbt_test_of_the_build(built):
    # (rows rejected: the two population rows; each workbook's "Totaal" row)
    assert built.outcomes == {
        "bevolking_2023.csv": ("loaded", 0),
        "bevolking_2024.csv": ("loaded", 2),
        "klachten_2023-Q4.xlsx": ("loaded", 1),
        "klachten_2024-Q1.xlsx": ("loaded", 1),
        "politie_incidenten_2024-01.csv": ("loaded", 0),
        "politie_incidenten_2024-02.csv": ("loaded", 0),
        "politie_incidenten_2024-03.csv": ("loaded", 0),
        "klachten_2024-Q1_v2.xlsx": ("loaded", 1),
    }
    # the check that blocked publication, and the disclosure checks built on the mart
    for test in (
        "assert_aggregates_are_sums_of_their_parts",
        "assert_published_cells_respect_primary_rules",
        "assert_no_suppressed_cell_recoverable",
        "int_indicator_rollup.rollup_sums_one_delivery_per_period_at_every_level",
    ):
        assert built.results[test] == "pass", test
    assert built.results["fct_indicator_values"] == "success"


def test_rejected_population_rows_carry_forward_and_parents_sum_the_same_values(built):
    delivered_2024 = sum(residents(c, 2024) for c in NEIGHBOURHOODS if c not in REJECTED)
    carried = {code: residents(code, 2023) for code in REJECTED}
    [(raw_2024,)] = built.query("SELECT sum(residents) FROM raw.population WHERE _period = '2024'")
    for month in MONTHS:
        cells = built.cells("property_crime_rate", month)
        assert set(cells) == set(LEVEL)
        _assert_parents_are_sums(cells, unplaced=UNPLACED)
        for code in NEIGHBOURHOODS:
            numerator, denominator, carried_amount, areas_carried, missing = cells[code]
            assert numerator == property_crimes(code, month)
            if code in REJECTED:  # last year's residents, and said so
                assert (denominator, carried_amount, areas_carried) == (carried[code],) * 2 + (1,)
            else:
                assert (denominator, carried_amount, areas_carried) == (residents(code, 2024), 0, 0)
            assert missing == 0
        numerator, denominator, carried_amount, areas_carried, missing = cells[TOP]
        # the city: every incident delivered, and the residents the office delivered plus
        # the two neighbourhoods carried forward, shown apart
        assert numerator == sum(property_crimes(c, month) for c in NEIGHBOURHOODS) + UNPLACED
        assert denominator - carried_amount == delivered_2024 == raw_2024
        assert (carried_amount, areas_carried, missing) == (sum(carried.values()), 2, 0)
        assert cells["04017A"][3] == cells["04017B"][3] == 1 and cells["04017C"][3] == 0


def test_correction_listing_19_of_20_neighbourhoods_is_summed_as_delivered(built):
    rows = housing_rows("2024-Q1_v2")
    complaints: dict[str, float] = defaultdict(float)
    dwellings: dict[str, float] = {}
    for code, _, _, count, homes in rows:
        complaints[code] += count
        dwellings[code] = homes
    cells = built.cells("tenant_complaint_rate", "2024-Q1")
    _assert_parents_are_sums(cells)
    # the dropped neighbourhood has no figure for the quarter (not a zero, not an older
    # quarter's dwellings) and is counted as missing up the hierarchy
    assert cells[DROPPED] == (None, None, 0, 0, 1)
    assert cells["04017C"][4] == cells[TOP][4] == 1 and cells["04017A"][4] == 0
    for code in HOUSING:
        if code != DROPPED:
            assert cells[code][:2] == (complaints[code], dwellings[code]), code
    # the city's totals are exactly what the association delivered in its correction
    delivered = built.query(
        "SELECT sum(complaints), sum(dwellings) FROM (SELECT neighbourhood_code, "
        "sum(complaints) AS complaints, max(dwellings) AS dwellings "
        "FROM raw.housing_complaints WHERE _period = '2024-Q1' GROUP BY ALL)"
    )
    assert cells[TOP][:2] == (sum(complaints.values()), sum(dwellings.values())) == delivered[0]
    assert cells[TOP][2:] == (0, 0, 1)
    # published: the dropped neighbourhood shows no count, no value and nothing withheld
    [shown] = built.query(
        "SELECT numerator, denominator, value, suppressed, areas_missing "
        "FROM marts.fct_indicator_values WHERE indicator_id = 'tenant_complaint_rate' "
        "AND period_id = '2024-Q1' AND area_id = ?",
        [DROPPED],
    )
    assert shown == (None, None, None, False, 1)
    # the quarter before is complete and untouched
    before = built.cells("tenant_complaint_rate", "2023-Q4")
    _assert_parents_are_sums(before)
    assert before[DROPPED][0] is not None and before[TOP][2:] == (0, 0, 0)
