"""Feed contracts: what a partner promised to send, as one YAML file per feed.

A contract is the only place where a feed's file pattern, dialect, columns, personal
data and delivery promise are written down. Ingestion, checks and reminders read it;
nothing about a feed is hard-coded elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from cim import periods
from cim.periods import Grain
from cim.strict import Strict

# Identifiers become table and column names: keep them to a safe, boring alphabet so
# they can be quoted without ever pasting arbitrary text into SQL.
IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER)]

ColumnType = Literal[
    "text", "integer", "decimal", "date", "timestamp", "boolean", "area_code", "area_code_list"
]
NUMERIC_TYPES = {"integer", "decimal"}
AREA_TYPES = {"area_code", "area_code_list"}
PERIOD_COLUMN_TYPES = {"integer", "text", "date", "timestamp"}

# Named groups each grain needs in ``period.from_filename``.
_GRAIN_GROUPS = {
    "month": {"year", "month"},
    "quarter": {"year", "quarter"},
    "year": {"year"},
    "school_year": {"year"},
    "snapshot": set(),
}


class Contact(Strict):
    name: str
    email: str


class RowFilter(Strict):
    """Rows that are not data (a "Totaal" line): skipped and accounted as rejected."""

    column: Identifier
    equals: list[str]


class Dialect(Strict):
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'
    decimal: Literal[".", ","] = "."
    thousands: Literal[".", ",", " ", "'"] | None = None
    date_format: str = "%Y-%m-%d"
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    header_row: int = Field(1, ge=1, description="1-based line or sheet row of the header")
    sheet: str | None = None
    records_key: str | None = None
    list_separator: str = "|"
    skip_rows_where: RowFilter | None = None

    @model_validator(mode="after")
    def _separators_differ(self) -> Dialect:
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError("thousands and decimal separators must differ")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        return self


class Period(Strict):
    grain: Grain
    from_filename: str | None = None
    # A date column that should fall inside the delivered period (e.g. the registration
    # date of a monthly file): rows outside it are loaded as delivered, and counted in
    # a warning so the backbone can ask the partner.
    date_column: Identifier | None = None
    # The column that says each row's period (a year, a month such as 2024-03, or a date):
    # one file may then carry several periods, and each replaces that period's rows.
    column: Identifier | None = None

    @model_validator(mode="after")
    def _regex_has_groups(self) -> Period:
        needed = _GRAIN_GROUPS[self.grain]
        if self.column is not None:
            if not needed:
                raise ValueError(
                    "period.column needs a grain with a calendar (month, quarter, year, "
                    "school_year), not snapshot: say which periods the column holds"
                )
            if self.from_filename:
                raise ValueError(
                    "give either period.column (each row says its period) or "
                    "period.from_filename (the file name does), not both"
                )
            return self
        if not needed:
            return self
        if not self.from_filename:
            raise ValueError(
                f"grain {self.grain!r} needs from_filename with groups {sorted(needed)}"
            )
        try:
            groups = set(re.compile(self.from_filename).groupindex)
        except re.error as exc:
            raise ValueError(f"from_filename is not a valid regular expression: {exc}") from exc
        if missing := needed - groups:
            raise ValueError(f"from_filename lacks named group(s) {sorted(missing)}")
        return self


class Sla(Strict):
    cadence: Literal["monthly", "quarterly", "yearly", "biennial", "on_change"]
    due_from: Literal["period_end", "period_start"] = "period_end"
    due_days: int = Field(0, ge=0)
    grace_days: int = Field(0, ge=0)


class Placement(Strict):
    """Codes that are known, but only at a coarser level than the column's areas.

    A police file lists crimes it could not place in a neighbourhood under pseudo-codes
    such as ``019900`` ("district 01, not assignable"): with
    ``{pattern: '(\\d{2})9900', level: district, area: '\\1'}`` such a row counts for
    district 01 and the city, never in a neighbourhood. ``area`` is the code of the
    ``level`` area the row belongs to, written with the pattern's groups (``\\1``) or
    literally; left out, the level must have a single area (the city).
    """

    pattern: str = Field(min_length=1)
    level: Identifier
    area: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _pattern_compiles(self) -> Placement:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(
                f"placement pattern {self.pattern!r} is not a regular expression: {exc}"
            ) from exc
        if compiled.groupindex:
            raise ValueError(
                f"placement pattern {self.pattern!r}: use numbered groups (...) and \\1, "
                "not named groups"
            )
        used = {int(n) for n in re.findall(r"\\(\d)", self.area or "")}
        if used and max(used) > compiled.groups:
            raise ValueError(
                f"placement area {self.area!r} names group {max(used)}, but pattern "
                f"{self.pattern!r} has {compiled.groups}"
            )
        return self

    def area_of(self, code: str, top_codes: list[str]) -> str | None:
        """The area a code matching the pattern belongs to (Python twin of the SQL)."""
        match = re.fullmatch(self.pattern, code)
        if match is None:
            return None
        if self.area is None:
            return top_codes[0] if len(top_codes) == 1 else None
        return match.expand(self.area)


class BackfillRange(Strict):
    """Periods ``from`` .. ``to`` (inclusive) that the partner delivers late on purpose:
    history sent at once. They are owed, but never late, missing or reminded."""

    first: str = Field(alias="from")
    last: str = Field(alias="to")

    # YAML reads ``from: 2012`` as a number; a year period is still meant.
    @field_validator("first", "last", mode="before")
    @classmethod
    def _year_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ArchiveRetention(Strict):
    """How long the archived originals of a feed (and its refused files) are kept.

    ``retention_days`` counts from the file's latest receipt; ``None`` keeps them for
    ever. ``cim archive purge`` (and every pipeline run) deletes older ones; the ledger
    keeps the record of each file, its hash and when it was purged.
    """

    retention_days: int | None = Field(None, ge=1)


class Column(Strict):
    name: Identifier
    source: str | None = Field(None, description="header text in the partner's file")
    aliases: list[str] = []
    type: ColumnType = "text"
    required: bool = False
    allowed: list[str] | None = None
    min: float | None = None
    max: float | None = None
    area_level: Identifier | None = None
    pad_to: int | None = Field(None, ge=1, le=32)
    personal: Literal["drop", "pseudonymise"] | None = None
    description: str | None = None
    # area codes known only at a coarser level (pseudo-areas): see Placement
    placement: list[Placement] = []

    @property
    def delivered_code(self) -> str | None:
        """The column that keeps the code as delivered when placement rules may replace
        it (``019900`` stored as district ``01``): keys and lineage use it."""
        return f"{self.name}_as_delivered" if self.placement else None

    @property
    def header(self) -> str:
        return self.source or self.name

    @model_validator(mode="after")
    def _coherent(self) -> Column:
        if self.type in AREA_TYPES and not self.area_level:
            raise ValueError(f"column {self.name!r} of type {self.type} needs area_level")
        if (self.min is not None or self.max is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError(f"column {self.name!r}: min/max only apply to integer or decimal")
        if self.placement and self.type != "area_code":
            raise ValueError(f"column {self.name!r}: placement only applies to type area_code")
        return self


class FeedContract(Strict):
    feed: Identifier
    partner: Identifier
    description: str = ""
    contact: Contact | None = None
    file_pattern: str
    format: Literal["csv", "json", "xlsx"]
    dialect: Dialect = Dialect()
    null_markers: list[str] = ["", "-", ".", "x", "X", "n.v.t.", "NA"]
    suppressed_markers: list[str] = []
    period: Period
    sla: Sla
    start_period: str | None = None
    end_period: str | None = Field(None, description="last period owed: a feed that stopped")
    backfill: list[BackfillRange] = Field(
        [], description="periods delivered late on purpose: owed, never late or missing"
    )
    keys: list[Identifier] = []
    columns: list[Column]
    max_file_mb: float | None = Field(None, gt=0)
    # how long archived originals are kept; unset: the city's default (city.yaml archive:)
    archive: ArchiveRetention = ArchiveRetention()

    # One range may be written without the list around it: ``backfill: {from: .., to: ..}``.
    @field_validator("backfill", mode="before")
    @classmethod
    def _one_range_or_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _coherent(self) -> FeedContract:
        if "/" in self.file_pattern or "\\" in self.file_pattern or ".." in self.file_pattern:
            raise ValueError("file_pattern is a file name pattern: no folders and no '..'")
        names = [c.name for c in self.columns]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"column names appear twice: {dupes}")
        headers = [h.casefold() for c in self.columns for h in (c.header, *c.aliases)]
        if dupes := sorted({h for h in headers if headers.count(h) > 1}):
            raise ValueError(f"header texts appear twice (source/aliases): {dupes}")
        if unknown := [k for k in self.keys if k not in names]:
            raise ValueError(f"keys {unknown} are not columns; columns are {names}")
        for key in self.keys:
            if self.column(key).personal == "drop":
                raise ValueError(f"key {key!r} is personal data marked drop; pseudonymise it")
        if self.dialect.skip_rows_where and self.dialect.skip_rows_where.column not in names:
            raise ValueError(
                f"dialect.skip_rows_where.column {self.dialect.skip_rows_where.column!r} "
                f"is not a column; columns are {names}"
            )
        date_column = self.period.date_column
        if date_column is not None and (
            date_column not in names or self.column(date_column).type not in {"date", "timestamp"}
        ):
            raise ValueError(
                f"period.date_column {date_column!r} must be a date or timestamp column"
            )
        self._check_period_column()
        self._check_lifecycle()
        if self.dialect.sheet is not None and self.format != "xlsx":
            raise ValueError("dialect.sheet only applies to format xlsx")
        return self

    def _check_period_column(self) -> None:
        column = self.period.column
        if column is None:
            return
        names = [c.name for c in self.columns]
        if column not in names:
            raise ValueError(f"period.column {column!r} is not a column; columns are {names}")
        kind = self.column(column).type
        if kind not in PERIOD_COLUMN_TYPES:
            raise ValueError(
                f"period.column {column!r} is of type {kind}; it must be integer (a year), "
                "text (a period such as 2024-03) or a date or timestamp"
            )
        if kind == "integer" and self.period.grain not in {"year", "school_year"}:
            raise ValueError(
                f"period.column {column!r} is an integer, which can only say a year; for grain "
                f"{self.period.grain} make it text (e.g. 2024-03) or a date"
            )

    @property
    def periods_from_rows(self) -> bool:
        """Each row says its period (period.column): one file may carry several."""
        return self.period.column is not None

    def _check_lifecycle(self) -> None:
        """start_period, end_period and backfill ranges are periods of the feed's grain,
        in order; a backfill lies inside what the feed owes."""
        grain = self.period.grain
        index = {}
        for key in ("start_period", "end_period"):
            value = getattr(self, key)
            if value is None or grain == "snapshot":
                continue
            index[key] = self._period_index(key, value)
        if len(index) == 2 and index["end_period"] < index["start_period"]:
            raise ValueError(
                f"end_period {self.end_period!r} is before start_period {self.start_period!r}"
            )
        if not self.backfill:
            return
        if grain == "snapshot" or self.sla.cadence == "on_change":
            raise ValueError(
                "backfill only applies to a feed that owes periods on a calendar "
                f"(this one has grain {grain!r} and cadence {self.sla.cadence!r}); remove it"
            )
        if self.start_period is None:
            raise ValueError("backfill needs start_period: the first period the feed owes")
        for n, backfill in enumerate(self.backfill):
            first = self._period_index(f"backfill[{n}].from", backfill.first)
            last = self._period_index(f"backfill[{n}].to", backfill.last)
            if last < first:
                raise ValueError(
                    f"backfill[{n}]: to {backfill.last!r} is before from {backfill.first!r}"
                )
            if first < index["start_period"]:
                raise ValueError(
                    f"backfill[{n}]: from {backfill.first!r} is before start_period "
                    f"{self.start_period!r}; move start_period back to the first period owed"
                )
            if "end_period" in index and last > index["end_period"]:
                raise ValueError(
                    f"backfill[{n}]: to {backfill.last!r} is after end_period "
                    f"{self.end_period!r}: nothing is owed after it"
                )

    def _period_index(self, key: str, value: str) -> int:
        grain = self.period.grain
        index = periods.period_index(value, grain)
        if index is None or periods.period_at(index, grain) != value:
            example = periods.period_of(dt.date(2024, 1, 1), grain)
            raise ValueError(f"{key} {value!r} is not a {grain} period (e.g. {example!r})")
        return index

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def key_columns(self) -> list[str]:
        """The columns a key is checked on: a placed area code by its delivered code, so
        two pseudo-areas of one district are two rows, not a duplicate."""
        return [self.column(k).delivered_code or k for k in self.keys]

    @property
    def stored_columns(self) -> list[Column]:
        """Columns that reach the raw table: personal data marked drop never does."""
        return [c for c in self.columns if c.personal != "drop"]

    @property
    def contact_email(self) -> str | None:
        return self.contact.email if self.contact else None

    def periods_in(self, file_name: str) -> list[str]:
        """Every distinct period the file name states, in order (normally exactly one).

        A name such as ``export_2024-02-05_voor_2024-01.csv`` states two; taking the
        first would file January's rows under February.
        """
        grain = self.period.grain
        if grain == "snapshot":
            return ["snapshot"]
        if self.periods_from_rows:
            return []  # the rows say them: see FeedRunner
        found: list[str] = []
        pattern = re.compile(self.period.from_filename or "")
        start = 0
        while (match := pattern.search(file_name, start)) is not None:
            period = self._period_from(match)
            if period is not None and period not in found:
                found.append(period)
            start = max(match.end(), match.start() + 1)
        return found

    def period_of(self, file_name: str) -> str | None:
        """The period a delivery covers, read from its file name (None: not recognisable)."""
        periods = self.periods_in(file_name)
        return periods[0] if periods else None

    def _period_from(self, match: re.Match[str]) -> str | None:
        grain = self.period.grain
        part = {"month": "month", "quarter": "quarter"}.get(grain)
        return periods.label(grain, int(match["year"]), int(match[part]) if part else 1)
