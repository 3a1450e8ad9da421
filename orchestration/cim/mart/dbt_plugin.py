"""dbt-duckdb plugin: exact Poisson confidence bounds as SQL functions.

DuckDB has no chi-square quantile function, and the normal or Byar approximations are
poor for the small counts that matter most in a neighbourhood, so the exact (Garwood)
bounds come from SciPy. Counts repeat a lot, hence the cache.
"""

from __future__ import annotations

from functools import lru_cache

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from scipy.stats import chi2

ALPHA = 0.05


@lru_cache(maxsize=200_000)
def poisson_lower(count: float) -> float:
    """Lower 95% bound of a Poisson mean, given an observed count (0 for a count of 0)."""
    return 0.0 if count <= 0 else float(chi2.ppf(ALPHA / 2, 2 * count) / 2)


@lru_cache(maxsize=200_000)
def poisson_upper(count: float) -> float:
    """Upper 95% bound of a Poisson mean, given an observed count."""
    return float(chi2.ppf(1 - ALPHA / 2, 2 * (count + 1)) / 2)


def register(conn: DuckDBPyConnection) -> None:
    for name, function in (
        ("cim_poisson_lower", poisson_lower),
        ("cim_poisson_upper", poisson_upper),
    ):
        conn.create_function(
            name, function, ["DOUBLE"], "DOUBLE", null_handling="default", side_effects=False
        )


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register(conn)
