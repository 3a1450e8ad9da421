"""The contract's column rules as one set-based SQL pass over the ``incoming`` table.

SQL text is built only from validated identifiers and fixed fragments; every value
that comes from a contract or a file (markers, formats, allowed lists, header texts,
the pseudonym key) travels as a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field

from cim import periods
from cim.city import FeedContract
from cim.city.contracts import NUMERIC_TYPES, Column
from cim.ingest.readers import UnreadableFile
from cim.ingest.store import quote_ident, suppressed_flag

_TRUE = ["1", "true", "waar", "ja", "j", "yes", "y", "oui", "vrai"]
_FALSE = ["0", "false", "onwaar", "nee", "n", "no", "non", "faux"]
PERSONAL_MASK = "[personal data removed]"


@dataclass
class CheckPlan:
    """SQL and parameters that type and check one file, plus schema-drift warnings."""

    sql: str
    params: dict[str, object]
    select_accepted: list[str]
    warnings: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").split()).casefold()


@dataclass(frozen=True)
class HeaderMatch:
    """How a file's header lines up with the contract, in the partner's source names."""

    mapping: dict[str, int]  # contract column name -> field position
    missing: list[Column]  # required contract columns the header lacks
    missing_optional: list[Column]
    extra: list[tuple[int, str]]  # (position, header text) of fields not in the contract

    def renamed_to(self, column: Column) -> str | None:
        """The extra header a missing column was most likely renamed to (difflib)."""
        hint = difflib.get_close_matches(column.header, [h for _, h in self.extra], n=1, cutoff=0.6)
        return hint[0] if hint else None


def match_headers(contract: FeedContract, headers: list[str]) -> HeaderMatch:
    """Find each contract column (its source name or an alias) in the file's header."""
    position = {}
    for index, header in enumerate(headers):
        position.setdefault(_norm(header), index)
    mapping, missing, optional = {}, [], []
    for column in contract.columns:
        found = [
            position[_norm(h)] for h in (column.header, *column.aliases) if _norm(h) in position
        ]
        if found:
            mapping[column.name] = found[0]
        elif column.required:
            missing.append(column)
        else:
            optional.append(column)
    used = set(mapping.values())
    extra = [(i, h) for i, h in enumerate(headers) if i not in used]
    return HeaderMatch(mapping, missing, optional, extra)


def map_headers(contract: FeedContract, headers: list[str]) -> tuple[dict[str, int], list[str]]:
    """Find each contract column in the file's header; explain drift in partner terms.

    When the header line holds none of the contract's names, it is most likely a data
    line (the header is missing): its texts are then never repeated in a message, as
    they can be a victim's name or a national number.
    """
    match = match_headers(contract, headers)
    mapping = match.mapping
    warnings = [
        f"optional column {column.header!r} is missing; its values are empty"
        for column in match.missing_optional
    ]
    row = contract.dialect.header_row
    if not mapping:
        expected = ", ".join(repr(c.header) for c in contract.columns if c.required)
        advice = "is the header line missing, or on another line than dialect.header_row?"
        if len(headers) == 1:
            advice = (
                f"the line was not split on {contract.dialect.delimiter!r}: is the file using "
                "another delimiter? Fix dialect.delimiter or ask for the agreed format"
            )
        raise UnreadableFile(
            f"line {row} (the header) has {len(headers)} field(s) and none is a column of the "
            f"contract (expected {expected}); {advice}"
        )
    if match.missing:
        problems = []
        for column in match.missing:
            hint = match.renamed_to(column)
            renamed = f" (renamed to {_shown(hint)}?)" if hint else ""
            problems.append(f"required column {column.header!r}{renamed} is missing")
        raise UnreadableFile(
            f"{'; '.join(problems)}. Line {row} has {len(headers)} fields, {len(mapping)} of "
            "them known; ask the partner to restore the header, or add the new name to `aliases`"
        )
    warnings += [
        f"extra column {_shown(h)} (field {i + 1}) is not in the contract and was ignored"
        for i, h in match.extra
    ]
    return mapping, warnings


def shown_header(header: str) -> str:
    """A header text fit for a message: short, so a stray value cannot say much."""
    return header if len(header) <= 40 else header[:37] + "..."


def _shown(header: str) -> str:
    return repr(shown_header(header))


def _code(column: Column, text: str) -> str:
    code = f"upper({text})"
    if column.pad_to:
        width = int(column.pad_to)
        code = f"CASE WHEN length({code}) < {width} THEN lpad({code}, {width}, '0') ELSE {code} END"
    return code


def number_pattern(contract: FeedContract, whole: bool) -> str:
    """The full-match pattern of a number written with the contract's marks.

    Thousands separators only in valid positions (``1.234.567,8`` but not ``1.2.3,4``),
    and no other decimal mark: ``1,234.5`` under a decimal-comma contract is rejected
    instead of read as 1.2345.
    """
    decimal = re.escape(contract.dialect.decimal)
    thousands = contract.dialect.thousands
    if thousands is None:
        integer = "[0-9]+"
    else:
        marks = "[ \u00a0\u202f]" if thousands == " " else re.escape(thousands)
        integer = f"(?:[0-9]{{1,3}}(?:{marks}[0-9]{{3}})+|[0-9]+)"
    fraction = f"(?:{decimal}0*)?" if whole else f"(?:{decimal}[0-9]*)?"
    body = f"{integer}{fraction}" if whole else f"(?:{integer}{fraction}|{decimal}[0-9]+)"
    return f"[+-]?{body}"


def _typed(column: Column, s: str, p: str) -> str:
    """Expression giving the typed value of text ``s``, NULL when it does not parse."""
    # the pattern has already vetted where each mark may stand: dropping every grouping
    # mark (any space for a space contract) and turning the decimal mark into '.' is safe
    number = (
        f"replace(regexp_replace({s}, $grouping, '', 'g'), $decimal, '.')"
        if column.type in NUMERIC_TYPES
        else s
    )
    match column.type:
        case "integer":
            cast = f"TRY_CAST(TRY_CAST({number} AS DECIMAL(38, 10)) AS BIGINT)"
            return f"CASE WHEN regexp_full_match({s}, $integer_pattern) THEN {cast} END"
        case "decimal":
            cast = f"TRY_CAST({number} AS DOUBLE)"
            return f"CASE WHEN regexp_full_match({s}, $decimal_pattern) THEN {cast} END"
        case "date":
            parsed = f"CAST(TRY_STRPTIME({s}, $date_format) AS DATE)"
            return f"CASE WHEN year({parsed}) BETWEEN $earliest_year AND 9999 THEN {parsed} END"
        case "timestamp":
            parsed = f"TRY_STRPTIME({s}, $timestamp_format)"
            return f"CASE WHEN year({parsed}) BETWEEN $earliest_year AND 9999 THEN {parsed} END"
        case "boolean":
            word = f"lower({s})"
            return (
                f"CASE WHEN list_contains($true, {word}) THEN true "
                f"WHEN list_contains($false, {word}) THEN false END"
            )
        case "area_code":
            code = _code(column, s)
            # a code a placement rule knows stands for the coarser area it names: the
            # first rule that matches the code and names an area of its level wins
            mapped = [
                f"regexp_replace({code}, ${p}_place{j}_full, ${p}_place{j}_area)"
                for j in range(len(column.placement))
            ]
            placed = " ".join(
                f"WHEN regexp_full_match({code}, ${p}_place{j}) AND list_contains("
                f"${p}_place{j}_areas, {area}) THEN {area}"
                for j, area in enumerate(mapped)
            )
            return f"CASE WHEN list_contains(${p}_areas, {code}) THEN {code} {placed} END"
        case "area_code_list":
            each = _code(column, "trim(x)")
            items = f"list_transform(string_split({s}, $list_separator), lambda x: {each})"
            return f"CASE WHEN list_has_all(${p}_areas, {items}) THEN {items} END"
    return s


def _error(column: Column, s: str, typed: str, p: str, contract: FeedContract) -> str:
    """First broken rule of one column as a readable reason, NULL when the value is fine.

    Rules are ordered: NUL bytes, a "Totaal" row, required, type, allowed values.
    """
    numeric = column.type in NUMERIC_TYPES
    missing = (
        f"({s} IS NULL OR list_contains($null_markers, {s}))"
        if column.type != "text"
        else f"{s} IS NULL"
    )
    # list_contains(.., NULL) is NULL, and NOT NULL would let an empty required cell pass
    suppressed = f"coalesce(list_contains($suppressed_markers, {s}), false)" if numeric else "false"
    # a personal column's value never appears in a reason, even a malformed one
    show = "'a value'" if column.personal else f"'''' || {s} || ''''"
    rules = [
        (
            f"contains({s}, chr(0))",
            f"${p}_label || ': holds a NUL byte (binary data in a text file?)'",
        )
    ]
    if column.required:
        rules.append(
            (f"{missing} AND NOT {suppressed}", f"${p}_label || ': required value missing'")
        )
    rules.append(
        (
            f"NOT {missing} AND NOT {suppressed} AND {typed} IS NULL",
            f"${p}_label || ': ' || {show} || ${p}_invalid",
        )
    )
    if column.allowed is not None:
        value = f"CAST({typed} AS VARCHAR)" if numeric else s
        rules.append(
            (
                f"{typed} IS NOT NULL AND NOT list_contains(${p}_allowed, {value})",
                f"${p}_label || ': ' || {show} || ${p}_not_allowed",
            )
        )
    # min/max are plausibility rules, checked by the quality suites (cim.quality) so a
    # breach blocks publication instead of silently dropping rows
    skip = contract.dialect.skip_rows_where
    if skip and skip.column == column.name:
        rules.insert(
            1,
            (
                f"list_contains($skip_values, {s})",
                f"'summary row ' || {show} || ' is not data; skipped as the contract says'",
            ),
        )
    whens = " ".join(f"WHEN {cond} THEN {message}" for cond, message in rules)
    return f"CASE {whens} END"


def _hint(column: Column, contract: FeedContract) -> str:
    return {
        "integer": _number_hint(contract, " is not a whole number"),
        "decimal": _number_hint(contract, " is not a number"),
        "date": (
            f" is not a date in the form {contract.dialect.date_format} (with a four-digit year)"
        ),
        "timestamp": (
            f" is not a timestamp in the form {contract.dialect.timestamp_format} "
            "(with a four-digit year)"
        ),
        "boolean": " is not yes/no (1/0)",
        "area_code": (
            f" is not a known {column.area_level} code"
            + (", nor one the placement rules place at a coarser level" if column.placement else "")
            + "; add it to the areas file (or a placement rule to the contract) or ask the partner"
        ),
        "area_code_list": f" lists a code that is not a known {column.area_level}",
    }.get(column.type, " is not valid")


def _number_hint(contract: FeedContract, what: str) -> str:
    marks = f"decimal mark {contract.dialect.decimal!r}"
    if contract.dialect.thousands:
        marks += f", thousands mark {contract.dialect.thousands!r} every three digits"
    return f"{what} ({marks})"


def _base_params(
    contract: FeedContract, pseudonym_key: str, earliest_year: int
) -> dict[str, object]:
    dialect = contract.dialect
    return {
        "null_markers": contract.null_markers,
        "suppressed_markers": contract.suppressed_markers or [""],
        "grouping": (
            "[ \u00a0\u202f]" if dialect.thousands == " " else re.escape(dialect.thousands or "")
        )
        or "$^",
        "decimal": dialect.decimal,
        "integer_pattern": number_pattern(contract, whole=True),
        "decimal_pattern": number_pattern(contract, whole=False),
        "earliest_year": earliest_year,
        "date_format": dialect.date_format,
        "timestamp_format": dialect.timestamp_format,
        "list_separator": dialect.list_separator,
        "true": _TRUE,
        "false": _FALSE,
        "skip_values": dialect.skip_rows_where.equals if dialect.skip_rows_where else [""],
        "delimiter": dialect.delimiter if contract.format == "csv" else ";",
        "pseudonym_key": pseudonym_key,
    }


def _column_params(
    column: Column, p: str, contract: FeedContract, area_codes: dict[str, list[str]]
) -> dict[str, object]:
    params: dict[str, object] = {
        f"{p}_label": f"{column.name} ({column.header!r})",
        f"{p}_invalid": _hint(column, contract),
    }
    if column.type in {"area_code", "area_code_list"}:
        params[f"{p}_areas"] = area_codes.get(column.area_level or "", [])
    for j, rule in enumerate(column.placement):
        codes = area_codes.get(rule.level, [])
        params[f"{p}_place{j}"] = rule.pattern
        params[f"{p}_place{j}_full"] = f"^(?:{rule.pattern})$"
        # without `area:` the level has one area (checked with the city): the city itself
        params[f"{p}_place{j}_area"] = rule.area if rule.area is not None else codes[0]
        params[f"{p}_place{j}_areas"] = codes
    if column.allowed is not None:
        params[f"{p}_allowed"] = column.allowed
        params[f"{p}_not_allowed"] = f" is not allowed; allowed: {', '.join(column.allowed)}"
    return params


def _row_text(contract: FeedContract, headers: list[str], mapping: dict[str, int]) -> str:
    """The row as the partner wrote it, minus personal values and columns we do not know."""
    by_position = {mapping[c.name]: c for c in contract.columns if c.name in mapping}
    parts = []
    for index in range(len(headers)):
        column = by_position.get(index)
        if column is None:
            parts.append("'[not in contract]'")
        elif column.personal:
            parts.append(f"'{PERSONAL_MASK}'")
        else:
            parts.append(f"coalesce(column{index}, '')")
    return f"concat_ws($delimiter, {', '.join(parts)})"


# How a row's period is written, per grain, when the period column is text.
_PERIOD_TEXT = {
    "month": r"[0-9]{4}-(0[1-9]|1[0-2])",
    "quarter": r"[0-9]{4}-Q[1-4]",
    "year": r"[0-9]{4}",
    "school_year": r"[0-9]{4}/[0-9]{2}",
}


def _school_year(year: str) -> str:
    """SQL of the school year label ``2023/24`` whose first calendar year is ``year``."""
    return f"{year} || '/' || lpad(CAST((CAST({year} AS INTEGER) + 1) % 100 AS VARCHAR), 2, '0')"


def _period_label(column: Column, v: str, grain: str) -> str:
    """SQL giving the period label (as contracts write it) of typed value ``v``."""
    if column.type in {"date", "timestamp"}:
        day = f"CAST({v} AS DATE)"
        return {
            "month": f"strftime({day}, '%Y-%m')",
            "quarter": f"strftime({day}, '%Y') || '-Q' || quarter({day})",
            "year": f"strftime({day}, '%Y')",
            "school_year": _school_year(f"CAST(year({day} - INTERVAL 8 MONTH) AS VARCHAR)"),
        }[grain]
    if column.type == "integer":
        # a whole number says a year (of a school year: the first, 2023 for 2023/24)
        year = f"lpad(CAST({v} AS VARCHAR), 4, '0')"
        label = _school_year(year) if grain == "school_year" else year
        return f"CASE WHEN {v} BETWEEN 0 AND 9999 THEN {label} END"
    # text: the label itself, checked; a month written 2024-3 is not guessed at
    text = f"upper({v})"
    valid = f"regexp_full_match({text}, $period_text)"
    if grain == "school_year":
        valid += f" AND {text} = {_school_year(f'left({text}, 4)')}"
    return f"CASE WHEN {valid} THEN {text} END"


def _period_rules(contract: FeedContract, s: str, v: str) -> tuple[str, str]:
    """The row's period (``_period_value``) and the first reason it cannot be trusted.

    Labels of one grain sort as their periods do, so plausibility is a comparison with
    the labels of the earliest and the latest period a delivery may hold. A value that
    is not of the column's type already has its reason from the column's own rules.
    """
    column, grain = contract.column(contract.period.column or ""), contract.period.grain
    label = _period_label(column, v, grain)
    example = periods.label(grain, 2024, 3 if grain == "month" else 1)
    numeric = column.type in NUMERIC_TYPES
    missing = f"({s} IS NULL OR list_contains($null_markers, {s}))" if numeric else f"{s} IS NULL"
    suppressed = f"coalesce(list_contains($suppressed_markers, {s}), false)" if numeric else "false"
    # every row without a valid period is rejected, but a reason the column's own rules
    # already give (required value missing, not a whole number) is not said twice
    said = [f"{missing} AND NOT {suppressed}"] if column.required else []
    said.append(f"NOT {missing} AND NOT {suppressed} AND {v} IS NULL")
    shown = f"'''' || {s} || ''''"
    error = (
        f"CASE WHEN {label} IS NOT NULL AND {label} < $earliest_period THEN 'period ' || "
        f"{label} || ' lies before ' || $earliest_period || ', which is not plausible: "
        "check the row' "
        f"WHEN {label} IS NOT NULL AND {label} > $latest_period THEN 'period ' || {label} || "
        "' has not started yet (the latest possible is ' || $latest_period || '): check the row' "
        f"WHEN {label} IS NOT NULL THEN NULL "
        + " ".join(f"WHEN {condition} THEN NULL" for condition in said)
        + f" WHEN {missing} THEN $period_label || ': missing; every row must say its period' "
        f"ELSE $period_label || ': ' || {shown} || ' is not a {grain} period (such as "
        f"{example})' END"
    )
    return label, error


def plan_checks(
    contract: FeedContract,
    headers: list[str],
    area_codes: dict[str, list[str]],
    pseudonym_key: str,
    earliest_year: int = 1900,
    latest_day: dt.date | None = None,
) -> CheckPlan:
    """Build the statement that creates temp table ``checked`` from ``incoming``.

    Four nested layers, each naming its results, so every value is trimmed, typed and
    checked exactly once: repeating the typing expression inside every rule made query
    planning, not data, dominate the time for small files.
    """
    mapping, warnings = map_headers(contract, headers)
    params = _base_params(contract, pseudonym_key, earliest_year)
    if contract.periods_from_rows:
        # ``latest_day``: today plus the tolerance for periods that have not started
        latest = latest_day or dt.date.today()
        grain = contract.period.grain
        column = contract.column(contract.period.column or "")
        params |= {
            "period_text": _PERIOD_TEXT[grain],
            "period_label": f"{column.name} ({column.header!r}, the row's period)",
            "earliest_period": periods.label(grain, earliest_year),
            "latest_period": periods.period_of(latest, grain),
        }
    texts, typed, checks, finals, accepted, names = [], [], [], [], [], []
    for i, column in enumerate(contract.columns):
        p, s, v = f"c{i}", f"_s{i}", f"_v{i}"
        params |= _column_params(column, p, contract, area_codes)
        source = f"column{mapping[column.name]}" if column.name in mapping else "NULL"
        texts.append(f"NULLIF(trim(CAST({source} AS VARCHAR)), '') AS {s}")
        typed.append(f"{_typed(column, s, p)} AS {v}")
        if column.personal == "drop":
            continue
        checks.append(f"{_error(column, s, v, p, contract)} AS _e{len(names)}")
        names.append(column.name)
        name = quote_ident(column.name)
        if column.personal == "pseudonymise":
            finals.append(
                f"CASE WHEN {s} IS NOT NULL THEN sha256($pseudonym_key || ':' || {s}) END AS {name}"
            )
        else:
            finals.append(f"{v} AS {name}")
        accepted.append(name)
        if column.delivered_code:
            finals.append(f"{_code(column, s)} AS {quote_ident(column.delivered_code)}")
            accepted.append(quote_ident(column.delivered_code))
        if column.name == contract.period.column:
            label, error = _period_rules(contract, s, v)
            # an implausible period is no period: its rejected row counts in none
            finals.append(
                f"CASE WHEN {label} BETWEEN $earliest_period AND $latest_period THEN {label} END "
                "AS _period_value"
            )
            checks.append(f"{error} AS _e{len(names)}")
            names.append(column.name)
        if contract.suppressed_markers and column.type in NUMERIC_TYPES:
            flag = quote_ident(suppressed_flag(column))
            finals.append(f"coalesce(list_contains($suppressed_markers, {s}), false) AS {flag}")
            accepted.append(flag)
    errors = ", ".join(f"_e{i}" for i in range(len(names)))
    first = ", ".join(f"CASE WHEN _e{i} IS NOT NULL THEN '{n}' END" for i, n in enumerate(names))
    row_text = _row_text(contract, headers, mapping)
    layer1 = f"SELECT _row_number, {', '.join(texts)}, {row_text} AS _row_text FROM incoming"
    layer2 = f"SELECT *, {', '.join(typed)} FROM ({layer1})"
    layer3 = (
        f"SELECT _row_number, _row_text, {', '.join(finals)}, {', '.join(checks)} FROM ({layer2})"
    )
    select = (
        f"SELECT * EXCLUDE ({errors}), "
        f"list_filter([{errors}], lambda x: x IS NOT NULL) AS _errors, "
        f"coalesce({first}) AS _error_column FROM ({layer3})"
    )
    # one statement, one materialisation: the row's text is kept for rejected rows only
    sql = (
        "CREATE OR REPLACE TEMP TABLE checked AS SELECT * REPLACE (CASE WHEN len(_errors) > 0 "
        f"THEN _row_text END AS _row_text) FROM ({_with_duplicate_keys(contract, select)})"
    )
    used = set(re.findall(r"\$(\w+)", sql))
    params = {k: v for k, v in params.items() if k in used}
    return CheckPlan(sql=sql, params=params, select_accepted=accepted, warnings=warnings)


def _with_duplicate_keys(contract: FeedContract, select: str) -> str:
    """Reject a second row with the same key as an earlier valid row of the same file."""
    if not contract.keys:
        return select
    keys = ", ".join(quote_ident(k) for k in contract.key_columns)
    shown = " || ', ' || ".join(
        f"'{k}=' || coalesce(CAST({quote_ident(c)} AS VARCHAR), '')"
        for k, c in zip(contract.keys, contract.key_columns, strict=True)
    )
    return (
        "SELECT * EXCLUDE (_first) REPLACE ("
        "CASE WHEN _first IS NOT NULL AND _first <> _row_number THEN "
        f"list_append(_errors, 'duplicate key (' || {shown} || '): first seen on row ' || _first) "
        "ELSE _errors END AS _errors, "
        "CASE WHEN _first IS NOT NULL AND _first <> _row_number THEN "
        f"coalesce(_error_column, '{contract.keys[0]}') ELSE _error_column END AS _error_column"
        ") FROM (SELECT *, CASE WHEN len(_errors) = 0 THEN "
        f"min(_row_number) OVER (PARTITION BY len(_errors) = 0, {keys}) END AS _first "
        f"FROM ({select}))"
    )
