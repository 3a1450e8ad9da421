"""The app's own database on SQLite and on a real PostgreSQL server: accounts and the login
rate limit, versioned notes, the upload and reminder trails, and the migrations."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from cim.appstate import AppState, open_state
from cim.appstate.database import current_revision, dispose, engine_for, head_revision
from cim.appstate.models import Base

from tests.postgres import postgres_database, postgres_server  # noqa: F401 (fixtures)

PASSWORD = "correct horse battery staple"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, now: dt.datetime = T0):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app' / 'state.sqlite'}"
        yield url
        dispose(url)
    else:
        yield request.getfixturevalue("postgres_database")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(state_url: str, clock: Clock) -> AppState:
    return open_state(state_url, clock=clock)


def _stored_hash(state: AppState, username: str) -> str:
    with state.engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT password_hash FROM accounts WHERE username = :u"), {"u": username}
        ).scalar_one()


def test_passwords_are_stored_as_argon2_hashes_that_verify(state):
    account = state.accounts.create("  JDeVries ", PASSWORD, "backbone", email=" J.deVries@X.org")
    assert (account.username, account.email, account.role) == (
        "jdevries",
        "j.devries@x.org",
        "backbone",
    )
    assert account.active and account.created_at == T0
    stored = _stored_hash(state, "jdevries")
    assert PASSWORD not in stored and stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(stored, PASSWORD + "!")
    assert state.accounts.get("JDEVRIES ") == account
    assert state.accounts.by_email("J.DEVRIES@x.org") == account
    assert state.accounts.by_email("someone@else.org") is None


def test_weak_duplicate_and_role_mismatched_accounts_are_refused(state):
    with pytest.raises(ValueError, match="at least 12"):
        state.accounts.create("ana", "short pw", "backbone")
    state.accounts.create("ana", PASSWORD, "backbone", email="ana@x.org")
    with pytest.raises(ValueError, match="exists already"):
        state.accounts.create(" ANA", PASSWORD, "backbone")
    with pytest.raises(ValueError, match="another account"):
        state.accounts.create("ana2", PASSWORD, "backbone", email="ANA@x.org")
    with pytest.raises(ValueError, match="needs its partner id"):
        state.accounts.create("piet", PASSWORD, "partner")
    with pytest.raises(ValueError, match="no partner id"):
        state.accounts.create("piet", PASSWORD, "backbone", partner_id="woonpunt")
    with pytest.raises(ValueError, match="'backbone' or 'partner'"):
        state.accounts.create("piet", PASSWORD, "admin")
    with pytest.raises(ValueError, match="without spaces"):
        state.accounts.create("piet de vries", PASSWORD, "backbone")
    partner = state.accounts.create("piet", None, "partner", partner_id="woonpunt")
    assert partner.partner_id == "woonpunt"
    assert [a.username for a in state.accounts.list()] == ["ana", "piet"]
    with pytest.raises(ValueError, match="at least 12"):
        state.accounts.set_password("piet", "tiny")
    with pytest.raises(ValueError, match="no account named 'nobody'"):
        state.accounts.disable("nobody")


def test_authenticate_says_the_same_for_an_unknown_user_and_a_wrong_password(state):
    state.accounts.create("ana", PASSWORD, "partner", partner_id="woonpunt")
    state.accounts.create("oidc", None, "backbone", email="oidc@x.org")
    good = state.accounts.authenticate(" Ana", PASSWORD, "10.0.0.1")
    assert good.ok and good.account.partner_id == "woonpunt" and good.reason is None
    wrong = state.accounts.authenticate("ana", PASSWORD + "?", "10.0.0.1")
    unknown = state.accounts.authenticate("nobody", PASSWORD, "10.0.0.1")
    only_oidc = state.accounts.authenticate("oidc", "", "10.0.0.1")
    for refused in (wrong, unknown, only_oidc):
        assert (refused.ok, refused.account, refused.reason) == (
            False,
            None,
            "login.bad_credentials",
        )
    state.accounts.disable("ana")
    assert state.accounts.authenticate("ana", PASSWORD, "10.0.0.1").reason == "login.disabled"
    assert state.accounts.authenticate("ana", "nope", "10.0.0.1").reason == "login.bad_credentials"
    state.accounts.enable("ana")
    state.accounts.set_password("ana", "a brand new passphrase")
    # 10.0.0.1 has five failures now (all three names count): another client
    assert not state.accounts.authenticate("ana", PASSWORD, "10.0.0.2").ok
    assert state.accounts.authenticate("ana", "a brand new passphrase", "10.0.0.2").ok
    with state.engine.connect() as connection:
        attempts = connection.execute(
            sa.text("SELECT username, ok FROM login_attempts ORDER BY attempt_id")
        ).all()
    assert attempts == [
        ("ana", True),
        ("ana", False),
        ("nobody", False),
        ("oidc", False),
        ("ana", False),
        ("ana", False),
        ("ana", False),
        ("ana", True),
    ]


def test_a_hash_of_older_parameters_is_replaced_at_the_next_good_login(state):
    state.accounts.create("ana", PASSWORD, "backbone")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with state.engine.begin() as connection:
        connection.execute(sa.text("UPDATE accounts SET password_hash = :h"), {"h": weak})
    assert state.accounts.authenticate("ana", PASSWORD, "c").ok
    renewed = _stored_hash(state, "ana")
    assert renewed != weak and not PasswordHasher().check_needs_rehash(renewed)
    assert state.accounts.authenticate("ana", PASSWORD, "c").ok


def test_five_failures_lock_the_username_until_the_window_frees_up(state, clock):
    state.accounts.create("ana", PASSWORD, "backbone")
    for _ in range(5):
        assert state.accounts.authenticate("ana", "guess", "attacker").reason == (
            "login.bad_credentials"
        )
        clock.advance(minutes=1)
    # even the right password from another client: the first failure leaves in 10 minutes
    locked = state.accounts.authenticate("ana", PASSWORD, "office")
    assert (locked.ok, locked.reason, locked.retry_after_s) == (False, "login.locked", 600)
    clock.advance(minutes=9, seconds=59)
    assert state.accounts.authenticate("ana", PASSWORD, "office").retry_after_s == 1
    clock.advance(seconds=1)  # 15 minutes after the first failure: four remain
    assert state.accounts.authenticate("ana", PASSWORD, "office").ok
    # tries while locked did not count as failures, so one more bad guess locks again
    assert state.accounts.authenticate("ana", "guess", "attacker").reason == (
        "login.bad_credentials"
    )
    assert state.accounts.authenticate("ana", PASSWORD, "office").reason == "login.locked"


def test_a_client_is_locked_across_usernames_and_others_are_not(state, clock, monkeypatch):
    monkeypatch.setenv("CIM_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("CIM_LOGIN_WINDOW_MINUTES", "5")
    state.accounts.create("ana", PASSWORD, "backbone")
    for name in ("bob", "carla", "dirk"):
        state.accounts.authenticate(name, "guess", "10.6.6.6")
    locked = state.accounts.authenticate("ana", PASSWORD, "10.6.6.6")
    assert (locked.reason, locked.retry_after_s) == ("login.locked", 300)
    assert state.accounts.authenticate("ana", PASSWORD, "10.0.0.1").ok
    clock.advance(minutes=5)
    assert state.accounts.authenticate("ana", PASSWORD, "10.6.6.6").ok


def test_a_success_forgives_its_own_clients_failures_not_other_clients(state):
    state.accounts.create("ana", PASSWORD, "backbone")
    for _ in range(4):
        state.accounts.authenticate("ana", "typo", "laptop")
    assert state.accounts.authenticate("ana", PASSWORD, "laptop").ok
    for _ in range(4):
        state.accounts.authenticate("ana", "typo", "laptop")
    assert state.accounts.authenticate("ana", PASSWORD, "laptop").ok  # 4, not 8, failures
    for _ in range(4):
        state.accounts.authenticate("ana", "guess", "attacker")
    assert state.accounts.authenticate("ana", PASSWORD, "laptop").ok
    state.accounts.authenticate("ana", "guess", "attacker")  # the fifth: the laptop's
    # success came before it, and never forgave the attacker's failures anyway
    assert state.accounts.authenticate("ana", PASSWORD, "laptop").reason == "login.locked"


def test_a_revision_waits_for_approval_while_the_public_reads_the_approved_one(state, clock):
    note = state.notes.add("rent_burden", "Rents rose after the 2024 reform.", "ana", "north")
    assert (note.version, note.approved_at, note.hidden) == (1, None, False)
    assert state.notes.visible("public") == []
    clock.advance(hours=1)
    approved = state.notes.approve(note.note_id, 1, "boss")
    assert (approved.approved_by, approved.approved_at) == ("boss", T0 + dt.timedelta(hours=1))
    revised = state.notes.revise(note.note_id, "Rents rose after the reform of March 2024.", "ana")
    assert (revised.version, revised.approved_at, revised.area_id) == (2, None, "north")
    [public] = state.notes.visible("public")
    assert (public.version, public.body) == (1, "Rents rose after the 2024 reform.")
    [backbone] = state.notes.visible("backbone")
    assert (backbone.version, backbone.approved_at) == (2, None)
    state.notes.approve(note.note_id, 2, "boss")
    assert [n.version for n in state.notes.visible("public")] == [2]
    history = state.notes.history(note.note_id)
    assert [(n.version, n.author, n.approved_by) for n in history] == [
        (1, "ana", "boss"),
        (2, "ana", "boss"),
    ]
    with pytest.raises(ValueError, match="no version 3"):
        state.notes.approve(note.note_id, 3, "boss")
    with pytest.raises(ValueError, match="no note 999"):
        state.notes.revise(999, "text", "ana")
    with pytest.raises(ValueError, match="empty"):
        state.notes.add("rent_burden", "   ", "ana")


def test_a_partner_sees_its_own_drafts_and_only_the_approved_notes_of_others(state):
    own = state.notes.add("youth", "Our summer camp closed.", "piet", "south", "2025-07", "jeugd")
    other = state.notes.add("youth", "Draft of another partner.", "kim", "south", None, "woon")
    backbone = state.notes.add("crime", "New police district borders.", "boss", "north")
    state.notes.approve(backbone.note_id, 1, "boss")
    seen = state.notes.visible("partner", partner_id="jeugd")
    assert [(n.note_id, n.body) for n in seen] == [
        (own.note_id, "Our summer camp closed."),
        (backbone.note_id, "New police district borders."),
    ]
    state.notes.approve(other.note_id, 1, "boss")
    state.notes.revise(other.note_id, "Their unapproved second thoughts.", "kim")
    seen = state.notes.visible("partner", partner_id="jeugd", indicator_id="youth")
    assert [(n.note_id, n.version) for n in seen] == [(own.note_id, 1), (other.note_id, 1)]
    # and the other partner sees its own latest version, not the first partner's draft
    assert [(n.note_id, n.version) for n in state.notes.visible("partner", "woon", "youth")] == [
        (other.note_id, 2)
    ]
    assert [n.note_id for n in state.notes.visible("backbone", area_id="north")] == [
        backbone.note_id
    ]
    assert state.notes.visible("public", indicator_id="youth", area_id="north") == []
    with pytest.raises(ValueError, match="partner's id"):
        state.notes.visible("partner")


def test_a_hidden_note_is_gone_for_the_public_and_partners_not_the_backbone(state):
    note = state.notes.add("crime", "Misleading remark.", "kim", partner_id="woon")
    state.notes.approve(note.note_id, 1, "boss")
    hidden = state.notes.hide(note.note_id, "boss")
    assert hidden.hidden and hidden.version == 1
    assert state.notes.visible("public") == []
    assert state.notes.visible("partner", partner_id="woon") == []
    [seen] = state.notes.visible("backbone")
    assert seen.hidden and seen.body == "Misleading remark."
    assert all(n.hidden for n in state.notes.history(note.note_id))


def test_uploads_are_kept_newest_first_per_partner(state, clock):
    summary = {"rows": 120, "rejected": [{"row": 7, "column": "period", "reason": "2025-13"}]}
    first = state.uploads.record(
        "woon",
        "kim",
        "klachten_2025-Q1.xlsx",
        "a" * 64,
        5 * 2**30,
        "dry_run",
        "complaints",
        summary,
    )
    clock.advance(minutes=2)
    state.uploads.record(
        "woon", "kim", "klachten.xlsx", "b" * 64, 10, "submitted", "complaints", {}
    )
    clock.advance(minutes=2)
    state.uploads.record("jeugd", "piet", "notes.docx", "c" * 64, 99, "refused", None, {"why": "x"})
    assert (first.size_bytes, first.summary, first.recorded_at) == (5 * 2**30, summary, T0)
    woon = state.uploads.list("woon")
    assert [u.action for u in woon] == ["submitted", "dry_run"] and woon[1] == first
    assert [u.partner_id for u in state.uploads.list()] == ["jeugd", "woon", "woon"]
    assert len(state.uploads.list(limit=1)) == 1
    with pytest.raises(ValueError, match="dry_run, submitted, refused"):
        state.uploads.record("woon", "kim", "x.csv", "d" * 64, 1, "deleted", None, {})


def test_reminders_are_listed_and_their_last_sending_is_known(state, clock):
    sent = T0 - dt.timedelta(days=8)
    state.reminders.record(
        "youth",
        "2025-07",
        "overdue",
        "jeugd",
        ["a@x.org", "b@x.org"],
        "late",
        "log",
        "pipeline",
        sent,
    )
    entry = state.reminders.record(
        "youth", "2025-07", "overdue", "jeugd", ["a@x.org"], "late again", "smtp", "boss"
    )
    state.reminders.record(
        "complaints", "2023-Q2", "rejected", "woon", [], "bad", "log", "pipeline"
    )
    assert (entry.sent_at, entry.recipients, entry.sent_by) == (T0, ["a@x.org"], "boss")
    assert state.reminders.last_sent("youth", "2025-07", "overdue") == T0
    assert state.reminders.last_sent("youth", "2025-07", "rejected") is None
    assert [r.subject for r in state.reminders.list(partner_id="jeugd")] == ["late again", "late"]
    assert [r.feed for r in state.reminders.list(feed="complaints")] == ["complaints"]
    assert len(state.reminders.list()) == 3
    # a naive timestamp is taken as UTC
    naive = state.reminders.record(
        "x", "p", "overdue", None, [], "s", "log", "t", T0.replace(tzinfo=None)
    )
    assert naive.sent_at == T0


def test_the_migrations_build_exactly_the_models(state):
    assert current_revision(state.engine) == head_revision()
    with state.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    # one engine per process and URL: opening again neither migrates nor connects anew
    same = state.engine.url.render_as_string(hide_password=False)
    assert open_state(same).engine is state.engine


def test_two_processes_opening_a_fresh_database_at_once_both_succeed(state_url):
    script = (
        "import sys; from cim.appstate import open_state; "
        "s = open_state(sys.argv[1]); print(len(s.accounts.list()))"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, state_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(*p.communicate(timeout=120), p.returncode) for p in processes]
    assert [(out, code) for out, _, code in results] == [("0\n", 0), ("0\n", 0)], results
    assert current_revision(engine_for(state_url)) == head_revision()


def test_the_url_shown_hides_the_password_and_postgresql_gets_psycopg():
    engine = engine_for("postgresql://cim:s3cret@db.example:5432/appstate")
    shown = AppState(engine).url
    assert (
        "s3cret" not in shown and shown == "postgresql+psycopg://cim:***@db.example:5432/appstate"
    )
    assert engine_for("postgresql://cim:s3cret@db.example:5432/appstate") is engine


def test_the_default_database_is_a_sqlite_file_in_cim_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CIM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CIM_APP_DB", raising=False)
    state = open_state()
    assert state.url == f"sqlite:///{tmp_path / 'home' / 'app' / 'state.sqlite'}"
    assert (tmp_path / "home" / "app" / "state.sqlite").is_file()
    monkeypatch.setenv("CIM_APP_DB", f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")
    assert open_state().url.endswith("elsewhere.sqlite")


def test_the_accounts_command_reads_the_password_from_stdin_and_checks_the_partner(
    state_url, monkeypatch, capsys
):
    from cim.cli import main

    monkeypatch.setenv("CIM_APP_DB", state_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["accounts", "add", "Kim", "--role", "partner", "--partner", "housing"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["accounts", "add", "kim2", "--role", "partner", "--partner", "woonpunt"]) == 2
    err = capsys.readouterr().err
    assert "--partner woonpunt: no such partner" in err and "housing" in err
    assert "Traceback" not in err
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    assert main(["accounts", "password", "kim"]) == 2
    assert capsys.readouterr().err.startswith("error: password too short")
    assert main(["accounts", "disable", "kim"]) == 0
    assert main(["accounts", "list"]) == 0
    assert "kim                 partner   housing" in capsys.readouterr().out
    state = open_state(state_url)
    assert state.accounts.authenticate("kim", PASSWORD, "cli").reason == "login.disabled"
    assert main(["accounts", "enable", "kim"]) == 0
    assert state.accounts.authenticate("kim", PASSWORD, "cli").ok
    assert main(["app-db", "upgrade"]) == 0
    assert f"at revision {head_revision()}" in capsys.readouterr().out


def test_a_session_lives_while_used_and_ends_when_idle_old_or_closed(state, clock, monkeypatch):
    monkeypatch.setenv("CIM_SESSION_IDLE_MINUTES", "30")
    monkeypatch.setenv("CIM_SESSION_MAX_HOURS", "8")
    state.accounts.create("ana", PASSWORD, "partner", partner_id="housing")
    token = state.sessions.start("ana", via="local")
    with state.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT token_hash FROM sessions")).scalar_one()
    assert token not in stored  # only a hash is kept
    assert state.sessions.resolve(token).partner_id == "housing"
    assert state.sessions.via(token) == "local"
    for _ in range(15):  # kept alive by use: 7.5 hours of reading every half hour
        clock.advance(minutes=29)
        assert state.sessions.resolve(token) is not None
    clock.advance(minutes=45)  # past 8 hours since it started, though used lately
    assert state.sessions.resolve(token) is None

    idle = state.sessions.start("ana")
    clock.advance(minutes=31)
    assert state.sessions.resolve(idle) is None
    assert state.sessions.resolve("made-up-" + token[8:]) is None

    closed = state.sessions.start("ana")
    state.sessions.end(closed)
    assert state.sessions.resolve(closed) is None


def test_disabling_an_account_or_changing_its_password_ends_its_sessions(state):
    state.accounts.create("ben", PASSWORD, "backbone")
    first, second = state.sessions.start("ben"), state.sessions.start("ben", via="oidc")
    state.accounts.set_password("ben", PASSWORD + " again")
    assert state.sessions.resolve(first) is None and state.sessions.resolve(second) is None
    third = state.sessions.start("ben")
    state.accounts.disable("ben")
    assert state.sessions.resolve(third) is None
    with pytest.raises(ValueError, match="no active account"):
        state.sessions.start("ben")
    state.accounts.enable("ben")
    assert state.sessions.resolve(third) is None  # an ended session stays ended
