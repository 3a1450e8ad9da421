"""The common agenda as data: goals, indicators and targets, checked against the feeds.

Indicators refer to feeds and columns by name; loading checks every reference against
the feed contracts, so a typo is caught here and not as a confusing SQL error later.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, model_validator

from cim.city.contracts import AREA_TYPES, NUMERIC_TYPES, FeedContract, Identifier
from cim.strict import Strict

Cadence = Literal["month", "quarter", "year", "school_year"]
PERIOD_PATTERNS = {
    "month": r"^\d{4}-(0[1-9]|1[0-2])$",
    "quarter": r"^\d{4}-Q[1-4]$",
    "year": r"^\d{4}$",
    "school_year": r"^\d{4}/\d{2}$",
}


class Goal(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    name: str
    description: str = ""


class Term(Strict):
    """Where a numerator or denominator comes from: one feed, filtered and aggregated."""

    feed: Identifier
    count: bool = False
    sum: Identifier | None = None
    max: Identifier | None = None
    area: Identifier
    date: Identifier | None = None
    where: dict[Identifier, list[str]] = {}

    @model_validator(mode="after")
    def _one_measure(self) -> Term:
        if [self.count, self.sum is not None, self.max is not None].count(True) != 1:
            raise ValueError(
                "give exactly one measure: count: true, sum: <column> or max: <column>"
            )
        return self

    @property
    def measure_column(self) -> str | None:
        return self.sum or self.max


class Survey(Strict):
    """Weighted respondent-level items: a share (0/1 item) or a mean score (several items)."""

    feed: Identifier
    weight: Identifier
    area: Identifier
    items: list[Identifier] = Field(min_length=1)
    where: dict[Identifier, list[str]] = {}


class Indicator(Strict):
    id: Identifier
    name: str
    definition: str
    goal: str
    owner: Identifier
    kind: Literal["count", "rate", "share", "survey_share", "survey_mean"]
    unit: str
    # a count is published as counted: its multiplier may only be 1 (the default for counts)
    multiplier: float | None = Field(None, gt=0)
    direction: Literal["up", "down"]
    reported_events: bool = False
    cadence: Cadence
    lowest_level: Identifier
    min_cell: int = Field(5, ge=1)
    min_respondents: int = Field(10, ge=1)
    numerator: list[Term] = []
    denominator: Term | None = None
    survey: Survey | None = None

    @model_validator(mode="after")
    def _terms_fit_kind(self) -> Indicator:
        if self.kind.startswith("survey"):
            if self.survey is None or self.numerator or self.denominator:
                raise ValueError(f"kind {self.kind} takes `survey:` and no numerator/denominator")
            if self.kind == "survey_share" and len(self.survey.items) != 1:
                raise ValueError("survey_share takes exactly one 0/1 item")
        elif self.kind == "count":
            if not self.numerator or self.survey is not None:
                raise ValueError(
                    f"{self.id}: kind count takes `numerator:` (a list of terms) and no `survey:`"
                )
            if self.denominator is not None:
                raise ValueError(
                    f"{self.id}: kind count takes no `denominator:`; remove it, or use "
                    "kind: rate to divide the count by the denominator"
                )
            if self.multiplier not in (None, 1):
                raise ValueError(
                    f"{self.id}: kind count is published as counted: remove `multiplier: "
                    f"{self.multiplier:g}` (or use kind: rate with a denominator)"
                )
        elif not self.numerator or self.denominator is None or self.survey is not None:
            raise ValueError(f"kind {self.kind} takes numerator (a list) and denominator")
        if self.multiplier is None and self.kind != "count":
            raise ValueError(
                f"{self.id}: kind {self.kind} needs `multiplier:` (e.g. 1000 for a rate per 1,000, "
                "100 for a percentage)"
            )
        return self

    @property
    def scale(self) -> float:
        """The multiplier in force: a count's is 1."""
        return 1.0 if self.multiplier is None else self.multiplier

    @property
    def terms(self) -> list[tuple[str, Term]]:
        named = [("numerator", t) for t in self.numerator]
        return named + ([("denominator", self.denominator)] if self.denominator else [])


class Target(Strict):
    indicator: Identifier
    area: str | None = None
    baseline_period: str
    baseline_value: float | None = None
    target_value: float
    target_date: dt.date


class Measure(Strict):
    sum: Identifier
    label: str


class Reach(Strict):
    """A feed that reports, per action, area and period, what was done and whom it reached."""

    feed: Identifier
    action: Identifier
    area: Identifier
    how_much: Measure
    reached: Measure


class Activities(Strict):
    registry: Identifier
    reach: list[Reach] = []


# Columns the registry feed must carry (canonical names in its contract) and their types.
REGISTRY_COLUMNS = {
    "action_id": {"text"},
    "partner_id": {"text"},
    "action_name": {"text"},
    "goal_id": {"text"},
    "target_areas": {"area_code_list"},
    "start_date": {"date"},
}


class Agenda(Strict):
    goals: list[Goal] = []
    indicators: list[Indicator] = []
    targets: list[Target] = []
    activities: Activities | None = None


def check_agenda(
    agenda: Agenda, contracts: dict[str, FeedContract], levels: list[str], area_codes: set[str]
) -> list[str]:
    """Cross-references an agenda against the city; returns readable problems."""
    problems: list[str] = []
    goals = {g.id for g in agenda.goals}
    indicators = {i.id: i for i in agenda.indicators}
    if len(indicators) != len(agenda.indicators):
        problems.append("indicators: two indicators share an id")
    for ind in agenda.indicators:
        where = f"indicators.{ind.id}"
        if ind.goal not in goals:
            problems.append(f"{where}.goal: {ind.goal!r} is not a goal; goals are {sorted(goals)}")
        if ind.lowest_level not in levels:
            problems.append(f"{where}.lowest_level: {ind.lowest_level!r} not in {levels}")
        for role, term in ind.terms:
            if role == "numerator" and term.date is None:
                problems += _check_periods(f"{where}.{role}", ind, term.feed, contracts)
            problems += _check_columns(
                f"{where}.{role}",
                term.feed,
                contracts,
                {
                    "area": (term.area, AREA_TYPES),
                    "date": (term.date, {"date", "timestamp"}),
                    "sum": (term.sum, NUMERIC_TYPES),
                    "max": (term.max, NUMERIC_TYPES),
                },
                term.where,
            )
        if ind.survey:
            checks = {
                "area": (ind.survey.area, AREA_TYPES),
                "weight": (ind.survey.weight, NUMERIC_TYPES),
            }
            checks |= {f"items[{n}]": (c, NUMERIC_TYPES) for n, c in enumerate(ind.survey.items)}
            problems += _check_periods(f"{where}.survey", ind, ind.survey.feed, contracts)
            problems += _check_columns(
                f"{where}.survey", ind.survey.feed, contracts, checks, ind.survey.where
            )
    if agenda.activities:
        checks = {name: (name, types) for name, types in REGISTRY_COLUMNS.items()}
        problems += _check_columns(
            "activities.registry", agenda.activities.registry, contracts, checks, {}
        )
        for n, reach in enumerate(agenda.activities.reach):
            problems += _check_columns(
                f"activities.reach[{n}]",
                reach.feed,
                contracts,
                {
                    "action": (reach.action, {"text"}),
                    "area": (reach.area, AREA_TYPES),
                    "how_much": (reach.how_much.sum, NUMERIC_TYPES),
                    "reached": (reach.reached.sum, NUMERIC_TYPES),
                },
                {},
            )
    for n, target in enumerate(agenda.targets):
        where = f"targets[{n}]"
        ind = indicators.get(target.indicator)
        if ind is None:
            problems.append(f"{where}.indicator: {target.indicator!r} is not an indicator")
            continue
        pattern = PERIOD_PATTERNS["year" if ind.cadence in {"month", "quarter"} else ind.cadence]
        if not re.match(pattern, target.baseline_period) and not re.match(
            PERIOD_PATTERNS[ind.cadence], target.baseline_period
        ):
            problems.append(
                f"{where}.baseline_period: {target.baseline_period!r} "
                f"is not a {ind.cadence} or year"
            )
        if target.area is not None and target.area not in area_codes:
            problems.append(f"{where}.area: {target.area!r} is not an area code")
    return problems


def _check_periods(
    where: str, ind: Indicator, feed: str, contracts: dict[str, FeedContract]
) -> list[str]:
    """Without a ``date:``, a numerator's rows fall in their delivery's period, which
    must then be a period of the indicator's cadence: otherwise every value is empty."""
    contract = contracts.get(feed)
    if contract is None or contract.period.grain == ind.cadence:
        return []
    fix_date = "give `date: <a date column>` here to place each row in its period, or "
    if contract.period.grain == "snapshot":
        return [
            f"{where}: feed {feed!r} has grain snapshot (one state, no period), so its rows "
            f"fall in no {ind.cadence} of indicator {ind.id} and every value would be empty; "
            + ("" if where.endswith(".survey") else fix_date)
            + f"in feeds/{feed}.yaml set period.grain: {ind.cadence} and period.column: "
            "<the column that says each row's period> (e.g. a year column)"
        ]
    return [
        f"{where}: feed {feed!r} is delivered per {contract.period.grain}, but indicator "
        f"{ind.id} has cadence {ind.cadence}: its periods would never match and every value "
        "would be empty; "
        + ("" if where.endswith(".survey") else fix_date)
        + f"make the cadence {contract.period.grain}"
    ]


def _check_columns(
    where: str,
    feed: str,
    contracts: dict[str, FeedContract],
    columns: dict[str, tuple[str | None, set[str]]],
    filters: dict[str, list[str]],
) -> list[str]:
    contract = contracts.get(feed)
    if contract is None:
        return [f"{where}.feed: {feed!r} is not a feed; feeds are {sorted(contracts)}"]
    known = {c.name: c for c in contract.stored_columns}
    problems = []
    for key, (name, types) in columns.items():
        if name is None:
            continue
        if name not in known:
            problems.append(
                f"{where}.{key}: {name!r} is not a stored column of {feed}; "
                f"columns are {sorted(known)}"
            )
        elif known[name].type not in types:
            problems.append(
                f"{where}.{key}: column {name!r} is {known[name].type}, "
                f"expected one of {sorted(types)}"
            )
    for name, values in filters.items():
        column = known.get(name)
        if column is None:
            problems.append(f"{where}.where.{name}: not a stored column of {feed}")
        elif column.allowed is not None and (bad := sorted(set(values) - set(column.allowed))):
            problems.append(
                f"{where}.where.{name}: {bad} not among the allowed values {column.allowed}"
            )
    return problems
