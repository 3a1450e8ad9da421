"""Three audiences, one app: each reader sees exactly its part, decided on the server.

Anonymous visitors, partner A (housing), partner B (police) and the backbone, against the
real published demo snapshot and a real app-state database. The reader is signed in
through the login form where signing in is the subject; elsewhere with a session the store
issued (tests/readers.py). Tampering: URLs and query parameters naming other pages or
partners, session-state entries a client might try to plant, forged and ended tokens,
and an identity-provider user without an account. The identity provider itself cannot
run here: ``AppTest.user`` stands in for what ``st.login`` would return (Streamlit's own
test hook), which is the only simulated part.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.access import TOKEN
from app.i18n import catalog
from app.views import PAGES as REGISTRY
from tests import readers
from tests.test_app import APP, go, navigation

EN = catalog("en")
PARTNER_A, PARTNER_B = "housing", "police"
RESTRICTED = [key for key, view in REGISTRY.items() if "public" not in view.audiences]


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    """A fresh app-state database per test (SQLite), so accounts and lockouts of one test
    never reach another."""
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("CIM_APP_DB", url)
    return url


def fresh() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def text_of(at: AppTest) -> str:
    """Everything the run put on the page, tables included."""
    parts = [
        e.value
        for kind in (
            "markdown",
            "caption",
            "title",
            "subheader",
            "info",
            "warning",
            "success",
            "error",
        )
        for e in at.get(kind)
    ]
    parts += [frame.value.to_csv() for frame in at.dataframe]
    parts += [str(s.options) for s in at.selectbox]
    return "\n".join(str(p) for p in parts)


def nav_paths(at: AppTest) -> set[str]:
    return {path for _, path in navigation(at)}


def sign_in_by_form(at: AppTest, username: str, password: str) -> AppTest:
    go(at, "login")
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_anonymous_visitors_see_only_public_pages(published, app_db):
    at = go(fresh(), "overview")
    assert nav_paths(at) == {
        ("" if key == "overview" else key)
        for key, view in REGISTRY.items()
        if "public" in view.audiences
    }
    files = [name for (name,) in published("SELECT original_name FROM meta.file_ledger")]
    emails = [e for (e,) in published("SELECT contact_email FROM marts.dim_partner")]
    assert files and emails
    for key in RESTRICTED:
        # typing the URL of a closed page: not registered for this reader, so it is not
        # rendered, and nothing of it reaches the page: no file name, no contact
        at = go(fresh(), key)
        assert at.title[0].value != EN[f"page.{key}"], key
        text = text_of(at)
        assert not [name for name in files if name in text], key
        assert not [e for e in emails if e in text], key


def test_partner_signs_in_and_lands_on_its_own_page(published, app_db):
    username = readers.account("partner", PARTNER_A)
    at = sign_in_by_form(fresh(), username, readers.PASSWORD)
    assert at.title[0].value == EN["page.portal"]
    assert "portal" in nav_paths(at)
    assert not nav_paths(at) & {"health", "cockpit", "accounts", "login"}
    assert any(EN["access.log_out"] == b.label for b in at.sidebar.button)


def test_partner_sees_only_its_own_deliveries(published, app_db):
    at = readers.sign_in(fresh(), "partner", PARTNER_A)
    go(at, "portal")
    own = published("SELECT original_name FROM meta.file_ledger WHERE partner = ?", [PARTNER_A])
    others = published(
        "SELECT DISTINCT original_name, feed FROM meta.file_ledger WHERE partner <> ?",
        [PARTNER_A],
    )
    assert own and others
    text = text_of(at)
    for (name,) in own:
        assert name in text
    for name, feed in others:
        assert name not in text and feed not in text, (name, feed)
    files = at.dataframe[1].value  # the partner's files
    assert len(files) == len(own)
    owed = published(
        "SELECT count(*) FROM marts.fct_feed_health WHERE partner_id = ?", [PARTNER_A]
    )[0][0]
    assert len(at.dataframe[0].value) == owed


@pytest.mark.parametrize(
    "planted",
    [
        {"partner_id": PARTNER_B},
        {"role": "backbone", "audience": "backbone", "partner": PARTNER_B},
        {"viewer": {"audience": "backbone"}, "_cim_viewer": "backbone"},
    ],
)
def test_planted_session_state_and_query_parameters_change_nothing(published, app_db, planted):
    at = readers.sign_in(fresh(), "partner", PARTNER_A)
    for key, value in planted.items():
        at.session_state[key] = value
    go(at, "portal", partner=PARTNER_B, partner_id=PARTNER_B, role="backbone")
    text = text_of(at)
    b_files = published(
        "SELECT DISTINCT original_name FROM meta.file_ledger WHERE partner = ?", [PARTNER_B]
    )
    assert b_files
    for (name,) in b_files:
        assert name not in text
    # and the backbone's pages stay closed to this session
    for key in ("cockpit", "health", "accounts"):
        go(at, key, role="backbone")
        assert at.title[0].value != EN[f"page.{key}"], key


def test_a_forged_or_ended_token_reads_as_the_public(published, app_db):
    at = fresh()
    at.session_state[TOKEN] = "forged-" + "0" * 40
    go(at, "cockpit")
    assert at.title[0].value != EN["page.cockpit"]
    assert "cockpit" not in nav_paths(at)

    token = readers.token_for("backbone")
    at = fresh()
    at.session_state[TOKEN] = token
    go(at, "cockpit")
    assert at.title[0].value == EN["page.cockpit"]
    at.sidebar.button(key="log_out").click().run()
    assert "cockpit" not in nav_paths(at)
    # the same token, replayed in another session after signing out, opens nothing
    again = fresh()
    again.session_state[TOKEN] = token
    go(again, "cockpit")
    assert again.title[0].value != EN["page.cockpit"]


def test_wrong_passwords_lock_the_account_even_for_the_right_one(published, app_db):
    username = readers.account("partner", PARTNER_A)
    at = fresh()
    for _ in range(5):
        sign_in_by_form(at, username, "not the password at all")
        assert EN["login.bad_credentials"] in [e.value for e in at.error]
    sign_in_by_form(at, username, readers.PASSWORD)
    errors = " ".join(e.value for e in at.error)
    assert "paused" in errors
    assert "portal" not in nav_paths(at)


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(published, app_db):
    at = sign_in_by_form(fresh(), "nobody-here", "whatever it is, it is wrong")
    assert [e.value for e in at.error] == [EN["login.bad_credentials"]]


def test_sessions_expire_when_idle(published, app_db, monkeypatch):
    monkeypatch.setenv("CIM_SESSION_IDLE_MINUTES", "0")
    at = readers.sign_in(fresh(), "backbone")
    go(at, "cockpit")
    assert at.title[0].value != EN["page.cockpit"]
    assert any(EN["access.expired"] == i.value for i in at.sidebar.info)


def test_backbone_sees_every_partner_in_the_cockpit(published, app_db):
    at = readers.sign_in(fresh(), "backbone")
    go(at, "cockpit")
    assert at.title[0].value == EN["page.cockpit"]
    grid = at.dataframe[0].value
    partners = {
        n
        for (n,) in published(
            "SELECT DISTINCT p.partner_name FROM marts.fct_feed_health h "
            "JOIN marts.dim_partner p USING (partner_id)"
        )
    }
    assert set(grid[EN["col.partner"]]) == partners
    contacts = at.dataframe[-1].value
    emails = {e for (e,) in published("SELECT contact_email FROM marts.dim_partner")}
    assert set(contacts[EN["col.email"]]) == emails
    for key in ("health", "accounts"):
        go(at, key)
        assert at.title[0].value == EN[f"page.{key}"], key


def test_identity_provider_users_are_matched_to_their_account(published, app_db):
    username = readers.account("partner", PARTNER_B)
    at = fresh()
    at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback"}
    at.user = {"is_logged_in": True, "email": f"{username}@example.org"}
    go(at, "portal")
    assert at.title[0].value == EN["page.portal"]
    police = published("SELECT original_name FROM meta.file_ledger WHERE partner = ?", [PARTNER_B])
    assert police[0][0] in text_of(at)

    stranger = fresh()
    stranger.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback"}
    stranger.user = {"is_logged_in": True, "email": "someone@elsewhere.example"}
    go(stranger, "portal")
    assert stranger.title[0].value != EN["page.portal"]
    warned = " ".join(w.value for w in stranger.sidebar.warning).replace("\\", "")
    assert "someone@elsewhere.example" in warned


def test_without_a_provider_a_claimed_identity_is_ignored(published, app_db):
    """No ``[auth]`` in the secrets: ``st.user`` is no identity to trust."""
    username = readers.account("backbone")
    at = fresh()
    at.user = {"is_logged_in": True, "email": f"{username}@example.org"}
    go(at, "cockpit")
    assert at.title[0].value != EN["page.cockpit"]


def test_the_demo_makes_sign_in_accounts_once_for_its_owner_only(tmp_path, monkeypatch):
    from cim.appstate import default_url, open_state
    from cim_demo.__main__ import main as demo

    home = tmp_path / "home"
    monkeypatch.setenv("CIM_HOME", str(home))
    monkeypatch.delenv("CIM_APP_DB", raising=False)
    assert demo(["--incidents", "200"]) == 0
    listing = home / "secrets" / "demo-accounts.txt"
    assert listing.stat().st_mode & 0o777 == 0o600
    rows = [line.split("\t") for line in listing.read_text().splitlines()[1:]]
    state = open_state(default_url(home))
    for username, role, partner, password in rows:
        result = state.accounts.authenticate(username, password, client="test")
        assert result.ok, username
        assert (result.account.role, result.account.partner_id or "-") == (role, partner)
    assert {r[1] for r in rows} == {"backbone", "partner"}
    before = listing.read_text()
    assert demo([]) == 0  # a second `make run`: the same accounts, the same file
    assert listing.read_text() == before
