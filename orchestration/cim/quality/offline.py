"""Make GX Data Docs pages self-contained and put a readable summary on top.

GX links Bootstrap, jQuery, Font Awesome and a logo from CDNs: offline the pages are
unstyled and every view would try to reach the internet. Each page loses every remote
stylesheet, script, image and link, its (now dead) inline jQuery code and the newsletter
footer, and gets the local ``static/styles/cim.css`` instead.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from cim.quality.outcome import CheckOutcome

MARK = "<!-- cim-summary -->"
_REMOTE = r"""["']?https?://[^"'\s>)]*["']?"""
_STRIP = [
    re.compile(rf"<script\b[^>]*\bsrc\s*=\s*{_REMOTE}[^>]*>\s*</script>", re.I | re.S),
    re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S),  # inline jQuery code, now dead
    re.compile(rf"<link\b[^>]*\bhref\s*=\s*{_REMOTE}[^>]*>", re.I),
    re.compile(rf"<img\b[^>]*\bsrc\s*=\s*{_REMOTE}[^>]*>", re.I | re.S),
    re.compile(r"<footer\b.*?</footer>", re.I | re.S),  # a newsletter link
]
_ANCHOR = re.compile(rf"<a\b[^>]*\bhref\s*=\s*{_REMOTE}[^>]*>(.*?)</a>", re.I | re.S)
_CSS_URL = re.compile(rf"url\(\s*{_REMOTE}\s*\)", re.I)
_IMPORT = re.compile(rf"@import\s+(url\()?\s*{_REMOTE}\s*\)?\s*;?", re.I)


def _table(outcomes: list[CheckOutcome]) -> str:
    failed = sorted((o for o in outcomes if not o.success), key=lambda o: (o.severity, o.asset))
    if not failed:
        return "<p>Every expectation passed.</p>"
    rows = "".join(
        f'<tr><td><span class="cim-badge cim-{o.severity}">{o.severity}</span></td>'
        f"<td>{html.escape(o.asset)}</td><td>{html.escape(o.expectation)}</td>"
        f'<td class="cim-message">{html.escape(o.message)}</td></tr>'
        for o in failed
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("Severity", "Asset", "Expectation", "What is wrong, what to do")
    )
    return f'<table class="cim-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def summary(outcomes: list[CheckOutcome], pages: list[tuple], title: str) -> str:
    errors = sum(1 for o in outcomes if not o.success and o.severity == "ERROR")
    warns = sum(1 for o in outcomes if not o.success and o.severity == "WARN")
    runs = ", ".join(sorted({html.escape(o.run_id) for o in outcomes})) or "none"
    links = "".join(
        f'<li><span class="cim-badge cim-{str(state).lower()}">{state}</span> '
        f'<a href="{html.escape(p.as_posix())}">{html.escape(label)}</a></li>'
        for p, state, label in pages
    )
    return (
        f'{MARK}<section class="cim-summary"><h1>{html.escape(title)}</h1>'
        f"<p>Run {runs}: {len(outcomes)} expectations checked, {errors} failing ERROR, "
        f"{warns} failing WARN.</p>{_table(outcomes)}"
        + (f"<h2>Validation results</h2><ul>{links}</ul>" if links else "")
        + "</section>"
    )


def make_offline(page: Path, docs: Path, summary: str | None) -> None:
    text = page.read_text(encoding="utf-8")
    for pattern in _STRIP:
        text = pattern.sub("", text)
    text = _ANCHOR.sub(lambda m: m[1], _IMPORT.sub("", _CSS_URL.sub("none", text)))
    prefix = "../" * (len(page.relative_to(docs).parts) - 1)
    link = f'<link rel="stylesheet" href="{prefix}static/styles/cim.css">'
    text = text.replace("</head>", f"{link}\n</head>", 1)
    if summary and MARK not in text:
        text = re.sub(r"(<body[^>]*>)", lambda m: m[1] + summary, text, count=1)
    page.write_text(text, encoding="utf-8")


def offline_css(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(_IMPORT.sub("", _CSS_URL.sub("none", text)), encoding="utf-8")
