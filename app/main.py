"""Collective Impact Monitor: entry point (`streamlit run app/main.py`).

Streamlit's native multipage navigation: one ``st.Page`` per entry of ``app.views.PAGES``,
titled in the reader's language, at its own URL path (``/indicator``, ``/impact``; the
overview at ``/``), listed in the sidebar by ``st.navigation``. The language radio lives in
this entrypoint, so it keeps its value on every page, and writes it to ``?lang=``.

Deep links: ``/indicator?indicator=property_crime_rate&area=04017A&lang=nl``,
``/impact?action=<action_id>&indicator=<indicator_id>``. Links written before the pages had
URL paths (``?page=indicator&indicator=...``) are redirected once to that page with their
other parameters.
"""

from __future__ import annotations

import streamlit as st

from app import i18n
from app.i18n import t
from app.text import md
from app.views import PAGES, page

LEGACY_PAGE_PARAM = "page"


def language_selector() -> None:
    """The city's languages (city.yaml), the default first; the label says "language" in
    each of them, so a reader finds it whichever language the page is in."""
    langs = i18n.languages()
    if len(langs) > 1:
        wanted = st.query_params.get("lang", langs[0])
        label = " · ".join(dict.fromkeys(i18n.catalog(code)["app.language"] for code in langs))
        st.sidebar.radio(
            label,
            langs,
            index=langs.index(wanted) if wanted in langs else 0,
            format_func=lambda code: code.upper(),
            horizontal=True,
            key="lang",
        )
    # native navigation clears the query string; the widget's value survives it
    st.query_params["lang"] = i18n.lang()
    for problem in i18n.city_text().problems:
        st.sidebar.warning(t("app.city_words_problem", problem=md(problem)))


def follow_legacy_link(pages: dict[str, st.Page], current: st.Page) -> None:
    """``?page=<key>&...``: go to the page whose URL path is ``key``, keeping the rest."""
    if LEGACY_PAGE_PARAM not in st.query_params:
        return
    target = pages.get(st.query_params[LEGACY_PAGE_PARAM])
    del st.query_params[LEGACY_PAGE_PARAM]
    if target is not None and target.url_path != current.url_path:
        params = {key: st.query_params.get_all(key) for key in st.query_params}
        st.switch_page(target, query_params=params)


def main() -> None:
    language_selector()
    pages = {key: page(key) for key in PAGES}
    current = st.navigation({t("app.title"): list(pages.values())})
    follow_legacy_link(pages, current)
    st.set_page_config(page_title=f"{current.title} · {t('app.title')}", layout="wide")
    current.run()


main()
