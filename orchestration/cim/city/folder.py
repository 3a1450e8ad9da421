"""What ``cim check-config`` checks beyond ``load_city``: the parts of a city folder that
are read late in a run (the city's dbt unit tests, the boundaries, the activity
registry's references, the city's words in i18n/, read only by the dashboard) and the
files that nothing reads at all.

A mistake in them used to surface only inside dbt or on the dashboard's map, naming a
generated file; here each is named by its file, its key and what to do. Every check
reads files only: no dbt, no warehouse, so it runs in a second.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cim.city.config import City
from cim.city.errors import ConfigError
from cim.city.words import FOLDER as WORDS_FOLDER
from cim.city.words import check_words, words_files
from cim.mart import codegen
from cim.settings import DEFAULT_CITY

# The generated folders of the dbt project hold the last prepared city's models: the
# models of *this* city are computed from its configuration instead.
GENERATED = (codegen.STAGING, codegen.AGENDA)
_REF = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$""")
_SOURCE = re.compile(r"""^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$""")
AGENDA_FILES = ("goals", "indicators", "targets", "activities")


@dataclass
class FolderReport:
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, file: Path, problems: list[str]) -> None:
        if problems:
            self.errors.append(ConfigError(file, problems))


def check_folder(city: City, dbt_dir: Path = codegen.DBT_DIR) -> FolderReport:
    """Every check of the city folder that ``load_city`` does not make."""
    report = FolderReport()
    report.error(city.folder / "agenda" / "activities.yaml", check_activities(city))
    for file in sorted((city.folder / "dbt").glob("*")):
        if file.suffix in (".yml", ".yaml") and file.is_file():
            report.error(file, check_unit_tests(city, file, dbt_dir))
    check_boundaries(city, report)
    for file, problems in city_words_problems(city).items():
        report.error(file, problems)
    report.warnings += unread_files(city)
    return report


def city_words_problems(city: City) -> dict[Path, list[str]]:
    """The words files of ``i18n/`` against the city's languages, levels, areas and agenda."""
    return check_words(
        city.folder,
        city.settings.languages,
        city.settings.area_levels,
        [a.area_code for a in city.areas],
        [g.id for g in city.agenda.goals],
        [i.id for i in city.agenda.indicators],
        city.settings.areas_file,
    )


def check_activities(city: City) -> list[str]:
    """The activity registry's contract may list the partners, goals and areas its rows
    may name (``allowed``, ``area_level``): each must be one of the city's."""
    activities = city.agenda.activities
    if activities is None:
        return []
    contract = city.contract_by_feed[activities.registry]  # load_city checked it exists
    where = f"feeds/{contract.feed}.yaml columns"
    known = {
        "partner_id": ({p.id for p in city.partners}, "partners.yaml"),
        "goal_id": ({g.id for g in city.agenda.goals}, "agenda/goals.yaml"),
    }
    problems = []
    for column in contract.columns:
        if column.name in known and column.allowed is not None:
            ids, home = known[column.name]
            if unknown := sorted(set(column.allowed) - ids):
                problems.append(
                    f"activities.registry: {where}.{column.name}.allowed lists {unknown}, "
                    f"which are not in {home} ({sorted(ids)}): add them there or remove them"
                )
    reach_feeds = [r.feed for r in activities.reach]
    if activities.registry in reach_feeds:
        problems.append(
            f"activities.reach: {activities.registry!r} is the registry itself; a reach feed "
            "reports what each action did (sessions, participants): name that feed instead"
        )
    if dupes := sorted({f for f in reach_feeds if reach_feeds.count(f) > 1}):
        problems.append(f"activities.reach: feeds {dupes} appear twice: keep one entry each")
    return problems


def dbt_names(city: City, dbt_dir: Path = codegen.DBT_DIR) -> tuple[set[str], set[tuple]]:
    """The models and sources the dbt project has once prepared for ``city``."""
    generated = [dbt_dir / g for g in GENERATED]

    def static(path: Path) -> bool:
        return not any(path.is_relative_to(g) for g in generated)

    models = {p.stem for p in (dbt_dir / "models").rglob("*.sql") if static(p)}
    models |= {p.stem for p in codegen.city_models(city, dbt_dir) if p.suffix == ".sql"}
    sources = {("raw", c.feed) for c in city.contracts}
    for file in (dbt_dir / "models").rglob("*.yml"):
        if not static(file):
            continue
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for source in data.get("sources") or []:
            sources |= {(source["name"], t["name"]) for t in source.get("tables") or []}
    return models, sources


def check_unit_tests(city: City, file: Path, dbt_dir: Path = codegen.DBT_DIR) -> list[str]:
    """The city's dbt unit tests name models and inputs the prepared project has.

    A unit test copied from another city names that city's feeds (``stg_<feed>``):
    dbt would fail on it with a message about a generated file, so say it here.
    """
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {exc}".replace("\n", " ")]
    except UnicodeDecodeError:
        return ["not a UTF-8 text file: save it as UTF-8"]
    if file.suffix == ".yaml":
        return ["dbt reads only .yml files here: rename it to .yml, or it is never run"]
    if not isinstance(data, dict) or not isinstance(data.get("unit_tests"), list):
        return ["expected `unit_tests:` with a list of dbt unit tests (version: 2 file)"]
    if unknown := sorted(set(data) - {"version", "unit_tests"}):
        return [f"{unknown}: only unit tests belong here (dbt/*.yml); move the rest out"]
    models, sources = dbt_names(city, dbt_dir)
    feeds = {c.feed for c in city.contracts}
    problems = []
    for n, test in enumerate(data["unit_tests"]):
        if not isinstance(test, dict) or not test.get("name"):
            problems.append(f"unit_tests[{n}]: expected a mapping with name, model, given, expect")
            continue
        where = f"unit test {test['name']}"
        model = test.get("model")
        if model not in models:
            problems.append(f"{where}: model: {_absent_model(model)}")
            continue
        absent, malformed = [], []
        for k, given in enumerate(test.get("given") or []):
            text = str(given.get("input", "")) if isinstance(given, dict) else ""
            kind = _input_kind(text, models, sources)
            if kind == "malformed":
                malformed.append(
                    f"{where}: given[{k}].input {text!r}: expected ref('<model>'), "
                    "source('<source>', '<table>') or this"
                )
            elif kind:
                absent.append(kind)
        if absent:
            problems.append(
                f"{where} refers to {', '.join(absent)} that this city does not have: "
                f"delete the unit test, or replace those inputs by this city's own "
                f"(its feeds: {', '.join(sorted(feeds))})"
            )
        problems += malformed
    return problems


def _absent_model(model: object) -> str:
    feed = str(model).removeprefix("stg_") if str(model).startswith("stg_") else None
    what = f"feed {feed!r}" if feed else f"model {model!r}"
    return (
        f"refers to {what} that this city does not have: delete the unit test, or name a "
        "model of this city (dbt_project/models, or stg_<feed> for each of feeds/*.yaml)"
    )


def _input_kind(text: str, models: set[str], sources: set[tuple]) -> str:
    """What a unit test input names that does not exist ('' when it exists)."""
    if text.strip() == "this":
        return ""
    if ref := _REF.match(text):
        name = ref[1]
        if name in models:
            return ""
        return f"feed {name.removeprefix('stg_')}" if name.startswith("stg_") else f"model {name}"
    if source := _SOURCE.match(text):
        return "" if (source[1], source[2]) in sources else f"source {source[1]}.{source[2]}"
    return "malformed"


def check_boundaries(city: City, report: FolderReport) -> None:
    """``boundaries_file`` parses as GeoJSON and each feature's ``area_id`` is an area;
    areas below the top level without a boundary are a warning (no map for them)."""
    name = city.settings.boundaries_file
    if not name:
        return
    file = city.folder / name
    if not file.is_file():
        report.error(
            city.folder / "city.yaml",
            [f"boundaries_file: {name!r} does not exist: add it, or remove the key"],
        )
        return
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.error(file, [f"not valid GeoJSON (JSON, UTF-8): {exc}"])
        return
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        report.error(file, ["expected a GeoJSON FeatureCollection with a `features` list"])
        return
    codes = {a.area_code for a in city.areas}
    problems, seen = [], set()
    for n, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        area = (props or {}).get("area_id")
        if area is None or area == "":
            problems.append(f"features[{n}].properties.area_id: missing; give its area_code")
        elif str(area) not in codes:
            problems.append(
                f"features[{n}].properties.area_id: {area!r} is not an area_code of "
                f"{city.settings.areas_file}: correct it, or add the area there"
            )
        elif not isinstance(feature.get("geometry"), dict):
            problems.append(f"features[{n}] ({area}): no geometry")
        else:
            seen.add(str(area))
    report.error(file, problems)
    top = city.settings.area_levels[-1]
    without = sorted(a.area_code for a in city.areas if a.level != top and a.area_code not in seen)
    if without and not problems:
        more = f" and {len(without) - 10} more" if len(without) > 10 else ""
        report.warnings.append(
            f"{file}: {len(without)} area(s) have no boundary and are not drawn on the map: "
            f"{', '.join(without[:10])}{more}"
        )


def read_files(city: City) -> set[Path]:
    """The files of the city folder that a run (or the demo generator) reads."""
    folder = city.folder
    read = {folder / "city.yaml", folder / city.settings.areas_file, folder / "partners.yaml"}
    read |= set((folder / "feeds").glob("*.yaml"))
    read |= {folder / "agenda" / f"{key}.yaml" for key in AGENDA_FILES}
    # a .yaml of dbt/ and a .yml of expectations/ are errors of their own check already
    read |= set((folder / "dbt").glob("*.y*ml")) | set((folder / "expectations").glob("*.y*ml"))
    # the words files (i18n/*.yaml); a misnamed one is an error of check_words already
    read |= set(words_files(folder))
    if city.settings.boundaries_file:
        read.add(folder / city.settings.boundaries_file)
    if folder == DEFAULT_CITY.resolve():
        read.add(folder / "demo.yaml")  # the demo generator's spec (tools/cim_demo)
    return {p.resolve() for p in read}


def unread_files(city: City) -> list[str]:
    """A file nothing reads is a mistake waiting: a misspelt name, a leftover of a copy."""
    read = read_files(city)
    warnings = []
    for path in sorted(city.folder.rglob("*")):
        relative = path.relative_to(city.folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if path.resolve() in read:
            continue
        why = "nothing reads it"
        if path.name == "demo.yaml":
            why = "it is the demo generator's spec, a leftover of cities/demo: delete it"
        elif path.suffix == ".yml" and relative.parts[0] in ("feeds", "agenda"):
            why = f"only {path.stem}.yaml would be read: rename it"
        elif relative.parts[0] == "agenda":
            why = f"the agenda's files are {', '.join(f'{k}.yaml' for k in AGENDA_FILES)}"
        elif relative.parts[0] == WORDS_FOLDER:
            why = "the city's words are i18n/<language>.yaml, e.g. i18n/de.yaml"
        elif relative.suffix == ".geojson":
            why = "city.yaml's boundaries_file names another file (or none): name this one"
        warnings.append(f"{path}: no part of a run reads this file ({why})")
    return warnings
