"""Load and validate a city configuration folder.

Layout (see docs/configuration.md)::

    city.yaml        name, area levels, limits
    areas.csv        area_code, name, level, parent_code, valid_from, valid_to, ...
    partners.yaml    partners and their contacts
    feeds/*.yaml     one feed contract per feed
"""

from __future__ import annotations

import csv
import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeVar

import duckdb
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from cim.city.agenda import Agenda, check_agenda
from cim.city.contracts import (
    AREA_TYPES,
    ArchiveRetention,
    Column,
    Contact,
    FeedContract,
    Identifier,
)
from cim.city.errors import ConfigError, from_validation_error
from cim.city.words import INTERFACE_LANGUAGES
from cim.impact.settings import ImpactSettings  # one model for city.yaml and the estimator
from cim.strict import Strict

ModelT = TypeVar("ModelT", bound=BaseModel)


class Area(Strict):
    area_code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    name: str
    level: Identifier
    parent_code: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    grid_row: int | None = None
    grid_col: int | None = None


# the partner kind of the organisation that coordinates the partnership
BACKBONE_KIND = "backbone"


class Partner(Strict):
    id: Identifier
    name: str
    kind: str = "partner"
    contact: Contact

    @property
    def is_backbone(self) -> bool:
        return self.kind == BACKBONE_KIND


class IngestionSettings(Strict):
    """How the landing folder is read: when a file counts as complete, and what it may cost."""

    # A file whose size or modification time still changes over this many seconds is
    # still being uploaded: it waits for the next run (uploads may also use a temporary
    # ``.partial`` or hidden name and rename it when complete).
    settle_seconds: float = Field(5, ge=0)
    # ``platform_clock``: received_at is when the file appeared in the landing folder on
    # this server. ``file_mtime`` trusts the sender's modification time instead: only
    # for simulations such as the demo city, which replays years of deliveries at once.
    receipt_time: Literal["platform_clock", "file_mtime"] = "platform_clock"
    # A spreadsheet (a zip archive) may not unpack to more than this: zip bombs.
    max_unpacked_mb: float = Field(256, gt=0)
    # Periods more than this many days after the run date are quarantined as implausible.
    future_tolerance_days: int = Field(0, ge=0)
    earliest_year: int = Field(1900, ge=1000)


class CitySettings(Strict):
    id: Identifier
    name: str
    country: str = ""
    timezone: str = "UTC"
    # the dashboard's interface languages, the first the default; the city's own words
    # per language are in i18n/<lang>.yaml (cim.city.words)
    languages: list[str] = Field(["en"], min_length=1)
    area_levels: list[Identifier] = Field(min_length=1)
    areas_file: str = "areas.csv"
    boundaries_file: str | None = None
    max_file_mb: float = Field(512, gt=0)
    # how long archived originals are kept when a feed's contract does not say (and for
    # refused files that match no feed); unset: for ever
    archive: ArchiveRetention = ArchiveRetention()
    ingestion: IngestionSettings = IngestionSettings()
    impact: ImpactSettings = ImpactSettings()

    @field_validator("languages")
    @classmethod
    def _shipped_languages(cls, value: list[str]) -> list[str]:
        shipped = ", ".join(INTERFACE_LANGUAGES)
        if unknown := [code for code in value if code not in INTERFACE_LANGUAGES]:
            raise ValueError(
                f"{unknown} not among the languages the dashboard ships ({shipped}): write "
                "their two-letter codes in lower case, or remove them"
            )
        if dupes := sorted({code for code in value if value.count(code) > 1}):
            raise ValueError(f"{dupes} listed twice: name each language once")
        return value


class City(Strict):
    folder: Path
    settings: CitySettings
    areas: list[Area]
    partners: list[Partner]
    contracts: list[FeedContract]
    agenda: Agenda = Agenda()

    @cached_property
    def contract_by_feed(self) -> dict[str, FeedContract]:
        return {c.feed: c for c in self.contracts}

    @cached_property
    def partner_by_id(self) -> dict[str, Partner]:
        return {p.id: p for p in self.partners}

    def contact_for(self, contract: FeedContract) -> Contact:
        return contract.contact or self.partner_by_id[contract.partner].contact

    def max_file_bytes(self, contract: FeedContract) -> int:
        return int((contract.max_file_mb or self.settings.max_file_mb) * 1024 * 1024)

    def retention_days(self, contract: FeedContract | None) -> int | None:
        """Days the archived originals of ``contract``'s feed are kept (None: for ever);
        a refused file that matched no feed (``None``) follows the city's default."""
        own = contract.archive.retention_days if contract else None
        return own or self.settings.archive.retention_days


def _read_yaml(file: Path) -> dict:
    if not file.is_file():
        raise ConfigError(file, ["file is missing; see docs/configuration.md for its layout"])
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(file, [f"not valid YAML: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(file, [f"not UTF-8 text ({exc.reason}): save it as UTF-8"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(file, ["expected a mapping of keys to values at the top level"])
    return data


def _parse(model: type[ModelT], file: Path, data: object) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(file, exc) from exc


def _load_areas(file: Path, levels: list[str]) -> list[Area]:
    if not file.is_file():
        raise ConfigError(file, ["areas file is missing"])
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError as exc:
        raise ConfigError(file, [f"not UTF-8 text ({exc.reason}): save it as UTF-8"]) from exc
    areas, problems = [], []
    for number, row in enumerate(rows, start=2):
        # a short line leaves its last columns None; a long one puts the rest under None
        clean = {k: ((v or "").strip() or None) for k, v in row.items() if k}
        try:
            areas.append(Area.model_validate(clean))
        except ValidationError as exc:
            problems += [f"line {number}: {p}" for p in from_validation_error(file, exc).problems]
    codes = [a.area_code for a in areas]
    problems += [
        f"area_code {c!r} appears twice" for c in sorted({c for c in codes if codes.count(c) > 1})
    ]
    known = set(codes)
    for area in areas:
        if area.level not in levels:
            problems.append(f"area {area.area_code}: level {area.level!r} not in {levels}")
        elif area.level != levels[-1] and area.parent_code not in known:
            problems.append(
                f"area {area.area_code}: parent_code {area.parent_code!r} is not an area"
            )
    if problems:
        raise ConfigError(file, problems)
    return areas


def _load_contract(
    file: Path, city_levels: list[str], partner_ids: set[str], areas: list[Area]
) -> FeedContract:
    contract = _parse(FeedContract, file, _read_yaml(file))
    problems = []
    if contract.feed != file.stem:
        problems.append(f"feed: {contract.feed!r} must equal the file name {file.stem!r}")
    if contract.partner not in partner_ids:
        problems.append(
            f"partner: {contract.partner!r} is not in partners.yaml {sorted(partner_ids)}"
        )
    for column in contract.columns:
        if column.type in AREA_TYPES and column.area_level not in city_levels:
            problems.append(
                f"columns.{column.name}.area_level: {column.area_level!r} not in {city_levels}"
            )
        elif column.placement:
            problems += _check_placement(column, city_levels, areas)
    if problems:
        raise ConfigError(file, problems)
    return contract


def _check_placement(column: Column, city_levels: list[str], areas: list[Area]) -> list[str]:
    """A placement rule names a level above the column's areas, and areas that exist."""
    problems = []
    finer = city_levels.index(column.area_level or "")
    for n, rule in enumerate(column.placement):
        where = f"columns.{column.name}.placement.{n}"
        if rule.level not in city_levels or city_levels.index(rule.level) <= finer:
            coarser = city_levels[finer + 1 :]
            problems.append(
                f"{where}.level: {rule.level!r} must be a level above {column.area_level} "
                f"(one of {coarser})"
            )
            continue
        codes = [a.area_code for a in areas if a.level == rule.level]
        if rule.area is None and len(codes) != 1:
            problems.append(
                f"{where}.area: level {rule.level} has {len(codes)} areas; say which one, "
                "e.g. area: '\\1' for the code in the pattern's first group"
            )
        elif rule.area is not None and "\\" not in rule.area and rule.area not in codes:
            problems.append(f"{where}.area: {rule.area!r} is not a {rule.level} in the areas file")
        try:
            duckdb.execute("SELECT regexp_full_match('', ?)", [rule.pattern])
        except duckdb.Error as exc:
            problems.append(
                f"{where}.pattern: {rule.pattern!r} is not a pattern the warehouse reads "
                f"(RE2: no look-around or back-references): {exc}"
            )
    return problems


def load_settings(folder: Path) -> CitySettings:
    """city.yaml alone (the dashboard needs its languages, not the whole city checked)."""
    file = Path(folder) / "city.yaml"
    return _parse(CitySettings, file, _read_yaml(file))


def load_city(folder: Path) -> City:
    """Read and cross-check a city folder; raise ConfigError naming file and key."""
    folder = Path(folder)
    settings = load_settings(folder)
    areas = _load_areas(folder / settings.areas_file, settings.area_levels)
    partners_file = folder / "partners.yaml"
    partners_data = _read_yaml(partners_file).get("partners") or []
    partners = [
        _parse(Partner, partners_file, {**p}) if isinstance(p, dict) else None
        for p in partners_data
    ]
    if not partners or None in partners:
        raise ConfigError(
            partners_file, ["partners: expected a list of partners (id, name, contact)"]
        )
    partner_ids = {p.id for p in partners}
    contracts, broken = [], []
    for file in sorted((folder / "feeds").glob("*.yaml")):
        # every broken contract at once: a city onboarding several feeds fixes them in one go
        try:
            contracts.append(_load_contract(file, settings.area_levels, partner_ids, areas))
        except ConfigError as exc:
            broken.append(exc)
    if len(broken) == 1:
        raise broken[0]
    if broken:
        raise ConfigError(
            folder / "feeds",
            [f"{exc.file.name}: {problem}" for exc in broken for problem in exc.problems],
        )
    if not contracts:
        raise ConfigError(folder / "feeds", ["no feed contracts (feeds/*.yaml) found"])
    agenda = _load_agenda(folder / "agenda")
    problems = check_agenda(
        agenda,
        {c.feed: c for c in contracts},
        settings.area_levels,
        {a.area_code for a in areas},
    )
    if problems:
        raise ConfigError(folder / "agenda", problems)
    return City(
        folder=folder.resolve(),
        settings=settings,
        areas=areas,
        partners=partners,
        contracts=contracts,
        agenda=agenda,
    )


def _load_agenda(folder: Path) -> Agenda:
    """Goals, indicators and targets each in their own file, each parsed on its own so
    an error names the file it is in."""
    parts = {}
    for key in ("goals", "indicators", "targets", "activities"):
        file = folder / f"{key}.yaml"
        if file.is_file():
            data = _read_yaml(file)
            parts[key] = getattr(_parse(Agenda, file, {key: data.get(key)}), key)
    return Agenda(**parts)
