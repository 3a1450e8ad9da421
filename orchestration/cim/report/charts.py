"""A trend chart as SVG: the series on its one scale with the 95% band, the target as a
dashed line. One drawing for both renderers (Typst embeds the SVG, the HTML page inlines
it). Gaps stay gaps (app.series.runs): neither the line nor the band crosses one."""

from __future__ import annotations

from html import escape

import pandas as pd

from app import data
from app.series import Scale, runs

WIDTH, HEIGHT = 480, 170
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 10, 24
LINE, BAND, TARGET = "#2166ac", "rgba(33,102,172,0.18)", "#e66101"
FONT = "Libertinus Serif"


def _text(x: float, y: float, words: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-family="{FONT}" font-size="9" '
        f'fill="#444444" text-anchor="{anchor}">{escape(words)}</text>'
    )


def trend_svg(series: pd.DataFrame, scale: Scale, target: object, digits: int) -> str:
    """``series`` (rows per period with ``period_id``, the scale's columns; gaps as rows
    without a value) drawn with ``target`` as a dashed line; axis figures in the reader's
    number format, with one decimal fewer than the text so no label reads as a figure."""
    values = [series[c] for c in (scale.value, scale.lower, scale.upper) if c in series]
    known = pd.concat(values).dropna().astype(float)
    if not data.is_missing(target):
        known = pd.concat([known, pd.Series([float(target)])])
    low, high = float(known.min()), float(known.max())
    if high == low:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    count = max(len(series) - 1, 1)

    def x(i: int) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * i / count

    def y(v: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - float(v)) / (high - low)

    position = {pid: i for i, pid in enumerate(series["period_id"])}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img">',
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#cccccc" stroke-width="0.5"/>',
    ]
    axis_digits = max(digits - 1, 0)
    for v in (low + pad, (low + high) / 2, high - pad):
        parts.append(_text(LEFT - 4, y(v) + 3, data.fmt(v, axis_digits), "end"))
    if scale.lower in series and scale.upper in series:
        for part in runs(series, scale.lower):
            upper = [
                f"{x(position[p]):.1f},{y(v):.1f}"
                for p, v in zip(part["period_id"], part[scale.upper], strict=True)
            ]
            lower = [
                f"{x(position[p]):.1f},{y(v):.1f}"
                for p, v in zip(part["period_id"], part[scale.lower], strict=True)
            ]
            parts.append(f'<polygon points="{" ".join(upper + lower[::-1])}" fill="{BAND}"/>')
    for part in runs(series, scale.value):
        points = [
            f"{x(position[p]):.1f},{y(v):.1f}"
            for p, v in zip(part["period_id"], part[scale.value], strict=True)
        ]
        if len(points) == 1:
            cx, cy = points[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{LINE}"/>')
        else:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE}" '
                'stroke-width="1.5"/>'
            )
    if not data.is_missing(target):
        ty = y(float(target))
        parts.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}" '
            f'stroke="{TARGET}" stroke-width="1" stroke-dasharray="5,3"/>'
        )
    first, last = str(series["period_id"].iloc[0]), str(series["period_id"].iloc[-1])
    parts.append(_text(LEFT, HEIGHT - 8, first))
    parts.append(_text(WIDTH - RIGHT, HEIGHT - 8, last, "end"))
    parts.append("</svg>")
    return "".join(parts)
