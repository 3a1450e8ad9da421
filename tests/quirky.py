"""Builders of partner files with real-world quirks, for tests (not shipped)."""

from __future__ import annotations

import io

import openpyxl

POLICE_HEADER = [
    "Registratienummer",
    "Datum feit",
    "Datum registratie",
    "Feitcategorie",
    "Plaats",
    "Statistische sector",
    "Schade EUR",
    "Naam slachtoffer",
    "Rijksregisternummer verdachte",
]


def police_row(n: int, **overrides: str) -> list[str]:
    row = {
        "Registratienummer": f"PV/2023/{n:06d}",
        "Datum feit": "02/04/2023",
        "Datum registratie": "03/04/2023",
        "Feitcategorie": "fietsdiefstal",
        "Plaats": "openbare_weg",
        "Statistische sector": "04017A001",
        "Schade EUR": "1.250,50",
        "Naam slachtoffer": "Jeroen Dhaené",
        "Rijksregisternummer verdachte": "85.07.12-123.45",
    } | overrides
    return [row[h] for h in POLICE_HEADER]


def police_csv(rows: list[list[str]], header: list[str] | None = None, delimiter: str = ";") -> str:
    lines = [delimiter.join(header or POLICE_HEADER), *(delimiter.join(r) for r in rows)]
    return "\r\n".join(lines) + "\r\n"


HOUSING_HEADER = ["Buurtcode", "Buurt", "Type klacht", "Aantal klachten", "Aantal woningen"]


def housing_xlsx(
    rows: list[list[object]], title: str = "Overlastklachten 2023 Q2", total: bool = True
) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Klachten"
    sheet.append([title])
    sheet.append([])
    sheet.append(HOUSING_HEADER)
    for row in rows:
        sheet.append(row)
    if total:
        sheet.append(["Totaal", None, None, sum(r[3] for r in rows), sum(r[4] for r in rows)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
