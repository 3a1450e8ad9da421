"""The city's dbt project, prepared as dagster-dbt's ``DbtProject.prepare_if_dev`` does.

The mart's SQL lives in dbt_project/; what depends on the city (one thin model per feed,
the agenda's terms) is written from its configuration by ``cim.mart.codegen``. So
preparing the project means: write the city's models, then ``dbt parse`` for the
manifest Dagster reads. ``cim prepare`` does it ahead of time (a deployment's build step,
like ``dagster-dbt project prepare-and-package``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from cim import settings
from cim.city import City
from cim.mart import codegen

DBT_DIR = codegen.DBT_DIR
# the dbt next to this interpreter: `cim` may run without the virtualenv on PATH
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@contextmanager
def warehouse_env(warehouse: Path) -> Iterator[None]:
    """CIM_WAREHOUSE for a dbt process started inside this block, and only for it.

    dbt's profile reads the warehouse path from the environment, and dagster-dbt starts
    dbt with a copy of this process's environment; the variable is restored after. Parse
    and build see the same path, which keeps dbt's partial parsing valid."""
    before = os.environ.get("CIM_WAREHOUSE")
    os.environ["CIM_WAREHOUSE"] = str(warehouse)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CIM_WAREHOUSE", None)
        else:
            os.environ["CIM_WAREHOUSE"] = before


def prepare(project: DbtProject, city: City, warehouse: Path) -> None:
    """Write the city's models, then ``dbt parse`` for the manifest Dagster reads: what
    dagster-dbt's preparer does, plus the city's models first."""
    codegen.generate(city, project.project_dir)
    dbt = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
    with warehouse_env(warehouse):
        invocation = dbt.cli(["parse", "--quiet"], target_path=project.target_path)
    invocation.wait()


def is_prepared(project: DbtProject, city: City) -> bool:
    """The manifest describes this city: its generated models are the city's, and the
    manifest is newer than every file dbt parses."""
    manifest = project.manifest_path
    if not manifest.exists() or not codegen.is_current(city, project.project_dir):
        return False
    parsed = manifest.stat().st_mtime_ns
    sources = [project.project_dir / "dbt_project.yml", project.project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        sources += [p for p in (project.project_dir / folder).rglob("*") if p.is_file()]
    return all(path.stat().st_mtime_ns <= parsed for path in sources)


_prepared: dict[tuple[Path, Path], tuple[City, DbtProject]] = {}


def city_dbt_project(city: City, warehouse: Path) -> DbtProject:
    """The dbt project prepared for ``city``: once per city and process.

    Like ``DbtProject.prepare_if_dev``, ``dagster dev`` prepares on every load. Elsewhere
    (``cim pipeline``, tests, a deployed webserver) the manifest must still describe the
    city that is loaded, so the project is prepared whenever it does not.
    """
    known = _prepared.get((city.folder, warehouse))
    if known is not None and known[0] == city:
        return known[1]
    project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
    if project.preparer.using_dagster_dev() or not is_prepared(project, city):
        prepare(project, city, warehouse)
    _prepared[(city.folder, warehouse)] = (city, project)
    return project


def loaded_dbt_project() -> DbtProject:
    """The dbt project of the loaded city (``loaded_city``) and of CIM_HOME's warehouse:
    what every module of ``cim/defs`` builds its definitions from."""
    from cim.defs.resources import loaded_city

    return city_dbt_project(loaded_city(), settings.Paths(settings.cim_home()).warehouse)
