"""Helpers shared by the pages: empty state, URL-backed pickers, links between pages, colours."""

from __future__ import annotations

import streamlit as st

from app import data, views  # views: the page registry, complete before any page renders
from app.i18n import lang, status, t

# colour-blind safe diverging scale: blue = better, orange = worse
BETTER, WORSE, NEUTRAL = "#2166ac", "#e66101", "#bbbbbb"
SCALE_LOW_IS_BETTER = [
    [0.0, "#2166ac"],
    [0.25, "#92c5de"],
    [0.5, "#f7f7f7"],
    [0.75, "#fdb863"],
    [1.0, "#e66101"],
]
SCALE_HIGH_IS_BETTER = [[1 - s, c] for s, c in reversed(SCALE_LOW_IS_BETTER)]


def require_data() -> bool:
    """Show the empty state and return False when nothing is published."""
    if data.available():
        return True
    st.warning(f"**{t('empty.title')}**")
    st.markdown(t("empty.body"))
    return False


def url_select(param: str, label: str, options: list[str], labels: dict[str, str]) -> str:
    """A selectbox whose value is read from and written to the URL query parameter."""
    wanted = st.query_params.get(param)
    index = options.index(wanted) if wanted in options else 0
    value = st.selectbox(label, options, index=index, format_func=lambda o: labels.get(o, o))
    st.query_params[param] = value
    return value


def page_link(key: str, label: str, **params: str) -> None:
    """A link to the page ``key`` of ``app.views.PAGES`` with ``params`` in its URL: the
    only way one page sends the reader to another (the language goes along)."""
    st.page_link(views.page(key), label=label, query_params={**params, "lang": lang()})


# progress status: colour AND icon (colour-blind safe: the icon alone tells them apart);
# emoji, not Material icons, which Streamlit fetches from the internet
STATUS_BADGES = {
    "on track": ("blue", "✔️"),
    "off track": ("orange", "⚠️"),
    "insufficient data": ("gray", "⏳"),
    "no target": ("gray", "➖"),
}


def status_icon(value: object) -> str:
    """The icon of a progress status (badges, and table cells, which have no colour)."""
    return STATUS_BADGES.get(str(value), ("gray", "❔"))[1]


def status_badge(value: object) -> None:
    """A progress status as a coloured badge with an icon, in the reader's language."""
    colour = STATUS_BADGES.get(str(value), ("gray", "❔"))[0]
    st.badge(f"{t('col.status')}: {status(value)}", icon=status_icon(value), color=colour)


def scale_word(scale) -> str:
    """The name of an ``app.series.Scale`` in the reader's language, as every card, chart
    caption and download writes it."""
    return t("scale.rolling") if scale.rolling else t("scale.period")


def direction_label(direction: str) -> str:
    return t("direction.down") if direction == "down" else t("direction.up")
