"""Where runtime data and the city configuration live.

Everything a deployment writes sits under one folder, ``CIM_HOME`` (default ``./data``),
so a backup, a reset or a move is one folder. The city is a configuration folder chosen
with ``CIM_CITY`` (default: the bundled demo city).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

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


def pseudonym_key(p: Paths) -> str:
    """Secret for keyed hashes of personal identifiers.

    Taken from ``CIM_PSEUDONYM_KEY``; otherwise generated once and kept in
    ``CIM_HOME/secrets`` so the same person gets the same pseudonym across deliveries,
    yet nobody without the key can recompute it from a national number.
    """
    from_env = os.environ.get("CIM_PSEUDONYM_KEY")
    if from_env:
        return from_env
    key_file = p.secrets / "pseudonym.key"
    if not key_file.exists():
        p.secrets.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def as_of_override() -> str | None:
    """``CIM_AS_OF``: a day to judge checks and feed health on (tests, demos), or None."""
    return os.environ.get("CIM_AS_OF") or None


def as_of() -> dt.date:
    """The date checks and feed health are judged against: today, or ``CIM_AS_OF``."""
    override = as_of_override()
    return dt.date.fromisoformat(override) if override else dt.date.today()
