"""Read-only access to the published snapshot, cached on the file's modification time.

The app never touches the working warehouse: every query opens the served snapshot
read-only (one connection per read) and results are cached per (file, mtime, query).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import babel.dates
import babel.numbers
import pandas as pd
import streamlit as st
from cim import settings
from cim.publish import connect_published
from cim.publish.reader import CURRENT

from app import i18n


def _paths() -> settings.Paths:
    return settings.Paths(settings.cim_home())


def snapshot_file() -> Path:
    return _paths().published / CURRENT


def snapshot_mtime() -> float | None:
    """The served file's mtime, or None when nothing is published."""
    try:
        return snapshot_file().stat().st_mtime
    except OSError:
        return None


def available() -> bool:
    return snapshot_mtime() is not None


@st.cache_data(show_spinner=False, max_entries=256)
def _query(home: str, mtime: float, sql: str, params: tuple) -> pd.DataFrame:
    with connect_published(settings.Paths(Path(home))) as con:
        if con is None:
            return pd.DataFrame()
        return con.execute(sql, list(params)).df()


def query(sql: str, params: tuple = ()) -> pd.DataFrame:
    """Run a read-only query on the served snapshot (empty frame when none is published)."""
    mtime = snapshot_mtime()
    if mtime is None:
        return pd.DataFrame()
    return _query(str(_paths().home), mtime, sql, tuple(params))


def table(name: str) -> pd.DataFrame:
    return query(f"SELECT * FROM {name}")  # fixed table names from the app


def manifest() -> dict:
    df = query("SELECT manifest FROM published.manifest")
    if df.empty:
        return {}
    raw = df.iloc[0, 0]
    return raw if isinstance(raw, dict) else json.loads(raw)


# The snapshot holds the agenda's and the areas file's text, in the one language they are
# written in; every page reads names through these functions, which put the city's own
# words in the reader's language over them (app.i18n, cities/<city>/i18n/<lang>.yaml).
INDICATOR_TEXT = {"indicator_name": "name", "unit": "unit", "definition": "definition"}
GOAL_TEXT = {"goal_name": "name", "goal_description": "description"}


def with_goal_words(frame: pd.DataFrame) -> pd.DataFrame:
    """``goal_name`` / ``goal_description`` of each row in the reader's language."""
    frame = frame.copy()
    for column, key in GOAL_TEXT.items():
        if column in frame and "goal_id" in frame:
            pairs = zip(frame["goal_id"], frame[column], strict=True)
            frame[column] = [i18n.goal_text(g, key, v) for g, v in pairs]
    return frame


def with_area_words(frame: pd.DataFrame, id_column: str = "area_id") -> pd.DataFrame:
    """``area_name`` (and ``parent_area_name``) of each row in the reader's language."""
    frame = frame.copy()
    pairs = [(id_column, "area_name"), ("parent_area_id", "parent_area_name")]
    for ids, column in pairs:
        if ids in frame and column in frame:
            pairs = zip(frame[ids], frame[column], strict=True)
            frame[column] = [i18n.area_name(a, v) for a, v in pairs]
    return frame


def with_indicator_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``marts.dim_indicator`` with their names, units, definitions and goals in
    the reader's language."""
    frame = with_goal_words(frame)
    for column, key in INDICATOR_TEXT.items():
        pairs = zip(frame["indicator_id"], frame[column], strict=True)
        frame[column] = [i18n.indicator_text(i, key, v) for i, v in pairs]
    return frame


def indicators() -> pd.DataFrame:
    frame = query("SELECT * FROM marts.dim_indicator ORDER BY goal_id, indicator_id")
    return frame if frame.empty else with_indicator_words(frame)


def indicator_names() -> dict[str, str]:
    """Indicator id -> its name in the reader's language."""
    frame = indicators()
    if frame.empty:
        return {}
    return dict(zip(frame["indicator_id"], frame["indicator_name"], strict=True))


def areas() -> pd.DataFrame:
    frame = query("SELECT * FROM marts.dim_area ORDER BY area_depth, area_id")
    return frame if frame.empty else with_area_words(frame)


def activities() -> pd.DataFrame:
    """The activity registry with each action's goal in the reader's language."""
    frame = table("marts.fct_activities")
    return frame if frame.empty else with_goal_words(frame)


def city_area_id() -> str | None:
    a = areas()
    top = a[a["area_depth"] == 0]
    return None if top.empty else str(top.iloc[0]["area_id"])


def progress() -> pd.DataFrame:
    return table("marts.fct_progress")


def has_table(schema: str, name: str) -> bool:
    found = query(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        (schema, name),
    )
    return not found.empty


def has_column(schema: str, name: str, column: str) -> bool:
    """A snapshot published before a column existed lacks it."""
    found = query(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "AND column_name = ?",
        (schema, name, column),
    )
    return not found.empty


def levels() -> list[str]:
    """The city's area levels, finest first."""
    df = query(
        "SELECT area_level FROM marts.dim_area GROUP BY area_level ORDER BY max(area_depth) DESC"
    )
    return df["area_level"].tolist()


def impact() -> pd.DataFrame:
    """Action x indicator results (empty for a snapshot published before impact existed)."""
    if not has_table("marts", "fct_action_impact"):
        return pd.DataFrame()
    return query("SELECT * FROM marts.fct_action_impact ORDER BY action_id, indicator_id")


def impact_trends(action_id: str, indicator_id: str) -> pd.DataFrame:
    return query(
        "SELECT * FROM marts.fct_action_trends WHERE action_id = ? AND indicator_id = ? "
        "ORDER BY area_group, period_start",
        (action_id, indicator_id),
    )


def impact_events(action_id: str, indicator_id: str) -> pd.DataFrame:
    return query(
        "SELECT * FROM marts.fct_action_event_study WHERE action_id = ? AND indicator_id = ? "
        "ORDER BY event_bin",
        (action_id, indicator_id),
    )


def impact_donors(action_id: str, indicator_id: str) -> pd.DataFrame:
    """The synthetic comparison's areas and weights (empty before the table existed)."""
    if not has_table("marts", "fct_action_donors"):
        return pd.DataFrame()
    return query(
        "SELECT * FROM marts.fct_action_donors WHERE action_id = ? AND indicator_id = ? "
        "ORDER BY weight DESC, area_id",
        (action_id, indicator_id),
    )


def period_start(period_id: object):
    if is_missing(period_id):
        return None
    df = query("SELECT start_date FROM marts.dim_period WHERE period_id = ?", (period_id,))
    return None if df.empty else df.iloc[0, 0]


def series(indicator_id: str, area_id: str, period_type: str) -> pd.DataFrame:
    return query(
        """
        SELECT v.*, p.start_date, p.end_date
        FROM marts.fct_indicator_values v
        JOIN marts.dim_period p USING (period_id)
        WHERE v.indicator_id = ? AND v.area_id = ? AND v.period_type = ?
        ORDER BY p.start_date
        """,
        (indicator_id, area_id, period_type),
    )


def breakdown(indicator_id: str, period_id: str, area_level: str) -> pd.DataFrame:
    return query(
        """
        SELECT v.*, a.area_name
        FROM marts.fct_indicator_values v
        JOIN marts.dim_area a USING (area_id)
        WHERE v.indicator_id = ? AND v.period_id = ? AND v.area_level = ?
        ORDER BY v.area_id
        """,
        (indicator_id, period_id, area_level),
    ).pipe(with_area_words)


def periods_for(indicator_id: str, period_type: str) -> list[str]:
    df = query(
        """
        SELECT DISTINCT v.period_id, p.start_date
        FROM marts.fct_indicator_values v JOIN marts.dim_period p USING (period_id)
        WHERE v.indicator_id = ? AND v.period_type = ?
        ORDER BY p.start_date DESC
        """,
        (indicator_id, period_type),
    )
    return [] if df.empty else df["period_id"].tolist()


@st.cache_data(show_spinner=False)
def _geojson(file: str, mtime: float) -> dict:
    return json.loads(Path(file).read_text(encoding="utf-8"))


def boundaries() -> dict | None:
    """The city's area polygons (GeoJSON with property area_id), or None."""
    try:
        from cim.city import load_city

        city = load_city(settings.city_dir())
        name = city.settings.boundaries_file
        if not name:
            return None
        file = city.folder / name
        return _geojson(str(file), file.stat().st_mtime)
    except Exception:  # a map is optional; the table still shows
        return None


def data_docs() -> Path:
    return _paths().quality_docs / "index.html"


def dbt_docs() -> Path:
    return _paths().dbt_docs / "index.html"


def is_missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def fmt(v: object, digits: int = 2) -> str:
    """One way of writing a number on every page (tests use the same function): fixed
    decimals, grouped and punctuated as the reader's language writes them (1,234.50 in
    English, 1.234,50 in Dutch and German, 1 234,50 in French)."""
    if is_missing(v):
        return "–"
    number = float(v)
    if round(number, digits) == 0:
        number = 0.0  # no "-0.00" for a value that rounds to nothing
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return babel.numbers.format_decimal(number, format=pattern, locale=i18n.locale())


def value_digits(indicator: pd.Series | dict) -> int:
    """Decimals of an indicator's values: a count is a whole number of events."""
    return 0 if indicator.get("indicator_kind") == "count" else 2


def fmt_date(v: object) -> str:
    """A date (or timestamp) in the reader's language: Dec 7, 2026 · 7 dec 2026 ·
    7 déc. 2026 · 07.12.2026."""
    if is_missing(v) or v is pd.NaT:
        return "–"
    return babel.dates.format_date(pd.Timestamp(v).date(), format="medium", locale=i18n.locale())


def fmt_pct(v: object) -> str:
    """A share (0.59) as a whole percentage in the reader's language: 59% · 59 %."""
    if is_missing(v):
        return "–"
    return babel.numbers.format_percent(float(v), locale=i18n.locale())


def calendar(period_type: str) -> pd.DataFrame:
    """Every period of a type with its first day (gaps in a series are periods of it)."""
    return query(
        "SELECT period_id, start_date FROM marts.dim_period WHERE period_type = ? "
        "ORDER BY start_date",
        (period_type,),
    )


def drawn_series(indicator_id: str, area_id: str, period_type: str) -> pd.DataFrame:
    """``series`` with a row for every period between its first and last: a period with no
    row is a gap, never bridged (app.series)."""
    from app.series import complete

    return complete(series(indicator_id, area_id, period_type), calendar(period_type))
