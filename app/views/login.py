"""Sign in: partners and the backbone, with the city's identity provider or a local account.

Only the public sees this page; once signed in, the reader's own pages replace it. The
password never leaves the form's run: it goes to ``access.log_in`` (argon2 check,
rate-limited per account and per address) and is not kept anywhere.
"""

from __future__ import annotations

import streamlit as st

from app import access
from app.i18n import t


def render() -> None:
    st.title(t("page.login"))
    st.caption(t("login.explain"))
    if access.oidc_configured():
        if st.button(t("login.with_provider"), key="login_oidc", type="primary"):
            st.login()
        st.caption(t("login.or_local"))
    with st.form("login", clear_on_submit=True, enter_to_submit=True):
        username = st.text_input(t("login.username"), key="login_username")
        password = st.text_input(t("login.password"), type="password", key="login_password")
        submitted = st.form_submit_button(t("login.submit"))
    if not submitted:
        return
    if not username.strip() or not password:
        st.error(t("login.missing"))
        return
    result = access.log_in(username, password)
    if result.ok:
        st.rerun()
    elif result.reason == "login.locked":
        minutes = max(1, -(-(result.retry_after_s or 60) // 60))
        st.error(t("login.locked", minutes=minutes), icon="⏳")
    else:
        st.error(t(result.reason or "login.bad_credentials"), icon="🔒")
