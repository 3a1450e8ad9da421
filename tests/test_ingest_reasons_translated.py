"""Why ingestion rejected a file or a row, in the reader's language.

The real engine ingests a corpus of bad files and rows (the hostile corpus, the unreadable
files of test_ingest_files, and more); every distinct reason it stores in
meta.file_ledger.reason and meta.rejected_rows.reason must match a ``reason.*`` template of
app/i18n/en.yaml, so that Dutch, French and German readers get it in their language.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
import yaml
from cim import settings
from cim.city import City, load_city
from cim.ingest import FeedRunner, loader, readers
from cim.ingest.files import scan_landing
from cim.ingest.reprocess import reprocess
from cim.ingest.withdraw import withdraw

from app import i18n
from tests import atlas
from tests.conftest import DEMO_CITY, Warehouse
from tests.hostile import corpus
from tests.quirky import POLICE_HEADER, housing_xlsx, police_csv, police_row
from tests.test_ingest_files import UNREADABLE, YOUTH, YOUTH_BODY

LANGS = ("nl", "fr", "de")
POLICE = "politie_incidenten_2023-04.csv"
# the templates this change added: the block after reason.rule_status_values in en.yaml
_EN = (Path(i18n.FOLDER) / "en.yaml").read_text(encoding="utf-8")
_BLOCK = _EN.split("# ingestion: why a file or a row was rejected\n", 1)[1].split("\n#", 1)[0]
INGEST_KEYS = [line.split(":", 1)[0] for line in _BLOCK.splitlines() if line.startswith("reason.")]


@pytest.fixture
def say(monkeypatch: pytest.MonkeyPatch):
    """``i18n.reason`` in a given language, outside Streamlit (the demo city's words)."""
    monkeypatch.setenv("CIM_CITY", str(DEMO_CITY))

    def said(lang: str, text: str) -> str:
        monkeypatch.setattr(i18n, "lang", lambda: lang)
        return i18n.reason(text)

    return said


def _stored(con: duckdb.DuckDBPyConnection) -> tuple[set[str], set[str]]:
    files = {r for (r,) in con.execute("SELECT reason FROM meta.file_ledger").fetchall() if r}
    rows = {r for (r,) in con.execute("SELECT reason FROM meta.rejected_rows").fetchall()}
    return files, rows


def _police(rows: list[list[str]], **kw) -> bytes:
    return police_csv(rows, **kw).encode("cp1252")


def _workbook(build) -> bytes:
    book = openpyxl.Workbook()
    build(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _restored(data: bytes, change) -> bytes:
    """The workbook's parts written again, uncompressed, ``change(name, bytes)`` applied."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, change(info.filename, source.read(info.filename)))
    return buffer.getvalue()


def _damaged_workbook() -> bytes:
    """A workbook whose sheet no longer matches its checksum: one digit changed near the
    end of the part, past what opening the workbook reads."""
    rows = [["04017A001", "x", "geluid", 1, 2]] * 3000
    data = bytearray(_restored(housing_xlsx(rows), lambda _name, part: part))
    at = data.index(b"</v></c></row></sheetData>") - 1
    data[at] = ord("7") if data[at] != ord("7") else ord("8")
    return bytes(data)


def _all_sheets_hidden() -> bytes:
    """Spreadsheet programs save a workbook only with a visible sheet; some exports do not."""
    data = housing_xlsx([["04017A001", "x", "geluid", 1, 2]])

    def hide(name: str, part: bytes) -> bytes:
        visible = b'state="visible"'
        return part.replace(visible, b'state="hidden"') if name == "xl/workbook.xml" else part

    return _restored(data, hide)


def _title_only(book) -> None:
    book.active.title = "Klachten"
    book.active.append(["Overlastklachten 2023 Q3"])  # and no header on row 3


def _without_sheet_name(city: City, feed: str, **dialect) -> City:
    contract = city.contract_by_feed[feed]
    changed = contract.model_copy(update={"dialect": contract.dialect.model_copy(update=dialect)})
    return _city_with(city, [changed if c.feed == feed else c for c in city.contracts])


def _city_with(city: City, contracts: list, **settings_update) -> City:
    changed = city.settings.model_copy(update=settings_update)
    new = city.model_copy(update={"contracts": contracts, "settings": changed})
    vars(new).pop("contract_by_feed", None)  # a cached property of the copied city
    return new


def _demo_corpus(wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad files and rows for the demo city's feeds, delivered one after the other."""

    def deliver(name: str, content: bytes | str, encoding: str = "utf-8") -> list:
        wh.drop(name, content, encoding)
        return wh.ingest()

    for case in corpus():
        deliver(case.name, case.content)
    for param in UNREADABLE:
        name, content, _ = param.values
        deliver(name, content)
    # refused before reading
    deliver("notes.docx", b"PK\x03\x04 whatever")
    deliver(f"..{POLICE}", _police([police_row(1)]))
    secret = tmp_path / "secret.csv"
    secret.write_text("x\n")
    (wh.paths.landing / POLICE).symlink_to(secret)
    wh.ingest()
    (wh.paths.landing / "politie_incidenten_2023-06.csv").mkdir()
    wh.ingest()
    linked = tmp_path / "linked.csv"
    linked.write_bytes(_police([police_row(1)]))
    os.link(linked, wh.paths.landing / "politie_incidenten_2023-07.csv")
    wh.ingest()
    demo = wh.city
    wh.city = _city_with(demo, demo.contracts, max_file_mb=0.0001)
    deliver(POLICE, _police([police_row(i) for i in range(1, 50)]))
    youth = demo.contract_by_feed["youth_participation"]
    wh.city = _city_with(demo, [*demo.contracts, youth.model_copy(update={"feed": "youth_bis"})])
    deliver(YOUTH, YOUTH_BODY)
    wh.city = demo
    # the same file twice: the second is a duplicate
    deliver("politie_incidenten_2023-08.csv", _police([police_row(1)]))
    deliver("politie_incidenten_2023-08 (1).csv", _police([police_row(1)]))
    # the header
    deliver(POLICE, "\r\n" + police_csv([police_row(1)]), "cp1252")
    header = [h for h in POLICE_HEADER if h not in ("Datum feit", "Feitcategorie")]
    row = [v for h, v in zip(POLICE_HEADER, police_row(1), strict=True) if h in header]
    deliver(POLICE, _police([row], header=header))
    # spreadsheets
    deliver("klachten_2023-Q3.xlsx", _workbook(_title_only))
    deliver("klachten_2023-Q3.xlsx", _workbook(lambda b: setattr(b.active, "title", "Blad1")))
    deliver("klachten_2023-Q3.xlsx", _damaged_workbook())
    wh.city = _without_sheet_name(demo, "housing_complaints", sheet=None)
    deliver("klachten_2023-Q3.xlsx", _all_sheets_hidden())
    # JSON
    wh.city = _without_sheet_name(demo, "contact_centre_reports", records_key=None)
    deliver("meldingen_2023_05.json", b'{"meldingen": []}')
    wh.city = demo
    deliver("meldingen_2023_05.json", b'{"meldingen": {"id": "M-1"}}')
    # rows: every rule a value can break, one row each, in files that also load
    good = police_row(1)
    deliver(
        "politie_incidenten_2023-09.csv",
        _police(
            [
                good,
                police_row(2, **{"Datum feit": "31/02/2023"}),
                police_row(3, **{"Datum registratie": ""}),
                police_row(4, Feitcategorie="moord"),
                police_row(5, **{"Statistische sector": "04017G001"}),
                police_row(6, **{"Schade EUR": "twaalf"}),
                police_row(7, Registratienummer="", Feitcategorie="moord"),
                police_row(1, Feitcategorie="vandalisme"),
                police_row(8)[:5],
                [*police_row(9), "extra"],
                police_row(10, Plaats='"open"bare_weg'),
            ]
        ),
    )
    deliver(
        "politie_incidenten_2023-10.csv",
        _police([[*police_row(n), "extra"] for n in range(1, 3)]),
    )
    deliver(
        "bevolking_2022.csv",
        "sector;leeftijdsklasse;inwoners;woningen\n4017A001;12-17;1.250;600\n"
        "4017A002;12-17;veel;610\n".encode("cp1252"),
    )
    deliver(
        "deelname_202306.csv",
        YOUTH_BODY + "04017A002;ACT-1;4;twaalf;9\n" + f"04017A003;ACT-{'1' * (3 << 20)};4;1;1\n",
    )
    deliver(
        "meldingen_2023_06.json",
        b'{"meldingen": [{"id": "M-1", "aangemaakt": "2023-06-01T10:00:00", "categorie": '
        b'"graffiti", "sector": "04017A001", "kanaal": "app"}, {"id": "M-2", "aangemaakt": '
        b'"gisteren", "categorie": "graffiti", "sector": "04017A001", "kanaal": "app"}]}',
    )
    deliver(
        "klachten_2023-Q4.xlsx",
        housing_xlsx([["04017A001", "Buurt 1", "geluid", 3, 100], ["04017A002", "", "", 1, 9]]),
    )
    survey = (
        "respondent;geboortejaar;wijk;leeftijdsgroep;gewicht;voelt_zich_onveilig;vermijdt_plekken;"
        "cohesie_1;cohesie_2;cohesie_3;cohesie_4;cohesie_5;vertrouwen_buren;vertrouwen_politie\n"
        "R-1;1961;04017A;45-64;1,2;1;0;3;3;4;2;3;1;1\nR-2;1962;04017A;45-64;zwaar;1;0;3;3;4;2;3;1;1\n"
    )
    deliver("bewonersbevraging_2022.csv", survey.encode())
    deliver(
        "acties.csv",
        "actie_id;partner;naam;doel;doelbuurten;vergelijkingsbuurten;start;einde;omschrijving\n"
        "ACT-9;p;Actie;g;04017A001|04017Z999;;2023-01-01;;x\n",
    )
    # the engine's own failures, forced: the file is rejected, never the run
    for target, error in [
        ("plan_checks", RuntimeError("boom")),
        ("read_delivery", PermissionError(13, "Permission denied")),
    ]:
        with monkeypatch.context() as patch:
            patch.setattr(loader, target, _raise(error))
            deliver("deelname_202307.csv", YOUTH_BODY)
    for error in [duckdb.OutOfMemoryException("x"), MemoryError(), duckdb.ConversionException("x")]:
        with monkeypatch.context() as patch:
            patch.setattr(readers, "_read", _raise(error))
            deliver("deelname_202307.csv", YOUTH_BODY)
    with monkeypatch.context() as patch:
        patch.setattr(loader, "take_copy", _raise(OSError(5, "Input/output error")))
        deliver("deelname_202307.csv", YOUTH_BODY)
    # replays and withdrawals write the ledger too
    august = YOUTH_BODY.replace("ACT-1;4", "ACT-8;4")
    deliver("deelname_202308.csv", august)
    youth = {"feed": "youth_participation", "period": "2023-08"}
    reprocess(wh.con, wh.city, wh.paths, **youth)
    with monkeypatch.context() as patch:
        patch.setattr(FeedRunner, "_load", _raise(RuntimeError("boom")))
        reprocess(wh.con, wh.city, wh.paths, **youth)
    (archived,) = wh.one(
        "SELECT archive_path FROM meta.file_ledger WHERE status = 'loaded' AND feed = $feed "
        "AND period = $period",
        youth,
    )
    Path(archived).unlink()
    reprocess(wh.con, wh.city, wh.paths, **youth)
    deliver("deelname_202309.csv", YOUTH_BODY)
    deliver("deelname_202310.csv", YOUTH_BODY)
    withdraw(wh.con, wh.city, wh.paths, "deelname_202309.csv")
    withdraw(wh.con, wh.city, wh.paths, "deelname_202310.csv", why="sent by mistake")


def _raise(error: BaseException):
    def fail(*_args, **_kwargs):
        raise error

    return fail


def _atlas_corpus(folder: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Rows that say their period, and codes the placement rules do not place."""
    monkeypatch.setenv("CIM_AS_OF", "2026-12-01")
    city_dir = atlas.write_city(folder)
    contract_file = city_dir / "feeds" / "kriminalitaetsatlas.yaml"
    contract = yaml.safe_load(contract_file.read_text(encoding="utf-8"))
    for column in contract["columns"]:
        if column["name"] == "jahr":
            column["required"] = False  # a blank year: "every row must say its period"
    contract_file.write_text(yaml.safe_dump(contract, allow_unicode=True), encoding="utf-8")
    city = load_city(city_dir)
    paths = settings.Paths(home).ensure()
    con = duckdb.connect(str(paths.warehouse))
    try:
        rows = [r for r in atlas.atlas_rows() if r["Jahr"] == "2015"]
        bad = [("", None), ("1850", None), ("2031", None), ("12345", None), ("2015", "019999")]
        for n, (year, code) in enumerate(bad):
            rows.append(dict(rows[n], Jahr=year, **({"LOR-Schlüssel": code} if code else {})))
        (paths.landing / "kriminalitaetsatlas_2015.csv").write_bytes(atlas.atlas_csv(rows))
        FeedRunner(con, city, paths, run_id="test").ingest(scan_landing(paths.landing, city))
        files, reasons = _stored(con)
        return files | reasons
    finally:
        con.close()


@pytest.fixture
def stored(warehouse, tmp_path, monkeypatch) -> dict[str, set[str]]:
    _demo_corpus(warehouse, tmp_path, monkeypatch)
    files, rows = _stored(warehouse.con)
    with monkeypatch.context() as patch:
        rows |= _atlas_corpus(tmp_path / "atlas", tmp_path / "atlas-home", patch)
    return {"file": files, "row": rows}


def _template_of(text: str) -> str | None:
    """The key of the template that matches ``text`` whole, or None."""
    for template in i18n._templates():
        if template.pattern.fullmatch(text):
            return template.key
    return None


def _templates_met(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The keys of the templates that say ``texts``: their own, those of each reason of a
    joined row reason, and those of the reasons they quote ({error}, {cell})."""
    met: set[str] = set()
    said = i18n._said

    def recording(text: str) -> str | None:
        words = said(text)
        if words is not None:
            met.add(_template_of(text))
        return words

    with monkeypatch.context() as patch:
        patch.setattr(i18n, "_said", recording)
        for text in texts:
            i18n.reason(text)
    return met


# templates no file of the corpus reaches: the engine can write them, but only with a
# contract feature the demo and Atlasstadt cities lack (a boolean or a personal number
# column, a text period column, a JSON without records key), or a reader failure that
# cannot be forced with a file (invalid UTF-8 after re-encoding, an early stop of DuckDB's
# reader), or a replay after a contract change
UNREACHED = {
    "reason.json_broken",
    "reason.json_nothing",
    "reason.line_bad_bytes",
    "reason.line_unparsed",
    "reason.lost_lines",
    "reason.lost_rows",
    "reason.lost_rows_quote",
    "reason.replay_feed_gone",  # returned by `cim reprocess`, not written to the ledger
    "reason.replay_period_changed",
    "reason.row_hidden_value",
    "reason.row_not_boolean",
    "reason.row_not_month_period",
    "reason.row_not_quarter_period",
    "reason.row_not_school_year_period",
    # said by the partner's upload dry run and submit (cim.ingest.dryrun), never stored
    "reason.other_partner_feed",
    "reason.already_in_landing",
    "reason.landing_names_taken",
}


def test_every_stored_ingestion_reason_is_said_in_each_language(stored, say, monkeypatch):
    texts = sorted(stored["file"] | stored["row"])
    assert len(stored["file"]) >= 45 and len(stored["row"]) >= 20, texts
    for lang in LANGS:
        left = [t for t in texts if say(lang, t) == t]
        assert not left, (lang, left)
        unfilled = [(t, said) for t in texts if "{" in (said := say(lang, t)) and "{" not in t]
        assert not unfilled, (lang, unfilled)
    # every template this change added is met by a real stored reason, but those the
    # corpus cannot reach (their own texts are checked by the test below)
    met = _templates_met(texts, monkeypatch)
    assert set(INGEST_KEYS) - met <= UNREACHED, sorted(set(INGEST_KEYS) - met - UNREACHED)
    assert met & UNREACHED == set(), "reached now: remove from UNREACHED"


def test_reasons_say_the_variable_parts_as_written(stored, say):
    texts = stored["file"] | stored["row"]
    unknown = next(t for t in texts if "'04017G001' is not a known" in t)
    assert say("nl", unknown).startswith(
        "area_code ('Statistische sector'): '04017G001' is geen bekende code op buurtniveau;"
    )
    early = next(t for t in texts if t.startswith("quarantined: period 1850-01"))
    assert "1900" in say("de", early)  # a year, not the number 1.900
    # a row with two broken values: each reason said in turn
    two = next(t for t in texts if "incident_id ('Registratienummer'): required" in t)
    assert say("fr", two) == (
        "incident_id ('Registratienummer') : valeur obligatoire manquante; offence_category "
        "('Feitcategorie') : 'moord' ne fait pas partie des valeurs autorisées ; valeurs "
        "autorisées : " + two.split("allowed: ")[1]
    )
    missing = next(t for t in texts if t.startswith("required column 'Datum feit' is missing;"))
    assert say("nl", missing).startswith(
        "verplichte kolom 'Datum feit' ontbreekt; verplichte kolom 'Feitcategorie' ontbreekt. "
        "Regel 1 heeft 7 velden, waarvan 7 bekend;"
    )


SAMPLES = {  # a value per placeholder, as the engine writes it
    "cell": "'12,5'",
    "column": "damage_eur",
    "header": "'Schade EUR'",
    "level": "neighbourhood",
    "error": "file is empty (0 bytes); ask the partner to send it again",
    "today": "2024-05-01",
}


@pytest.mark.parametrize("key", INGEST_KEYS)
def test_each_new_template_matches_its_own_text(key, say):
    english = i18n.catalog("en")[key]
    names = re.findall(r"{(\w+)}", english)
    values = {n: SAMPLES.get(n, f"v_{n}") for n in names}
    text = english.format(**values)
    assert _template_of(text) == key, text
    if "today" not in names:  # a date is said in the reader's format, in English too
        assert say("en", text) == text  # English: as the engine wrote it
    for lang in LANGS:
        said = say(lang, text)
        assert said != text and "{" not in said, (lang, said)
        for name in names:
            if name not in ("level", "error", "today"):
                assert values[name] in said, (lang, name, said)
