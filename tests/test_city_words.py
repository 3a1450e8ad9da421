"""Languages and the city's words: the interface catalogs the app ships, city.yaml's
``languages``, and the city's own words per language (cities/<city>/i18n/<lang>.yaml),
read, looked up and checked by `cim check-config`."""

from __future__ import annotations

import re
import shutil
import string
from pathlib import Path

import pytest
import yaml
from cim import cli
from cim.city import ConfigError, load_city
from cim.city.folder import check_folder
from cim.city.words import (
    INTERFACE_LANGUAGES,
    CityWords,
    LevelWords,
    WordsFile,
    load_words,
    read_words,
    readable,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "cities" / "demo"
CATALOGS = REPO / "app" / "i18n"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def catalog(lang: str) -> dict[str, str]:
    return yaml.safe_load((CATALOGS / f"{lang}.yaml").read_text(encoding="utf-8"))


# --- the interface catalogs ---------------------------------------------------------------


def test_the_app_ships_a_catalog_for_each_interface_language_and_no_other():
    assert sorted(p.stem for p in CATALOGS.glob("*.yaml")) == sorted(INTERFACE_LANGUAGES)
    assert "de" in INTERFACE_LANGUAGES


@pytest.mark.parametrize("lang", sorted(set(INTERFACE_LANGUAGES) - {"en"}))
def test_every_catalog_has_the_keys_and_placeholders_of_english(lang):
    english, other = catalog("en"), catalog(lang)
    assert sorted(set(english) - set(other)) == [], f"{lang}.yaml lacks these keys"
    assert sorted(set(other) - set(english)) == [], f"{lang}.yaml has keys en.yaml lacks"
    for key, text in english.items():
        assert isinstance(other[key], str) and other[key].strip(), (lang, key)
        assert placeholders(other[key]) == placeholders(text), (lang, key)


def test_german_is_german_not_a_copy_of_english():
    english, german = catalog("en"), catalog("de")
    same = [k for k in english if english[k] == german[k] and len(english[k]) > 12]
    assert same == ["app.title"]  # the product's name stays
    assert german["page.overview"] == "Übersicht"


# --- city.yaml languages ----------------------------------------------------------------


@pytest.fixture
def city_copy(tmp_path: Path) -> Path:
    target = tmp_path / "city"
    shutil.copytree(DEMO, target)
    return target


def set_languages(folder: Path, languages: list[str]) -> None:
    file = folder / "city.yaml"
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    data["languages"] = languages
    file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        (["de", "es"], r"languages: \['es'\] not among the languages the dashboard ships"),
        (["DE"], r"\['DE'\] not among .* two-letter codes in lower case"),
        (["de", "en", "de"], r"\['de'\] listed twice"),
        ([], r"languages: List should have at least 1 item"),
    ],
)
def test_city_languages_must_be_shipped_ones(city_copy, languages, expected):
    set_languages(city_copy, languages)
    with pytest.raises(ConfigError, match=r"city\.yaml") as error:
        load_city(city_copy)
    assert error.value.file == city_copy / "city.yaml"
    assert any(re.search(expected, p) for p in error.value.problems), error.value.problems


def test_demo_languages_default_first_and_german_offered(demo_city):
    assert demo_city.settings.languages[0] == "en"
    assert set(demo_city.settings.languages) == {"en", "nl", "fr", "de"}


# --- reading a words file ---------------------------------------------------------------


def write(file: Path, text: str) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    return file


def test_words_file_keeps_codes_and_words_as_written(tmp_path):
    words = read_words(
        write(
            tmp_path / "de.yaml",
            "levels:\n  bezirk: Bezirk\n  lor: {name: Planungsraum, plural: Planungsräume}\n"
            "areas:\n  01: Mitte\n  010101: Tiergarten Süd\n  NO: Nein\n"
            "indicators:\n  offences: {unit: Fälle}\n",
        )
    )
    # YAML 1.1 would read 01 as the number 1 and NO as false
    assert words.areas == {"01": "Mitte", "010101": "Tiergarten Süd", "NO": "Nein"}
    assert words.levels["bezirk"] == LevelWords(name="Bezirk")
    assert words.levels["lor"].plural == "Planungsräume"
    assert words.indicators["offences"].name is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets: {}\n", "targets: unknown section; the sections are levels, areas, goals"),
        ("indicators:\n  x: {titel: X}\n", "indicators.x.titel: unknown key"),
        ("indicators:\n  x: {name: ''}\n", "indicators.x.name: is empty"),
        ("areas:\n  '01': ' '\n", "areas: 01: is empty"),
        ("levels: [bezirk]\n", "levels: Input should be a valid dictionary"),
        ("- a\n", "expected a mapping with the sections"),
        ("levels: {a: [\n", "not valid YAML"),
    ],
)
def test_words_file_mistakes_name_the_key(tmp_path, text, expected):
    file = write(tmp_path / "de.yaml", text)
    with pytest.raises(ConfigError) as error:
        read_words(file)
    assert error.value.file == file
    assert any(expected in p for p in error.value.problems), error.value.problems


def test_an_empty_words_file_means_no_words(tmp_path):
    assert read_words(write(tmp_path / "de.yaml", "# nothing yet\n")) == WordsFile()
    assert read_words(write(tmp_path / "fr.yaml", "areas:\nlevels:\n")) == WordsFile()


# --- looking words up ---------------------------------------------------------------------


def test_lookup_gives_the_language_s_word_or_none():
    words = CityWords(
        by_lang={
            "de": WordsFile.model_validate(
                {
                    "levels": {"bezirk": {"name": "Bezirk", "plural": "Bezirke"}, "lor": "LOR"},
                    "areas": {"01": "Mitte"},
                    "goals": {"G1": {"description": "Sicherer"}},
                    "indicators": {"offences": {"name": "Straftaten"}},
                }
            )
        }
    )
    assert words.level("bezirk", "de") == "Bezirk"
    assert words.level("bezirk", "de", plural=True) == "Bezirke"
    assert words.level("lor", "de", plural=True) == "LOR"  # no plural given: the singular
    assert words.level("bezirk", "en") is None  # never another language's word
    assert words.level("stadt", "de") is None
    assert words.area("01", "de") == "Mitte" and words.area("02", "de") is None
    assert words.goal("G1", "name", "de") is None
    assert words.goal("G1", "description", "de") == "Sicherer"
    assert words.indicator("offences", "name", "de") == "Straftaten"
    assert words.indicator("offences", "unit", "de") is None


def test_readable_never_shows_a_key():
    assert readable("bezirk") == "bezirk"
    assert readable("stat_sector") == "stat sector"
    assert "level." not in readable("level_x")


def test_load_words_reads_the_city_s_languages_and_keeps_errors_apart(tmp_path):
    write(tmp_path / "i18n" / "de.yaml", "levels: {bezirk: Bezirk}\n")
    write(tmp_path / "i18n" / "fr.yaml", "levels: [x]\n")
    write(tmp_path / "i18n" / "nl.yaml", "levels: {bezirk: stadsdeel}\n")
    words = load_words(tmp_path, ["de", "fr"])
    assert sorted(words.by_lang) == ["de"]  # nl is not a language of this city
    assert [e.file.name for e in words.errors] == ["fr.yaml"]


# --- cim check-config ---------------------------------------------------------------------


def check_config(folder: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("CIM_CITY", str(folder))
    code = cli.main(["check-config"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_words_pass_and_are_read(demo_city):
    report = check_folder(demo_city)
    assert report.errors == []
    assert not [w for w in report.warnings if "/i18n/" in w]
    words = load_words(demo_city.folder, demo_city.settings.languages)
    assert {"nl", "fr", "de"} <= set(words.by_lang) and not words.errors
    for lang in ("nl", "fr", "de"):
        for level in demo_city.settings.area_levels:
            assert words.level(level, lang), (lang, level)
        for indicator in demo_city.agenda.indicators:
            assert words.indicator(indicator.id, "name", lang), (lang, indicator.id)
    assert words.level("district", "de", plural=True) == "Bezirke"


def test_check_config_names_file_and_key_of_each_words_mistake(city_copy, monkeypatch, capsys):
    words = city_copy / "i18n"
    write(
        words / "de.yaml",
        "levels:\n  distrikt: Bezirk\n"
        "areas:\n  04017Z: Nirgendwo\n"
        "goals:\n  G9: {name: X}\n"
        "indicators:\n  property_crime_rat: {name: Eigentum}\n",
    )
    write(words / "es.yaml", "levels: {district: distrito}\n")
    write(words / "fr.yml", "levels: {district: district}\n")
    write(words / "notes.txt", "to do\n")
    code, _, err = check_config(city_copy, monkeypatch, capsys)
    assert code != 0
    assert "Traceback" not in err
    de = str(words / "de.yaml")
    for expected in [
        "levels.distrikt: 'distrikt' is not a level of city.yaml's area_levels: did you mean "
        "'district'?",
        "areas.04017Z: '04017Z' is not an area_code of areas.csv",
        "goals.G9: 'G9' is not a goal of agenda/goals.yaml",
        "indicators.property_crime_rat: 'property_crime_rat' is not an indicator of "
        "agenda/indicators.yaml: did you mean 'property_crime_rate'?",
    ]:
        assert expected in err, expected
    assert err.index(de) < err.index("levels.distrikt")
    assert f"{words / 'es.yaml'}" in err
    assert "language 'es' is not in city.yaml's languages ['en', 'nl', 'fr', 'de']" in err
    assert f"{words / 'fr.yml'}" in err and "only fr.yaml is read: rename it" in err
    assert f"warning: {words / 'notes.txt'}: no part of a run reads this file" in err
    assert "i18n/<language>.yaml" in err


def test_check_config_passes_a_city_with_its_own_level_words(city_copy, monkeypatch, capsys):
    set_languages(city_copy, ["de", "en"])
    for lang in ("nl", "fr"):
        (city_copy / "i18n" / f"{lang}.yaml").unlink()
    code, out, err = check_config(city_copy, monkeypatch, capsys)
    assert code == 0, err
    assert "OK" in out
    assert "/i18n/" not in err
