"""The impact marts' tables and columns, read from their one declaration: the dbt sources
file ``dbt_project/models/marts/impact/_impact__sources.yml``.

From it come the DuckDB tables and their comments (``Table.ddl``, ``Table.comments``),
the rows the estimator writes (``Table.rows``: a column name not declared there, or a
value of the wrong type, raises ``ImpactRowError`` instead of leaving a NULL column), the
Dagster asset keys, descriptions and column schemas, and dbt's documentation and tests
of the tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from cim.mart.codegen import DBT_DIR

DECLARATION = DBT_DIR / "models" / "marts" / "impact" / "_impact__sources.yml"
SOURCE = "impact"  # the dbt source: `dbt test --select source:impact`
SCHEMA = "marts"

# data_type in the declaration (DuckDB's name) -> the Python type of a row's value
PYTHON_TYPES: dict[str, type] = {
    "varchar": str,
    "varchar[]": list[str],
    "integer": int,
    "bigint": int,
    "double": float,
    "boolean": bool,
    "date": dt.date,
}


class ImpactRowError(ValueError):
    """A row for an impact mart does not fit its declaration."""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    description: str
    not_null: bool  # the declaration tests it not_null


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    asset_key: tuple[str, ...]
    columns: tuple[Column, ...]
    row: type[BaseModel]  # one row, every column optional, no other names

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        columns = ", ".join(f'"{c.name}" {c.data_type}' for c in self.columns)
        return f"CREATE OR REPLACE TABLE {SCHEMA}.{self.name} ({columns})"

    def comments(self) -> list[str]:
        """COMMENT statements: the table's and each column's description."""
        return [f"COMMENT ON TABLE {SCHEMA}.{self.name} IS {_literal(self.description)}"] + [
            f'COMMENT ON COLUMN {SCHEMA}.{self.name}."{c.name}" IS {_literal(c.description)}'
            for c in self.columns
        ]

    def rows(self, rows: list[dict]) -> list[dict]:
        """Every row checked against the declaration, with every column (None when unset)."""
        checked = []
        for number, row in enumerate(rows):
            try:
                checked.append(self.row.model_validate(row).model_dump())
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: "
                    + (
                        "not a column of this table"
                        if e["type"] == "extra_forbidden"
                        else f"{e['msg']} (got {e.get('input')!r})"
                    )
                    for e in exc.errors()
                )
                raise ImpactRowError(
                    f"{SCHEMA}.{self.name} row {number}: {problems} "
                    f"(columns are declared in {DECLARATION.relative_to(DBT_DIR.parent)})"
                ) from None
        return checked


def _literal(text: str) -> str:
    return "'" + " ".join(text.split()).replace("'", "''") + "'"


class _DeclaredColumn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    data_type: str
    description: str = Field(min_length=1)
    data_tests: list = []


class _DeclaredTable(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    meta: dict
    columns: list[_DeclaredColumn] = Field(min_length=1)


def _table(declared: _DeclaredTable) -> Table:
    where = f"{DECLARATION.name}: {declared.name}"
    key = declared.meta.get("dagster", {}).get("asset_key")
    if not key:
        raise ValueError(f"{where}: meta.dagster.asset_key is missing")
    columns = []
    for c in declared.columns:
        kind = c.data_type.lower()
        if kind not in PYTHON_TYPES:
            raise ValueError(
                f"{where}.{c.name}: data_type {c.data_type!r} is not one of {sorted(PYTHON_TYPES)}"
            )
        not_null = any(
            t == "not_null" or (isinstance(t, dict) and "not_null" in t) for t in c.data_tests
        )
        columns.append(Column(c.name, kind, " ".join(c.description.split()), not_null))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: a column is declared twice")
    row = create_model(
        "".join(part.title() for part in declared.name.split("_")) + "Row",
        __config__=ConfigDict(extra="forbid"),
        **{
            c.name: (PYTHON_TYPES[c.data_type] | None, Field(None, description=c.description))
            for c in columns
        },
    )
    return Table(
        declared.name, " ".join(declared.description.split()), tuple(key), tuple(columns), row
    )


def load(path: Path = DECLARATION) -> dict[str, Table]:
    """The tables of the ``impact`` source, by name, in declaration order."""
    sources = yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]
    (source,) = [s for s in sources if s["name"] == SOURCE]
    if source.get("schema") != SCHEMA:
        raise ValueError(f"{path.name}: source {SOURCE!r} must have schema {SCHEMA!r}")
    return {t["name"]: _table(_DeclaredTable.model_validate(t)) for t in source["tables"]}


TABLES: dict[str, Table] = load()
