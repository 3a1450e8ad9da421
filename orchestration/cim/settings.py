"""Where runtime data and the city configuration live.

Everything a deployment writes sits under one folder, ``CIM_HOME`` (default ``./data``),
so a backup, a reset or a move is one folder. The city is a configuration folder chosen
with ``CIM_CITY`` (default: the bundled demo city).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CITY = REPO_ROOT / "cities" / "demo"
# DuckDB memory for checking one file: without a cap DuckDB keeps every block it wrote
# cached (up to 80% of RAM); a file that needs more is rejected with this figure named.
INGEST_MEMORY_LIMIT = os.environ.get("CIM_INGEST_MEMORY_LIMIT", "1GB")


@dataclass(frozen=True)
class Paths:
    """The folders and files of one deployment, all below ``home``."""

    home: Path

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def published(self) -> Path:
        return self.home / "published"

    @property
    def quality_docs(self) -> Path:
        """The GX Data Docs site (cim.quality.docs builds it, `cim serve` serves it)."""
        return self.home / "quality" / "docs"

    @property
    def dbt_docs(self) -> Path:
        """The dbt docs site of this deployment's mart (`cim docs`; `cim serve` serves it)."""
        return self.home / "docs" / "dbt"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    def ensure(self) -> Paths:
        for folder in (self.home, self.landing, self.archive, self.published):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def cim_home() -> Path:
    return Path(os.environ.get("CIM_HOME", "data")).resolve()


def city_dir() -> Path:
    return Path(os.environ.get("CIM_CITY", str(DEFAULT_CITY))).resolve()


def paths() -> Paths:
    return Paths(cim_home()).ensure()


def deployment_secret(p: Paths, env_var: str, file_name: str) -> str:
    """A secret of this deployment: ``env_var`` when set, otherwise 32 random bytes (hex)
    generated once into ``CIM_HOME/secrets/<file_name>``, readable by its owner only.

    The file is created with mode 0600 in one step, so it is never readable by others,
    not even between its creation and a chmod.
    """
    from_env = os.environ.get(env_var)
    if from_env:
        return from_env
    key_file = p.secrets / file_name
    if not key_file.exists():
        p.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it meanwhile: use theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def pseudonym_key(p: Paths) -> str:
    """Secret for keyed hashes of personal identifiers.

    Taken from ``CIM_PSEUDONYM_KEY``; otherwise generated once and kept in
    ``CIM_HOME/secrets`` so the same person gets the same pseudonym across deliveries,
    yet nobody without the key can recompute it from a national number.
    """
    return deployment_secret(p, "CIM_PSEUDONYM_KEY", "pseudonym.key")


# Written by the demo generator (cim-demo) into the CIM_HOME it fills: the simulated
# "today" its deliveries end on, and the city they were made for.
DEMO_DATE_FILE = "demo_as_of.json"


def _city_id(city: Path) -> str | None:
    try:
        settings = yaml.safe_load((city / "city.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # the city's own validation names what is wrong with it
    return settings.get("id") if isinstance(settings, dict) else None


def judgement_day(home: Path, city: Path, today: dt.date) -> tuple[dt.date, str]:
    """The day checks and feed health are judged on, and why that day.

    ``CIM_AS_OF`` wins (tests, replays). Otherwise a home filled by the demo generator is
    judged on the demo's own last day: its deliveries stop there, so judging it on the
    real date would report months the demo never made as missing. The marker applies only
    to the city it was generated for: a real city, even run on a home that once held the
    demo, is judged as of ``today``.
    """
    if override := os.environ.get("CIM_AS_OF"):
        return dt.date.fromisoformat(override), "CIM_AS_OF"
    marker = home / DEMO_DATE_FILE
    try:
        demo = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return today, "today"
    if isinstance(demo, dict) and demo.get("city") and demo.get("city") == _city_id(city):
        try:
            return dt.date.fromisoformat(
                str(demo.get("as_of"))
            ), f"the demo's own date, from {marker}"
        except ValueError:
            pass
    return today, "today"


def as_of_override() -> str | None:
    """A day other than today to judge checks and feed health on (``CIM_AS_OF``, or the
    demo's own date in a home the demo generator filled), or None: judge on today."""
    day, source = judgement_day(cim_home(), city_dir(), dt.date.today())
    return None if source == "today" else day.isoformat()


def as_of() -> dt.date:
    """The date checks and feed health are judged against (see ``judgement_day``)."""
    return judgement_day(cim_home(), city_dir(), dt.date.today())[0]
