"""Council-ready reports: a goal or an area, from the published snapshot, in the city's
languages, typeset offline with Typst (``cim report``; a quarterly Dagster asset)."""

from __future__ import annotations

from pathlib import Path

from cim.report.content import ReportError, Story, build_content
from cim.report.render import FORMATS, render
from cim.settings import Paths


def build_report(
    paths: Paths,
    *,
    goal: str | None = None,
    area: str | None = None,
    lang: str = "en",
    fmt: str = "pdf",
    period: str | None = None,
    stories=(),
) -> bytes:
    """The report as PDF or HTML bytes; ``stories`` are the approved notes to show."""
    content = build_content(paths, goal=goal, area=area, lang=lang, period=period, stories=stories)
    return render(content, fmt)


def public_stories(paths: Paths) -> list:
    """The stories a report for the council and the public tells: the latest version the
    backbone approved of each note that is not hidden (the app state's public view)."""
    from cim.appstate import default_url, open_state

    return open_state(default_url(paths.home)).notes.visible("public")


def write_report(output: Path, report: bytes) -> Path:
    """Write ``report`` next to a temporary name, then rename: no half-written file."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_bytes(report)
    partial.replace(output)
    return output


__all__ = [
    "FORMATS",
    "ReportError",
    "Story",
    "build_content",
    "build_report",
    "public_stories",
    "render",
    "write_report",
]
