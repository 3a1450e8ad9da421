"""A city is configuration: mistakes in it are named by file, key and what is allowed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from cim.city import ConfigError, load_city

from tests.conftest import DEMO_CITY


@pytest.fixture
def city_copy(tmp_path: Path) -> Path:
    target = tmp_path / "city"
    shutil.copytree(DEMO_CITY, target)
    return target


def _edit_contract(folder: Path, feed: str, change) -> Path:
    path = folder / "feeds" / f"{feed}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_demo_city_loads(demo_city):
    levels = [a.level for a in demo_city.areas]
    assert levels.count("district") >= 5 and levels.count("neighbourhood") >= 30
    assert {c.partner for c in demo_city.contracts} <= {p.id for p in demo_city.partners}


@pytest.mark.parametrize(
    ("feed", "change", "expected"),
    [
        ("police_incidents", lambda d: d.update(formaat="csv"), "formaat: unknown key"),
        (
            "police_incidents",
            lambda d: d.update(format="pdf"),
            "format: Input should be 'csv', 'json' or 'xlsx'",
        ),
        (
            "police_incidents",
            lambda d: d.update(partner="politie"),
            "partner: 'politie' is not in partners.yaml",
        ),
        (
            "police_incidents",
            lambda d: d["columns"][0].update(type="string"),
            "columns.0.type: Input should be",
        ),
        (
            "police_incidents",
            lambda d: d["columns"][0].update(name='id"; DROP TABLE x; --'),
            "columns.0.name: String should match pattern",
        ),
        (
            "police_incidents",
            lambda d: d.update(keys=["pv_number"]),
            "keys ['pv_number'] are not columns",
        ),
        (
            "police_incidents",
            lambda d: d["period"].update(from_filename=r"(?P<year>\d{4})"),
            "lacks named group(s) ['month']",
        ),
        ("police_incidents", lambda d: d.update(file_pattern="../*.csv"), "no folders and no '..'"),
        (
            "police_incidents",
            lambda d: d["columns"][5].update(area_level="street"),
            "columns.area_code.area_level: 'street' not in",
        ),
        (
            "resident_survey",
            lambda d: d.update(keys=["birth_year"]),
            "is personal data marked drop",
        ),
        (
            "police_incidents",
            lambda d: d["dialect"].update(decimal=".", thousands="."),
            "must differ",
        ),
        (
            "police_incidents",
            lambda d: d.update(end_period="2020-13"),
            "end_period '2020-13' is not a month period (e.g. '2024-01')",
        ),
        (
            "police_incidents",
            lambda d: d.update(start_period="2021-01", end_period="2020-12"),
            "end_period '2020-12' is before start_period '2021-01'",
        ),
        (
            "population",
            lambda d: d.update(start_period="2021-01"),
            "start_period '2021-01' is not a year period (e.g. '2024')",
        ),
        (
            "population",
            lambda d: d.update(backfill={"from": "2021-01", "to": 2022}),
            "backfill[0].from '2021-01' is not a year period (e.g. '2024')",
        ),
        (
            "population",
            lambda d: d.update(backfill=[{"from": 2021, "to": 2021}, {"from": 2023, "to": 2022}]),
            "backfill[1]: to '2022' is before from '2023'",
        ),
        (
            "population",
            lambda d: d.update(backfill={"from": 2012, "to": 2019}),
            "backfill[0]: from '2012' is before start_period '2021'",
        ),
        (
            "police_incidents",
            lambda d: d.update(end_period="2023-12", backfill={"from": "2021-01", "to": "2024-03"}),
            "backfill[0]: to '2024-03' is after end_period '2023-12'",
        ),
        (
            "population",
            lambda d: d.update(backfill={"from": 2021}),
            "backfill.0.to",
        ),
        (
            "activity_registry",
            lambda d: d.update(backfill={"from": "2024", "to": "2024"}),
            "backfill only applies to a feed that owes periods on a calendar",
        ),
    ],
)
def test_contract_mistakes_name_file_key_and_what_is_allowed(city_copy, feed, change, expected):
    path = _edit_contract(city_copy, feed, change)
    with pytest.raises(ConfigError) as caught:
        load_city(city_copy)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message


def test_broken_yaml_and_missing_files_are_named(city_copy):
    (city_copy / "feeds" / "population.yaml").write_text("feed: population\n  bad: [indent\n")
    with pytest.raises(ConfigError, match=r"(?s)population.yaml.*not valid YAML"):
        load_city(city_copy)
    (city_copy / "city.yaml").unlink()
    with pytest.raises(ConfigError, match=r"(?s)city.yaml.*file is missing"):
        load_city(city_copy)


def test_area_mistakes_name_the_line(city_copy):
    areas = city_copy / "areas.csv"
    areas.write_text(areas.read_text() + "04017Z001,Nergens,neighbourhood,04017Z,2000-01-01,,,\n")
    with pytest.raises(ConfigError, match=r"area 04017Z001: parent_code '04017Z' is not an area"):
        load_city(city_copy)


def _edit_indicator(folder: Path, change) -> Path:
    path = folder / "agenda" / "indicators.yaml"
    data = yaml.safe_load(path.read_text())
    change(data["indicators"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda i: i[0]["numerator"][0].update(feed="politie"),
            "numerator.feed: 'politie' is not a feed",
        ),
        (
            lambda i: i[0]["numerator"][0].update(date="datum"),
            "numerator.date: 'datum' is not a stored column",
        ),
        (
            lambda i: i[0]["numerator"][0].update(date="area_code"),
            "column 'area_code' is area_code, expected",
        ),
        (
            lambda i: i[0]["numerator"][0]["where"].update(offence_category=["moord"]),
            "['moord'] not among the allowed values",
        ),
        (lambda i: i[0].update(goal="G9"), "goal: 'G9' is not a goal"),
        (lambda i: i[0].update(lowest_level="street"), "lowest_level: 'street' not in"),
        (lambda i: i[0]["numerator"][0].update(sum="damage_eur"), "give exactly one measure"),
        (
            lambda i: i[7]["survey"].update(items=["feels_unsafe", "avoids_places"]),
            "survey_share takes exactly one 0/1 item",
        ),
        (
            lambda i: i[0]["numerator"][0].update(area="victim_name"),
            "'victim_name' is not a stored column",
        ),
    ],
)
def test_agenda_mistakes_name_the_indicator_and_key(city_copy, change, expected):
    _edit_indicator(city_copy, change)
    with pytest.raises(ConfigError) as caught:
        load_city(city_copy)
    assert expected in str(caught.value)
    assert "agenda" in str(caught.value)


def test_target_for_an_unknown_indicator_or_area(city_copy):
    path = city_copy / "agenda" / "targets.yaml"
    data = yaml.safe_load(path.read_text())
    data["targets"].append(
        {
            "indicator": "nope",
            "baseline_period": "2021",
            "target_value": 1,
            "target_date": "2030-01-01",
        }
    )
    data["targets"][0]["area"] = "04017Q"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_city(city_copy)
    assert "indicator: 'nope' is not an indicator" in str(caught.value)
    assert "area: '04017Q' is not an area code" in str(caught.value)


def test_check_config_reads_every_quality_rule_file(city_copy, monkeypatch, capsys):
    """A mistake in a suite file, or a suite file named after no feed, is named by
    check-config, with its file and key, instead of when a run reaches the check."""
    from cim.cli import EXIT_SETUP, main

    monkeypatch.setenv("CIM_CITY", str(city_copy))
    assert main(["check-config"]) == 0
    folder = city_copy / "expectations"
    folder.mkdir(exist_ok=True)
    (folder / "police_incidents.yaml").write_text(
        "feed: police_incidents\nrules:\n  - name: damage is money\n"
        "    expect: expect_column_values_to_be_between\n    severity: FATAL\n"
    )
    (folder / "polce_incidents.yaml").write_text("feed: polce_incidents\nrules: []\n")
    (folder / "population.yml").write_text("feed: population\nrules: []\n")
    capsys.readouterr()
    assert main(["check-config"]) == EXIT_SETUP
    err = capsys.readouterr().err
    assert "police_incidents.yaml: 1 problem(s)" in err
    assert "rules.0.severity: Input should be 'ERROR' or 'WARN' (got 'FATAL')" in err
    assert "polce_incidents.yaml" in err and "no feed of the city" in err
    assert "population.yml" in err and "never read; rename it" in err


def test_history_delivered_late_on_purpose_is_declared_as_backfill(city_copy):
    # one range without a list, years as YAML numbers; or a list of ranges
    _edit_contract(city_copy, "population", lambda d: d.update(backfill={"from": 2021, "to": 2023}))
    _edit_contract(
        city_copy,
        "police_incidents",
        lambda d: d.update(
            backfill=[{"from": "2021-01", "to": "2021-06"}, {"from": "2022-03", "to": "2022-03"}]
        ),
    )
    city = load_city(city_copy)
    population = city.contract_by_feed["population"]
    police = city.contract_by_feed["police_incidents"]
    assert [(b.first, b.last) for b in population.backfill] == [("2021", "2023")]
    assert [(b.first, b.last) for b in police.backfill] == [
        ("2021-01", "2021-06"),
        ("2022-03", "2022-03"),
    ]
    assert city.contract_by_feed["resident_survey"].backfill == []


def test_a_feed_that_stopped_declares_its_end_period(city_copy):
    _edit_contract(city_copy, "police_incidents", lambda d: d.update(end_period="2024-06"))
    police = load_city(city_copy).contract_by_feed["police_incidents"]
    assert (police.start_period, police.end_period) == ("2021-01", "2024-06")
