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
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import openpyxl

from cim.city import FeedContract
from cim.settings import INGEST_MEMORY_LIMIT

_CHUNK = 1 << 20
_SINGLE_BYTE = {"cp1252", "windows-1252", "latin-1", "latin1", "iso-8859-1", "iso-8859-15"}


class UnreadableFile(Exception):
    """The whole file cannot be read; the message says why and what to send instead.

    ``records`` is the file's own record count when it is known, so a rejected file
    still accounts for every row it held.
    """

    def __init__(self, message: str, records: int | None = None):
        super().__init__(message)
        self.records = records


@dataclass(frozen=True)
class ParsedFile:
    headers: list[str]
    rows: int
    broken_rows: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class TextCopy:
    """A delivery re-encoded as UTF-8 with ``\n`` line ends, and what the copy saw."""

    path: Path
    lines: int = 0  # non-empty physical lines, header included
    warnings: list[str] = field(default_factory=list)


_BOMS = {codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}


def _source_codec(path: Path, encoding: str) -> tuple[str, list[str]]:
    """The codec to decode with: the contract's, unless the bytes say UTF-16 for sure."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    for bom, codec in _BOMS.items():
        if head.startswith(bom):
            return codec, [f"file is UTF-16 (byte-order mark), not {encoding}; decoded as UTF-16"]
    # text in UTF-16 without a byte-order mark has a NUL in every other byte
    if len(head) >= 8 and head[1::2].count(0) > len(head) // 4:
        raise UnreadableFile(
            f"file looks like UTF-16 without a byte-order mark, not {encoding}; ask the partner "
            f"to export it as {encoding} (or set dialect.encoding)"
        )
    return encoding, []


def _to_utf8(path: Path, encoding: str, workdir: Path) -> TextCopy:
    """Decode strictly in chunks and re-encode as UTF-8 with ``\n`` line ends.

    DuckDB reads UTF-8 only (other codecs need an extension download) and fails on a
    file mixing ``\r\n``, ``\n`` and ``\r``. Decoding strictly means a wrong encoding
    rejects the file instead of loading mojibake. The copy counts the file's non-empty
    lines, so rows a parser silently swallowed can be noticed afterwards.
    """
    codec_name, warnings = _source_codec(path, encoding)
    codec = codecs.lookup(codec_name).name
    decoder = codecs.getincrementaldecoder(codec)("strict")
    copy = TextCopy(workdir / "delivery.utf8", warnings=warnings)
    saw_utf8_multibyte = codec.replace("_", "-") in _SINGLE_BYTE
    utf8_check = codecs.getincrementaldecoder("utf-8")("strict") if saw_utf8_multibyte else None
    looks_utf8, position, newlines, pending_cr, last = utf8_check is not None, 0, 0, False, "\n"
    with path.open("rb") as source, copy.path.open("w", encoding="utf-8", newline="") as sink:
        while True:
            chunk = source.read(_CHUNK)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = newlines + chunk[: max(exc.start, 0)].count(b"\n") + 1
                raise UnreadableFile(
                    f"line {line} (byte {position + max(exc.start, 0)}) is not valid {encoding}; "
                    f"export the file as {encoding} or correct dialect.encoding in the contract"
                ) from exc
            if pending_cr:
                text, pending_cr = "\r" + text, False
            if chunk and text.endswith("\r"):
                text, pending_cr = text[:-1], True  # maybe half of a \r\n
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                copy.lines += _non_empty_lines(text, last)
                newlines += text.count("\n")
                last = text[-1]
                sink.write(text)
            if looks_utf8:
                try:
                    utf8_check.decode(chunk)
                except UnicodeDecodeError:
                    looks_utf8 = False
            position += len(chunk)
            if not chunk:
                break
    if looks_utf8 and _has_non_ascii(path):
        raise UnreadableFile(
            f"file is UTF-8 but the contract says {encoding}: accented letters would be garbled; "
            f"ask the partner to export as {encoding} or set dialect.encoding to utf-8"
        )
    return copy


def _non_empty_lines(text: str, before: str) -> int:
    """Lines of ``text`` that hold something, given the character before it.

    A line is counted at its first character, so a line split over two chunks counts once.
    """
    if "\n\n" not in text and not (before == "\n" and text.startswith("\n")):
        starts = text.count("\n") - (1 if text.endswith("\n") else 0)
        return starts + (1 if before == "\n" else 0)
    lines = text.split("\n")
    first = 1 if before == "\n" and lines[0] else 0
    return first + sum(1 for line in lines[1:] if line)


def _has_non_ascii(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if not chunk.isascii():
                return True
    return False


def _header_line(path: Path, header_row: int, delimiter: str, quote: str) -> tuple[list[str], int]:
    """The header's texts, and how many non-empty lines the header part takes."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = [handle.readline() for _ in range(header_row)]
    if not lines[-1].strip():
        raise UnreadableFile(f"line {header_row} (the header row) is empty or the file is empty")
    header = next(csv.reader(io.StringIO(lines[-1]), delimiter=delimiter, quotechar=quote))
    return [h.strip() for h in header], sum(1 for line in lines if line.strip("\n"))


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
        "unquoted value?)' "
        "WHEN 'UNQUOTED VALUE' THEN 'a quote opens a value that is not closed properly' "
        "WHEN 'LINE SIZE OVER MAXIMUM' THEN 'the line is longer than the reader allows' "
        "WHEN 'INVALID UNICODE' THEN 'the line holds bytes that are not valid text' "
        # never DuckDB's own message: it can quote the line's values
        "ELSE 'the line could not be parsed (' || lower(CAST(min(error_type) AS VARCHAR)) "
        "|| ')' END AS reason, "
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


def _not_a_spreadsheet(exc: Exception) -> UnreadableFile:
    return UnreadableFile(
        f"not a readable .xlsx spreadsheet ({type(exc).__name__}); the file may be "
        "truncated or another format renamed to .xlsx: ask the partner to export it again"
    )


def _check_unpacked_size(path: Path, limit_bytes: int) -> None:
    """Refuse a spreadsheet whose parts would unpack past the limit (a zip bomb).

    The sizes in the zip directory are what the reader would allocate; a lying
    directory is caught by the zip module's own size and CRC checks while reading.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _not_a_spreadsheet(exc) from exc
    if unpacked > limit_bytes:
        raise UnreadableFile(
            f"the spreadsheet would unpack to {unpacked / 1024 / 1024:.0f} MB, over the limit "
            f"of {limit_bytes / 1024 / 1024:.0f} MB (a damaged or malicious file?); ask for a "
            "CSV export, or raise ingestion.max_unpacked_mb in city.yaml"
        )


def _pick_sheet(book, contract: FeedContract) -> tuple[str, list[str]]:
    """The contract's sheet, or the first visible one; hidden sheets are named in warnings."""
    states = {ws.title: ws.sheet_state for ws in book.worksheets}
    hidden = [name for name, state in states.items() if state != "visible"]
    warnings = [f"the workbook has hidden sheet(s) {hidden}; they were not read"] if hidden else []
    if contract.dialect.sheet:
        if contract.dialect.sheet not in states:
            raise UnreadableFile(
                f"sheet {contract.dialect.sheet!r} not found; the workbook has "
                f"{list(states)}: fix dialect.sheet or ask the partner for the agreed layout"
            )
        if contract.dialect.sheet in hidden:
            warnings = [f"sheet {contract.dialect.sheet!r} named by the contract is hidden"]
        return contract.dialect.sheet, warnings
    visible = [name for name, state in states.items() if state == "visible"]
    if not visible:
        raise UnreadableFile("every sheet of the workbook is hidden; ask for the agreed layout")
    if len(visible) > 1:
        warnings.append(
            f"the workbook has {len(visible)} visible sheets; read the first, {visible[0]!r} "
            "(set dialect.sheet to choose another)"
        )
    return visible[0], warnings


# a formula cell whose saved value is empty or absent: the workbook was written by a
# program and never recalculated, so every reader (Excel's viewer aside) sees nothing
_FORMULA_WITHOUT_VALUE = re.compile(rb"(?:</f>|<f\b[^>]*/>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>")


def _formulas_without_value(path: Path, part: str | None) -> int:
    """Formula cells of one sheet that carry no saved value, counted from its XML."""
    if part is None:
        return 0
    found, tail = 0, b""
    with zipfile.ZipFile(path) as archive, archive.open(part) as sheet:
        while chunk := sheet.read(_CHUNK):
            buffer = tail + chunk
            found += sum(1 for m in _FORMULA_WITHOUT_VALUE.finditer(buffer) if m.end() > len(tail))
            tail = buffer[-256:]
    return found


def _xlsx_to_csv(
    path: Path, contract: FeedContract, workdir: Path, limit_bytes: int
) -> tuple[Path, list[str], int, list[str]]:
    """Spreadsheets need Python (DuckDB's excel reader downloads an extension).

    Returns the CSV copy, the header, the number of data rows written and warnings.
    """
    _check_unpacked_size(path, limit_bytes)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise _not_a_spreadsheet(exc) from exc
    written = 0
    try:
        sheet_name, warnings = _pick_sheet(book, contract)
        # openpyxl keeps the sheet's part name only privately; without it, no count
        part = getattr(book[sheet_name], "_worksheet_path", None)
        if blank := _formulas_without_value(path, part):
            warnings.append(
                f"{blank} formula cell(s) have no saved value (the workbook was never "
                "recalculated): they read as empty; ask the partner to open, recalculate "
                "and save it in a spreadsheet program"
            )
        target = workdir / "delivery.csv"
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
                    written += 1
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(
            "the spreadsheet is damaged (a part does not match its checksum or size); ask "
            "the partner to export it again"
        ) from exc
    finally:
        book.close()
    if not header:
        raise UnreadableFile(f"row {contract.dialect.header_row} (the header row) is empty")
    return target, header, written, warnings


def _load_json(
    con: duckdb.DuckDBPyConnection, path: Path, contract: FeedContract
) -> tuple[list[str], list[str]]:
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
    except duckdb.OutOfMemoryException:
        raise  # valid but too large: read_delivery names the memory limit
    except duckdb.Error as exc:
        raise UnreadableFile(_json_error(exc)) from exc
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
    # a record naming a key twice: JSON readers keep one of the two values, silently
    doubled, first = con.execute(
        "SELECT count(*), min(rowid) + 1 FROM incoming_records "
        "WHERE len(json_keys(rec)) <> len(list_distinct(json_keys(rec)))"
    ).fetchone()
    warnings = (
        [
            f"{doubled} record(s) name a key twice (first: record {first}); the first value "
            "of each key was used: ask the partner to fix the export"
        ]
        if doubled
        else []
    )
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
    return headers, warnings


def _json_error(exc: duckdb.Error) -> str:
    """Where the JSON breaks, never the text around it (it may hold personal data)."""
    message = str(exc)
    where = re.search(r"at byte (\d+)", message)
    place = f" at byte {where[1]}" if where else ""
    return (
        f"not valid JSON: the document breaks{place}; ask the partner to export it again "
        "(a truncated upload?)"
    )


def read_delivery(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    path: Path,
    workdir: Path,
    max_unpacked_bytes: int = 256 * 1024 * 1024,
) -> ParsedFile:
    """Fill temp tables ``incoming`` and ``incoming_broken`` from one delivered file."""
    if path.stat().st_size == 0:
        raise UnreadableFile("file is empty (0 bytes); ask the partner to send it again")
    try:
        return _read(con, contract, path, workdir, max_unpacked_bytes)
    except duckdb.OutOfMemoryException as exc:
        raise UnreadableFile(
            f"the file needs more memory than the ingestion limit ({INGEST_MEMORY_LIMIT}) to "
            "check; ask the partner to split it per period, or raise CIM_INGEST_MEMORY_LIMIT"
        ) from exc
    except MemoryError as exc:
        raise UnreadableFile(
            "the file needs more memory than this server has to read; ask the partner to "
            "split it per period"
        ) from exc
    except duckdb.Error as exc:
        kind = type(exc).__name__.removesuffix("Exception")
        raise UnreadableFile(
            f"could not be parsed ({kind} error in the reader); check that the file matches "
            f"the contract's format {contract.format!r} and dialect"
        ) from exc


def _read(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    path: Path,
    workdir: Path,
    max_unpacked_bytes: int,
) -> ParsedFile:
    dialect = contract.dialect
    warnings: list[str] = []
    expected: int | None = None  # records the file holds, counted apart from the parser
    if contract.format == "json":
        headers, warnings = _load_json(con, path, contract)
    elif contract.format == "xlsx":
        csv_path, headers, expected, warnings = _xlsx_to_csv(
            path, contract, workdir, max_unpacked_bytes
        )
        _load_csv(
            con, csv_path, skip=0, width=len(headers), delimiter=",", quote='"', row_column=True
        )
    else:
        copy = _to_utf8(path, dialect.encoding, workdir)
        warnings = copy.warnings
        headers, header_lines = _header_line(
            copy.path, dialect.header_row, dialect.delimiter, dialect.quote
        )
        expected = copy.lines - header_lines
        _load_csv(
            con,
            copy.path,
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
    if expected is not None and rows + broken != expected:
        _explain_lost_lines(con, contract, len(headers), rows, broken, expected)
    return ParsedFile(headers=headers, rows=rows, broken_rows=broken, warnings=warnings)


def _explain_lost_lines(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    width: int,
    rows: int,
    broken: int,
    expected: int,
) -> None:
    """Reject the file when the parser kept fewer records than the file has lines.

    Values quoted over several lines explain the difference legitimately; anything
    else (an unclosed quote swallowing the rest of the file) loses rows silently.
    """
    inner = " + ".join(
        f"coalesce(length(column{i}) - length(replace(column{i}, chr(10), '')), 0)"
        for i in range(width)
    )
    embedded = con.execute(f"SELECT coalesce(sum({inner}), 0) FROM incoming").fetchone()[0]
    if rows + broken + embedded == expected:
        return
    first = con.execute(
        "SELECT min(_row_number) FROM incoming_broken WHERE reason LIKE 'a quote opens%'"
    ).fetchone()[0]
    unit = "rows" if contract.format == "xlsx" else "lines"
    where = (
        f"at line {first} a quote ({contract.dialect.quote}) opens a value that never closes, "
        "so the lines after it could not be split into rows"
        if first is not None
        else "the reader stopped early (an unclosed quote or a damaged tail?)"
    )
    raise UnreadableFile(
        f"the file has {expected} data {unit} but only {rows + broken} could be read: {where}; "
        "nothing was loaded. Ask the partner to fix the file and send it again",
        records=expected,
    )
