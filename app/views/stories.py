"""The story behind the curve: notes of the backbone and the partners on an indicator.

A note says what happened and what partners are doing, for an indicator and optionally an
area and a period. Notes are versioned in the app-state database, with author and time.
The public reads only a version the backbone approved; a partner reads its own drafts
besides; the backbone reads and approves everything. A note on a period is marked on the
indicator's chart at that period, numbered as in the list under it.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import access, data
from app.i18n import t
from app.text import md


def visible(who: access.Viewer, indicator_id: str, area_id: str | None) -> list:
    """The notes ``who`` may read on this indicator: those on the area shown and those on
    the indicator as a whole (no area), newest first."""
    notes = access.state().notes.visible(
        who.audience, partner_id=who.partner_id, indicator_id=indicator_id
    )
    return [n for n in notes if n.area_id in (None, area_id)]


def annotated(figure: go.Figure, notes: list) -> go.Figure:
    """The chart with a marker at the period of each note that names one."""
    for number, note in enumerate(notes, start=1):
        start = data.period_start(note.period_id)
        if start is None:
            continue
        figure.add_vline(
            x=pd.Timestamp(start).to_pydatetime().timestamp() * 1000,
            line={"dash": "dot", "color": "#555555", "width": 1},
            annotation_text=f"({number})",
            annotation_position="top",
        )
    return figure


def _meta(note) -> str:
    approved = (
        t("stories.approved", by=md(note.approved_by), at=data.fmt_date(note.approved_at))
        if note.approved_by
        else t("stories.not_approved")
    )
    where = " · ".join(md(x) for x in (note.area_id, note.period_id) if x)
    return " · ".join(
        x
        for x in (
            t("stories.by", author=md(note.author), at=data.fmt_date(note.created_at)),
            t("stories.version", n=note.version),
            where,
            approved,
        )
        if x
    )


def _write(who: access.Viewer, indicator_id: str, area_id: str | None, periods: list[str]) -> None:
    with st.form("story", clear_on_submit=True):
        body = st.text_area(t("stories.body"), key="story_body", max_chars=4000)
        on_area = st.checkbox(t("stories.on_area"), value=True, key="story_on_area")
        period = st.selectbox(
            t("col.period"), [None, *periods], format_func=lambda p: p or "–", key="story_period"
        )
        if not st.form_submit_button(t("stories.add")):
            return
    if not body.strip():
        st.error(t("stories.empty"))
        return
    access.state().notes.add(
        indicator_id,
        body.strip(),
        author=who.username,
        area_id=area_id if on_area else None,
        period_id=period,
        partner_id=who.partner_id,
    )
    st.success(t("stories.added_backbone" if who.audience == access.BACKBONE else "stories.added"))


def _revise(who: access.Viewer, note) -> None:
    """A new version of the note, by its author or the backbone; the public keeps the
    last approved version until the backbone approves this one."""
    with st.expander(t("stories.revise")):
        with st.form(f"revise_{note.note_id}", clear_on_submit=True):
            body = st.text_area(
                t("stories.body"), value=note.body, key=f"revise_body_{note.note_id}"
            )
            if not st.form_submit_button(t("stories.save_version")):
                return
        if body.strip() and body.strip() != note.body:
            access.state().notes.revise(note.note_id, body.strip(), author=who.username)
            st.rerun()


def render(indicator_id: str, area_id: str | None, periods: list[str], notes: list) -> None:
    """The notes under the chart, and for partners and the backbone a way to write one."""
    who = access.viewer()
    st.subheader(t("stories.title"))
    if not notes:
        st.caption(t("stories.none"))
    store = access.state()
    for number, note in enumerate(notes, start=1):
        with st.container(border=True):
            st.markdown(f"**({number})** {md(note.body)}")
            st.caption(_meta(note))
            if who.audience == access.BACKBONE or who.username == note.author:
                _revise(who, note)
            if who.audience == access.BACKBONE:
                c1, c2 = st.columns(2)
                if not note.approved_by and c1.button(
                    t("stories.approve"), key=f"approve_{note.note_id}_{note.version}"
                ):
                    store.notes.approve(note.note_id, note.version, who.username)
                    st.rerun()
                if c2.button(t("stories.hide"), key=f"hide_{note.note_id}"):
                    store.notes.hide(note.note_id, who.username)
                    st.rerun()
    if who.signed_in:
        _write(who, indicator_id, area_id, periods)
