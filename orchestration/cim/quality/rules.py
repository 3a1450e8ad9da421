"""Suite files: readable YAML rules per feed or mart table, resolved against today's date.

Layout of ``expectations/<feed or table>.yaml`` (docs/quality.md explains every key)::

    feed: police_incidents          # or   table: fct_indicator_values
    keys: [indicator_id, area_id]   # tables: columns that name a row in examples
    frames:                         # optional: computed frames, one DuckDB query each
      <name>: {description: ..., keys: [...], sql: "select ..."}
    rules:
      - name: occurred_on not after today
        frame: rows                 # rows (default) | periods | a frame named above
        expect: expect_column_values_to_be_between
        kwargs: {column: occurred_on, max_value: "{today}"}
        severity: ERROR             # ERROR | WARN
        problem: occurred_on after {today}
        advice: ask the police to correct the dates and resend

Dates in kwargs and texts are written as placeholders, resolved at run time:
``{today}``, ``{start}`` (first day of the contract's start_period), optionally shifted,
e.g. ``{start - 1y}``, ``{today + 1d}`` (units d, m, y).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from cim.city.errors import ConfigError, from_validation_error
from cim.periods import shift
from cim.strict import Strict

FRAME_NAME = r"^[a-z][a-z0-9_]{0,62}$"
ROWS, PERIODS = "rows", "periods"
_PLACEHOLDER = re.compile(r"\{\s*(today|start)\s*(?:([+-])\s*(\d+)\s*([dmy]))?\s*\}")
_COLUMN_KEYS = ("column", "column_A", "column_B")


class FrameSpec(Strict):
    description: str = ""
    keys: list[str] = []
    sql: str


class RuleSpec(Strict):
    name: str
    expect: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = {}
    severity: Literal["ERROR", "WARN"]
    frame: str = Field(ROWS, pattern=FRAME_NAME)
    problem: str = ""
    advice: str = ""


class SuiteFile(Strict):
    feed: str | None = None
    table: str | None = None
    keys: list[str] = []
    frames: dict[str, FrameSpec] = {}
    rules: list[RuleSpec] = []


@dataclass(frozen=True)
class Rule:
    """One expectation with its severity and the words used when it fails."""

    name: str
    expect: str
    kwargs: dict[str, Any]
    severity: str
    frame: str = ROWS
    problem: str = ""
    advice: str = ""
    source: str = ""

    @property
    def columns(self) -> list[str]:
        named = [self.kwargs[k] for k in _COLUMN_KEYS if k in self.kwargs]
        return named + list(self.kwargs.get("column_list", []))

    @property
    def identity(self) -> tuple:
        """Two rules with the same identity check the same thing: the later one wins."""
        args = sorted((k, repr(_same(v))) for k, v in self.kwargs.items() if k != "mostly")
        return (self.frame, self.expect, tuple(args))


def _same(value: Any) -> Any:
    """0 and 0.0 (YAML and contract spellings) are the same bound."""
    if isinstance(value, list):
        return [_same(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def gx_class(expect: str) -> type:
    import great_expectations as gx

    name = "".join(part.capitalize() for part in expect.split("_"))
    cls = getattr(gx.expectations, name, None)
    if cls is None:
        raise ValueError(f"{expect!r} is not a Great Expectations expectation")
    return cls


def is_row_level(expect: str) -> bool:
    """Map expectations judge each row, so their results add up over chunks of a table."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return issubclass(
        gx_class(expect),
        ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation,
    )


@cache
def _load(path: Path, mtime: float) -> SuiteFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    try:
        suite = SuiteFile.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(path, exc) from exc
    problems = []
    for n, rule in enumerate(suite.rules):
        try:
            row_level = is_row_level(rule.expect)
        except ValueError as exc:
            problems.append(f"rules[{n}].expect: {exc}")
            continue
        if rule.frame not in (ROWS, PERIODS, *suite.frames):
            problems.append(f"rules[{n}].frame: {rule.frame!r} is not rows, periods or a frame")
        if rule.frame == ROWS and not row_level:
            problems.append(
                f"rules[{n}]: {rule.expect} looks at a whole table; on the rows frame only "
                "row-level (map) expectations are allowed: declare a computed frame"
            )
    if problems:
        raise ConfigError(path, problems)
    return suite


def load_suite(path: Path) -> SuiteFile:
    """One suite file, validated (ConfigError names the file and each mistake)."""
    return _load(path.resolve(), path.stat().st_mtime)


def suite_file(folders: list[Path], name: str) -> tuple[Path | None, SuiteFile]:
    """The first ``<name>.yaml`` in ``folders``; an empty suite when there is none."""
    for folder in folders:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path, load_suite(path)
    return None, SuiteFile()


def _date(match: re.Match, dates: dict[str, dt.date | None], where: str) -> dt.date:
    base = dates.get(match[1])
    if base is None:
        raise ValueError(f"{where}: {{{match[1]}}} is unknown here (no start_period?)")
    if match[2]:
        amount = int(match[3]) * (1 if match[2] == "+" else -1)
        base = shift(base, amount, match[4])
    return base


def resolve_text(text: str, dates: dict[str, dt.date | None], where: str = "") -> str:
    return _PLACEHOLDER.sub(lambda m: _date(m, dates, where).isoformat(), text)


def resolve_value(value: Any, dates: dict[str, dt.date | None], where: str = "") -> Any:
    """A whole-value placeholder becomes a datetime (GX compares datetime64 columns)."""
    if isinstance(value, str) and (match := _PLACEHOLDER.fullmatch(value.strip())):
        day = _date(match, dates, where)
        return dt.datetime(day.year, day.month, day.day)
    if isinstance(value, list):
        return [resolve_value(v, dates, where) for v in value]
    return value


def resolve(spec: RuleSpec, dates: dict[str, dt.date | None], source: Path) -> Rule:
    where = f"{source}: rule {spec.name!r}"
    kwargs = {k: resolve_value(v, dates, where) for k, v in spec.kwargs.items()}
    rule = Rule(
        name=resolve_text(spec.name, dates, where),
        expect=spec.expect,
        kwargs=kwargs,
        severity=spec.severity,
        frame=spec.frame,
        problem=resolve_text(spec.problem, dates, where),
        advice=resolve_text(spec.advice, dates, where),
        source=str(source),
    )
    return replace(rule, problem=rule.problem or f"{rule.name} does not hold")


def merge(baseline: list[Rule], declared: list[Rule]) -> list[Rule]:
    """Baseline first; a declared rule that checks the same thing replaces it in place."""
    by_identity = {r.identity: r for r in declared}
    merged = [by_identity.pop(r.identity, r) for r in baseline]
    return merged + [r for r in declared if r.identity in by_identity]
