"""Kind ``complaints_xlsx``: a quarterly Excel export with a title above the header and a
total row below the data, as housing associations send them.

openpyxl stamps the save time into the workbook and into every zip entry; the file is
re-packed with the delivery moment instead so identical seeds give identical bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from typing import Any

import numpy as np
from openpyxl import Workbook

from cim_demo.context import DATA, Context
from cim_demo.formats import allowed_of, dialect
from cim_demo.timeline import ordinal_year_month, quarters_within

KIND = "complaints_xlsx"
_CORE = "docProps/core.xml"


def _repack(raw: bytes, moment: datetime) -> bytes:
    """Rewrite the zip with fixed entry times and core-properties dates (see module doc)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == _CORE:
                text = data.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rf"\g<1>{stamp}\g<2>", text
                )
                data = text.encode("utf-8")
            entry = zipfile.ZipInfo(info.filename, date_time=moment.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)
    return out.getvalue()


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    d = dialect(contract)
    skip = d.get("skip_rows_where") or {}
    header_row = int(d.get("header_row", 1))
    codes = list(section["neighbourhoods"])
    names = np.array([ctx.spec.area(c).name for c in codes], dtype=object)
    types = allowed_of(contract, "complaint_type")
    rates = np.array([float(section["complaints_per_100_dwellings"][t]) for t in types])
    low, high = section["dwellings"]
    dwellings0 = ctx.rng(feed_id, DATA).integers(low, high + 1, size=len(codes))
    growth = float(section.get("dwellings_growth_per_year", 0.0))
    first_year = ordinal_year_month(ctx.spec.first_month)[0]
    for period in quarters_within(ctx.spec.first_month, ctx.spec.last_month):
        delivery = ctx.plan(feed_id, period)
        if delivery is None:
            continue
        years = period.fields["year"] - first_year + (period.fields["quarter"] - 1) / 4
        dwellings = np.rint(dwellings0 * (1 + growth) ** years).astype(np.int64)
        gen = ctx.rng(feed_id, period.key, DATA)
        complaints = gen.poisson(dwellings[:, None] / 100.0 * rates[None, :])
        n = complaints.size
        columns = {
            "neighbourhood_code": np.repeat(np.array(codes, dtype=object), len(types)),
            "neighbourhood_name": np.repeat(names, len(types)),
            "complaint_type": np.tile(np.array(types, dtype=object), len(codes)),
            "complaints": complaints.ravel().tolist(),
            "dwellings": np.repeat(dwellings, len(types)).tolist(),
        }
        invalid = ctx.spoil(feed_id, period, columns, n)
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(d.get("sheet", "Sheet1"))
        ws.append([section["title"].format(**period.fields)])
        for _ in range(header_row - 2):
            ws.append([])
        ws.append([c.get("source", c["name"]) for c in contract["columns"]])
        order = [c["name"] for c in contract["columns"]]
        for i in range(n):
            ws.append([_cell(columns, name, i) for name in order])
        totals = {"complaints": int(complaints.sum()), "dwellings": int(dwellings.sum())}
        label_column = skip.get("column", order[0])
        ws.append(
            [
                (skip.get("equals") or ["Totaal"])[0] if name == label_column else totals.get(name)
                for name in order
            ]
        )
        buffer = io.BytesIO()
        wb.save(buffer)
        path = ctx.landing_path(section, period)
        path.write_bytes(_repack(buffer.getvalue(), delivery.delivered_at))
        ctx.finish(delivery, KIND, path, n, invalid, skipped_rows=1, title_rows=header_row - 1)


def _cell(columns: dict[str, Any], name: str, i: int) -> Any:
    """Numbers stay numbers (real numeric cells); absent optional columns stay empty."""
    values = columns.get(name)
    if values is None:
        return None
    value = values[i]
    return value.item() if isinstance(value, np.generic) else value
