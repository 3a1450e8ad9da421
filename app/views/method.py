"""Method: definitions, disclosure control, intervals and statuses in plain words."""

from __future__ import annotations

import streamlit as st

from app.i18n import t
from app.views.common import require_data


def render() -> None:
    st.title(t("page.method"))
    require_data()  # the method text is useful even before anything is published
    st.markdown(t("method.body"))
