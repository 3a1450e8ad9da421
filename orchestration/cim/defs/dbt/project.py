"""The dbt project, prepared for the current city before Dagster reads its manifest."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from cim.city import City
from cim.mart import codegen

DBT_DIR = codegen.DBT_DIR
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def warehouse_env(warehouse: Path) -> None:
    """dbt's profile reads the warehouse path from the environment (profiles.yml)."""
    os.environ["CIM_WAREHOUSE"] = str(warehouse)


def _fingerprint(generated: str) -> str:
    """Hash of everything dbt parses, so the manifest is rebuilt only when it changed."""
    digest = hashlib.sha256(generated.encode())
    for folder in ("models", "macros", "tests"):
        for path in sorted((DBT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path).encode() + path.read_bytes())
    for name in ("dbt_project.yml", "profiles.yml"):
        digest.update((DBT_DIR / name).read_bytes())
    return digest.hexdigest()


def prepare(city: City, warehouse: Path) -> DbtProject:
    """Generate the city's models and parse the project when anything changed."""
    warehouse_env(warehouse)
    fingerprint = _fingerprint(codegen.generate(city))
    project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
    stamp = DBT_DIR / "target" / ".cim-fingerprint"
    if not project.manifest_path.exists() or not stamp.exists() or stamp.read_text() != fingerprint:
        subprocess.run(
            [
                DBT_EXECUTABLE,
                "parse",
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--quiet",
            ],
            check=True,
            env=os.environ | {"DBT_SEND_ANONYMOUS_USAGE_STATS": "False"},
        )
        stamp.write_text(fingerprint)
    return project
