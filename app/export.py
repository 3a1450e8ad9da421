"""Every file the dashboard offers for download is written here, and only here.

Partner files reach the tables we offer for download (area names, action names, registry
descriptions). A spreadsheet opens a text cell such as ``=HYPERLINK("http://evil","x")`` as
a formula, so, following OWASP's guidance on CSV injection, every text cell (and text
column header) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading single quote. Numeric, boolean and date columns are left exactly as they are, and so
is text that is only a negative number written out (``-1,234.56``: digits, commas and one
decimal point), which a spreadsheet reads as that number and never as a formula.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import streamlit as st

from app.i18n import t

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_NEGATIVE_NUMBER = re.compile(r"-\d[\d,]*(?:\.\d+)?")
# characters openpyxl refuses in a cell (control characters other than tab, LF and CR)
_NOT_IN_EXCEL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet could run as a formula, with a leading ``'``; else as is."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    if _NEGATIVE_NUMBER.fullmatch(value):
        return value
    return "'" + value


def _is_data_type(dtype: object) -> bool:
    """Columns of numbers, booleans, dates or durations: never text, left untouched."""
    return (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    )


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and headers cannot start a spreadsheet formula."""
    out = frame.copy()
    out.columns = [neutralise_cell(c) for c in frame.columns]
    for i, dtype in enumerate(frame.dtypes):
        if not _is_data_type(dtype):
            out.isetitem(i, frame.iloc[:, i].astype(object).map(neutralise_cell))
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as a UTF-8 CSV file (no index), formula prefixes neutralised."""
    return neutralise(frame).to_csv(index=False).encode("utf-8")


def excel_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    """The frame as an .xlsx workbook (no index), formula prefixes neutralised.

    openpyxl would store a text starting with ``=`` as a formula; after ``neutralise`` it
    cannot. Control characters an .xlsx cell cannot hold are dropped.
    """

    def clean(value: object) -> object:
        return _NOT_IN_EXCEL.sub("", value) if isinstance(value, str) else value

    safe = neutralise(frame)
    safe.columns = [clean(c) for c in safe.columns]
    for i, dtype in enumerate(safe.dtypes):
        if not _is_data_type(dtype):
            safe.isetitem(i, safe.iloc[:, i].map(clean))
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        safe.to_excel(writer, sheet_name=sheet, index=False)
    return buffer.getvalue()


def _file_stem(name: str) -> str:
    """A file name from a table's name: letters, digits, ``-`` and ``_`` only."""
    return re.sub(r"[^\w-]+", "_", name).strip("_") or "table"


def offer_downloads(frame: pd.DataFrame, name: str) -> None:
    """Two buttons under a table or chart: its rows as CSV and as Excel.

    ``frame`` is exactly what the page shows (a table as displayed, or a chart's series
    with a suppressed cell left empty as on screen), so a download never reveals a value
    the page hides; text cells are neutralised against formulas (``csv_bytes``,
    ``excel_bytes``). ``name`` is the file name without extension and must be unique on
    the page (it keys the buttons).
    """
    stem = _file_stem(name)
    with st.container(horizontal=True):
        st.download_button(
            t("download.csv"),
            csv_bytes(frame),
            file_name=f"{stem}.csv",
            mime="text/csv",
            key=f"download-csv-{stem}",
            on_click="ignore",
        )
        st.download_button(
            t("download.excel"),
            excel_bytes(frame, sheet=stem[:31]),
            file_name=f"{stem}.xlsx",
            mime=XLSX_MIME,
            key=f"download-xlsx-{stem}",
            on_click="ignore",
        )


def cell_notes(suppressed: pd.Series, values: pd.Series) -> list[str]:
    """Why a downloaded cell is empty, as the page says it: suppressed by disclosure
    control, or no published value (not delivered, rejected, or an incomplete window)."""
    return [
        t("suppressed") if bool(s) else (t("download.no_value") if pd.isna(v) else "")
        for s, v in zip(suppressed, values, strict=True)
    ]


def published_values(
    frame: pd.DataFrame, columns: dict[str, str], value: str, suppressed: str = "suppressed"
) -> pd.DataFrame:
    """A download of published cells: ``columns`` maps a column of ``frame`` to its header.

    Numbers stay numbers (a spreadsheet can compute with them; the page writes them in
    the reader's format). A suppressed cell's values are empty, as on screen: the
    snapshot already holds them as null, and this blanks them again so that no download
    can ever carry one; the note column says why each empty cell is empty.
    """
    out = pd.DataFrame({header: frame[col].to_numpy() for col, header in columns.items()})
    hidden = frame[suppressed].fillna(False).astype(bool).to_numpy()
    for col, header in columns.items():
        if pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
            out.loc[hidden, header] = None
    out[t("col.note")] = cell_notes(pd.Series(hidden), frame[value])
    return out
