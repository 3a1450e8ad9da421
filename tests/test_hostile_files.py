"""The hostile-file corpus, file by file: status, reason, counts, and no personal data."""

from __future__ import annotations

import os
import re
import threading
import time

import duckdb
import pytest

from tests.hostile import NATIONAL_NUMBER, PERSONAL_VALUES, VICTIM, Hostile, corpus
from tests.quirky import police_csv, police_row

CASES = corpus()


def _texts(warehouse) -> str:
    """Every text ingestion wrote: the ledger and the rejected rows."""
    rows = warehouse.all(
        "SELECT concat_ws(' | ', original_name, reason, array_to_string(warnings, ' | ')) "
        "FROM meta.file_ledger UNION ALL "
        "SELECT concat_ws(' | ', column_name, reason, row_text) FROM meta.rejected_rows"
    )
    return "\n".join(r[0] or "" for r in rows)


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_hostile_file_gets_its_status_reason_and_counts(warehouse, case: Hostile, caplog):
    warehouse.drop(case.name, case.content)
    [outcome] = warehouse.ingest()
    assert outcome.status == case.status, outcome.reason
    if case.reason:
        assert case.reason in (outcome.reason or "")
    if case.warning:
        assert any(case.warning in w for w in outcome.warnings), outcome.warnings
    ledger = warehouse.one(
        "SELECT status, rows_read, rows_accepted, rows_rejected FROM meta.file_ledger"
    )
    assert ledger[0] == case.status  # one line per file, whatever happened
    read, accepted, rejected = ledger[1:]
    assert read == accepted + rejected
    if case.counts:
        assert (read, accepted, rejected) == case.counts
        listed = warehouse.one("SELECT count(*) FROM meta.rejected_rows")[0]
        assert listed == rejected or case.status == "rejected"
    if case.row_reason:
        reasons = [r[0] for r in warehouse.all("SELECT reason FROM meta.rejected_rows")]
        assert reasons and all(case.row_reason in r for r in reasons), reasons
    assert not any(warehouse.paths.landing.iterdir()), "the file must leave the landing folder"
    written = _texts(warehouse) + "\n".join(r.getMessage() for r in caplog.records)
    for value in PERSONAL_VALUES:
        assert value not in written
    assert str(warehouse.paths.home) not in written  # no server paths in messages


def test_file_still_being_written_waits_then_loads_whole(warehouse, monkeypatch):
    monkeypatch.setenv("CIM_SETTLE_SECONDS", "0.3")
    body = police_csv([police_row(n) for n in range(1, 201)]).encode("cp1252")
    path = warehouse.paths.landing / "politie_incidenten_2023-04.csv"
    pieces = [body[i : i + 500] for i in range(0, len(body), 500)]

    def upload():  # a slow upload: a piece every 50 ms
        with path.open("wb") as target:
            for piece in pieces:
                target.write(piece)
                target.flush()
                time.sleep(0.05)

    uploader = threading.Thread(target=upload)
    uploader.start()
    time.sleep(0.1)
    during = warehouse.ingest()
    uploader.join()
    assert len(pieces) * 0.05 > 0.6  # the upload outlasted the scan above
    assert [o.status for o in during] == ["waiting"]
    assert warehouse.one("SELECT count(*) FROM meta.file_ledger") == (0,)
    assert path.stat().st_size == len(body)
    time.sleep(0.35)
    [outcome] = warehouse.ingest()
    assert (outcome.status, outcome.rows_read, outcome.rows_accepted) == ("loaded", 200, 200)


def test_hard_link_to_a_server_file_is_refused_unread(warehouse, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.link(secret, warehouse.paths.landing / "politie_incidenten_2023-04.csv")
    [outcome] = warehouse.ingest()
    assert outcome.status == "refused" and "hard link" in outcome.reason
    assert "root:x" not in _texts(warehouse)
    assert not list(warehouse.paths.archive.rglob("*.csv"))  # never archived
    assert secret.read_text().startswith("root:x")


def test_pipe_in_the_landing_folder_is_refused_without_blocking(warehouse):
    os.mkfifo(warehouse.paths.landing / "politie_incidenten_2023-04.csv")
    warehouse.drop("politie_incidenten_2023-05.csv", police_csv([police_row(1)]), "cp1252")
    outcomes = warehouse.ingest()
    assert sorted(o.status for o in outcomes) == ["loaded", "refused"]


def test_bad_correction_undone_by_resending_the_original(warehouse):
    original = police_csv([police_row(1), police_row(2), police_row(3)])
    warehouse.drop("politie_incidenten_2023-04.csv", original, "cp1252")
    warehouse.ingest()
    warehouse.drop("politie_incidenten_2023-04_v2.csv", police_csv([police_row(9)]), "cp1252")
    warehouse.ingest()
    warehouse.drop("politie_incidenten_2023-04_v3.csv", original, "cp1252")  # the good one again
    [outcome] = warehouse.ingest()
    assert outcome.status == "loaded"
    assert any("received before as 'politie_incidenten_2023-04.csv'" in w for w in outcome.warnings)
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (3,)
    warehouse.drop("politie_incidenten_2023-04_v4.csv", original, "cp1252")
    [again] = warehouse.ingest()
    assert again.status == "duplicate"  # the same bytes as the delivery in force


def test_file_rejected_before_a_contract_fix_is_taken_when_sent_again(warehouse, demo_city):
    body = police_csv([police_row(1)], header=None).replace("Feitcategorie", "Feit")
    warehouse.drop("politie_incidenten_2023-04.csv", body, "cp1252")
    [first] = warehouse.ingest()
    assert first.status == "rejected"
    contract = demo_city.contract_by_feed["police_incidents"]
    column = contract.column("offence_category").model_copy(update={"aliases": ["Feit"]})
    fixed = contract.model_copy(
        update={"columns": [column if c.name == column.name else c for c in contract.columns]}
    )
    warehouse.city = demo_city.model_copy(
        update={"contracts": [fixed if c.feed == fixed.feed else c for c in demo_city.contracts]}
    )
    warehouse.city.__dict__.pop("contract_by_feed", None)
    warehouse.drop("politie_incidenten_2023-04.csv", body, "cp1252")
    [second] = warehouse.ingest()
    assert second.status == "loaded", second.reason
    assert any("rejected on" in w for w in second.warnings)


def _platform_clock(warehouse) -> None:
    """The deployment default (the demo city trusts file times to replay its history)."""
    settings = warehouse.city.settings
    ingestion = settings.ingestion.model_copy(update={"receipt_time": "platform_clock"})
    warehouse.city = warehouse.city.model_copy(
        update={"settings": settings.model_copy(update={"ingestion": ingestion})}
    )


def test_correction_with_an_older_sender_time_still_wins(warehouse):
    _platform_clock(warehouse)
    warehouse.drop("politie_incidenten_2023-04.csv", police_csv([police_row(1)]), "cp1252")
    time.sleep(0.05)
    warehouse.drop(
        "politie_incidenten_2023-04_correctie.csv",
        police_csv([police_row(1), police_row(2)]),
        "cp1252",
        mtime=1_000_000_000,  # the sender's clock says 2001
    )
    outcomes = warehouse.ingest()
    assert [o.name for o in outcomes][-1] == "politie_incidenten_2023-04_correctie.csv"
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (2,)
    received = warehouse.one("SELECT min(received_at) FROM meta.file_ledger")[0]
    assert received.year >= 2026  # the platform's clock, not the sender's


def test_withdrawn_delivery_restores_the_one_before(warehouse, demo_city):
    from cim.ingest.withdraw import WithdrawError, withdraw

    warehouse.drop("politie_incidenten_2023-04.csv", police_csv([police_row(1)]), "cp1252")
    warehouse.ingest()
    wrong = police_csv([police_row(n) for n in range(1, 6)])
    warehouse.drop("politie_incidenten_2023-04_v2.csv", wrong, "cp1252")
    warehouse.ingest()
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (5,)
    result = withdraw(
        warehouse.con, demo_city, warehouse.paths, "politie_incidenten_2023-04_v2.csv", "test"
    )
    assert result.rows_removed == 5 and result.restored.status == "loaded"
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (1,)
    statuses = warehouse.all(
        "SELECT original_name, status FROM meta.file_ledger ORDER BY loaded_at"
    )
    assert statuses == [
        ("politie_incidenten_2023-04.csv", "superseded"),
        ("politie_incidenten_2023-04_v2.csv", "withdrawn"),
        ("politie_incidenten_2023-04.csv", "loaded"),
    ]
    with pytest.raises(WithdrawError, match="not a delivery in force"):
        withdraw(warehouse.con, demo_city, warehouse.paths, "politie_incidenten_2023-04_v2.csv")
    sent_again = warehouse.drop("politie_incidenten_2023-04_v2.csv", wrong, "cp1252")
    assert sent_again.exists()
    [outcome] = warehouse.ingest()
    assert outcome.status == "loaded"  # a withdrawn file sent again is applied again


def test_a_future_period_never_reaches_the_raw_table(warehouse):
    warehouse.drop("politie_incidenten_2099-01.csv", police_csv([police_row(1)]), "cp1252")
    warehouse.drop("politie_incidenten_2023-04.csv", police_csv([police_row(2)]), "cp1252")
    outcomes = {o.name: o.status for o in warehouse.ingest()}
    assert outcomes == {
        "politie_incidenten_2099-01.csv": "rejected",
        "politie_incidenten_2023-04.csv": "loaded",
    }
    assert warehouse.all("SELECT DISTINCT _period FROM raw.police_incidents") == [("2023-04",)]


def test_planted_values_are_really_in_the_corpus():
    """The privacy assertions above only mean something if the values are in the files."""
    by_key = {c.key: c.content for c in CASES}
    assert VICTIM.encode("cp1252") in by_key["police_without_header"]
    assert NATIONAL_NUMBER.encode() in by_key["unbalanced_quote"]


def test_cim_withdraw_takes_back_a_delivery_with_a_clear_message(warehouse, capsys):
    from cim.cli import main

    warehouse.drop("politie_incidenten_2023-04.csv", police_csv([police_row(1)]), "cp1252")
    warehouse.ingest()
    warehouse.drop("politie_incidenten_2023-04_v2.csv", police_csv([police_row(2)]), "cp1252")
    warehouse.ingest()
    warehouse.con.close()
    assert main(["withdraw", "politie_incidenten_2023-04_v2.csv", "--reason", "wrong month"]) == 0
    out = capsys.readouterr().out
    assert "withdrawn: politie_incidenten_2023-04_v2.csv" in out and "1 rows removed" in out
    assert "restored: politie_incidenten_2023-04.csv, loaded, 1 rows" in out
    assert main(["withdraw", "no_such_file.csv"]) == 2
    assert "no delivery matches 'no_such_file.csv'" in capsys.readouterr().err
    warehouse.con = duckdb.connect(str(warehouse.paths.warehouse))
    assert warehouse.one("SELECT reason FROM meta.file_ledger WHERE status = 'withdrawn'")[
        0
    ].endswith("wrong month; its 1 rows were removed")


def test_an_unexpected_failure_on_one_file_stays_with_that_file(warehouse, monkeypatch):
    """A library failing inside one file (simulated here: the reader raises) must not
    stop the next file; the ledger says what happened without a traceback."""
    from cim.ingest import loader

    real = loader.read_delivery

    def flaky(con, contract, path, *args):
        if contract.feed == "police_incidents":
            raise RuntimeError("a library failed inside this file")
        return real(con, contract, path, *args)

    monkeypatch.setattr(loader, "read_delivery", flaky)
    warehouse.drop("politie_incidenten_2023-04.csv", police_csv([police_row(1)]), "cp1252")
    warehouse.drop("deelname_202304.csv", "buurt;actie;activiteiten\n04017A001;ACT-1;4\n")
    outcomes = {o.feed: o for o in warehouse.ingest()}
    police = outcomes["police_incidents"]
    assert police.status == "rejected"
    assert police.reason.startswith("the file could not be processed (RuntimeError)")
    assert outcomes["youth_participation"].status == "loaded"
    assert warehouse.one("SELECT count(*) FROM meta.file_ledger") == (2,)


def test_valid_json_too_large_for_the_memory_limit_says_so(warehouse, monkeypatch):
    from cim.ingest import loader, readers

    for module in (loader, readers):
        monkeypatch.setattr(module, "INGEST_MEMORY_LIMIT", "16MB")
    record = (
        '{"id": "M-%d", "aangemaakt": "2023-04-01T10:00:00", "categorie": "graffiti", '
        '"sector": "04017A001", "kanaal": "app"}'
    )
    body = '{"meldingen": [' + ",".join(record % i for i in range(100_000)) + "]}"
    warehouse.drop("meldingen_2023_04.json", body)
    [outcome] = warehouse.ingest()
    assert outcome.status == "rejected"
    assert "more memory than the ingestion limit (16MB)" in outcome.reason
    assert "not valid JSON" not in outcome.reason


def test_a_number_with_valid_grouping_is_read_exactly(warehouse):
    rows = [
        police_row(1, **{"Schade EUR": "1.234,5"}),
        police_row(2, **{"Schade EUR": "-1.234.567,25"}),
        police_row(3, **{"Schade EUR": "12"}),
    ]
    warehouse.drop("politie_incidenten_2023-04.csv", police_csv(rows), "cp1252")
    [outcome] = warehouse.ingest()
    assert (outcome.rows_accepted, outcome.rows_rejected) == (3, 0)
    values = warehouse.all("SELECT damage_eur FROM raw.police_incidents ORDER BY _row_number")
    assert values == [(1234.5,), (-1234567.25,), (12.0,)]


def test_a_formula_with_its_saved_value_reads_that_value_without_warning(warehouse):
    """What Excel writes: the formula and its last computed value side by side."""
    import io
    import zipfile

    from tests.hostile import housing_workbook

    source = zipfile.ZipFile(
        io.BytesIO(housing_workbook([["04017A001", "B1", "geluid", 3, 100]], formula=True))
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                # openpyxl writes the empty value as <v /> or <v></v> depending on lxml
                data = re.sub(rb"<f>D4\+D5</f><v\s*(/>|></v>)", b"<f>D4+D5</f><v>7</v>", data)
                assert b"<v>7</v>" in data
            target.writestr(item, data)
    warehouse.drop("klachten_2023-Q2.xlsx", out.getvalue())
    [outcome] = warehouse.ingest()
    assert (outcome.status, outcome.rows_accepted, outcome.rows_rejected) == ("loaded", 2, 0)
    assert not any("formula" in w for w in outcome.warnings), outcome.warnings
    assert warehouse.all("SELECT complaints FROM raw.housing_complaints ORDER BY 1") == [(3,), (7,)]
