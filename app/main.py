"""Collective Impact Monitor: entry point (`streamlit run app/main.py`).

Pages are st.Page objects in a hidden st.navigation. The sidebar radio (translated labels)
chooses the page and keeps the choice in the URL query parameter ``page``; when the page
Streamlit resolved from the URL path differs, st.switch_page follows ``page``. Deep links:
``?page=indicator&indicator=property_crime_rate&area=04017A&lang=nl``,
``?page=impact&action=<action_id>&indicator=<indicator_id>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import i18n  # noqa: E402
from app.i18n import t  # noqa: E402
from app.views import PAGES  # noqa: E402


def main() -> None:
    st.set_page_config(page_title="Collective Impact Monitor", layout="wide")
    langs = list(i18n.LANGS)
    wanted_lang = st.query_params.get("lang", "en")
    with st.sidebar:
        st.radio(
            "Language · Taal · Langue",
            langs,
            index=langs.index(wanted_lang) if wanted_lang in langs else 0,
            format_func=lambda code: code.upper(),
            horizontal=True,
            key="lang",
        )
        st.query_params["lang"] = i18n.lang()
        st.title(t("app.title"))
        keys = list(PAGES)
        wanted = st.query_params.get("page", "overview")
        chosen = st.radio(
            t("nav.label"),
            keys,
            index=keys.index(wanted) if wanted in keys else 0,
            format_func=lambda k: t(f"page.{k}"),
            key="page",
        )
    st.query_params["page"] = chosen
    pages = {
        key: st.Page(fn, title=t(f"page.{key}"), url_path=key, default=key == "overview")
        for key, fn in PAGES.items()
    }
    current = st.navigation(list(pages.values()), position="hidden")
    if current is not pages[chosen]:
        # the URL path (or the page the browser is on) disagrees with ?page=: follow ?page=
        st.switch_page(pages[chosen], query_params=st.query_params.to_dict())
    current.run()


main()
