"""Readers of the dashboard for tests: accounts in the deployment's real app-state
database, signed in the way the app signs them in.

``token_for`` opens a server session as a successful sign-in does (``state.sessions``);
a test whose subject is not signing in puts that token where the app keeps it. Tests of
signing in itself use the form (tests/test_access.py).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cim.appstate import default_url, open_state
from streamlit.testing.v1 import AppTest

from app.access import COOKIE, TOKEN

# one password per test session: long enough for the store's rule, never written down
PASSWORD = secrets.token_urlsafe(18)


def account(role: str, partner: str | None = None, url: str | None = None) -> str:
    """The user name of an account with ``role`` (and ``partner``), made once."""
    state = open_state(url)
    username = f"test-{role}-{partner}" if partner else f"test-{role}"
    if state.accounts.get(username) is None:
        state.accounts.create(
            username,
            PASSWORD,
            role=role,
            partner_id=partner,
            display_name=username,
            email=f"{username}@example.org",
        )
    return username


def token_for(role: str, partner: str | None = None, url: str | None = None) -> str:
    """A session token of a signed-in ``role`` (``partner``) reader."""
    username = account(role, partner, url)
    return open_state(url).sessions.start(username, via="local")


def sign_in(at: AppTest, role: str, partner: str | None = None) -> AppTest:
    """``at`` as a session a ``role`` reader signed into."""
    at.session_state[TOKEN] = token_for(role, partner)
    return at


def cookie(url: str, home: Path | str, role: str, partner: str | None = None) -> dict:
    """The sign-in cookie a browser holds after ``role`` signed in on the dashboard at
    ``url`` serving the deployment at ``home`` (for Playwright's ``add_cookies``)."""
    token = token_for(role, partner, default_url(Path(home)))
    return {"name": COOKIE, "value": token, "url": url}
