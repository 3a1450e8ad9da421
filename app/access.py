"""Who is reading: the public, a partner or the backbone, decided on the server.

Three audiences share one app. The public needs no login and sees only published,
disclosure-controlled figures, the method and approved stories. A partner sees its own
feeds, deliveries, rejected rows and reminders, and uploads its files. The backbone sees
everything, feed health across partners included, and manages accounts.

The audience is never taken from the browser. A login (a local account, or the city's
OpenID Connect provider through ``st.login``) opens a session in the app-state database
(``cim.appstate``); the Streamlit session keeps only that session's random token, and every
run resolves the token again to the account and its role. A token that is unknown, ended
or expired resolves to the public, so no query parameter, widget value or session-state
entry can make a reader a partner, another partner or the backbone. Pages check the
audience on their first line (``require``) as well as being left out of the navigation:
leaving a widget out is not a rule.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Literal

import streamlit as st
from cim import settings
from cim.appstate import AppState, open_state
from cim.appstate.accounts import BACKBONE_ROLE, PARTNER_ROLE
from cim.appstate.sessions import age_limit

from app.i18n import t

PUBLIC = "public"
PARTNER, BACKBONE = PARTNER_ROLE, BACKBONE_ROLE
Audience = Literal["public", "partner", "backbone"]
# the session-state entry holding the session token, and nothing else: no role, no partner
TOKEN = "_cim_session_token"  # noqa: S105 (the name of the entry, not a token)
JUST_SIGNED_IN = "_cim_just_signed_in"
# A local sign-in outlives a reload through this cookie, which holds the same token (and
# is checked like it); Streamlit keeps its own HttpOnly cookie for st.login's identity.
COOKIE = "cim_session"
FORGET_COOKIE = "_cim_forget_cookie"


@dataclass(frozen=True)
class Viewer:
    audience: Audience
    username: str | None = None
    partner_id: str | None = None
    display_name: str | None = None
    via: Literal["anonymous", "local", "oidc"] = "anonymous"

    @property
    def signed_in(self) -> bool:
        return self.audience != PUBLIC


ANONYMOUS = Viewer(PUBLIC)


@st.cache_resource(show_spinner=False)
def _state(url: str | None, home: str) -> AppState:
    # ``home`` keys the cache: without CIM_APP_DB the database lies under CIM_HOME
    return open_state(url)


def state() -> AppState:
    """The app-state database (``CIM_APP_DB``, else SQLite under ``CIM_HOME/app``)."""
    return _state(os.environ.get("CIM_APP_DB"), str(settings.cim_home()))


def client() -> str:
    """The reader's address, for rate-limiting logins per client as well as per account."""
    try:
        address = st.context.ip_address
    except RuntimeError:  # outside a script run (tests of pure functions)
        address = None
    # None behind some proxies and in AppTest, where it is not even a string
    return address if isinstance(address, str) and address else "unknown"


def viewer_of(account) -> Viewer:
    """The viewer an active account reads as."""
    if account is None or not account.active:
        return ANONYMOUS
    audience = BACKBONE if account.role == BACKBONE else PARTNER
    return Viewer(
        audience=audience,
        username=account.username,
        partner_id=account.partner_id if audience == PARTNER else None,
        display_name=account.display_name or account.username,
    )


def oidc_configured() -> bool:
    """Whether the city configured an OpenID Connect provider (``[auth]`` in Streamlit's
    secrets): only then is ``st.user`` an identity to trust."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):
        return False
    except Exception:
        return False


def _oidc_email() -> str | None:
    try:
        if not st.user.is_logged_in:
            return None
    except (AttributeError, KeyError):
        return None
    email = st.user.get("email")
    return str(email) if email else None


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except (AttributeError, RuntimeError):
        return None
    return value if isinstance(value, str) and value else None


def keep_cookie(who: Viewer) -> None:
    """Write (or clear) the sign-in cookie in the browser: a same-origin script, the way
    ``<html lang>`` is set, since Streamlit has no API to set a cookie."""
    if who.via == "local" and (token := st.session_state.get(TOKEN)):
        secure = "; Secure" if str(st.context.url or "").startswith("https:") else ""
        age = int(age_limit().total_seconds())  # the server ends it then anyway
        cookie = f"{COOKIE}={token}; Path=/; Max-Age={age}; SameSite=Strict{secure}"
    elif st.session_state.pop(FORGET_COOKIE, False) or _cookie_token():
        cookie = f"{COOKIE}=; Path=/; Max-Age=0; SameSite=Strict"
    else:
        return
    st.sidebar.html(
        f"<script>window.document.cookie = {json.dumps(cookie)};</script>",
        unsafe_allow_javascript=True,
    )


def viewer() -> Viewer:
    """The reader of this run, resolved on the server from the session token."""
    token = st.session_state.get(TOKEN)
    token = token if isinstance(token, str) and token else _cookie_token()
    store = state()
    if token:
        account = store.sessions.resolve(token)
        if account is not None:
            st.session_state[TOKEN] = token
            via = store.sessions.via(token)
            found = viewer_of(account)
            return Viewer(**{**found.__dict__, "via": via}) if found.signed_in else ANONYMOUS
        # ended, expired or made up: forget it, and say so once if it was this session's
        if st.session_state.pop(TOKEN, None):
            st.session_state["_cim_session_expired"] = True
        st.session_state[FORGET_COOKIE] = True
    email = _oidc_email() if oidc_configured() else None
    if email:
        account = store.accounts.by_email(email)
        found = viewer_of(account)
        if found.signed_in:
            st.session_state[TOKEN] = store.sessions.start(account.username, via="oidc")
            return Viewer(**{**found.__dict__, "via": "oidc"})
        st.session_state["_cim_unknown_identity"] = email
    return ANONYMOUS


def log_in(username: str, password: str):
    """Check a local account's password (rate-limited per account and per client) and, on
    success, open a session. Returns the store's ``AuthResult``."""
    store = state()
    result = store.accounts.authenticate(username, password, client=client())
    if result.ok:
        st.session_state[TOKEN] = store.sessions.start(result.account.username, via="local")
        st.session_state[JUST_SIGNED_IN] = True
        st.session_state.pop("_cim_session_expired", None)
    return result


def log_out() -> None:
    token = st.session_state.pop(TOKEN, None)
    if token:
        state().sessions.end(token)
    st.session_state[FORGET_COOKIE] = True
    if oidc_configured() and _oidc_email():
        st.logout()


def require(*audiences: Audience) -> Viewer:
    """The first line of a page that not everyone may read: the viewer when allowed,
    otherwise a message and the end of this run (nothing below it renders)."""
    who = viewer()
    if who.audience not in audiences:
        st.warning(t("access.denied"), icon="🔒")
        st.stop()
    return who
