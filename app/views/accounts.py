"""Accounts: the backbone lets partners in, and out.

A local account has a password (argon2-hashed in the app-state database); an account
without one signs in only through the city's identity provider, matched on its e-mail.
Disabling an account ends its sessions at their next page load (``access.viewer``
resolves every run against the store). Backbone only.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from cim import settings
from cim.city import load_city

from app import access
from app.i18n import t
from app.text import md


def accounts_table(accounts: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("col.username"): [a.username for a in accounts],
            t("col.name"): [a.display_name or "" for a in accounts],
            t("col.role"): [t(f"access.role.{a.role}") for a in accounts],
            t("col.partner"): [a.partner_id or "" for a in accounts],
            t("col.email"): [a.email or "" for a in accounts],
            t("col.active"): ["✅" if a.active else "⛔" for a in accounts],
        }
    )


def _partner_ids() -> dict[str, str]:
    """The city's partners an account may belong to (partners.yaml: they exist before
    anything is published)."""
    city = load_city(settings.city_dir())
    return {p.id: p.name for p in city.partners if not p.is_backbone}


def _add(store) -> None:
    partners = _partner_ids()
    with st.form("add_account", clear_on_submit=True):
        username = st.text_input(t("col.username"), key="new_username")
        name = st.text_input(t("col.name"), key="new_name")
        email = st.text_input(t("col.email"), key="new_email")
        # labels made now, in the reader's language: a format function that translated
        # later would translate in whatever language is current then
        roles = {r: t(f"access.role.{r}") for r in (access.PARTNER, access.BACKBONE)}
        role = st.radio(
            t("col.role"),
            list(roles),
            format_func=roles.get,
            horizontal=True,
            key="new_role",
        )
        partner = st.selectbox(
            t("col.partner"), list(partners), format_func=partners.get, key="new_partner"
        )
        password = st.text_input(
            t("accounts.password"),
            type="password",
            key="new_password",
            help=t("accounts.password_help"),
        )
        if not st.form_submit_button(t("accounts.add")):
            return
    try:
        store.accounts.create(
            username,
            password or None,
            role=role,
            partner_id=partner if role == access.PARTNER else None,
            display_name=name or None,
            email=email or None,
        )
    except ValueError as problem:
        st.error(md(str(problem)))
        return
    st.success(t("accounts.added", username=md(username.strip().casefold())))


def render() -> None:
    who = access.require(access.BACKBONE)
    st.title(t("page.accounts"))
    st.caption(t("accounts.explain"))
    store = access.state()
    accounts = store.accounts.list()
    st.dataframe(accounts_table(accounts), hide_index=True, width="stretch")
    st.subheader(t("accounts.add"))
    _add(store)
    others = [a.username for a in accounts if a.username != who.username]
    if not others:
        return
    st.subheader(t("accounts.switch"))
    pick = st.selectbox(t("col.username"), others, key="switch_account")
    account = store.accounts.get(pick)
    if account is None:
        return
    if account.active:
        if st.button(t("accounts.disable"), key="disable_account"):
            store.accounts.disable(pick)
            st.rerun()
    elif st.button(t("accounts.enable"), key="enable_account"):
        store.accounts.enable(pick)
        st.rerun()
