"""Archived originals of personal feeds encrypted at rest, and purged after their
retention: the real engine, DuckDB and AES-GCM on small generated files."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import stat
from pathlib import Path

import duckdb
import pytest
from cim import cli
from cim.city import City
from cim.ingest import archive
from cim.ingest.reprocess import reprocess
from cim.ingest.retention import purge_archive
from cim.ingest.withdraw import withdraw

from tests.conftest import DEMO_CITY
from tests.quirky import housing_xlsx, police_csv, police_row

VICTIM, NATIONAL_NUMBER = "Jeroen Dhaené", "85.07.12-123.45"
HOUSING = "klachten_2023-Q2.xlsx"
OLD = dt.datetime(2020, 1, 15, tzinfo=dt.UTC).timestamp()
RECENT = dt.datetime(2024, 4, 2, tzinfo=dt.UTC).timestamp()


def _police(month: str, n: int) -> bytes:
    year, mm = month.split("-")
    rows = [
        police_row(i, **{"Datum feit": f"02/{mm}/{year}", "Datum registratie": f"03/{mm}/{year}"})
        for i in range(1, n + 1)
    ]
    return police_csv(rows).encode("cp1252")


def _housing() -> bytes:
    return housing_xlsx([["04017A003", "Stationskwartier", "geluid", 4, 300]])


def _archived(warehouse, name: str) -> tuple[Path, str]:
    path, sha = warehouse.one(
        "SELECT archive_path, sha256 FROM meta.file_ledger WHERE original_name = ? "
        "ORDER BY loaded_at LIMIT 1",
        [name],
    )
    return Path(path), sha


def _original(path: Path, warehouse) -> bytes:
    with archive.readable(path, warehouse.paths) as plain:
        return plain.read_bytes()


def _raw_rows(warehouse) -> list[tuple]:
    return warehouse.all(
        "SELECT * EXCLUDE (_load_id) FROM raw.police_incidents ORDER BY _period, incident_id"
    )


def test_personal_feed_is_archived_encrypted_and_decrypts_to_the_original(warehouse):
    content = _police("2024-03", 4)
    warehouse.drop("politie_incidenten_2024-03.csv", content, mtime=RECENT)
    (loaded,) = warehouse.ingest()
    assert (loaded.status, loaded.rows_accepted, loaded.rows_rejected) == ("loaded", 4, 0)

    path, sha = _archived(warehouse, "politie_incidenten_2024-03.csv")
    assert path.name == f"{sha}.csv.enc"
    stored = path.read_bytes()
    assert stored.startswith(archive.MAGIC)
    # the personal values of the delivery (and any row text) are not in the archived bytes
    for clear in (VICTIM.encode("cp1252"), NATIONAL_NUMBER.encode(), b"PV/2023", b"fietsdiefstal"):
        assert clear in content and clear not in stored
    # the ledger's sha256 is that of the original bytes, which decrypt exactly
    assert hashlib.sha256(content).hexdigest() == sha
    assert _original(path, warehouse) == content
    key_file = warehouse.paths.secrets / "archive.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # no decrypted copy is left behind
    assert not list((warehouse.paths.home / ".scratch").iterdir())


def test_a_feed_without_personal_columns_stays_plain(warehouse):
    content = _housing()
    warehouse.drop(HOUSING, content)
    (loaded,) = warehouse.ingest()
    assert loaded.status == "loaded"
    path, sha = _archived(warehouse, HOUSING)
    assert path.name == f"{sha}.xlsx" and path.read_bytes() == content
    assert not (warehouse.paths.secrets / "archive.key").exists()  # no key was needed


def test_chunks_survive_sizes_around_the_chunk_boundary(home):
    key = os.urandom(32)
    for size in (0, 1, archive.CHUNK_BYTES - 1, archive.CHUNK_BYTES, 2 * archive.CHUNK_BYTES + 5):
        data = os.urandom(size)
        sealed = io.BytesIO()
        writer = archive.EncryptingWriter(sealed, key)
        writer.write(data)
        writer.close()
        path = home.archive / f"{size}.bin.enc"
        path.write_bytes(sealed.getvalue())
        out = io.BytesIO()
        archive.decrypt(path, out, key)
        assert out.getvalue() == data, size
        # a copy cut right after a whole chunk does not pass for a shorter file
        if size > 2 * archive.CHUNK_BYTES:
            cut = home.archive / f"cut-{size}.bin.enc"
            cut.write_bytes(sealed.getvalue()[: archive.HEADER_BYTES + archive.CHUNK_BYTES + 16])
            with pytest.raises(archive.ArchiveUnreadable, match="damaged or was altered"):
                archive.decrypt(cut, io.BytesIO(), key)


def test_reprocess_and_withdraw_read_the_encrypted_copy(warehouse, demo_city: City):
    warehouse.drop("politie_incidenten_2024-03.csv", _police("2024-03", 3), mtime=RECENT)
    warehouse.drop("politie_incidenten_2024-03_v2.csv", _police("2024-03", 5), mtime=RECENT + 60)
    warehouse.drop(HOUSING, _housing())
    housing, first, correction = warehouse.ingest()
    before = _raw_rows(warehouse)
    assert len(before) == 5

    replays = reprocess(warehouse.con, demo_city, warehouse.paths, run_id="replay")

    assert [r.replaced.load_id for r in replays] == [correction.load_id, housing.load_id]
    assert all(r.applied for r in replays)
    replayed = replays[0].outcome
    # the same ledger figures as the delivery it replays, and the same rows
    assert (replayed.rows_read, replayed.rows_accepted, replayed.rows_rejected) == (
        correction.rows_read,
        correction.rows_accepted,
        correction.rows_rejected,
    )
    assert _raw_rows(warehouse) == before
    # withdrawing the correction restores the first delivery, from its encrypted copy
    done = withdraw(warehouse.con, demo_city, warehouse.paths, replayed.load_id)
    assert done.restored is not None and done.restored.name == first.name
    assert done.restored.rows_accepted == 3
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (3,)
    assert not list((warehouse.paths.home / ".scratch").iterdir())


def test_a_wrong_key_fails_that_file_with_a_clear_reason_and_others_replay(
    warehouse, demo_city: City, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("CIM_ARCHIVE_KEY", os.urandom(32).hex())
    warehouse.drop("politie_incidenten_2024-03.csv", _police("2024-03", 3), mtime=RECENT)
    warehouse.drop(HOUSING, _housing())
    housing, police = warehouse.ingest()
    path, _ = _archived(warehouse, police.name)

    # another key, in base64 this time: valid, but not the one the copy was made with
    monkeypatch.setenv("CIM_ARCHIVE_KEY", "q" * 43 + "=")
    lines: list[str] = []
    replays = reprocess(warehouse.con, demo_city, warehouse.paths, report=lines.append)

    failed, applied = replays
    assert failed.outcome.status == "replay_failed"
    assert f"archive/{path.parent.name}/{path.name}" in failed.outcome.reason
    assert "the archive key does not match" in failed.outcome.reason
    assert "CIM_ARCHIVE_KEY" in failed.outcome.reason
    assert applied.applied and applied.outcome.rows_accepted == housing.rows_accepted
    # one line for the operator, never a traceback; the period keeps its rows
    assert [line for line in lines if "does not match" in line] == [
        f"police_incidents: file {police.name!r} rejected whole: {failed.outcome.reason}"
    ]
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (3,)

    # a key that is not a key at all: the file waits, the other feeds load
    monkeypatch.setenv("CIM_ARCHIVE_KEY", "not-a-key")
    warehouse.drop("politie_incidenten_2024-04.csv", _police("2024-04", 2), mtime=RECENT)
    warehouse.drop("klachten_2023-Q3.xlsx", _housing())
    loaded, waiting = warehouse.ingest()
    assert waiting.status == "waiting" and "CIM_ARCHIVE_KEY is not a 256-bit key" in waiting.reason
    assert loaded.status == "loaded"
    assert (warehouse.paths.landing / "politie_incidenten_2024-04.csv").exists()


def _decrypt_in_place(warehouse, name: str) -> Path:
    """The archive as it was before encryption at rest: the plain original."""
    encrypted, _ = _archived(warehouse, name)
    plain = encrypted.with_name(encrypted.name.removesuffix(".enc"))
    plain.write_bytes(_original(encrypted, warehouse))
    encrypted.unlink()
    warehouse.con.execute(
        "UPDATE meta.file_ledger SET archive_path = ? WHERE archive_path = ?",
        [str(plain), str(encrypted)],
    )
    return plain


def test_cim_archive_encrypt_on_an_old_plain_archive(
    warehouse, demo_city: City, monkeypatch: pytest.MonkeyPatch, capsys
):
    content = _police("2024-03", 3)
    housing_content = _housing()
    warehouse.drop("politie_incidenten_2024-03.csv", content, mtime=RECENT)
    warehouse.drop(HOUSING, housing_content)
    warehouse.ingest()
    plain = _decrypt_in_place(warehouse, "politie_incidenten_2024-03.csv")
    housing, _ = _archived(warehouse, HOUSING)
    # an old plain archive keeps working
    (replay, _) = reprocess(warehouse.con, demo_city, warehouse.paths)
    assert replay.applied and replay.outcome.rows_accepted == 3
    warehouse.con.close()  # the command opens the warehouse itself
    monkeypatch.setenv("CIM_CITY", str(DEMO_CITY))

    assert cli.main(["archive", "encrypt", "--dry-run"]) == 0
    assert "1 archived original(s) would be encrypted" in capsys.readouterr().out
    assert plain.read_bytes() == content

    assert cli.main(["archive", "encrypt"]) == 0
    printed = capsys.readouterr().out
    assert f"police_incidents: {plain.name}: encrypted as {plain.name}.enc" in printed
    assert not plain.exists()
    encrypted = plain.with_name(plain.name + ".enc")
    assert VICTIM.encode("cp1252") not in encrypted.read_bytes()
    assert housing.read_bytes() == housing_content  # other feeds untouched
    warehouse.con = duckdb.connect(str(warehouse.paths.warehouse))
    assert warehouse.all(
        "SELECT DISTINCT archive_path FROM meta.file_ledger WHERE feed = 'police_incidents'"
    ) == [(str(encrypted),)]
    assert _original(encrypted, warehouse) == content
    (again, _) = reprocess(warehouse.con, demo_city, warehouse.paths)
    assert again.applied and again.outcome.rows_accepted == 3


def _refused_hard_link(warehouse, tmp_path: Path, name: str) -> None:
    path = warehouse.drop(name, _police("2019-12", 1), mtime=OLD)
    os.link(path, tmp_path / "elsewhere.csv")


def test_purge_removes_expired_originals_only_and_keeps_the_record(
    warehouse, demo_city: City, tmp_path: Path
):
    warehouse.drop("politie_incidenten_2019-12.csv", _police("2019-12", 2), mtime=OLD)
    warehouse.drop("politie_incidenten_2024-03.csv", _police("2024-03", 3), mtime=RECENT)
    warehouse.drop(HOUSING, _housing(), mtime=OLD)  # no retention: kept for ever
    _refused_hard_link(warehouse, tmp_path, "politie_incidenten_2019-11.csv")
    outcomes = {o.name: o.status for o in warehouse.ingest()}
    assert list(outcomes.values()) == ["loaded", "refused", "loaded", "loaded"]
    old = _archived(warehouse, "politie_incidenten_2019-12.csv")
    recent = _archived(warehouse, "politie_incidenten_2024-03.csv")
    refused = next((warehouse.paths.home / "refused").iterdir())
    housing, _ = _archived(warehouse, HOUSING)
    days = demo_city.retention_days(demo_city.contract_by_feed["police_incidents"])
    assert demo_city.retention_days(demo_city.contract_by_feed["housing_complaints"]) is None
    # the day after the old files' retention ran out; the recent one has years left
    today = dt.date(2020, 1, 15) + dt.timedelta(days=days + 1)

    listed = purge_archive(warehouse.con, demo_city, warehouse.paths, today, dry_run=True)
    assert sorted(p.path for p in listed) == sorted([old[0], refused])
    assert old[0].exists() and refused.exists()
    assert warehouse.one("SELECT count(*) FROM meta.file_ledger WHERE purged_at IS NOT NULL") == (
        0,
    )

    purged = purge_archive(warehouse.con, demo_city, warehouse.paths, today)
    assert sorted(p.path for p in purged) == sorted([old[0], refused])
    assert not old[0].exists() and not refused.exists()
    assert recent[0].exists() and housing.exists()
    # the ledger keeps the file, its hash and when and why it was purged
    name, sha, status, purged_at, reason = warehouse.one(
        "SELECT original_name, sha256, status, purged_at, purge_reason FROM meta.file_ledger "
        "WHERE archive_path = ?",
        [str(old[0])],
    )
    assert (name, sha, status) == ("politie_incidenten_2019-12.csv", old[1], "loaded")
    assert purged_at is not None
    assert reason == (
        f"retention of {days} days for police_incidents ran out (last received 2020-01-15); "
        f"purged on {today:%Y-%m-%d}"
    )
    assert purge_archive(warehouse.con, demo_city, warehouse.paths, today) == []  # once

    # the purged delivery is still in force, but can no longer be replayed: it says so
    replays = reprocess(warehouse.con, demo_city, warehouse.paths, feed="police_incidents")
    by_period = {r.replaced.period: r.outcome for r in replays}
    assert by_period["2024-03"].status == "loaded"
    gone = by_period["2019-12"]
    assert gone.status == "replay_failed"
    assert f"its archived copy was purged on {purged_at:%Y-%m-%d}" in gone.reason
    assert "a reprocess or restore of this delivery is no longer possible" in gone.reason
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents WHERE _period = '2019-12'") == (
        2,
    )


def test_withdrawing_a_correction_of_a_purged_delivery_says_it_cannot_restore(
    warehouse, demo_city: City
):
    warehouse.drop("politie_incidenten_2019-12.csv", _police("2019-12", 2), mtime=OLD)
    warehouse.drop("politie_incidenten_2019-12_v2.csv", _police("2019-12", 4), mtime=RECENT)
    first, correction = warehouse.ingest()
    days = demo_city.retention_days(demo_city.contract_by_feed["police_incidents"])
    today = dt.date(2020, 1, 15) + dt.timedelta(days=days + 1)
    purged = purge_archive(warehouse.con, demo_city, warehouse.paths, today)
    assert [p.path.name for p in purged] == [_archived(warehouse, first.name)[0].name]

    done = withdraw(warehouse.con, demo_city, warehouse.paths, correction.load_id)

    assert done.restored is None
    assert done.not_restored.startswith(f"{first.name!r}: its archived copy was purged on")
    assert warehouse.one("SELECT count(*) FROM raw.police_incidents") == (0,)


def test_cim_archive_purge_dry_run_lists_and_removes_nothing(
    warehouse, monkeypatch: pytest.MonkeyPatch, capsys
):
    warehouse.drop("politie_incidenten_2019-12.csv", _police("2019-12", 2), mtime=OLD)
    warehouse.ingest()
    path, _ = _archived(warehouse, "politie_incidenten_2019-12.csv")
    warehouse.con.close()
    monkeypatch.setenv("CIM_CITY", str(DEMO_CITY))
    monkeypatch.setenv("CIM_AS_OF", "2035-01-01")  # purge judges on the judgement day

    assert cli.main(["archive", "purge", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"police_incidents: {path.name}: would be purged: retention of" in printed
    assert "1 file(s) would be purged" in printed
    assert path.exists()
    assert cli.main(["archive", "purge"]) == 0
    assert "1 file(s) purged" in capsys.readouterr().out
    assert not path.exists()
    warehouse.con = duckdb.connect(str(warehouse.paths.warehouse))


def test_purge_clears_decrypted_copies_a_killed_process_left(warehouse, demo_city: City):
    scratch = warehouse.paths.home / archive.SCRATCH
    stale, fresh = scratch / "cim-ingest-old", scratch / "cim-ingest-now"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "x.csv").write_text(VICTIM)
    hours_ago = dt.datetime.now().timestamp() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))

    purge_archive(warehouse.con, demo_city, warehouse.paths, dt.date(2030, 1, 1))

    assert not stale.exists() and fresh.exists()  # one still being read stays
