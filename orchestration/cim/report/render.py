"""The content model typeset by Typst (the Python package, offline): a PDF, or the same
document as one self-contained HTML file (Typst's HTML export; charts inlined as data).

Only the fonts Typst bundles are used (never the machine's), so a report looks the same
everywhere and its text embeds and extracts."""

from __future__ import annotations

import json
from pathlib import Path

import typst

TEMPLATE = Path(__file__).with_name("report.typ")
FORMATS = ("pdf", "html")


def render(content: dict, fmt: str = "pdf") -> bytes:
    """``content`` (cim.report.content.build_content) as PDF or HTML bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    return typst.compile(
        str(TEMPLATE),
        root=str(TEMPLATE.parent),
        format=fmt,
        sys_inputs={"report": json.dumps(content, ensure_ascii=False, default=str)},
        ignore_system_fonts=True,
    )
