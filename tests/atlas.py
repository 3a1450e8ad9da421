"""A second city, shaped like a real police crime atlas (open data), written by the tests.

Atlasstadt has three districts (``bezirk``) of two or three neighbourhoods (``lor``). The
police publish one wide file for many years at once: one row per neighbourhood and year,
the residents and several offence counts in columns, German headers, semicolons and a
BOM. Crimes that could not be placed in a neighbourhood sit on pseudo-area rows:
``019900`` is "district 01, not assignable", ``999999`` "city, not assignable". One code
the city does not know (``049999``) must be rejected with its reason, never counted.

Everything here is data a city would write: the folder, the contracts, the agenda. The
truth the tests compare with is computed from the rows below in plain Python.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import yaml

CITY = "stadt"
DISTRICTS = {
    "01": ["010001", "010002", "010003"],
    "02": ["020001", "020002"],
    "03": ["030001", "030002", "030003"],
}
OFFENCES = {
    "straftaten": "Straftaten insgesamt",
    "raub": "Raub",
    "graffiti": "Graffiti",
    "fahrraddiebstahl": "Fahrraddiebstahl",
}
YEARS = list(range(2012, 2020))
# pseudo-areas: placed at a district, or at the city, never in a neighbourhood
PSEUDO = {"019900": "01", "029900": "02", "999999": None}
UNKNOWN = "049999"
REPORTS_YEARS = [2012, 2013, 2014, 2015]
HEADER = ["LOR-Schlüssel", "Bezeichnung", "Jahr", "Einwohner", *OFFENCES.values()]


def atlas_rows(years: list[int] = YEARS, seed: int = 7) -> list[dict[str, str]]:
    """The file's rows, as text, in the partner's column names."""
    rng = random.Random(seed)
    rows = []
    for year in years:
        for lors in DISTRICTS.values():
            for lor in lors:
                rows.append(_row(rng, lor, f"LOR {lor}", year, str(rng.randint(2000, 9000))))
        for code, district in PSEUDO.items():
            name = f"Bezirk {district} nicht zuzuordnen" if district else "nicht zuzuordnen"
            rows.append(_row(rng, code, name, year, ""))
        rows.append(_row(rng, UNKNOWN, "unbekannt", year, ""))
    return rows


def _row(rng: random.Random, code: str, name: str, year: int, residents: str) -> dict:
    counts = {header: str(rng.randint(0, 60)) for header in list(OFFENCES.values())[1:]}
    total = sum(int(v) for v in counts.values()) + rng.randint(0, 40)
    return {
        "LOR-Schlüssel": code,
        "Bezeichnung": name,
        "Jahr": str(year),
        "Einwohner": residents,
        "Straftaten insgesamt": str(total),
        **counts,
    }


def atlas_csv(rows: list[dict[str, str]]) -> bytes:
    lines = [";".join(HEADER)] + [";".join(r[h] for h in HEADER) for r in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def reports_csv(year: int, seed: int = 3) -> bytes:
    """One year of the citizens' app: reports per district."""
    rng = random.Random(seed + year)
    lines = ["bezirk,meldungen", *(f"{d},{rng.randint(20, 400)}" for d in DISTRICTS)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parents() -> dict[str, str | None]:
    """Every area and its parent, as areas.csv says."""
    up: dict[str, str | None] = {CITY: None}
    for district, lors in DISTRICTS.items():
        up[district] = CITY
        up |= {lor: district for lor in lors}
    return up


def expected_totals(rows: list[dict[str, str]], column: str) -> dict[tuple[str, str], int]:
    """(area, year) -> the sum of ``column`` over the rows that belong to the area: a
    neighbourhood's own row, a district's neighbourhoods plus its pseudo-area, the city
    everything known. The unknown code counts nowhere."""
    up = parents()
    header = (OFFENCES | {"einwohner": "Einwohner"})[column]
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        code = row["LOR-Schlüssel"]
        if code in up:
            area = code
        elif code in PSEUDO:
            area = PSEUDO[code] or CITY
        else:
            continue
        while area is not None:
            totals[(area, row["Jahr"])] += int(row[header] or 0)
            area = up[area]
    return dict(totals)


def write_city(folder: Path, extra_contract: dict | None = None) -> Path:
    """The city folder, ready for ``cim check-config`` and the pipeline."""
    (folder / "feeds").mkdir(parents=True)
    (folder / "agenda").mkdir()
    _yaml(
        folder / "city.yaml",
        {
            "id": "atlasstadt",
            "name": "Atlasstadt",
            "country": "DE",
            "timezone": "Europe/Berlin",
            "area_levels": ["lor", "bezirk", "stadt"],
            "languages": ["de", "en"],
            "areas_file": "areas.csv",
            # files arrive by rsync with their times: the file's time is when it was sent
            "ingestion": {"receipt_time": "file_mtime"},
        },
    )
    lines = [
        "area_code,name,level,parent_code,valid_from,valid_to",
        f"{CITY},Atlasstadt,stadt,,2000-01-01,",
    ]
    for district, lors in DISTRICTS.items():
        lines.append(f"{district},Bezirk {district},bezirk,{CITY},2000-01-01,")
        lines += [f"{lor},LOR {lor},lor,{district},2000-01-01," for lor in lors]
    (folder / "areas.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _yaml(
        folder / "partners.yaml",
        {
            "partners": [
                {
                    "id": "polizei",
                    "name": "Polizei Atlasstadt",
                    "kind": "police",
                    "contact": {"name": "Lagezentrum", "email": "daten@polizei.example"},
                },
                {
                    "id": "senat",
                    "name": "Senatsverwaltung",
                    "kind": "backbone",
                    "contact": {"name": "Monitoring", "email": "monitoring@senat.example"},
                },
            ]
        },
    )
    contract = {
        "feed": "kriminalitaetsatlas",
        "partner": "polizei",
        "description": "Offences per neighbourhood and year, several years in one file.",
        "file_pattern": "kriminalitaetsatlas_*.csv",
        "format": "csv",
        "dialect": {"encoding": "utf-8", "delimiter": ";"},
        "period": {"grain": "year", "column": "jahr"},
        "sla": {"cadence": "yearly", "due_days": 90, "grace_days": 30},
        "start_period": "2012",
        # the police sent the history on request in 2026: owed, but not late
        "backfill": {"from": 2012, "to": 2024},
        "keys": ["lor", "jahr"],
        "columns": [
            {
                "name": "lor",
                "source": "LOR-Schlüssel",
                "type": "area_code",
                "area_level": "lor",
                "required": True,
                "placement": [
                    {
                        "pattern": r"(\d{2})9900",
                        "level": "bezirk",
                        "area": r"\1",
                        "description": "district XX, not assignable to a neighbourhood",
                    },
                    {"pattern": "999999", "level": "stadt", "description": "not assignable"},
                ],
            },
            {"name": "bezeichnung", "source": "Bezeichnung", "type": "text"},
            {"name": "jahr", "source": "Jahr", "type": "integer", "required": True},
            {"name": "einwohner", "source": "Einwohner", "type": "integer", "min": 0},
            *(
                {"name": name, "source": header, "type": "integer", "required": True, "min": 0}
                for name, header in OFFENCES.items()
            ),
        ],
    } | (extra_contract or {})
    _yaml(folder / "feeds" / "kriminalitaetsatlas.yaml", contract)
    # the reports of a citizens' app per district, one file a year, switched off after 2015
    _yaml(
        folder / "feeds" / "buergermeldungen.yaml",
        {
            "feed": "buergermeldungen",
            "partner": "senat",
            "description": "Citizens' reports per district and year; the app was closed in 2016.",
            "file_pattern": "buergermeldungen_*.csv",
            "format": "csv",
            "period": {"grain": "year", "from_filename": r"(?P<year>\d{4})"},
            "sla": {"cadence": "yearly", "due_days": 60, "grace_days": 14},
            "start_period": str(REPORTS_YEARS[0]),
            "end_period": str(REPORTS_YEARS[-1]),
            "keys": ["bezirk"],
            "columns": [
                {"name": "bezirk", "type": "area_code", "area_level": "bezirk", "required": True},
                {"name": "meldungen", "type": "integer", "required": True, "min": 0},
            ],
        },
    )
    _yaml(
        folder / "agenda" / "goals.yaml",
        {"goals": [{"id": "G1", "name": "Weniger Kriminalität", "description": "Fewer offences."}]},
    )
    term = {"feed": "kriminalitaetsatlas", "area": "lor"}
    _yaml(
        folder / "agenda" / "indicators.yaml",
        {
            "indicators": [
                {
                    "id": "graffiti",
                    "name": "Graffiti",
                    "definition": "Registered graffiti, per year.",
                    "goal": "G1",
                    "owner": "polizei",
                    "kind": "count",
                    "unit": "offences",
                    "direction": "down",
                    "cadence": "year",
                    "lowest_level": "lor",
                    "numerator": [term | {"sum": "graffiti"}],
                },
                {
                    "id": "straftaten",
                    "name": "Offences",
                    "definition": "All offences, per year.",
                    "goal": "G1",
                    "owner": "polizei",
                    "kind": "count",
                    "unit": "offences",
                    "direction": "down",
                    "cadence": "year",
                    "lowest_level": "lor",
                    "numerator": [term | {"sum": "straftaten"}],
                },
                {
                    "id": "meldungen",
                    "name": "Citizens' reports",
                    "definition": "Reports made in the citizens' app, per district and year.",
                    "goal": "G1",
                    "owner": "senat",
                    "kind": "count",
                    "unit": "reports",
                    "direction": "down",
                    "cadence": "year",
                    "lowest_level": "bezirk",
                    "numerator": [
                        {"feed": "buergermeldungen", "sum": "meldungen", "area": "bezirk"}
                    ],
                },
                {
                    "id": "raub_rate",
                    "name": "Robberies per 100,000 residents",
                    "definition": "Robberies per 100,000 residents (the residents column of "
                    "the same file), per year.",
                    "goal": "G1",
                    "owner": "polizei",
                    "kind": "rate",
                    "unit": "per 100,000 residents",
                    "multiplier": 100000,
                    "direction": "down",
                    "cadence": "year",
                    "lowest_level": "lor",
                    "numerator": [term | {"sum": "raub"}],
                    "denominator": term | {"sum": "einwohner"},
                },
            ]
        },
    )
    # the city's own words: its levels in German and English
    (folder / "i18n").mkdir()
    _yaml(
        folder / "i18n" / "de.yaml",
        {
            "levels": {
                "lor": {"name": "Planungsraum", "plural": "Planungsräume"},
                "bezirk": {"name": "Bezirk", "plural": "Bezirke"},
                "stadt": {"name": "Stadt", "plural": "Städte"},
            },
            "indicators": {"straftaten": {"name": "Straftaten insgesamt", "unit": "Fälle"}},
        },
    )
    _yaml(
        folder / "i18n" / "en.yaml",
        {
            "levels": {
                "lor": {"name": "planning area", "plural": "planning areas"},
                "bezirk": {"name": "district", "plural": "districts"},
                "stadt": {"name": "city", "plural": "cities"},
            }
        },
    )
    _yaml(folder / "agenda" / "targets.yaml", {"targets": []})
    return folder


def _yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
