"""Which areas border which, from the city's boundaries (GeoJSON, property ``area_id``).

Queen contiguity: two areas are neighbours when their boundaries share a vertex. That
holds for boundaries cut from one topology (statistical sectors, CBS buurten, a grid) and
needs no geometry library; coordinates are rounded so 51.050000000000004 meets 51.05.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

_DIGITS = 7  # about 1 cm in degrees


def _rings(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


def neighbours(geojson: dict) -> dict[str, set[str]]:
    """Area id -> ids of the areas sharing at least one boundary vertex with it (of any
    level: a district touches its own neighbourhoods; callers keep the level they need)."""
    by_vertex: dict[tuple[float, float], set[str]] = defaultdict(set)
    for feature in geojson.get("features", []):
        area = str(feature.get("properties", {}).get("area_id", ""))
        if not area or not feature.get("geometry"):
            continue
        for ring in _rings(feature["geometry"]):
            for x, y, *_ in ring:
                by_vertex[(round(x, _DIGITS), round(y, _DIGITS))].add(area)
    out: dict[str, set[str]] = defaultdict(set)
    for areas in by_vertex.values():
        for area in areas:
            out[area] |= areas - {area}
    return dict(out)


def load_neighbours(file: Path | None) -> dict[str, set[str]]:
    """Neighbours from a boundaries file; empty (no displacement zone) without one."""
    if file is None or not file.is_file():
        return {}
    return neighbours(json.loads(file.read_text(encoding="utf-8")))
