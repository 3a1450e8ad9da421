"""Load the demo-city spec (``demo.yaml``) together with the city's own configuration.

The city folder is the source of truth: areas come from ``areas.csv``, feed contracts from
``feeds/*.yaml`` and everything demo-specific (seed, dates, rates, embedded truths) from
``demo.yaml``. Nothing here knows a particular area, partner or feed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from cim_demo.timeline import month_ordinal

DEMO_FILE = "demo.yaml"


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    level: str
    parent: str
    row: int | None
    col: int | None


@dataclass
class DemoSpec:
    """Everything the generator reads, loaded once."""

    city_dir: Path
    demo: dict[str, Any]
    city: dict[str, Any]
    areas: list[Area]
    contracts: dict[str, dict[str, Any]]
    _by_code: dict[str, Area] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_code = {a.code: a for a in self.areas}

    @property
    def seed(self) -> int:
        return int(self.demo["seed"])

    @property
    def as_of(self) -> date:
        return date.fromisoformat(str(self.demo["as_of"]))

    @property
    def first_month(self) -> int:
        return month_ordinal(self.demo["period"]["first_month"])

    @property
    def last_month(self) -> int:
        return month_ordinal(self.demo["period"]["last_month"])

    @property
    def timezone(self) -> str:
        return str(self.city.get("timezone", "UTC"))

    @property
    def feeds(self) -> dict[str, dict[str, Any]]:
        return self.demo["feeds"]

    @property
    def truths(self) -> dict[str, Any]:
        return self.demo.get("truths", {})

    @property
    def actions(self) -> list[dict[str, Any]]:
        return list(self.demo.get("actions", []))

    def area(self, code: str) -> Area:
        return self._by_code[code]

    def level(self, level: str) -> list[Area]:
        return [a for a in self.areas if a.level == level]

    @property
    def neighbourhoods(self) -> list[Area]:
        return self.level(self.city["area_levels"][0])

    @property
    def districts(self) -> list[Area]:
        return self.level(self.city["area_levels"][1])

    def contract(self, feed_id: str) -> dict[str, Any]:
        return self.contracts[feed_id]


def _read_areas(path: Path) -> list[Area]:
    """Grid positions are optional in areas.csv (only neighbourhoods have them)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Area(
            code=r["area_code"],
            name=r["name"],
            level=r["level"],
            parent=r.get("parent_code") or "",
            row=int(r["grid_row"]) if r.get("grid_row") else None,
            col=int(r["grid_col"]) if r.get("grid_col") else None,
        )
        for r in rows
        if not r.get("valid_to")
    ]


def _read_contracts(feed_dir: Path) -> dict[str, dict[str, Any]]:
    """Keyed by the contract\'s own ``feed`` id, not the file name, like the platform."""
    contracts = {}
    for path in sorted(feed_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        contracts[doc["feed"]] = doc
    return contracts


def load_demo_spec(city_dir: Path | str) -> DemoSpec:
    """Read demo.yaml, city.yaml, the areas file and every feed contract of ``city_dir``."""
    city_dir = Path(city_dir)
    demo = yaml.safe_load((city_dir / DEMO_FILE).read_text(encoding="utf-8"))
    city = yaml.safe_load((city_dir / "city.yaml").read_text(encoding="utf-8"))
    areas = _read_areas(city_dir / city.get("areas_file", "areas.csv"))
    contracts = _read_contracts(city_dir / "feeds")
    spec = DemoSpec(city_dir=city_dir, demo=demo, city=city, areas=areas, contracts=contracts)
    _validate(spec)
    return spec


def _validate(spec: DemoSpec) -> None:
    """Fail early on a spec that names feeds, areas or columns the city does not have,
    so a typo in demo.yaml cannot silently produce a different demo."""
    codes = {a.code for a in spec.areas}
    for feed_id in spec.feeds:
        if feed_id not in spec.contracts:
            raise ValueError(f"demo.yaml feed {feed_id!r} has no contract in feeds/")
    for action in spec.actions:
        for code in [*action.get("target_areas", []), *action.get("comparison_areas", [])]:
            if code not in codes:
                raise ValueError(f"action {action['action_id']}: unknown area {code}")
    ids = {a["action_id"]: a for a in spec.actions}
    for eff in spec.truths.get("action_effects", []):
        action = ids.get(eff["action_id"])
        if action is None:
            raise ValueError(f"truth names unknown action {eff['action_id']}")
        if list(eff["treated"]) != list(action["target_areas"]) or str(eff["start"]) != str(
            action["start"]
        ):
            raise ValueError(f"truth for {eff['action_id']} disagrees with its action")
    for feed_id, items in spec.truths.get("invalid_rows", {}).items():
        names = {c["name"] for c in spec.contract(feed_id)["columns"]}
        for item in items:
            if item["column"] not in names:
                raise ValueError(f"invalid_rows {feed_id}: no column {item['column']}")
