"""What every area of the app state shares: its engine, its clock, rows to records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import fields

import sqlalchemy as sa
from sqlalchemy.orm import Session


def record_of(cls, *rows, **values):
    """The frozen dataclass ``cls`` filled from the rows' attributes of the same names
    (the records the app gets stay valid after their session is closed)."""
    for field in fields(cls):
        if field.name not in values:
            values[field.name] = next(
                getattr(r, field.name) for r in rows if hasattr(r, field.name)
            )
    return cls(**values)


class Store:
    def __init__(self, engine: sa.Engine, clock: Callable[[], dt.datetime]):
        # tests pass a clock of their own to move time without sleeping
        self._engine, self._clock = engine, clock

    def _insert(self, row, record: type):
        """Add one row in its own transaction; its record, with the ids the database gave."""
        with Session(self._engine) as session, session.begin():
            session.add(row)
            session.flush()
            return record_of(record, row)
