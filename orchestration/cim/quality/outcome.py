"""One checked expectation, in the shape Dagster checks, meta.dq_results and the docs share."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

ERROR, WARN = "ERROR", "WARN"
SEVERITIES = (ERROR, WARN)
EXAMPLES = 20  # unexpected rows kept per expectation


@dataclass
class CheckOutcome:
    """The result of one expectation of one suite on one asset.

    ``message`` is written for the person who has to act: it names the file(s) and rows
    and says what to do. ``details`` keeps what GX needs to render the result again
    (expectation type, kwargs, counts); it is stored as JSON next to the other columns.
    """

    run_id: str
    asset: str  # "raw/<feed>" or "marts/<table>"
    suite: str
    expectation: str  # readable name, naming the column
    severity: str  # ERROR | WARN
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    unexpected_examples: list[dict]
    message: str
    checked_at: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_error(self) -> bool:
        return not self.success and self.severity == ERROR


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def plain(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars to Python, timestamps to ISO text, NaN to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            value = str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if type(value).__name__ in {"NaTType", "NAType"}:
        return None
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(plain(value), ensure_ascii=False)


def _rows(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in sorted(numbers)[:10])
    more = f" and {len(numbers) - 10} more" if len(numbers) > 10 else ""
    return f"row {shown}" if len(numbers) == 1 else f"rows {shown}{more}"


def _values(example: dict, keys: list[str]) -> str:
    def show(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{k}={show(example[k])}" for k in keys if k in example)


def where_text(examples: list[dict], count: int, place: str, keys: list[str]) -> str:
    """Where the unexpected values are, naming files and rows when the frame knows them.

    '3 rows of a.csv (rows 2, 5, 9)', 'a.csv (_period=2027-05)' or
    '2 rows of marts.x (indicator_id=a, period_id=2024-01; ...)'.
    """
    with_file = [e for e in examples if e.get("file")]
    if with_file and all(e.get("row") is not None for e in with_file):
        files: dict[str, list[int]] = {}
        for example in with_file:
            files.setdefault(example["file"], []).append(example["row"])
        parts = [
            f"{len(rows)} {'row' if len(rows) == 1 else 'rows'} of {name} ({_rows(rows)})"
            for name, rows in files.items()
        ]
        text = "; ".join(parts)
        return f"{count} rows in total, among them {text}" if count > len(with_file) else text
    if with_file:
        text = "; ".join(f"{e['file']} ({_values(e, keys)})" for e in with_file[:5])
        return f"{count} in total, among them {text}" if count > min(len(with_file), 5) else text
    shown = [_values(e, keys) for e in examples[:5]]
    noun = "row" if count == 1 else "rows"
    return f"{count} {noun} of {place}" + (f" ({'; '.join(shown)})" if any(shown) else "")
