"""``cim new-city DIR``: a commented minimal city folder to start from.

The folder is a copy of ``template/`` (shipped with the package, files a reader can open
and diff, not strings in code). Only the city's id and name are filled in, from DIR's
name or ``--name``. The template passes ``cim check-config`` and runs through the
pipeline as it is: one partner, one feed, one goal, one indicator and one target.
"""

from __future__ import annotations

import json
import re
import shutil
import string
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "template"
# Files whose ``$city_id`` / ``$city_name`` are filled in; the rest is copied as is.
FILLED = ("city.yaml",)


class NewCityError(ValueError):
    """DIR cannot take a new city; the message says why and what to do."""


def city_id(name: str) -> str:
    """An identifier (``^[a-z][a-z0-9_]*``) made from a folder or city name."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"city_{slug}".rstrip("_")
    return slug[:63]


def template_files() -> list[Path]:
    """Every file of the template, relative to it, in order."""
    return sorted(p.relative_to(TEMPLATE) for p in TEMPLATE.rglob("*") if p.is_file())


def write_city(folder: Path, name: str | None = None) -> list[Path]:
    """Write the template into ``folder`` (absent or empty); the files written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NewCityError(f"{folder} is a file, not a folder: give the folder of the new city")
    if folder.is_dir() and any(folder.iterdir()):
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:5])
        raise NewCityError(
            f"{folder} is not empty ({present}): nothing was written. Give a new or empty "
            "folder, e.g. cities/<your-city>; to check an existing city folder run "
            f"CIM_CITY={folder} cim check-config"
        )
    display = name or folder.resolve().name.replace("_", " ").replace("-", " ").title()
    # the name as a JSON string, which YAML reads as is whatever it holds (a colon, quotes)
    values = {"city_id": city_id(name or folder.resolve().name), "city_name": json.dumps(display)}
    written = []
    for relative in template_files():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.as_posix() in FILLED:
            text = (TEMPLATE / relative).read_text(encoding="utf-8")
            target.write_text(string.Template(text).safe_substitute(values), encoding="utf-8")
        else:
            shutil.copyfile(TEMPLATE / relative, target)
        written.append(target)
    return written
