"""A corpus of hostile deliveries, built by the tests: each with what the ledger must say.

Every class of file the reliability review threw at the landing folder is here, with
personal values planted where a careless message would repeat them. Nothing is read
from outside the project: the corpus is generated on each run.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import openpyxl

from tests.quirky import HOUSING_HEADER, POLICE_HEADER, police_csv, police_row

# Values that must never appear in any text the platform writes.
VICTIM = "Noel Slachtoffer-Vermeulen"
NATIONAL_NUMBER = "61.02.28-345.67"
EMAIL = "geheim.persoon@example.org"
RESPONDENT = "RESP-778899-Z"
PERSONAL_VALUES = (VICTIM, NATIONAL_NUMBER, EMAIL, RESPONDENT)

SURVEY_HEADER = (
    "respondent;geboortejaar;wijk;leeftijdsgroep;gewicht;voelt_zich_onveilig;vermijdt_plekken;"
    "cohesie_1;cohesie_2;cohesie_3;cohesie_4;cohesie_5;vertrouwen_buren;vertrouwen_politie"
)


@dataclass(frozen=True)
class Hostile:
    """One hostile file and the ledger line it must produce."""

    key: str
    name: str
    content: bytes
    status: str
    reason: str | None = None  # a fragment the reason must contain
    warning: str | None = None  # a fragment one warning must contain
    counts: tuple[int, int, int] | None = None  # read, accepted, rejected
    row_reason: str | None = None  # a fragment the rejected row's reason must contain


def _police(rows: list[list[str]], **kw) -> bytes:
    return police_csv(rows, **kw).encode("cp1252")


def _personal_row(n: int, **overrides: str) -> list[str]:
    return police_row(
        n,
        **{"Naam slachtoffer": VICTIM, "Rijksregisternummer verdachte": NATIONAL_NUMBER}
        | overrides,
    )


def _unbalanced_quote() -> bytes:
    rows = [_personal_row(n) for n in range(1, 1001)]
    rows[9][4] = '"openbare_weg'  # data row 10 opens a quote that never closes
    return _police(rows)


def _survey_without_header() -> bytes:
    line = f"{RESPONDENT};1961;04017A;45-64;1,2;1;0;3;3;4;2;3;1;1"
    return (line + "\n" + line.replace("778899", "778898") + "\n").encode()


def _json(records_text: str) -> bytes:
    return ('{"meldingen": [' + records_text + "]}").encode()


def _report(n: int, extra: str = "") -> str:
    return (
        f'{{"id": "M-{n}", "aangemaakt": "2023-04-0{n}T10:00:00", "categorie": "graffiti", '
        f'"sector": "04017A001", "kanaal": "app", "melder_email": "{EMAIL}"{extra}}}'
    )


def housing_workbook(
    rows: list[list[object]], *, hidden_first: bool = False, formula: bool = False
) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Klachten"
    sheet.append(["Overlastklachten 2023 Q2"])
    sheet.append([])
    sheet.append(HOUSING_HEADER)
    for row in rows:
        sheet.append(row)
    if formula:
        # written by a program, never opened in Excel: no cached value
        sheet.append(["04017A003", "Buurt 3", "geluid", "=D4+D5", 40])
    if hidden_first:
        notes = book.create_sheet("Oude cijfers", 0)
        notes.append(["niet gebruiken"])
        notes.sheet_state = "hidden"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    """A valid workbook plus a part that unpacks to 300 MB of zeros (~300 KB packed)."""
    buffer = io.BytesIO(housing_workbook([["04017A001", "Buurt 1", "geluid", 3, 100]]))
    block = bytes(1 << 20)
    with (
        zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/media/padding.bin", "w", force_zip64=True) as part,
    ):
        for _ in range(300):
            part.write(block)
    return buffer.getvalue()


def _mixed_line_endings() -> bytes:
    lines = [
        "buurt;actie;activiteiten;deelnemers;deelnemers 12-24",
        "04017A001;ACT-1;4;12;9",
        "04017A002;ACT-1;3;10;8",
        "04017A003;ACT-1;2;7;5",
    ]
    return (lines[0] + "\r\n" + lines[1] + "\n" + lines[2] + "\r" + lines[3] + "\r\n").encode()


def corpus() -> list[Hostile]:
    """The single-file cases; upload, ordering and re-delivery scenarios are tests of their own."""
    month = "politie_incidenten_2023-04"
    return [
        Hostile(
            "unbalanced_quote",
            f"{month}.csv",
            _unbalanced_quote(),
            "rejected",
            reason="at line 11 a quote",
            counts=(1000, 0, 1000),
        ),
        Hostile(
            "police_without_header",
            f"{month}.csv",
            _police([_personal_row(1), _personal_row(2)])[len(";".join(POLICE_HEADER)) + 2 :],
            "rejected",
            reason="none is a column of the contract",
        ),
        Hostile(
            "survey_without_header",
            "bewonersbevraging_2023.csv",
            _survey_without_header(),
            "rejected",
            reason="none is a column of the contract",
        ),
        Hostile(
            "malformed_json",
            "meldingen_2023_04.json",
            _json(_report(1) + ', {"id": "M-2", "melder_email": "' + EMAIL + '" oops}'),
            "rejected",
            reason="not valid JSON",
        ),
        Hostile(
            "duplicate_json_keys",
            "meldingen_2023_04.json",
            _json(_report(1) + ", " + _report(2, extra=', "kanaal": "web"')),
            "loaded",
            warning="name a key twice",
            counts=(2, 2, 0),
        ),
        Hostile(
            "name_too_long",
            f"{month}_{'x' * 200}.csv",
            _police([police_row(1)]),
            "refused",
            reason="longer than",
        ),
        Hostile(
            "future_period",
            "politie_incidenten_2099-01.csv",
            _police([police_row(1)]),
            "rejected",
            reason="quarantined: period 2099-01 has not started yet",
        ),
        Hostile(
            "implausible_period",
            "politie_incidenten_1850-01.csv",
            _police([police_row(1)]),
            "rejected",
            reason="quarantined: period 1850-01 lies before 1900",
        ),
        Hostile(
            "two_periods_in_name",
            "politie_incidenten_export_2024-02-05_voor_2024-01.csv",
            _police([police_row(1)]),
            "rejected",
            reason="states several periods (2024-02, 2024-01)",
        ),
        Hostile(
            "empty_required_number",
            "bevolking_2023.csv",
            "sector;leeftijdsklasse;inwoners;woningen\n4017A001;12-17;1.250;600\n"
            "4017A002;12-17;;610\n".encode("cp1252"),
            "loaded",
            counts=(2, 1, 1),
            row_reason="required value missing",
        ),
        Hostile(
            "numbers_in_the_wrong_marks",
            f"{month}.csv",
            _police(
                [
                    police_row(1, **{"Schade EUR": "1,234.5"}),
                    police_row(2, **{"Schade EUR": "1.2.3,4"}),
                    police_row(3, **{"Schade EUR": "1.234,5"}),
                    police_row(4, **{"Schade EUR": "12.5"}),
                ]
            ),
            "loaded",
            counts=(4, 1, 3),
            row_reason="is not a number",
        ),
        Hostile(
            "two_digit_year",
            f"{month}.csv",
            _police([police_row(1), police_row(2, **{"Datum feit": "01/06/22"})]),
            "loaded",
            counts=(2, 1, 1),
            row_reason="four-digit year",
        ),
        Hostile(
            "nul_byte",
            f"{month}.csv",
            _police([police_row(1), police_row(2, Registratienummer="PV/2023/0\x0002")]),
            "loaded",
            counts=(2, 1, 1),
            row_reason="NUL byte",
        ),
        Hostile(
            "utf16_with_bom",
            f"{month}.csv",
            police_csv([police_row(1), police_row(2)]).encode("utf-16"),
            "loaded",
            warning="UTF-16",
            counts=(2, 2, 0),
        ),
        Hostile(
            "utf16_without_bom",
            f"{month}.csv",
            police_csv([police_row(1)]).encode("utf-16-le"),
            "rejected",
            reason="UTF-16 without a byte-order mark",
        ),
        Hostile(
            "mixed_line_endings",
            "deelname_202304.csv",
            _mixed_line_endings(),
            "loaded",
            counts=(3, 3, 0),
        ),
        Hostile(
            "hidden_sheet",
            "klachten_2023-Q2.xlsx",
            housing_workbook([["04017A001", "Buurt 1", "geluid", 3, 100]], hidden_first=True),
            "loaded",
            warning="hidden sheet(s) ['Oude cijfers']",
            counts=(1, 1, 0),
        ),
        Hostile(
            "formula_without_value",
            "klachten_2023-Q2.xlsx",
            housing_workbook([["04017A001", "Buurt 1", "geluid", 3, 100]], formula=True),
            "loaded",
            counts=(2, 1, 1),
            warning="1 formula cell(s) have no saved value",
            row_reason="required value missing",
        ),
        Hostile(
            "zip_bomb",
            "klachten_2023-Q2.xlsx",
            _zip_bomb(),
            "rejected",
            reason="would unpack to 300 MB",
        ),
        Hostile(
            "not_a_spreadsheet",
            "klachten_2023-Q2.xlsx",
            b"PK\x03\x04 this is not really a zip file",
            "rejected",
            reason="not a readable .xlsx",
        ),
        Hostile(
            "utf8_under_cp1252_contract",
            f"{month}.csv",
            police_csv([police_row(1)]).encode("utf-8"),
            "rejected",
            reason="file is UTF-8 but the contract says cp1252",
        ),
        Hostile(
            "too_many_fields_on_a_line",
            f"{month}.csv",
            _police([police_row(1), [*police_row(2), "extra"], police_row(3)]),
            "loaded",
            counts=(3, 2, 1),
            row_reason="more fields than the header",
        ),
        Hostile(
            "renamed_required_column",
            f"{month}.csv",
            _police(
                [police_row(1)],
                header=[h if h != "Feitcategorie" else "Feit categorie" for h in POLICE_HEADER],
            ),
            "rejected",
            reason="renamed to 'Feit categorie'?",
        ),
        Hostile(
            "registration_outside_the_month",
            f"{month}.csv",
            _police([police_row(1), police_row(2, **{"Datum registratie": "28/03/2023"})]),
            "loaded",
            warning="1 row(s) have registered_on outside the period 2023-04",
            counts=(2, 2, 0),
        ),
        Hostile("empty_file", f"{month}.csv", b"", "rejected", reason="file is empty"),
    ]
