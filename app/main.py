"""Collective Impact Monitor: entry point (`streamlit run app/main.py`).

Streamlit's native multipage navigation: one ``st.Page`` per entry of ``app.views.PAGES``,
titled in the reader's language, at its own URL path (``/indicator``, ``/impact``; the
overview at ``/``), listed in the sidebar by ``st.navigation``. The language switches live
in this entrypoint, so they keep their value on every page, and write it to ``?lang=``;
the entrypoint also sets ``<html lang>`` and the browser tab's title in that language.

Deep links: ``/indicator?indicator=property_crime_rate&area=04017A&lang=nl``,
``/impact?action=<action_id>&indicator=<indicator_id>``. Links written before the pages had
URL paths (``?page=indicator&indicator=...``) are redirected once to that page with their
other parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from app import access, i18n
from app.i18n import t
from app.text import md
from app.views import page, pages_for

LEGACY_PAGE_PARAM = "page"
# where a reader lands just after signing in: its own page
LANDING = {access.PARTNER: "portal", access.BACKBONE: "cockpit"}
FAVICON = Path(__file__).with_name("favicon.png")


# Streamlit's mobile layout collapses the sidebar below this width: the language switch at
# the top of the page shows there only, the sidebar's radio everywhere else.
PHONE_WIDTH = 768
TOP_SWITCH = "lang_top"


def _from_sidebar() -> None:
    st.session_state[TOP_SWITCH] = st.session_state["lang"]


def _from_top() -> None:
    # the top switch cannot be emptied (required), but keep the state whole if it were
    st.session_state["lang"] = st.session_state[TOP_SWITCH] or st.session_state["lang"]


def language_selector() -> None:
    """The city's languages (city.yaml), the default first; the label says "language" in
    each of them, so a reader finds it whichever language the page is in. Two switches
    share the one state key ``lang``: the sidebar's radio, and a compact one at the top of
    the page for a phone, where the sidebar starts collapsed."""
    langs = i18n.languages()
    if len(langs) > 1:
        current = i18n.lang()
        # both switches read their value from the state, never from a default of their
        # own: set before they exist, so the two stay in sync
        for key in ("lang", TOP_SWITCH):
            if st.session_state.get(key) != current:
                st.session_state[key] = current
        label = " · ".join(dict.fromkeys(i18n.catalog(code)["app.language"] for code in langs))
        st.sidebar.radio(
            label,
            langs,
            index=None,
            format_func=lambda code: code.upper(),
            horizontal=True,
            key="lang",
            on_change=_from_sidebar,
        )
        st.segmented_control(
            label,
            langs,
            required=True,
            format_func=lambda code: code.upper(),
            key=TOP_SWITCH,
            on_change=_from_top,
            label_visibility="collapsed",
        )
        st.html(
            f"<style>@media (min-width: {PHONE_WIDTH + 1}px) "
            f"{{ .st-key-{TOP_SWITCH} {{ display: none; }} }}</style>"
        )
    # native navigation clears the query string; the widget's value survives it
    st.query_params["lang"] = i18n.lang()
    for problem in i18n.city_text().problems:
        st.sidebar.warning(t("app.city_words_problem", problem=md(problem)))


def document_language() -> None:
    """``<html lang>`` in the reader's language (screen readers, hyphenation, the
    browser's translation offer). Streamlit has no API for it: a same-origin script sets
    it, in the sidebar, where an element without height takes no room in the page."""
    code = i18n.lang()
    if code not in i18n.LANGS:
        return  # only a known code goes into the script
    st.sidebar.html(
        f"<script>window.document.documentElement.lang = {json.dumps(code)};</script>",
        unsafe_allow_javascript=True,
    )


def follow_legacy_link(pages: dict[str, st.Page], current: st.Page) -> None:
    """``?page=<key>&...``: go to the page whose URL path is ``key``, keeping the rest."""
    if LEGACY_PAGE_PARAM not in st.query_params:
        return
    target = pages.get(st.query_params[LEGACY_PAGE_PARAM])
    del st.query_params[LEGACY_PAGE_PARAM]
    if target is not None and target.url_path != current.url_path:
        params = {key: st.query_params.get_all(key) for key in st.query_params}
        st.switch_page(target, query_params=params)


def who_is_reading() -> access.Viewer:
    """The reader, resolved on the server, and the sidebar's account box: who is signed
    in and a way out, or the way in for partners and the backbone."""
    who = access.viewer()
    access.keep_cookie(who)
    if st.session_state.pop("_cim_session_expired", False):
        st.sidebar.info(t("access.expired"), icon="⏱️")
    if email := st.session_state.pop("_cim_unknown_identity", None):
        st.sidebar.warning(t("access.unknown_identity", email=md(email)), icon="🔒")
    if who.signed_in:
        st.sidebar.markdown(
            t(
                "access.signed_in",
                name=md(who.display_name),
                role=t(f"access.role.{who.audience}"),
            )
        )
        if st.sidebar.button(t("access.log_out"), key="log_out"):
            access.log_out()
            st.rerun()
    return who


def main() -> None:
    language_selector()
    document_language()
    who = who_is_reading()
    pages = {key: page(key) for key in pages_for(who.audience)}
    current = st.navigation({t("app.title"): list(pages.values())})
    follow_legacy_link(pages, current)
    landing = LANDING.get(who.audience)
    if st.session_state.pop(access.JUST_SIGNED_IN, False) and landing in pages:
        st.switch_page(pages[landing])
    # a favicon of our own: a page's Material icon as favicon is fetched from Google's
    # servers, and the dashboard calls nothing on the internet
    st.set_page_config(
        page_title=f"{current.title} · {t('app.title')}", page_icon=str(FAVICON), layout="wide"
    )
    current.run()


main()
