"""The contract's column rules as one set-based SQL pass over the ``incoming`` table.

SQL text is built only from validated identifiers and fixed fragments; every value
that comes from a contract or a file (markers, formats, allowed lists, header texts,
the pseudonym key) travels as a bound parameter.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from cim.city import FeedContract
from cim.city.contracts import Column
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


def map_headers(contract: FeedContract, headers: list[str]) -> tuple[dict[str, int], list[str]]:
    """Find each contract column in the file's header; explain drift in partner terms."""
    position = {}
    for index, header in enumerate(headers):
        position.setdefault(_norm(header), index)
    mapping, warnings, missing = {}, [], []
    for column in contract.columns:
        found = [
            position[_norm(h)] for h in (column.header, *column.aliases) if _norm(h) in position
        ]
        if found:
            mapping[column.name] = found[0]
        elif column.required:
            missing.append(column)
        else:
            warnings.append(f"optional column {column.header!r} is missing; its values are empty")
    used = set(mapping.values())
    extra = [h for i, h in enumerate(headers) if i not in used]
    if missing:
        problems = []
        for column in missing:
            hint = difflib.get_close_matches(column.header, extra, n=1, cutoff=0.6)
            renamed = f" (renamed to {hint[0]!r}?)" if hint else ""
            problems.append(f"required column {column.header!r}{renamed} is missing")
        advice = "ask the partner to restore the header, or add the new name to `aliases`"
        if len(headers) == 1 and any(d in headers[0] for d in ",;\t|"):
            advice = (
                f"the header was not split on {contract.dialect.delimiter!r}: is the file "
                "using another delimiter? Fix dialect.delimiter or ask for the agreed format"
            )
        raise UnreadableFile(f"{'; '.join(problems)}. The file has columns {headers}; {advice}")
    warnings += [f"extra column {h!r} is not in the contract and was ignored" for h in extra]
    return mapping, warnings


def _code(column: Column, text: str) -> str:
    code = f"upper({text})"
    if column.pad_to:
        width = int(column.pad_to)
        code = f"CASE WHEN length({code}) < {width} THEN lpad({code}, {width}, '0') ELSE {code} END"
    return code


_INTEGER = "'[+-]?[0-9]+'"
_DECIMAL = "'[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)'"


def _typed(column: Column, s: str, p: str) -> str:
    """Expression giving the typed value of text ``s``, NULL when it does not parse."""
    number = f"replace(replace({s}, coalesce($thousands, chr(0)), ''), $decimal, '.')"
    match column.type:
        case "integer":
            cast = f"TRY_CAST({number} AS BIGINT)"
            return f"CASE WHEN regexp_full_match({number}, {_INTEGER}) THEN {cast} END"
        case "decimal":
            cast = f"TRY_CAST({number} AS DOUBLE)"
            return f"CASE WHEN regexp_full_match({number}, {_DECIMAL}) THEN {cast} END"
        case "date":
            return f"CAST(TRY_STRPTIME({s}, $date_format) AS DATE)"
        case "timestamp":
            return f"TRY_STRPTIME({s}, $timestamp_format)"
        case "boolean":
            word = f"lower({s})"
            return (
                f"CASE WHEN list_contains($true, {word}) THEN true "
                f"WHEN list_contains($false, {word}) THEN false END"
            )
        case "area_code":
            code = _code(column, s)
            return f"CASE WHEN list_contains(${p}_areas, {code}) THEN {code} END"
        case "area_code_list":
            each = _code(column, "trim(x)")
            items = f"list_transform(string_split({s}, $list_separator), lambda x: {each})"
            return f"CASE WHEN list_has_all(${p}_areas, {items}) THEN {items} END"
    return s


def _error(column: Column, s: str, typed: str, p: str, contract: FeedContract) -> str:
    """First broken rule of one column as a readable reason, NULL when the value is fine."""
    numeric = column.type in {"integer", "decimal"}
    missing = (
        f"({s} IS NULL OR list_contains($null_markers, {s}))"
        if column.type != "text"
        else f"{s} IS NULL"
    )
    suppressed = f"list_contains($suppressed_markers, {s})" if numeric else "false"
    show = f"'''' || {s} || ''''"
    rules = []
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
            0,
            (
                f"list_contains($skip_values, {s})",
                f"'summary row ' || {show} || ' is not data; skipped as the contract says'",
            ),
        )
    whens = " ".join(f"WHEN {cond} THEN {message}" for cond, message in rules)
    return f"CASE {whens} END"


def _hint(column: Column, contract: FeedContract) -> str:
    return {
        "integer": " is not a whole number",
        "decimal": f" is not a number (decimal mark {contract.dialect.decimal!r})",
        "date": f" is not a date in the form {contract.dialect.date_format}",
        "timestamp": f" is not a timestamp in the form {contract.dialect.timestamp_format}",
        "boolean": " is not yes/no (1/0)",
        "area_code": (
            f" is not a known {column.area_level} code; add it to the areas file or ask the partner"
        ),
        "area_code_list": f" lists a code that is not a known {column.area_level}",
    }.get(column.type, " is not valid")


def _base_params(contract: FeedContract, pseudonym_key: str) -> dict[str, object]:
    dialect = contract.dialect
    return {
        "null_markers": contract.null_markers,
        "suppressed_markers": contract.suppressed_markers or [""],
        "thousands": dialect.thousands,
        "decimal": dialect.decimal,
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


def plan_checks(
    contract: FeedContract,
    headers: list[str],
    area_codes: dict[str, list[str]],
    pseudonym_key: str,
) -> CheckPlan:
    """Build the statement that creates temp table ``checked`` from ``incoming``.

    Four nested layers, each naming its results, so every value is trimmed, typed and
    checked exactly once: repeating the typing expression inside every rule made query
    planning, not data, dominate the time for small files.
    """
    mapping, warnings = map_headers(contract, headers)
    params = _base_params(contract, pseudonym_key)
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
        if contract.suppressed_markers and column.type in {"integer", "decimal"}:
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
    keys = ", ".join(quote_ident(k) for k in contract.keys)
    shown = " || ', ' || ".join(
        f"'{k}=' || coalesce(CAST({quote_ident(k)} AS VARCHAR), '')" for k in contract.keys
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
