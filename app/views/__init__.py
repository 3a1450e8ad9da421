"""The dashboard's pages, in menu order.

A page is a render function, an emoji icon (Streamlit fetches a Material icon's SVG
from Google's servers: the dashboard works offline), the audiences that may read it
(``app.access``) and a key. The key is the page's URL path
(``/indicator``), the suffix of its translated title in ``app/i18n/<lang>.yaml``
(``page.indicator``) and the value old ``?page=`` links name; the first page is the default
one, served at ``/``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import streamlit as st

from app.access import BACKBONE, PARTNER, PUBLIC
from app.i18n import t
from app.views import (
    accounts,
    area,
    cockpit,
    health,
    impact,
    indicator,
    login,
    method,
    overview,
    partners,
    portal,
)

EVERYONE = frozenset({PUBLIC, PARTNER, BACKBONE})


class View(NamedTuple):
    render: Callable[[], None]
    icon: str
    audiences: frozenset[str] = EVERYONE


PAGES: dict[str, View] = {
    "overview": View(overview.render, "🏠"),
    "indicator": View(indicator.render, "📈"),
    "area": View(area.render, "📍"),
    "partners": View(partners.render, "🤝"),
    "impact": View(impact.render, "🎯"),
    "portal": View(portal.render, "📤", frozenset({PARTNER})),
    "cockpit": View(cockpit.render, "🧭", frozenset({BACKBONE})),
    "health": View(health.render, "🩺", frozenset({BACKBONE})),
    "accounts": View(accounts.render, "👥", frozenset({BACKBONE})),
    "method": View(method.render, "📖"),
    "login": View(login.render, "🔑", frozenset({PUBLIC})),
}
DEFAULT = next(iter(PAGES))


def pages_for(audience: str) -> list[str]:
    """The keys of the pages ``audience`` may read, in menu order."""
    return [key for key, view in PAGES.items() if audience in view.audiences]


def _guarded(key: str) -> None:
    """Render a page for a reader its audiences admit, and for no one else: a page left
    out of the navigation is not yet a closed door."""
    from app import access

    access.require(*PAGES[key].audiences)
    PAGES[key].render()


def page(key: str) -> st.Page:
    """The ``st.Page`` of ``key``, titled in the reader's language.

    ``st.navigation`` registers these; ``st.page_link`` and ``st.switch_page`` accept an equal
    one (Streamlit identifies a page by its URL path), so views link with ``page(key)``.
    """
    view = PAGES[key]
    return st.Page(
        functools.partial(_guarded, key),
        title=t(f"page.{key}"),
        icon=view.icon,
        url_path=key,
        default=key == DEFAULT,
    )
