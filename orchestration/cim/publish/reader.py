"""Reading the published snapshot: read-only, one connection per read.

A reader must never hold the served file open for long (the next publication swaps it),
and never touch the working warehouse.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import duckdb

from cim.settings import Paths

CURRENT = "current.duckdb"


@contextmanager
def connect_published(paths: Paths):
    """A read-only connection to the served snapshot, or None when nothing is published."""
    path = paths.published / CURRENT
    if not path.exists():
        yield None
        return
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def current_manifest(paths: Paths) -> dict | None:
    with connect_published(paths) as con:
        if con is None:
            return None
        return json.loads(con.execute("SELECT manifest FROM published.manifest").fetchone()[0])
