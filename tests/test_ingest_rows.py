"""Row-level rules on real partner-style files: every row is loaded or kept with its reason."""

from __future__ import annotations

import json

import pytest

from tests.quirky import POLICE_HEADER, housing_xlsx, police_csv, police_row

POLICE = "politie_incidenten_2023-04.csv"


def _rejects(warehouse, feed: str) -> dict[int, tuple[str, str, str]]:
    rows = warehouse.all(
        "SELECT row_number, column_name, reason, row_text FROM meta.rejected_rows WHERE feed = ?",
        [feed],
    )
    return {r[0]: r[1:] for r in rows}


def test_police_file_types_values_and_keeps_lineage(warehouse):
    warehouse.drop(
        POLICE, police_csv([police_row(1), police_row(2, **{"Schade EUR": "12,5"})]), "cp1252"
    )
    [outcome] = warehouse.ingest()
    assert (outcome.status, outcome.rows_read, outcome.rows_accepted) == ("loaded", 2, 2)
    rows = warehouse.all(
        "SELECT incident_id, occurred_on, damage_eur, area_code, _period, _row_number, "
        "_file_sha256 "
        "FROM raw.police_incidents ORDER BY _row_number"
    )
    assert [r[2] for r in rows] == [1250.5, 12.5]
    assert str(rows[0][1]) == "2023-04-02"
    assert {r[4] for r in rows} == {"2023-04"}
    assert [r[5] for r in rows] == [2, 3]  # line numbers in the partner's file
    assert rows[0][6] == outcome.sha256


@pytest.mark.parametrize(
    ("override", "column", "reason_part"),
    [
        ({"Datum feit": "31/02/2023"}, "occurred_on", "is not a date in the form %d/%m/%Y"),
        ({"Datum feit": "2023-04-02"}, "occurred_on", "is not a date"),
        ({"Datum registratie": ""}, "registered_on", "required value missing"),
        ({"Feitcategorie": "moord"}, "offence_category", "is not allowed; allowed: woninginbraak"),
        ({"Statistische sector": "04017G001"}, "area_code", "not a known neighbourhood code"),
        ({"Schade EUR": "twaalf"}, "damage_eur", "is not a number (decimal mark ','"),
        ({"Registratienummer": ""}, "incident_id", "required value missing"),
    ],
)
def test_broken_value_rejects_only_its_row_naming_column_and_reason(
    warehouse, override, column, reason_part
):
    warehouse.drop(
        POLICE, police_csv([police_row(1), police_row(2, **override), police_row(3)]), "cp1252"
    )
    [outcome] = warehouse.ingest()
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (3, 2, 1)
    rejects = _rejects(warehouse, "police_incidents")
    assert set(rejects) == {3}
    got_column, reason, text = rejects[3]
    assert got_column == column
    assert reason_part in reason
    assert text.split(";") == [
        *police_row(2, **override)[:7],
        "[personal data removed]",
        "[personal data removed]",
    ]
    assert "Dhaené" not in text and "85.07.12" not in text  # personal values masked


def test_out_of_range_values_load_for_the_quality_suites_to_judge(warehouse):
    """min/max are plausibility rules: a negative amount is loaded, and the quality
    suite (an ERROR expectation) then blocks publication instead of a silent drop."""
    warehouse.drop(POLICE, police_csv([police_row(1, **{"Schade EUR": "-5"})]), "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.rows_accepted == 1
    assert warehouse.one("SELECT damage_eur FROM raw.police_incidents") == (-5.0,)


def test_blank_area_is_an_unplaceable_incident_not_an_error(warehouse):
    warehouse.drop(POLICE, police_csv([police_row(1, **{"Statistische sector": ""})]), "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.rows_accepted == 1
    assert warehouse.one("SELECT area_code FROM raw.police_incidents") == (None,)


def test_null_markers_in_numeric_columns_mean_missing(warehouse):
    rows = [police_row(i, **{"Schade EUR": m}) for i, m in enumerate(["x", ".", "-", ""], start=1)]
    warehouse.drop(POLICE, police_csv(rows), "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.rows_accepted == 4
    assert warehouse.one("SELECT count(damage_eur) FROM raw.police_incidents") == (0,)


def test_duplicate_key_in_one_file_keeps_the_first(warehouse):
    warehouse.drop(
        POLICE, police_csv([police_row(1), police_row(1, Feitcategorie="vandalisme")]), "cp1252"
    )
    [outcome] = warehouse.ingest()
    assert (outcome.rows_accepted, outcome.rows_rejected) == (1, 1)
    assert (
        "duplicate key (incident_id=PV/2023/000001): first seen on row 2"
        in _rejects(warehouse, "police_incidents")[3][1]
    )
    assert warehouse.one("SELECT offence_category FROM raw.police_incidents") == ("fietsdiefstal",)


def test_line_with_too_many_fields_is_rejected_and_its_text_withheld(warehouse):
    lines = police_csv([police_row(1), [*police_row(2), "spill"], police_row(3)])
    warehouse.drop(POLICE, lines, "cp1252")
    [outcome] = warehouse.ingest()
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (3, 2, 1)
    [(row, column, reason, text)] = warehouse.all(
        "SELECT row_number, column_name, reason, row_text FROM meta.rejected_rows"
    )
    assert row == 3 and column is None and "more fields than the header" in reason
    assert text == "[withheld: this feed carries personal data]"


def test_truncated_csv_keeps_the_complete_rows(warehouse):
    text = police_csv([police_row(1), police_row(2), police_row(3)])
    warehouse.drop(POLICE, text[: text.rindex("04017A001")], "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.rows_read == outcome.rows_accepted + outcome.rows_rejected == 3
    assert outcome.rows_accepted == 2
    assert "fewer fields than the header" in _rejects(warehouse, "police_incidents")[4][1]


def test_personal_data_never_reaches_raw_in_clear(warehouse):
    warehouse.drop(POLICE, police_csv([police_row(1)]), "cp1252")
    warehouse.ingest()
    columns = [r[0] for r in warehouse.all("DESCRIBE raw.police_incidents")]
    assert "victim_name" not in columns
    (pseudonym,) = warehouse.one("SELECT suspect_national_number FROM raw.police_incidents")
    assert len(pseudonym) == 64 and "85.07.12" not in pseudonym
    dump = str(warehouse.all("SELECT * FROM raw.police_incidents")) + str(
        warehouse.all("SELECT * FROM meta.rejected_rows")
    )
    assert "Dhaené" not in dump and "85.07.12-123.45" not in dump


def test_pseudonym_is_stable_across_deliveries_and_keyed(warehouse, monkeypatch):
    warehouse.drop(POLICE, police_csv([police_row(1)]), "cp1252")
    warehouse.drop("politie_incidenten_2023-05.csv", police_csv([police_row(7)]), "cp1252")
    warehouse.ingest()
    assert warehouse.one(
        "SELECT count(DISTINCT suspect_national_number) FROM raw.police_incidents"
    ) == (1,)
    import hashlib

    clear_hash = hashlib.sha256(b"85.07.12-123.45").hexdigest()
    assert warehouse.one(
        "SELECT count(*) FROM raw.police_incidents WHERE suspect_national_number = ?", [clear_hash]
    ) == (0,)


def test_youth_suppressed_counts_become_null_with_a_flag(warehouse):
    body = (
        "\ufeffbuurt;actie;activiteiten;deelnemers;deelnemers 12-24\n"
        "04017A001;ACT-1;4;<5;<5\n04017A002;ACT-1;6;23;17\n"
    )
    warehouse.drop("deelname_202304.csv", body, "utf-8")
    [outcome] = warehouse.ingest()
    assert outcome.rows_accepted == 2, outcome
    rows = warehouse.all(
        "SELECT neighbourhood_code, participants, participants_suppressed "
        "FROM raw.youth_participation ORDER BY 1"
    )
    assert rows == [("04017A001", None, True), ("04017A002", 23, False)]


def test_population_codes_get_their_leading_zero_back_and_thousands_parse(warehouse):
    body = (
        "sector;leeftijdsklasse;inwoners;woningen\n4017A001;25-44;1.234;2.001\n4017A002;65+;987;\n"
    )
    warehouse.drop("bevolking_2023.csv", body, "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.rows_accepted == 2, outcome
    assert warehouse.all("SELECT area_code, residents FROM raw.population ORDER BY 1") == [
        ("04017A001", 1234),
        ("04017A002", 987),
    ]


def test_housing_xlsx_title_row_and_total_row(warehouse):
    rows = [
        ["04017A001", "Grote Markt", "geluid", 12, 340],
        ["04017B002", "Molenwijk", "vervuiling", 3, 120],
    ]
    warehouse.drop("klachten_2023-Q2.xlsx", housing_xlsx(rows))
    [outcome] = warehouse.ingest()
    assert (outcome.status, outcome.period, outcome.rows_read, outcome.rows_accepted) == (
        "loaded",
        "2023-Q2",
        3,
        2,
    )
    [(row, reason)] = warehouse.all("SELECT row_number, reason FROM meta.rejected_rows")
    assert row == 6 and "summary row 'Totaal' is not data" in reason
    assert warehouse.all("SELECT complaints, dwellings FROM raw.housing_complaints ORDER BY 1") == [
        (3, 120),
        (12, 340),
    ]


def test_contact_centre_json_records_and_unknown_sector(warehouse):
    doc = {
        "export": {"maand": "2023-04"},
        "meldingen": [
            {
                "id": "M1",
                "aangemaakt": "2023-04-03T10:22:00",
                "categorie": "graffiti",
                "sector": "04017C003",
                "kanaal": "app",
                "melder_email": "a@b.example",
            },
            {
                "id": "M2",
                "aangemaakt": "2023-04-04T11:00:00",
                "categorie": "zwerfvuil",
                "sector": "99999X999",
                "kanaal": "web",
                "melder_email": "c@d.example",
            },
        ],
    }
    warehouse.drop("meldingen_2023_04.json", json.dumps(doc))
    [outcome] = warehouse.ingest()
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (2, 1, 1)
    assert warehouse.one(
        "SELECT report_id, reported_at::VARCHAR FROM raw.contact_centre_reports"
    ) == ("M1", "2023-04-03 10:22:00")
    assert "99999X999" in _rejects(warehouse, "contact_centre_reports")[2][1]
    assert "a@b.example" not in str(warehouse.all("SELECT * FROM raw.contact_centre_reports"))


def test_registry_lists_of_areas(warehouse):
    body = (
        "actie_id;partner;naam;doel;doelbuurten;vergelijkingsbuurten;start;einde;omschrijving\n"
        "ACT-1;youth_work;Buurtsport;G1;04017A001|04017A002;04017B001;2024-03-01;;sport\n"
        "ACT-2;youth_work;Straathoek;G1;04017A001|04017Q001;;2024-03-01;;\n"
    )
    warehouse.drop("acties.csv", body)
    [outcome] = warehouse.ingest()
    assert (outcome.period, outcome.rows_accepted, outcome.rows_rejected) == ("snapshot", 1, 1)
    assert warehouse.one("SELECT target_areas FROM raw.activity_registry") == (
        ["04017A001", "04017A002"],
    )
    assert (
        "lists a code that is not a known neighbourhood"
        in _rejects(warehouse, "activity_registry")[3][1]
    )


def test_hostile_header_and_values_are_data_not_sql(warehouse):
    header = [*POLICE_HEADER, 'x"; DROP TABLE meta.file_ledger; --']
    rows = [[*police_row(1, Plaats="andere"), "'); DROP TABLE raw.police_incidents; --"]]
    warehouse.drop(POLICE, police_csv(rows, header=header), "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.rows_accepted == 1
    assert any("DROP TABLE meta.file_ledger" in w for w in outcome.warnings)
    assert warehouse.one("SELECT count(*) FROM meta.file_ledger") == (1,)
