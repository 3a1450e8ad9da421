"""Reading a panel file for ``cim impact``: delimiter, encoding and column roles.

``read_panel`` reads every cell as text, so that the panel's validation
(``cim.impact.panel.long_panel``), not pandas, judges the values and can name the row of a
bad one. Every problem with the file itself is a ``PanelError`` whose message says what
to change.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pandas as pd

from cim.impact.panel import PanelError

ROLES = (
    "area",
    "period",
    "treated",
    "post",
    "treatment",
    "numerator",
    "denominator",
    "value",
    "weight",
)
DELIMITERS = ",;\t|"
_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
_FLAGS = {"\t": "$'\\t'"}
_NUMBERS = ("numerator", "denominator", "value", "weight")
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+\s*$")


def read_panel(path: str | Path, sep: str | None = None, roles: dict[str, str] | None = None):
    """The panel file at ``path`` as a frame of text columns named by their roles.

    ``roles`` maps a role (``area``, ``period``, ``treated``, ``post``, ``treatment``,
    ``numerator``, ``denominator``, ``value``, ``weight``) to the file's column; a role not
    given is taken from a column of its own name, if there is one. Only role columns are
    kept. ``sep`` is the delimiter; without it, it is sniffed from the first lines."""
    path = Path(path)
    roles = dict(roles or {})
    text = _text(path)
    if not text.strip():
        raise PanelError(f"the panel {path} has no rows: the file is empty")
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)
        if len(sep) != 1:
            raise PanelError(f"--sep must be one character (',' ';' '|' or $'\\t'), not {sep!r}")
    delimiter = sep or sniff(text)
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise PanelError(f"the panel {path} has no rows: the file is empty") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise PanelError(
            f"the panel {path} cannot be read as {_NAMES.get(delimiter, repr(delimiter))}-"
            f"separated: {detail} (a row with more fields than the header: quote values that "
            "hold the delimiter, or pass the right one with --sep)"
        ) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    columns = list(raw.columns)
    if raw.empty:
        raise PanelError(f"the panel {path} has no rows: only a header ({_list(columns)})")
    mapping = _mapped(path, columns, roles, delimiter)
    frame = raw[list(mapping)].rename(columns=mapping)
    if delimiter != ",":
        frame = _decimal_commas(frame)
    return frame.reset_index(drop=True)


def sniff(text: str) -> str:
    """The delimiter of a table's first lines: among ``,`` ``;`` tab ``|``, the one that
    splits every line into the same number (> 1) of fields (the most fields wins);
    else csv.Sniffer's guess; else ``,``."""
    lines = [line for line in text[:65536].splitlines()[:50] if line.strip()]
    if len(text) > 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    best, width = None, 1
    for d in DELIMITERS:
        widths = {len(row) for row in csv.reader(lines, delimiter=d)}
        if len(widths) == 1 and (w := widths.pop()) > width:
            best, width = d, w
    if best:
        return best
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _text(path: Path) -> str:
    if not path.exists():
        raise PanelError(f"the panel {path} does not exist")
    if path.is_dir():
        raise PanelError(f"the panel {path} is a folder, not a file")
    data = path.read_bytes()
    if not data:
        raise PanelError(f"the panel {path} has no rows: the file is empty (0 bytes)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # Excel's "Unicode text"
    else:
        encoding = "utf-8-sig"  # a byte order mark is fine
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PanelError(
            f"the panel {path} is not {encoding.removesuffix('-sig').upper()} text: byte "
            f"0x{data[exc.start]:02x} on line {line} cannot be read ({exc.reason}); it is "
            "probably Latin-1 or Windows-1252. Save the file as UTF-8 (in Excel: "
            "'CSV UTF-8') and run again"
        ) from None


def _mapped(path: Path, columns: list[str], roles: dict[str, str], delimiter: str) -> dict:
    """file column -> role, checking the roles given and those the layout needs."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise PanelError(f"unknown role(s) {unknown}; the roles are {list(ROLES)}")
    by_column: dict[str, list[str]] = {}
    for role, column in roles.items():
        by_column.setdefault(column, []).append(role)
    twice = {c: r for c, r in by_column.items() if len(r) > 1}
    if twice:
        column, both = next(iter(twice.items()))
        raise PanelError(
            f"duplicate roles: column {column!r} is given for "
            + " and ".join(f"--{r}" for r in both)
            + "; each role needs its own column"
        )
    absent = {r: c for r, c in roles.items() if c not in columns}
    if absent:
        role, column = next(iter(absent.items()))
        raise PanelError(
            f"--{role} {column}: the panel {path} has no column {column!r}; its columns are "
            f"{_list(columns)}" + _separator_hint(columns, delimiter)
        )
    # a role not given is read from a column of its own name, unless that column has
    # another role or the roles given chose the other treatment layout
    skip = set()
    if "treatment" in roles:
        skip |= {"treated", "post"}
    if roles.keys() & {"treated", "post"}:
        skip.add("treatment")
    for role in ROLES:
        if role in roles or role in skip or role not in columns:
            continue
        if role in by_column:
            raise PanelError(
                f"duplicate roles: column {role!r} is given for --{by_column[role][0]}, and "
                f"--{role} takes a column of its own name unless told otherwise; pass "
                f"--{role} with its column"
            )
        roles[role] = role
    needed = ["area", "period"]
    if "treatment" not in roles:
        needed += ["treated", "post"]
    lacking = [r for r in needed if r not in roles]
    outcome = {"numerator", "denominator"} <= roles.keys() or "value" in roles
    if lacking or not outcome:
        what = [f"column(s) {lacking}"] if lacking else []
        if not outcome:
            what.append("an outcome (numerator and denominator, or value)")
        raise PanelError(
            f"the panel lacks {' and '.join(what)}; its columns are {_list(columns)}. Map "
            "yours with --area, --period, --treated and --post (or --treatment), and "
            "--numerator and --denominator (or --value); see docs/impact.md for the layout"
            + _separator_hint(columns, delimiter)
        )
    return {column: role for role, column in roles.items()}


def _separator_hint(columns: list[str], delimiter: str) -> str:
    if len(columns) != 1:
        return ""
    for d in DELIMITERS:
        if d != delimiter and d in columns[0]:
            return f". The file looks {_NAMES[d]}-separated: pass --sep {_FLAGS.get(d, repr(d))}"
    return ""


def _decimal_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """In a file not separated by commas, numbers like ``12,5`` (and none like ``12.5``)
    have a decimal comma, as Excel writes them in much of Europe."""
    frame = frame.copy()
    for column in _NUMBERS:
        if column not in frame.columns:
            continue
        values = frame[column].astype(str)
        if values.str.contains(".", regex=False).any():
            continue
        if values.str.match(_DECIMAL_COMMA).any():
            frame[column] = values.str.replace(",", ".", regex=False)
    return frame


def _list(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns) if columns else "none"
