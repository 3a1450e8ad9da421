"""The deployment as a Dagster resource: where data lives and which city it serves."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from cim import settings
from cim.city import City, load_city


class Deployment(dg.ConfigurableResource):
    """CIM_HOME and the city folder; one DuckDB connection per use, closed after it.

    Short connections matter: DuckDB lets one process write a file at a time, so a
    connection held open would lock out the next step or a reader.
    """

    home: str
    city_folder: str

    @classmethod
    def from_env(cls) -> Deployment:
        return cls(home=str(settings.cim_home()), city_folder=str(settings.city_dir()))

    @property
    def paths(self) -> settings.Paths:
        return settings.Paths(Path(self.home)).ensure()

    def city(self) -> City:
        return load_city(Path(self.city_folder))

    @contextmanager
    def warehouse(self):
        con = duckdb.connect(str(self.paths.warehouse))
        try:
            yield con
        finally:
            con.close()
