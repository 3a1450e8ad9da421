"""Partner and configuration text, made safe to show.

Streamlit renders Markdown (GitHub-flavoured, plus its own ``:colour[..]``, ``:icon:`` and
``$LaTeX$``) in ``st.markdown``, ``st.write``, ``st.caption``, alert boxes, headings, metric
and expander labels and tooltips, and Markdown images are fetched from wherever they point.
Text we did not write (names, descriptions, definitions, units from the city folder or from
partner files) therefore never reaches those elements as Markdown: ``md`` escapes it so that
it shows literally, with no images, links, raw HTML, LaTeX or formatting. Plotly reads a
subset of HTML in labels and hover text: ``html_text`` escapes that.

Identifiers validated by the city configuration and values the platform computes itself
(dates, numbers, snapshot ids) are shown as they are.
"""

from __future__ import annotations

import html
import math
import re

import pandas as pd

MISSING = "–"

# characters that open inline Markdown, HTML, Streamlit directives, LaTeX or autolinks
_ALWAYS = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "[": "\\[",
    "]": "\\]",
    "!": "\\!",
    "~": "\\~",
    "|": "\\|",
    "$": "\\$",
    ":": "\\:",
    "@": "\\@",
    "#": "\\#",
    "&": "\\&",
    "<": "&lt;",
    ">": "&gt;",
}
# block markers that count only at the start of a line: lists, setext headings, rules
_LINE_START = re.compile(r"^( {0,3})([-+=]|\d+(?=[.)]))", re.MULTILINE)
_WWW = re.compile(r"(?i)\b(www)\.")


def _missing(value: object) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def _underscore_inert(text: str, i: int) -> bool:
    """An underscore between two letters or digits (snake_case) never opens emphasis."""
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    return before.isalnum() and after.isalnum()


def md(value: object, missing: str = MISSING) -> str:
    """``value`` as Markdown that renders as exactly its text: nothing is interpreted."""
    if _missing(value):
        return missing
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for i, ch in enumerate(text):
        if ch == "_" and not _underscore_inert(text, i):
            out.append("\\_")
        else:
            out.append(_ALWAYS.get(ch, ch))
    escaped = "".join(out)
    escaped = _LINE_START.sub(lambda m: m.group(1) + _escape_marker(m.group(2)), escaped)
    return _WWW.sub(r"\1\\.", escaped)


def _escape_marker(marker: str) -> str:
    # "-", "+", "=" get a backslash; for "12." / "12)" the backslash goes before the "." / ")"
    return "\\" + marker if not marker.isdigit() else marker + "\\"


def md_code(value: object, missing: str = MISSING) -> str:
    """``value`` as an inline code span that no backtick in it can close early."""
    if _missing(value):
        return missing
    text = " ".join(str(value).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def html_text(value: object, missing: str = MISSING) -> str:
    """``value`` for a Plotly label or hover text: its HTML-like tags shown as text."""
    if _missing(value):
        return missing
    return html.escape(str(value), quote=False)
