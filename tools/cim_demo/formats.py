"""Writing values the way partners write them, driven by each feed contract's dialect.

Headers are always built from the contract's ``source`` texts in contract order, so a
contract change shows up in the generated files instead of drifting silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def dialect(contract: dict[str, Any]) -> dict[str, Any]:
    return contract.get("dialect") or {}


def source_of(contract: dict[str, Any], name: str) -> str:
    for col in contract["columns"]:
        if col["name"] == name:
            return col.get("source", name)
    raise KeyError(f"contract {contract['feed']} has no column {name}")


def allowed_of(contract: dict[str, Any], name: str) -> list[str]:
    for col in contract["columns"]:
        if col["name"] == name:
            return [str(v) for v in col.get("allowed", [])]
    raise KeyError(name)


def group_thousands(values: np.ndarray, sep: str) -> np.ndarray:
    """Format non-negative integers with a thousands separator. Formats each distinct value
    once: far faster than a per-row f-string when millions of rows share few amounts."""
    values = np.asarray(values, dtype=np.int64)
    uniq, inverse = np.unique(values, return_inverse=True)
    text = np.array([f"{v:,}".replace(",", sep) for v in uniq.tolist()], dtype=object)
    return text[inverse.reshape(values.shape)]


def integers(values: np.ndarray, thousands: str | None) -> np.ndarray:
    if thousands:
        return group_thousands(values, thousands)
    return np.asarray(values, dtype=np.int64).astype(str).astype(object)


_CHUNK = 50_000  # rows per encode-and-write

_CENTS = np.array([f"{c:02d}" for c in range(100)], dtype=object)


def amounts(cents: np.ndarray, decimal: str, thousands: str | None) -> np.ndarray:
    """Money as written in a Belgian export, e.g. ``1.250,50`` (two decimals always)."""
    cents = np.asarray(cents, dtype=np.int64)
    whole = integers(cents // 100, thousands)
    return whole + decimal + _CENTS[cents % 100]


def write_csv(
    path: Path,
    contract: dict[str, Any],
    columns: dict[str, Sequence[Any]],
    *,
    line_terminator: str = "\n",
) -> int:
    """Write one delivery file; returns the number of data rows.

    Columns the generator does not produce are written blank (a contract may gain an
    optional column); a missing *required* column is a bug and raises.
    """
    d = dialect(contract)
    n = len(next(iter(columns.values())))
    ordered = []
    for col in contract["columns"]:
        if col["name"] in columns:
            values = columns[col["name"]]
            if len(values) != n:
                raise ValueError(f"column {col['name']} has {len(values)} rows, expected {n}")
            ordered.append(values.tolist() if isinstance(values, np.ndarray) else values)
        elif col.get("required"):
            raise ValueError(f"{contract['feed']}: required column {col['name']} not generated")
        else:
            ordered.append([""] * n)
    header = [c.get("source", c["name"]) for c in contract["columns"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=d.get("delimiter", ","), lineterminator=line_terminator)
    writer.writerow(header)
    with path.open("w", encoding=d.get("encoding", "utf-8"), newline="") as fh:
        # Encode in large chunks: a text file encodes on every csv row otherwise, which
        # costs more than formatting the rows themselves.
        for start in range(0, n, _CHUNK):
            writer.writerows(zip(*(c[start : start + _CHUNK] for c in ordered), strict=True))
            fh.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
        fh.write(buffer.getvalue())
    return n


def inject_invalid(
    columns: dict[str, Any],
    n_rows: int,
    items: list[dict[str, Any]],
    generator: np.random.Generator,
) -> list[dict[str, Any]]:
    """Overwrite distinct, randomly chosen rows with the declared bad values.

    Rows are drawn without replacement across all items so each invalid row carries exactly
    one defect, which keeps the manifest's rejected-row counts exact. Returns what was done.
    """
    wanted = sum(int(i["rows"]) for i in items)
    if not items:
        return []
    picked = generator.choice(n_rows, size=min(wanted, n_rows), replace=False)
    done, offset = [], 0
    for item in items:
        take = picked[offset : offset + int(item["rows"])]
        offset += len(take)
        col = columns[item["column"]]
        values = list(item["values"])
        for k, row in enumerate(sorted(take.tolist())):
            col[row] = values[k % len(values)]
        done.append(
            {
                "reason": item["reason"],
                "column": item["column"],
                "values": values,
                "rows": len(take),
            }
        )
    return done
