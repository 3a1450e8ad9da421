"""The city's own words, per interface language: ``cities/<city>/i18n/<lang>.yaml``.

The dashboard's interface strings ship with the app (``app/i18n/<lang>.yaml``); the words
that belong to a city (its level names, area names, goal and indicator names, units and
definitions) live in the city folder, one file per language of ``city.yaml``'s
``languages``::

    levels:
      bezirk: {name: Bezirk, plural: Bezirke}
    areas:
      "01": Mitte
    goals:
      G1: {name: Weniger Kriminalität, description: ...}
    indicators:
      offences: {name: Straftaten, unit: Fälle, definition: ...}

Everything is optional. A word the file does not give falls back to the agenda's or the
areas file's own text (written in one language), and a level to a readable form of its id:
a reader never sees a key such as ``level.bezirk``.

This module reads and checks the files (``cim check-config``) and looks words up; it never
imports the app, which reads the same files when it renders.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator

from cim.city.errors import ConfigError, from_validation_error
from cim.strict import Strict

# The interface languages the dashboard ships, each with its own name: one file
# app/i18n/<code>.yaml per entry (a test holds the two together). city.yaml's
# ``languages`` may name only these.
INTERFACE_LANGUAGES = {
    "en": "English",
    "nl": "Nederlands",
    "fr": "Français",
    "de": "Deutsch",
}
FOLDER = "i18n"
SECTIONS = ("levels", "areas", "goals", "indicators")


class _TextLoader(yaml.SafeLoader):
    """YAML that reads every scalar as the text written: area codes such as ``01`` or
    ``010101`` keep their leading zeros as keys, and a name such as ``No`` or ``On`` stays
    a word instead of becoming a boolean (YAML 1.1 reads both otherwise)."""


def _as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


for _tag in ("bool", "int", "float", "null", "timestamp"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_text)


class _Words(Strict):
    @field_validator("*")
    @classmethod
    def _nonblank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is empty: write the word, or remove the key to use the default")
        return value


class LevelWords(_Words):
    name: str | None = None
    plural: str | None = None


class GoalWords(_Words):
    name: str | None = None
    description: str | None = None


class IndicatorWords(_Words):
    name: str | None = None
    unit: str | None = None
    definition: str | None = None


class WordsFile(Strict):
    """One language's words. A level may be given as a mapping or, shorter, as its
    singular name; an area as its name."""

    levels: dict[str, LevelWords] = Field(default_factory=dict)
    areas: dict[str, str] = Field(default_factory=dict)
    goals: dict[str, GoalWords] = Field(default_factory=dict)
    indicators: dict[str, IndicatorWords] = Field(default_factory=dict)

    @field_validator("levels", mode="before")
    @classmethod
    def _level_shorthand(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"name": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("areas")
    @classmethod
    def _area_names(cls, value: dict[str, str]) -> dict[str, str]:
        for code, name in value.items():
            if not name.strip():
                raise ValueError(f"{code}: is empty: write the area's name, or remove the key")
        return value


def read_words(file: Path) -> WordsFile:
    """Parse one words file; ConfigError names the file and key of a mistake."""
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_TextLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(file, [f"not valid YAML: {exc}".replace("\n", " ")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(file, [f"not UTF-8 text ({exc.reason}): save it as UTF-8"]) from exc
    if data is None or data == "":
        return WordsFile()
    if not isinstance(data, dict):
        raise ConfigError(
            file, [f"expected a mapping with the sections {', '.join(SECTIONS)} at the top level"]
        )
    unknown = [k for k in data if k not in SECTIONS]
    problems = [
        f"{k}: unknown section; the sections are {', '.join(SECTIONS)}"
        + (" (targets have no text of their own)" if k == "targets" else "")
        for k in unknown
    ]
    if problems:
        raise ConfigError(file, problems)
    # an empty section (`areas:` with nothing under it) means none
    data = {k: v for k, v in data.items() if v not in (None, "")}
    try:
        return WordsFile.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(file, exc) from exc


def words_files(folder: Path) -> list[Path]:
    """The files of ``<city>/i18n/`` that are (or look meant to be) words files."""
    return sorted(p for p in (Path(folder) / FOLDER).glob("*.y*ml") if p.is_file())


@dataclass
class CityWords:
    """The words of every language file that parsed; ``errors`` for those that did not."""

    by_lang: dict[str, WordsFile] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)

    def level(self, level: str, lang: str, plural: bool = False) -> str | None:
        words = self.by_lang.get(lang)
        entry = words.levels.get(level) if words else None
        if entry is None:
            return None
        return (entry.plural or entry.name) if plural else (entry.name or entry.plural)

    def area(self, code: str, lang: str) -> str | None:
        words = self.by_lang.get(lang)
        return words.areas.get(code) if words else None

    def goal(self, goal_id: str, key: str, lang: str) -> str | None:
        words = self.by_lang.get(lang)
        entry = words.goals.get(goal_id) if words else None
        return getattr(entry, key) if entry else None

    def indicator(self, indicator_id: str, key: str, lang: str) -> str | None:
        words = self.by_lang.get(lang)
        entry = words.indicators.get(indicator_id) if words else None
        return getattr(entry, key) if entry else None


def load_words(folder: Path, languages: list[str]) -> CityWords:
    """The words files of ``folder`` for ``languages`` (others are check-config's errors)."""
    words = CityWords()
    for file in words_files(folder):
        if file.suffix != ".yaml" or file.stem not in languages:
            continue
        try:
            words.by_lang[file.stem] = read_words(file)
        except ConfigError as exc:
            words.errors.append(exc)
    return words


def readable(identifier: object) -> str:
    """An id as a reader can take it when nobody gave a word for it: ``stat_sector`` ->
    ``stat sector``."""
    return str(identifier).replace("_", " ").strip() or str(identifier)


def _unknown(kind: str, key: str, known: list[str], home: str) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(known[:12]) + (f" and {len(known) - 12} more" if len(known) > 12 else "")
    return f"{key!r} is not {kind} of {home}: {hint}correct the key or remove it (known: {shown})"


def check_words(
    folder: Path,
    languages: list[str],
    levels: list[str],
    area_codes: list[str],
    goal_ids: list[str],
    indicator_ids: list[str],
    areas_file: str = "areas.csv",
) -> dict[Path, list[str]]:
    """Every words file's problems, by file: a language not in city.yaml, a section or
    key that is not the city's, a word that is empty."""
    problems: dict[Path, list[str]] = {}
    known = {
        "levels": (levels, "a level", "city.yaml's area_levels"),
        "areas": (area_codes, "an area_code", areas_file),
        "goals": (goal_ids, "a goal", "agenda/goals.yaml"),
        "indicators": (indicator_ids, "an indicator", "agenda/indicators.yaml"),
    }
    for file in words_files(folder):
        if file.suffix != ".yaml":
            problems[file] = [f"only {file.stem}.yaml is read: rename it"]
            continue
        if file.stem not in languages:
            shipped = ", ".join(INTERFACE_LANGUAGES)
            problems[file] = [
                f"language {file.stem!r} is not in city.yaml's languages {languages}: add it "
                f"there (the dashboard ships {shipped}), or rename or remove this file"
            ]
            continue
        try:
            words = read_words(file)
        except ConfigError as exc:
            problems[file] = exc.problems
            continue
        found = []
        for section, (ids, kind, home) in known.items():
            for key in getattr(words, section):
                if key not in ids:
                    found.append(f"{section}.{key}: " + _unknown(kind, key, ids, home))
        if found:
            problems[file] = found
    return problems
