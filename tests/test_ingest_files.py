"""File-level guarantees: nothing lost, nothing twice, bad files never stop other feeds."""

from __future__ import annotations

import os

import pytest

from tests.quirky import POLICE_HEADER, housing_xlsx, police_csv, police_row

POLICE = "politie_incidenten_2023-04.csv"
YOUTH = "deelname_202304.csv"
YOUTH_BODY = "buurt;actie;activiteiten;deelnemers;deelnemers 12-24\n04017A001;ACT-1;4;12;9\n"


def _ledger(warehouse):
    return warehouse.all(
        "SELECT original_name, status, period, rows_read, rows_accepted, rows_rejected, reason "
        "FROM meta.file_ledger ORDER BY loaded_at"
    )


def test_same_file_twice_changes_nothing(warehouse):
    content = police_csv([police_row(1), police_row(2)])
    warehouse.drop(POLICE, content, "cp1252")
    warehouse.ingest()
    before = warehouse.all("SELECT * FROM raw.police_incidents ORDER BY incident_id")
    warehouse.drop(
        "politie_incidenten_2023-04 (1).csv", content, "cp1252"
    )  # resent under another name
    [outcome] = warehouse.ingest()
    assert outcome.status == "duplicate"
    assert "identical to 'politie_incidenten_2023-04.csv'" in outcome.reason
    assert warehouse.all("SELECT * FROM raw.police_incidents ORDER BY incident_id") == before
    assert [row[1] for row in _ledger(warehouse)] == ["loaded", "duplicate"]


def test_redelivery_of_a_period_replaces_it_and_keeps_the_old_version(warehouse):
    warehouse.drop(
        POLICE, police_csv([police_row(1), police_row(2)]), "cp1252", mtime=1_700_000_000
    )
    warehouse.drop(
        "politie_incidenten_2023-05.csv", police_csv([police_row(9)]), "cp1252", mtime=1_700_000_001
    )
    warehouse.ingest()
    corrected = police_csv([police_row(1), police_row(2), police_row(3)])
    warehouse.drop("politie_incidenten_2023-04_v2.csv", corrected, "cp1252", mtime=1_700_100_000)
    [outcome] = warehouse.ingest()
    assert outcome.status == "loaded"
    assert warehouse.all(
        "SELECT _period, count(*) FROM raw.police_incidents GROUP BY 1 ORDER BY 1"
    ) == [
        ("2023-04", 3),
        ("2023-05", 1),
    ]
    ledger = {row[0]: row[1] for row in _ledger(warehouse)}
    assert ledger == {
        POLICE: "superseded",
        "politie_incidenten_2023-05.csv": "loaded",
        "politie_incidenten_2023-04_v2.csv": "loaded",
    }
    archived = warehouse.all("SELECT archive_path FROM meta.file_ledger")
    assert all(os.path.exists(p) for (p,) in archived)
    assert len({p for (p,) in archived}) == 3


def test_original_and_correction_in_one_batch_load_in_delivery_order(warehouse):
    warehouse.drop(
        "politie_incidenten_2023-04_v2.csv",
        police_csv([police_row(1), police_row(2)]),
        "cp1252",
        mtime=1_700_100_000,
    )
    warehouse.drop(POLICE, police_csv([police_row(1)]), "cp1252", mtime=1_700_000_000)
    warehouse.ingest()
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (2,)


UNREADABLE = [
    pytest.param(
        POLICE,
        police_csv([police_row(1)]).encode("utf-8"),
        "file is UTF-8 but the contract says cp1252",
        id="utf8-instead-of-cp1252",
    ),
    pytest.param(
        "deelname_202305.csv",
        YOUTH_BODY.replace("ACT-1", "Café").encode("cp1252"),
        "is not valid utf-8-sig",
        id="cp1252-instead-of-utf8",
    ),
    pytest.param(
        POLICE,
        police_csv([police_row(1)], delimiter=",").encode("cp1252"),
        "is the file using another delimiter",
        id="wrong-delimiter",
    ),
    pytest.param(
        POLICE,
        police_csv(
            [police_row(1)[:2] + police_row(1)[3:]], header=POLICE_HEADER[:2] + POLICE_HEADER[3:]
        ).encode("cp1252"),
        "required column 'Datum registratie' is missing",
        id="missing-required-column",
    ),
    pytest.param(
        POLICE,
        police_csv(
            [police_row(1)], header=[h.replace("Datum feit", "Datum_feit_x") for h in POLICE_HEADER]
        ).encode("cp1252"),
        "required column 'Datum feit' (renamed to 'Datum_feit_x'?) is missing",
        id="renamed-column",
    ),
    pytest.param(POLICE, b"", "file is empty (0 bytes)", id="empty"),
    pytest.param(
        POLICE,
        police_csv([]).encode("cp1252"),
        "file has a header but no data rows",
        id="header-only",
    ),
    pytest.param(
        "klachten_2023-Q2.xlsx",
        housing_xlsx([["04017A001", "x", "geluid", 1, 2]])[:700],
        "not a readable .xlsx spreadsheet",
        id="truncated-xlsx",
    ),
    pytest.param(
        "klachten_2023-Q2.xlsx",
        b"Buurtcode;Type klacht\n04017A001;geluid\n",
        "not a readable .xlsx spreadsheet",
        id="csv-renamed-to-xlsx",
    ),
    pytest.param(
        "meldingen_2023_04.json",
        b'{"meldingen": [{"id": "M1",',
        "not valid JSON",
        id="truncated-json",
    ),
    pytest.param(
        "meldingen_2023_04.json",
        b'{"reports": []}',
        "expected a list of records at the key 'meldingen'",
        id="json-without-records",
    ),
    pytest.param(
        "politie_incidenten_april.csv",
        police_csv([police_row(1)]).encode("cp1252"),
        "does not say which period it covers",
        id="no-period-in-name",
    ),
    pytest.param(
        POLICE,
        police_csv([police_row(1, Feitcategorie="moord")]).encode("cp1252"),
        "no valid rows: every row was rejected",
        id="every-row-bad",
    ),
]


@pytest.mark.parametrize(("name", "content", "reason"), UNREADABLE)
def test_unreadable_file_is_rejected_whole_and_other_feeds_still_load(
    warehouse, name, content, reason, caplog
):
    warehouse.drop(name, content, mtime=1_700_000_000)
    warehouse.drop(YOUTH, YOUTH_BODY, mtime=1_700_000_001)
    outcomes = {o.name: o for o in warehouse.ingest()}
    bad = outcomes[name]
    assert bad.status == "rejected"
    assert reason in bad.reason
    assert bad.rows_read == bad.rows_accepted + bad.rows_rejected
    assert outcomes[YOUTH].status == "loaded"
    assert warehouse.one("SELECT count(*) FROM raw.youth_participation") == (1,)
    assert name in caplog.text and "rejected" in caplog.text  # the run log says it too
    # the bad file is archived and its ledger line says why
    assert warehouse.one(
        "SELECT status, reason FROM meta.file_ledger WHERE original_name = ?", [name]
    ) == ("rejected", bad.reason)


def test_rejected_redelivery_does_not_wipe_the_good_period(warehouse):
    warehouse.drop(POLICE, police_csv([police_row(1)]), "cp1252", mtime=1_700_000_000)
    warehouse.drop("politie_incidenten_2023-04_v2.csv", b"", mtime=1_700_000_100)
    warehouse.ingest()
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (1,)
    assert warehouse.one(
        "SELECT status FROM meta.file_ledger WHERE original_name = ?", [POLICE]
    ) == ("loaded",)


def test_extra_column_is_a_warning_and_the_file_loads(warehouse):
    header = [*POLICE_HEADER, "Opmerking"]
    warehouse.drop(POLICE, police_csv([[*police_row(1), "ok"]], header=header), "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.status == "loaded"
    assert outcome.warnings == [
        "extra column 'Opmerking' (field 10) is not in the contract and was ignored"
    ]
    assert warehouse.one("SELECT warnings FROM meta.file_ledger") == (outcome.warnings,)


def test_missing_optional_column_is_a_warning(warehouse):
    header = [h for h in POLICE_HEADER if h != "Plaats"]
    row = [v for h, v in zip(POLICE_HEADER, police_row(1), strict=True) if h != "Plaats"]
    warehouse.drop(POLICE, police_csv([row], header=header), "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.status == "loaded"
    assert "optional column 'Plaats' is missing" in outcome.warnings[0]


def test_headers_match_whatever_case_spacing_or_bom(warehouse):
    header = [f"  {h.upper()} " for h in POLICE_HEADER]
    warehouse.drop(
        POLICE,
        "\ufeff" + police_csv([police_row(1)], header=header),
        "utf-8-sig".replace("-sig", ""),
    )
    outcomes = warehouse.ingest()
    # UTF-8 with accents is refused for a cp1252 feed; plain ASCII UTF-8 is fine
    assert outcomes[0].status == "rejected"
    warehouse.drop(
        POLICE, police_csv([police_row(1, **{"Naam slachtoffer": "Jan"})], header=header), "cp1252"
    )
    [outcome] = warehouse.ingest()
    assert outcome.status == "loaded"


def test_file_names_with_dots_are_refused_and_moved_aside(warehouse):
    warehouse.drop("..politie_incidenten_2023-04.csv", police_csv([police_row(1)]), "cp1252")
    [outcome] = warehouse.ingest()
    assert outcome.status == "refused" and "'..'" in outcome.reason
    assert not any(warehouse.paths.landing.iterdir())
    assert len(list((warehouse.paths.home / "refused").iterdir())) == 1


def test_symlink_out_of_landing_is_refused_without_reading_it(warehouse, tmp_path):
    secret = tmp_path / "etc_passwd.csv"
    secret.write_text("root:x:0:0\n")
    (warehouse.paths.landing / POLICE).symlink_to(secret)
    [outcome] = warehouse.ingest()
    assert outcome.status == "refused"
    assert "symbolic link" in outcome.reason
    assert str(secret) not in outcome.reason  # a server path is never named
    assert secret.read_text() == "root:x:0:0\n"  # untouched
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (0,)


def test_oversized_file_is_refused(warehouse, demo_city):
    settings = demo_city.settings.model_copy(update={"max_file_mb": 0.0001})
    warehouse.city = demo_city.model_copy(update={"settings": settings})
    warehouse.drop(POLICE, police_csv([police_row(i) for i in range(1, 50)]), "cp1252")
    [outcome] = warehouse.ingest()
    assert (
        outcome.status == "refused"
        and "over the limit" in outcome.reason
        and "max_file_mb" in outcome.reason
    )


def test_unrecognised_file_is_refused_naming_the_patterns(warehouse):
    warehouse.drop("notes.docx", b"PK\x03\x04 whatever")
    [outcome] = warehouse.ingest()
    assert outcome.status == "refused"
    assert (
        "matches no feed contract" in outcome.reason
        and "politie_incidenten_*.csv" in outcome.reason
    )


def test_every_file_balances_rows_read_accepted_rejected(warehouse):
    warehouse.drop(
        POLICE,
        police_csv([police_row(1), police_row(2, Feitcategorie="x"), [*police_row(3), "y"]]),
        "cp1252",
    )
    warehouse.drop(
        "klachten_2023-Q2.xlsx",
        housing_xlsx([["04017A001", "x", "geluid", 1, 2], ["4017Z1", "x", "geluid", 1, 2]]),
    )
    warehouse.drop(YOUTH, YOUTH_BODY)
    warehouse.ingest()
    for name, status, _, read, accepted, rejected, _ in _ledger(warehouse):
        assert status == "loaded", name
        assert read == accepted + rejected, name
        assert warehouse.one(
            "SELECT count(*) FROM meta.rejected_rows r JOIN meta.file_ledger l USING (load_id) "
            "WHERE l.original_name = ?",
            [name],
        ) == (rejected,)
