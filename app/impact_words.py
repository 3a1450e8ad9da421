"""An action's impact in words: the verdict sentence, the estimate's interval and its
relative size, as the Impact page and the council report both write them. Pure functions
of one row of ``marts.fct_action_impact``; no Streamlit."""

from __future__ import annotations

import pandas as pd

from app import data
from app.i18n import t


def interval(lo: object, hi: object, digits: int = 2) -> str:
    return f"[{data.fmt(lo, digits)} ; {data.fmt(hi, digits)}]"


def relative(v: object) -> str:
    return "–" if data.is_missing(v) else f"{float(v) * 100:+.0f}%"


def verdict(row: pd.Series, unit: str) -> str:
    """One sentence of contribution, never proof; ``unit`` as the caller shows text
    (escaped for Markdown on a page, as written in a report)."""
    if row["result"] != "estimated":
        return t("impact.insufficient")
    key = "impact.finding." + str(row["finding"])
    return t(
        key,
        effect=data.fmt(row["effect"]),
        unit=unit,
        relative=relative(row["relative_effect"]),
        interval=interval(row["effect_lower_95"], row["effect_upper_95"]),
    )
