"""`cim new-city` and what `cim check-config` says about a city folder: broken folders
built from the template, each reported by file, key and fix, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from cim import cli
from cim.city import load_city
from cim.city.folder import check_folder
from cim.city.newcity import TEMPLATE, city_id, template_files, write_city

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "cities" / "demo"


def check_config(folder: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("CIM_CITY", str(folder))
    code = cli.main(["check-config"])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def city(tmp_path: Path) -> Path:
    folder = tmp_path / "riverton"
    write_city(folder, "Riverton")
    return folder


def edit_yaml(file: Path, change) -> None:
    data = yaml.safe_load(file.read_text())
    change(data)
    file.write_text(yaml.safe_dump(data, sort_keys=False))


def test_new_city_writes_the_template_and_passes_check_config(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "cities" / "New Town"
    assert cli.main(["new-city", str(folder)]) == 0
    written = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert written == template_files()
    # no demo leftovers: only what the template holds
    assert not {"demo.yaml", "boundaries.geojson"} & {p.name for p in written}
    assert not (folder / "dbt").exists() and not (folder / "agenda" / "activities.yaml").exists()
    code, out, err = check_config(folder, monkeypatch, capsys)
    assert (code, err) == (0, "")
    loaded = load_city(folder)
    assert (loaded.settings.id, loaded.settings.name) == ("new_town", "New Town")
    assert len(loaded.settings.area_levels) == 2 and len(loaded.contracts) == 1
    assert [i.id for i in loaded.agenda.indicators] == [t.indicator for t in loaded.agenda.targets]
    assert "1 indicators: OK" in out
    # every file explains itself to the person who edits it
    for relative in template_files():
        if relative.suffix == ".yaml":
            assert (TEMPLATE / relative).read_text().startswith("#"), relative


def test_new_city_fills_in_an_awkward_name_safely(tmp_path):
    write_city(tmp_path / "x", 'Saint-Denis: "centre"')
    settings = load_city(tmp_path / "x").settings
    assert settings.name == 'Saint-Denis: "centre"' and settings.id == "saint_denis_centre"
    assert city_id("2030 Stad") == "city_2030_stad"


def test_new_city_refuses_a_folder_that_is_not_empty(city, monkeypatch, capsys):
    before = (city / "city.yaml").read_text()
    assert cli.main(["new-city", str(city)]) == cli.EXIT_SETUP
    err = capsys.readouterr().err
    assert f"{city} is not empty" in err and "nothing was written" in err
    assert "check-config" in err  # what to do instead
    assert (city / "city.yaml").read_text() == before


def test_a_copied_demo_unit_test_is_named_with_its_feeds(city, monkeypatch, capsys):
    shutil.copytree(DEMO / "dbt", city / "dbt")
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == cli.EXIT_SETUP
    assert str(city / "dbt" / "unit_tests.yml") in err
    test = "incidents_count_in_the_month_they_happened"
    assert f"unit test {test} refers to feed police_incidents" in err
    assert "that this city does not have: delete the unit test" in err
    assert "Traceback" not in err


def test_unit_tests_name_models_and_inputs_of_this_city(city):
    (city / "dbt").mkdir()
    tests = city / "dbt" / "unit_tests.yml"
    unit = {
        "name": "offences_sum_per_district",
        "model": "int_indicator_terms",
        "given": [{"input": "ref('stg_police_offences')", "rows": []}],
        "expect": {"rows": []},
    }
    tests.write_text(yaml.safe_dump({"version": 2, "unit_tests": [unit]}))
    assert check_folder(load_city(city)).errors == []
    unit["model"] = "int_crime_terms"
    unit["given"] += [{"input": "source('raw', 'population')"}, {"input": "stg_x"}]
    tests.write_text(yaml.safe_dump({"version": 2, "unit_tests": [unit]}))
    [error] = check_folder(load_city(city)).errors
    assert error.file == tests
    assert error.problems == [
        "unit test offences_sum_per_district: model: refers to model 'int_crime_terms' that "
        "this city does not have: delete the unit test, or name a model of this city "
        "(dbt_project/models, or stg_<feed> for each of feeds/*.yaml)"
    ]
    unit["model"] = "int_indicator_terms"
    tests.write_text(yaml.safe_dump({"version": 2, "unit_tests": [unit]}))
    [error] = check_folder(load_city(city)).errors
    assert "refers to source raw.population that this city does not have" in error.problems[0]
    assert "given[2].input 'stg_x': expected ref('<model>')" in error.problems[1]
    tests.write_text("unit_tests:\n  - name: [unclosed\n")
    [error] = check_folder(load_city(city)).errors
    assert error.problems[0].startswith("not valid YAML")


def test_boundaries_are_checked_against_the_areas(city, monkeypatch, capsys):
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    features = [
        {"type": "Feature", "properties": {"area_id": code}, "geometry": square}
        for code in ("D1", "D2")
    ]
    (city / "boundaries.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    with (city / "city.yaml").open("a") as handle:
        handle.write("boundaries_file: boundaries.geojson\n")
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == 0
    assert "1 area(s) have no boundary and are not drawn on the map: D3" in err
    features[1]["properties"]["area_id"] = "D9"
    (city / "boundaries.geojson").write_text(json.dumps({"features": features}))
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == cli.EXIT_SETUP
    assert "features[1].properties.area_id: 'D9' is not an area_code of areas.csv" in err
    (city / "boundaries.geojson").write_text("{not json")
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == cli.EXIT_SETUP and "not valid GeoJSON" in err
    (city / "boundaries.geojson").unlink()
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == cli.EXIT_SETUP
    assert "city.yaml" in err and "boundaries_file: 'boundaries.geojson' does not exist" in err


def test_files_nothing_reads_are_warned_about(city, monkeypatch, capsys):
    shutil.copyfile(DEMO / "demo.yaml", city / "demo.yaml")
    (city / "agenda" / "indicator.yaml").write_text("indicators: []\n")
    (city / "feeds" / "police_offences.yml").write_text("feed: police_offences\n")
    (city / ".notes").write_text("hidden files are the user's own")
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, err
    assert "demo.yaml: no part of a run reads this file (it is the demo generator's spec" in err
    assert "agenda/indicator.yaml: no part of a run reads this file (the agenda's files" in err
    assert "police_offences.yml: no part of a run reads this file (only " in err


def test_the_demo_city_is_clean():
    report = check_folder(load_city(DEMO))
    assert (report.errors, report.warnings) == ([], [])


def test_activity_registry_names_partners_and_goals_of_the_city(city, monkeypatch, capsys):
    registry = yaml.safe_load((DEMO / "feeds" / "activity_registry.yaml").read_text())
    registry["partner"] = "police"
    for column in registry["columns"]:
        if column["type"] == "area_code_list":
            column["area_level"] = "district"
        if column["name"] == "partner_id":
            column["allowed"] = ["police", "youth_work"]
        if column["name"] == "goal_id":
            column["allowed"] = ["G1-safety"]
    (city / "feeds" / "activity_registry.yaml").write_text(yaml.safe_dump(registry))
    (city / "agenda" / "activities.yaml").write_text("activities:\n  registry: activity_registry\n")
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == cli.EXIT_SETUP
    assert "activities.yaml" in err
    assert "columns.partner_id.allowed lists ['youth_work'], which are not in partners.yaml" in err
    assert "goal_id" not in err


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("city.yaml", b"id: caf\xe9\n", "not UTF-8 text"),
        ("areas.csv", b"area_code,name,level,parent_code\nC,Caf\xe9,city,\n", "not UTF-8 text"),
        ("areas.csv", b"area_code,name,level,parent_code\nC,City,city,\nD1,North\n", "line 3"),
        ("partners.yaml", b"partners: {id: police}\n", "expected a list of partners"),
        ("feeds/police_offences.yaml", b"feed: [\n", "not valid YAML"),
        ("agenda/targets.yaml", b"targets:\n  - {indicator: nope}\n", "targets.0"),
    ],
)
def test_broken_files_are_named_never_a_traceback(
    city, monkeypatch, capsys, file, content, expected
):
    (city / file).write_bytes(content)
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == cli.EXIT_SETUP
    assert str(city / file) in err and expected in err
    assert "Traceback" not in err


def test_unit_tests_in_a_yaml_file_are_never_run_and_say_so(city, monkeypatch, capsys):
    (city / "dbt").mkdir()
    (city / "dbt" / "unit_tests.yaml").write_text("version: 2\nunit_tests: []\n")
    code, _, err = check_config(city, monkeypatch, capsys)
    assert code == cli.EXIT_SETUP
    assert "unit_tests.yaml" in err and "rename it to .yml" in err
    assert "warning:" not in err  # one report of one mistake
