"""Read a delivery into a temp table of text columns, whatever its format.

Every format ends as the temp table ``incoming`` (``column0..N``, all VARCHAR, plus
``_row_number``) and the list of header texts. Typing happens afterwards in SQL, so a
bad value rejects one row with a reason instead of failing the whole file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import openpyxl

from cim.city import FeedContract

_CHUNK = 1 << 20
_SINGLE_BYTE = {"cp1252", "windows-1252", "latin-1", "latin1", "iso-8859-1", "iso-8859-15"}


class UnreadableFile(Exception):
    """The whole file cannot be read; the message says why and what to send instead."""


@dataclass(frozen=True)
class ParsedFile:
    headers: list[str]
    rows: int
    broken_rows: int


def _to_utf8(path: Path, encoding: str, workdir: Path) -> Path:
    """Decode strictly in chunks and re-encode as UTF-8 for DuckDB's reader.

    DuckDB reads UTF-8 only (other codecs need an extension download). Decoding
    strictly means a wrong encoding rejects the file instead of loading mojibake.
    """
    codec = codecs.lookup(encoding).name
    decoder = codecs.getincrementaldecoder(codec)("strict")
    target = workdir / f"{path.name}.utf8"
    saw_utf8_multibyte = codec.replace("_", "-") in _SINGLE_BYTE
    utf8_check = codecs.getincrementaldecoder("utf-8")("strict") if saw_utf8_multibyte else None
    looks_utf8, position = utf8_check is not None, 0
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as sink:
        while chunk := source.read(_CHUNK):
            try:
                sink.write(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                raise UnreadableFile(
                    f"byte {position + exc.start} is not valid {encoding}; export the file as "
                    f"{encoding} or correct dialect.encoding in the contract"
                ) from exc
            if looks_utf8:
                try:
                    utf8_check.decode(chunk)
                except UnicodeDecodeError:
                    looks_utf8 = False
            position += len(chunk)
        sink.write(decoder.decode(b"", final=True))
    if looks_utf8 and _has_non_ascii(path):
        raise UnreadableFile(
            f"file is UTF-8 but the contract says {encoding}: accented letters would be garbled; "
            f"ask the partner to export as {encoding} or set dialect.encoding to utf-8"
        )
    return target


def _has_non_ascii(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if not chunk.isascii():
                return True
    return False


def _header_line(path: Path, header_row: int, delimiter: str, quote: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = [handle.readline() for _ in range(header_row)]
    if not lines[-1].strip():
        raise UnreadableFile(f"line {header_row} (the header row) is empty or the file is empty")
    header = next(csv.reader(io.StringIO(lines[-1]), delimiter=delimiter, quotechar=quote))
    return [h.strip() for h in header]


def _drop_incoming(con: duckdb.DuckDBPyConnection) -> None:
    """``incoming`` is a view for CSV and a table for JSON; the last file's may be either."""
    for kind in ("VIEW", "TABLE"):
        try:
            con.execute(f"DROP {kind} IF EXISTS incoming")
        except duckdb.CatalogException:
            continue


def _load_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    skip: int,
    width: int,
    delimiter: str,
    quote: str,
    row_column: bool,
) -> None:
    """Load text columns with DuckDB's reader; structurally broken lines go aside.

    ``ignore_errors`` with ``store_rejects`` keeps a line with too many fields or an
    unclosed quote (a truncated file) as a rejected row with its text, not a crash.
    """
    names = (["__row"] if row_column else []) + [f"column{i}" for i in range(width)]
    con.execute("DROP TABLE IF EXISTS incoming_errors; DROP TABLE IF EXISTS incoming_scans")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE incoming_read AS SELECT * FROM read_csv($path, "
        "delim = $delim, quote = $quote, escape = $quote, header = false, skip = $skip, "
        "auto_detect = false, columns = $columns, null_padding = false, "
        "store_rejects = true, rejects_table = 'incoming_errors', "
        "rejects_scan = 'incoming_scans', ignore_errors = true)",
        {
            "path": str(path),
            "delim": delimiter,
            "quote": quote,
            "skip": skip,
            "columns": dict.fromkeys(names, "VARCHAR"),
        },
    )
    row_number = "CAST(__row AS BIGINT)" if row_column else f"rowid + {skip + 1}"
    cols = ", ".join(f"column{i}" for i in range(width))
    _drop_incoming(con)
    # a view, not a copy: the checks read the file's rows once, straight from the reader
    con.execute(
        f"CREATE TEMP VIEW incoming AS SELECT {cols}, {row_number} AS _row_number "
        "FROM incoming_read"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE incoming_broken AS SELECT "
        "CAST(line AS BIGINT) AS _row_number, CASE min(error_type) "
        "WHEN 'MISSING COLUMNS' THEN 'fewer fields than the header (a truncated line?)' "
        "WHEN 'TOO MANY COLUMNS' THEN 'more fields than the header (a delimiter inside an "
        "unquoted value?)' ELSE min(error_message) END AS reason, "
        "any_value(csv_line) AS row_text FROM incoming_errors GROUP BY line"
    )


def _cell_text(value: object, contract: FeedContract) -> str | None:
    """Write a spreadsheet cell the way the contract's dialect writes text numbers/dates."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime(contract.dialect.date_format)
        return value.strftime(contract.dialect.timestamp_format)
    if isinstance(value, dt.date):
        return value.strftime(contract.dialect.date_format)
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
        return text.replace(".", contract.dialect.decimal)
    return str(value).strip()


def _xlsx_to_csv(path: Path, contract: FeedContract, workdir: Path) -> tuple[Path, list[str]]:
    """Spreadsheets need Python (DuckDB's excel reader downloads an extension)."""
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnreadableFile(
            f"not a readable .xlsx spreadsheet ({type(exc).__name__}: {exc}); the file may be "
            "truncated or another format renamed to .xlsx: ask the partner to export it again"
        ) from exc
    try:
        sheet_name = contract.dialect.sheet or book.sheetnames[0]
        if sheet_name not in book.sheetnames:
            raise UnreadableFile(
                f"sheet {sheet_name!r} not found; the workbook has {book.sheetnames}: "
                "fix dialect.sheet or ask the partner for the agreed layout"
            )
        target = workdir / f"{path.name}.csv"
        header: list[str] = []
        with target.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.writer(sink, delimiter=",", quotechar='"')
            for number, row in enumerate(book[sheet_name].iter_rows(values_only=True), start=1):
                cells = [_cell_text(v, contract) for v in row]
                if number == contract.dialect.header_row:
                    header = [c or "" for c in cells]
                    while header and not header[-1]:
                        header.pop()
                elif number > contract.dialect.header_row and any(
                    c not in (None, "") for c in cells
                ):
                    writer.writerow([number, *(cells + [None] * len(header))[: len(header)]])
    finally:
        book.close()
    if not header:
        raise UnreadableFile(f"row {contract.dialect.header_row} (the header row) is empty")
    return target, header


def _load_json(con: duckdb.DuckDBPyConnection, path: Path, contract: FeedContract) -> list[str]:
    key = contract.dialect.records_key
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE incoming_doc AS "
            "SELECT content::JSON AS doc FROM read_text($path)",
            {"path": str(path)},
        )
        kind = con.execute(
            "SELECT json_type(CASE WHEN $key IS NULL THEN doc ELSE doc -> $key END) "
            "FROM incoming_doc",
            {"key": key},
        ).fetchone()[0]
    except duckdb.Error as exc:
        raise UnreadableFile(f"not valid JSON ({str(exc).splitlines()[0]})") from exc
    if kind != "ARRAY":
        where = f"the key {key!r}" if key else "the top level"
        raise UnreadableFile(f"expected a list of records at {where}, found {kind or 'nothing'}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE incoming_records AS "
        "SELECT unnest(CAST(CASE WHEN $key IS NULL THEN doc ELSE doc -> $key END AS JSON[])) "
        "AS rec FROM incoming_doc",
        {"key": key},
    )
    headers = [
        r[0]
        for r in con.execute(
            "SELECT k FROM (SELECT unnest(json_keys(rec)) AS k, rowid AS r FROM incoming_records) "
            "GROUP BY k ORDER BY min(r), k"
        ).fetchall()
    ]
    # JSON pointers (RFC 6901) address any key safely, whatever characters it has.
    pointers = {
        f"p{i}": "/" + h.replace("~", "~0").replace("/", "~1") for i, h in enumerate(headers)
    }
    cols = ", ".join(f"json_extract_string(rec, ${p}) AS column{p[1:]}" for p in pointers)
    _drop_incoming(con)
    con.execute(
        f"CREATE TEMP TABLE incoming AS SELECT {cols}{',' if cols else ''} "
        "rowid + 1 AS _row_number FROM incoming_records",
        pointers,
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE incoming_broken "
        "(_row_number BIGINT, reason VARCHAR, row_text VARCHAR)"
    )
    return headers


def read_delivery(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, path: Path, workdir: Path
) -> ParsedFile:
    """Fill temp tables ``incoming`` and ``incoming_broken`` from one delivered file."""
    if path.stat().st_size == 0:
        raise UnreadableFile("file is empty (0 bytes); ask the partner to send it again")
    try:
        return _read(con, contract, path, workdir)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise UnreadableFile(
            f"could not be parsed ({first}); check it against the contract"
        ) from exc


def _read(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, path: Path, workdir: Path
) -> ParsedFile:
    dialect = contract.dialect
    if contract.format == "json":
        headers = _load_json(con, path, contract)
    elif contract.format == "xlsx":
        csv_path, headers = _xlsx_to_csv(path, contract, workdir)
        _load_csv(
            con, csv_path, skip=0, width=len(headers), delimiter=",", quote='"', row_column=True
        )
    else:
        utf8 = _to_utf8(path, dialect.encoding, workdir)
        headers = _header_line(utf8, dialect.header_row, dialect.delimiter, dialect.quote)
        _load_csv(
            con,
            utf8,
            skip=dialect.header_row,
            width=len(headers),
            delimiter=dialect.delimiter,
            quote=dialect.quote,
            row_column=False,
        )
    rows = con.execute("SELECT count(*) FROM incoming").fetchone()[0]
    broken = con.execute("SELECT count(*) FROM incoming_broken").fetchone()[0]
    if rows + broken == 0:
        raise UnreadableFile("file has a header but no data rows; send the period's data")
    return ParsedFile(headers=headers, rows=rows, broken_rows=broken)
