"""The resources every asset gets injected: the deployment, its city, and dbt.

``loaded_city`` reads the city folder once per definitions load; every module under
``cim/defs`` builds its definitions from that one object, and runs get the same object
as the ``city`` resource instead of reading the folder again.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from cim import runlock, settings
from cim.city import City, load_city


class WarehouseLocked(RuntimeError):
    """The warehouse stayed locked by a process outside CIM's own lock."""


class Deployment(dg.ConfigurableResource):
    """CIM_HOME, where the deployment keeps its data; one DuckDB connection per use.

    Short connections matter: DuckDB lets one process write a file at a time, so a
    connection held open would lock out the next step or a reader.

    In a run, the resource holds CIM_HOME's writer lock (``cim.runlock``) from its
    first step to its last, so a second run (UI, schedule, sensor or ``cim pipeline``)
    waits for this one instead of both failing, and readers of the warehouse keep out.
    """

    home: str

    @classmethod
    def from_env(cls) -> Deployment:
        return cls(home=str(settings.cim_home()))

    @property
    def paths(self) -> settings.Paths:
        return settings.Paths(Path(self.home)).ensure()

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        run = context.run
        if run is None:  # a sensor or schedule evaluating: it writes nothing
            yield self
            return
        paths = self.paths
        try:
            with runlock.writer(
                paths,
                run_id=run.run_id,
                command=f"Dagster run of job {run.job_name}",
                on_wait=context.log.warning,
                remedy="This run did not start; launch it again once that run has finished "
                "(CIM_LOCK_WAIT sets how many seconds a run waits).",
            ) as fresh:
                if fresh:  # not inside `cim pipeline`, which did this itself
                    for line in recover(
                        paths, context.instance, run.run_id, by=f"run {run.run_id}"
                    ):
                        context.log.warning(line)
                yield self
        except runlock.Busy as exc:
            raise dg.Failure(description=str(exc)) from exc

    @contextmanager
    def warehouse(self):
        """A read-write connection; retries DuckDB's lock error for a bounded time."""
        paths = self.paths
        with runlock.writer(paths, command="cim"):  # re-entered inside a run
            con = connect_retrying(paths.warehouse)
            try:
                yield con
            finally:
                con.close()


def connect_retrying(path: Path, retry: float | None = None) -> duckdb.DuckDBPyConnection:
    """Connect for writing; while another process holds DuckDB's own lock on the file
    (a DuckDB shell, a notebook, `make docs`: programs outside CIM's lock), retry for
    ``retry`` seconds (``CIM_DUCKDB_RETRY``, default 60), then say who holds it."""
    retry = runlock.duckdb_retry() if retry is None else retry
    deadline, pause = time.monotonic() + retry, 0.2
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"the warehouse {path} stayed locked by another process for {retry:.0f} s "
                    f"({str(exc).split('. However')[0]}). A program outside CIM has it open "
                    "(a DuckDB shell, a notebook, `make docs`): close it and run again "
                    "(CIM_DUCKDB_RETRY sets how long to retry)."
                ) from exc
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 2.0)


def recover(paths: settings.Paths, instance, run_id: str | None, by: str) -> list[str]:
    """At the start of a run, holding the writer lock: remove what failed publications
    left, and mark failed the runs that were killed before they could say so."""
    from cim.publish import remove_leftovers

    done = [f"removed {p} (left by a failed publication)" for p in remove_leftovers(paths)]
    return done + runlock.fail_abandoned_runs(instance, exclude=run_id, by=by)


@functools.cache
def _load_city(folder: Path) -> City:
    return load_city(folder)


def loaded_city() -> City:
    """The city of CIM_CITY, read once per definitions load (see ``forget_loaded``)."""
    return _load_city(settings.city_dir())


def forget_loaded() -> None:
    """Start a definitions load afresh: the city folder may have changed since the last."""
    _load_city.cache_clear()


@dg.definitions
def defs() -> dg.Definitions:
    from dagster_dbt import DbtCliResource

    from cim.defs.dbt.project import DBT_EXECUTABLE, loaded_dbt_project

    return dg.Definitions(
        resources={
            "deployment": Deployment.from_env(),
            "city": loaded_city(),
            "dbt": DbtCliResource(project_dir=loaded_dbt_project(), dbt_executable=DBT_EXECUTABLE),
        }
    )
