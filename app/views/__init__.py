"""The dashboard's pages, in menu order.

A page is a render function, an emoji icon (Streamlit fetches a Material icon's SVG
from Google's servers: the dashboard works offline) and a key. The key is the page's URL path
(``/indicator``), the suffix of its translated title in ``app/i18n/<lang>.yaml``
(``page.indicator``) and the value old ``?page=`` links name; the first page is the default
one, served at ``/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import streamlit as st

from app.i18n import t
from app.views import area, health, impact, indicator, method, overview, partners


class View(NamedTuple):
    render: Callable[[], None]
    icon: str


PAGES: dict[str, View] = {
    "overview": View(overview.render, "🏠"),
    "indicator": View(indicator.render, "📈"),
    "area": View(area.render, "📍"),
    "partners": View(partners.render, "🤝"),
    "impact": View(impact.render, "🎯"),
    "health": View(health.render, "🩺"),
    "method": View(method.render, "📖"),
}
DEFAULT = next(iter(PAGES))


def page(key: str) -> st.Page:
    """The ``st.Page`` of ``key``, titled in the reader's language.

    ``st.navigation`` registers these; ``st.page_link`` and ``st.switch_page`` accept an equal
    one (Streamlit identifies a page by its URL path), so views link with ``page(key)``.
    """
    view = PAGES[key]
    return st.Page(
        view.render,
        title=t(f"page.{key}"),
        icon=view.icon,
        url_path=key,
        default=key == DEFAULT,
    )
