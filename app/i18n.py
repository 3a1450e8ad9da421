"""Translations: interface labels come from app/i18n/<lang>.yaml (English is the fallback);
the city's own words (level, area, goal and indicator names, units, definitions) from the
city folder's i18n/<lang>.yaml (``cim.city.words``).

The languages offered are city.yaml's ``languages``, the first the default. The city's
files are read when they change (cached on their modification times), so an edited word
shows on the next page load without a pipeline run.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import babel.dates
import babel.numbers
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import yaml
from cim import settings
from cim.city.config import load_settings
from cim.city.errors import ConfigError
from cim.city.words import INTERFACE_LANGUAGES, CityWords, load_words, readable, words_files

LANGS = INTERFACE_LANGUAGES
FOLDER = Path(__file__).with_name("i18n")


@cache
def catalog(lang: str) -> dict[str, str]:
    return yaml.safe_load((FOLDER / f"{lang}.yaml").read_text(encoding="utf-8")) or {}


@dataclass(frozen=True)
class CityText:
    languages: list[str]
    words: CityWords = field(default_factory=CityWords)
    problems: list[str] = field(default_factory=list)


def _signature(folder: Path) -> tuple:
    """What the city's text depends on: city.yaml and the words files, by mtime."""
    files = [folder / "city.yaml", *words_files(folder)]
    return tuple((str(f), f.stat().st_mtime_ns) for f in files if f.is_file())


@lru_cache(maxsize=8)
def _city_text(folder: str, signature: tuple) -> CityText:
    try:
        languages = load_settings(Path(folder)).languages
    except ConfigError as exc:
        # the dashboard still serves the published figures; check-config names the fix
        return CityText(list(LANGS), problems=[str(exc)])
    words = load_words(Path(folder), languages)
    return CityText(languages, words, [str(e) for e in words.errors])


def city_text() -> CityText:
    folder = settings.city_dir()
    return _city_text(str(folder), _signature(folder))


def languages() -> list[str]:
    """The interface languages of the city, the default first."""
    return city_text().languages


# A language set for a piece of work outside a reader's session (a report written by the
# CLI or by Dagster): it wins over the session's choice while ``speaking`` holds it.
_SPOKEN: ContextVar[str | None] = ContextVar("spoken", default=None)


@contextmanager
def speaking(code: str) -> Iterator[None]:
    """Every ``t``, number and date inside the block in the language ``code``."""
    token = _SPOKEN.set(code)
    try:
        yield
    finally:
        _SPOKEN.reset(token)


def lang() -> str:
    if (spoken := _SPOKEN.get()) is not None:
        return spoken
    offered = languages()
    value = st.session_state.get("lang") or st.query_params.get("lang") or offered[0]
    return value if value in offered else offered[0]


# Babel's locale per interface language. The language alone, not the city's country: an
# English page keeps English punctuation (1,234.50) wherever the city lies.
LOCALES = {"en": "en", "nl": "nl", "fr": "fr", "de": "de"}


def locale() -> str:
    """The reader's Babel locale (numbers and dates in ``app.data.fmt*``)."""
    return LOCALES.get(lang(), "en")


def separators() -> str:
    """Plotly's ``layout.separators`` for the reader's language: the decimal mark, then
    the thousands separator (".," in English, ",." in Dutch and German, ", " in French),
    so hover values and axis ticks read as the page's numbers do."""
    symbols = babel.numbers.get_decimal_symbol(locale()), babel.numbers.get_group_symbol(locale())
    return "".join(symbols)


def _dates(values: object) -> pd.Series:
    """A trace's x values as dates, or an empty series when they are not dates."""
    if values is None or isinstance(values, str):
        return pd.Series(dtype="datetime64[ns]")
    series = pd.Series(list(values))
    if series.empty or not (
        pd.api.types.is_datetime64_any_dtype(series)
        or series.map(lambda v: isinstance(v, pd.Timestamp)).all()
    ):
        return pd.Series(dtype="datetime64[ns]")
    return pd.to_datetime(series).dropna()


def date_ticks(first: pd.Timestamp, last: pd.Timestamp) -> tuple[list, list[str]]:
    """Axis ticks from ``first`` to ``last`` with month names in the reader's language
    (plotly writes English ones, and Streamlit's plotly has no locale files): yearly for
    more than three years, else every 6, 3 or 1 months."""
    months = (last.year - first.year) * 12 + last.month - first.month
    step = 12 if months > 36 else 6 if months > 18 else 3 if months > 6 else 1
    start = pd.Timestamp(first.year, first.month, 1)
    if start < first:
        start += pd.DateOffset(months=1)
    while (start.month - 1) % step:
        start += pd.DateOffset(months=1)
    ticks = list(pd.date_range(start, last, freq=pd.DateOffset(months=step)))
    pattern = "yyyy" if step == 12 else "MMM yyyy"
    return ticks, [babel.dates.format_date(d, pattern, locale=locale()) for d in ticks]


def localised(figure: go.Figure) -> go.Figure:
    """A plotly figure with the reader's decimal and thousands separators and, on a date
    axis, month names in the reader's language; hover dates written as numbers (2025-03),
    which read alike in every language. Set per figure: a plotly template is one
    process-wide default, shared by readers of every language."""
    figure.update_layout(separators=separators())
    dates = [_dates(getattr(trace, "x", None)) for trace in figure.data]
    dates = [d for d in dates if not d.empty]
    if dates:
        every = pd.concat(dates)
        ticks, labels = date_ticks(every.min(), every.max())
        figure.update_xaxes(tickmode="array", tickvals=ticks, ticktext=labels, hoverformat="%Y-%m")
    return figure


def t(key: str, **kwargs: object) -> str:
    text = catalog(lang()).get(key) or catalog("en").get(key) or key
    return text.format(**kwargs) if kwargs else text


def status(value: object) -> str:
    """A translated status word (delivery or progress status)."""
    if not isinstance(value, str) or not value:
        return t("status.none")
    return t("status." + value.replace(" ", "_"))


def _given(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def level_name(level: object, plural: bool = False) -> str:
    """An area level in the reader's language: the city's word, else the interface's word
    for the common level names (district, ...), else the id made readable; never a key."""
    code = lang()
    found = city_text().words.level(str(level), code, plural)
    return found or catalog(code).get(f"level.{level}") or readable(level)


def area_name(area_id: object, default: object) -> str:
    """An area's name in the reader's language, else the areas file's name."""
    found = city_text().words.area(str(area_id), lang())
    return found or (str(default) if _given(default) else readable(area_id))


def goal_text(goal_id: object, key: str, default: object) -> object:
    """A goal's ``name`` or ``description`` in the reader's language, else the agenda's."""
    found = city_text().words.goal(str(goal_id), key, lang())
    if found:
        return found
    if key == "name" and not _given(default):
        return readable(goal_id)
    return default


def indicator_text(indicator_id: object, key: str, default: object) -> object:
    """An indicator's ``name``, ``unit`` or ``definition`` in the reader's language, else
    the agenda's."""
    found = city_text().words.indicator(str(indicator_id), key, lang())
    if found:
        return found
    if key == "name" and not _given(default):
        return readable(indicator_id)
    return default


# --- texts the pipeline stores in English ------------------------------------------------
# Impact guard rails and notes, comparison rules, method reasons and quality-check messages
# are written by cim in English, from templates with figures and ids in them. Each template
# is a ``reason.*`` key of app/i18n/en.yaml; the other catalogs say it in their language
# with the same placeholders. A text no template matches is shown as written.
REASON = "reason."
# placeholders that hold ids, periods or lists: shown as written
_AS_WRITTEN = {"area", "areas", "asset", "column", "method", "other", "period", "periods"}
# ingestion's years, period labels and ids: "1900" is a year, not the number 1.900
_AS_WRITTEN |= {"earliest", "example", "feed", "file", "latest", "load_id", "why", "year"}
_IDENTIFIERS = {"column", "other"}
_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class _Template:
    key: str
    pattern: re.Pattern
    literal: int  # characters outside placeholders: the more, the more specific


def _pattern(template: str) -> tuple[re.Pattern, int]:
    parts, seen, literal = [], set(), 0
    for text, name, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(text))
        literal += len(text)
        if name is None:
            continue
        # a column is an identifier: "passed: x is given" is a passed check of "x is given"
        value = r"\w+" if name in _IDENTIFIERS else ".+?"
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{value})")
        seen.add(name)
    return re.compile("".join(parts), re.DOTALL), literal


@cache
def _templates() -> tuple[_Template, ...]:
    found = [
        _Template(key, *_pattern(text))
        for key, text in catalog("en").items()
        if key.startswith(REASON) and isinstance(text, str)
    ]
    # "delivery period not before {period}" before "{column} not before {other}"
    return tuple(sorted(found, key=lambda tpl: -tpl.literal))


def _parameter(name: str, value: str) -> str:
    """A matched figure or id as the reader's page writes it."""
    from app import data  # data imports this module

    # the cell a rejected row names is written as it was ('12,5'), or hidden ("a value")
    if name in ("rule", "error", "cell"):
        return reason(value)
    if name == "indicator":
        return str(indicator_text(value, "name", None) or value)
    if name in ("level", "lowest"):
        return level_name(value)
    if name in ("start", "today"):
        return data.fmt_date(value) if _ISO_DATE.fullmatch(value) else value
    if name in _AS_WRITTEN:
        return value
    number = _NUMBER.fullmatch(value)
    if number:
        return data.fmt(float(value), len(number.group(1) or ""))
    return value


def _said(text: str) -> str | None:
    """``text`` said by the one template that matches it whole, or None."""
    for template in _templates():
        found = template.pattern.fullmatch(text)
        if found is None:
            continue
        words = catalog(lang()).get(template.key) or catalog("en")[template.key]
        return words.format(**{k: _parameter(k, v) for k, v in found.groupdict().items()})
    return None


# a rejected row with several broken values stores their reasons joined by "; "
_JOINED, _MAX_PARTS = "; ", 16


def _said_in_parts(text: str) -> str | None:
    """A text of several stored reasons joined by "; ", each said by its template: the
    split into the most parts that each match one (a reason may hold "; " itself), or
    None when there is no such split into two or more."""
    parts = text.split(_JOINED)
    if not 1 < len(parts) <= _MAX_PARTS:
        return None
    # best[j]: the most matched pieces the first j parts split into, and their words
    best: list[tuple[int, list[str]] | None] = [(0, [])] + [None] * len(parts)
    for j in range(1, len(parts) + 1):
        for i in range(j):
            if best[i] is None or (i == 0 and j == len(parts)):
                continue
            said = _said(_JOINED.join(parts[i:j]))
            if said is not None and (best[j] is None or best[i][0] + 1 > best[j][0]):
                best[j] = (best[i][0] + 1, [*best[i][1], said])
    return _JOINED.join(best[-1][1]) if best[-1] is not None else None


def reason(text: object) -> object:
    """A text the pipeline stored in English (a guard rail, note, comparison rule, method
    reason, quality-check message, or why ingestion rejected a file or a row) in the
    reader's language, its figures in the reader's number format; a text no template
    matches as it was written."""
    if not isinstance(text, str):
        return text
    if _JOINED in text and (said := _said_in_parts(text)) is not None:
        return said
    said = _said(text)
    return text if said is None else said


def reasons(value: object) -> list[str]:
    """A list column of such texts (NULL, read as None or NA: none), each translated."""
    if isinstance(value, str):
        return [reason(value)]
    if not isinstance(value, list | tuple) and not hasattr(value, "tolist"):
        return []
    return [reason(item) for item in list(value)]
