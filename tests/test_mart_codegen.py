"""The city's thin dbt models: macro calls whose arguments are the configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml
from cim.city import load_city
from cim.mart import codegen

from tests.conftest import DEMO_CITY

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "quote ' and double \" and back\\slash",
        "naïve café – ünïcode",
        "line\nbreak\ttab",
        ["a", "b"],
        {"offence_category": ["x'y", "z"]},
        {"flag": True, "off": False, "nothing": None, "n": 3, "x": 0.5},
        [],
        {},
    ],
)
def test_jinja_literals_read_back_as_the_same_value(value):
    rendered = jinja2.Environment().from_string("{{ v | tojson }}")
    literal = codegen.jinja(value)
    parsed = jinja2.Environment().from_string("{% set v = " + literal + " %}{{ v | tojson }}")
    assert parsed.render() == rendered.render(v=value)


def test_long_literals_wrap_to_the_line_length():
    value = {"where": {"column": [f"value_{i}" for i in range(30)]}}
    text = codegen.jinja(value, 4)
    assert max(len(line) for line in text.splitlines()) <= codegen.WIDTH
    parsed = jinja2.Environment().from_string("{% set v = " + text + " %}{{ v | tojson }}")
    assert yaml.safe_load(parsed.render()) == value


def test_generated_models_are_thin_reproducible_and_lint_clean():
    city = load_city(DEMO_CITY)
    first, second = codegen.city_models(city), codegen.city_models(city)
    assert first == second  # reproducible: the same city gives the same bytes
    sql = {path: text for path, text in first.items() if path.suffix == ".sql"}
    assert len(sql) == len(city.contracts) + 3
    for path, text in sql.items():
        body = text.split("\n", 2)[2]
        # one macro call, no SQL of its own
        assert body.startswith("{{ ") and body.rstrip().endswith(") }}"), path
        assert body.count("{{") == 1 and "select" not in body.lower(), path
    codegen.generate(city)
    assert codegen.is_current(city)
    folders = sorted({str(path.parent) for path in sql})
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sqlfluff"), "lint", *folders],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    linted = result.stdout + result.stderr
    assert "FAIL" not in linted


def test_stale_generated_files_are_removed(tmp_path):
    city = load_city(DEMO_CITY)
    dbt_dir = tmp_path / "dbt_project"
    assert codegen.generate(city, dbt_dir)
    stale = dbt_dir / codegen.STAGING / "stg_feed_that_left.sql"
    stale.write_text("-- from a feed the city no longer has\n")
    assert not codegen.is_current(city, dbt_dir)
    assert codegen.generate(city, dbt_dir)
    assert not stale.exists()
    assert not codegen.generate(city, dbt_dir)  # nothing left to change


@pytest.mark.slow
def test_staging_models_have_exactly_the_documented_columns(demo_build):
    """The macro writes the columns, the generated properties document them: a column
    added to one and not the other fails here, not as an undocumented or empty column."""
    city = load_city(DEMO_CITY)
    documented = {
        model["name"]: [column["name"] for column in model["columns"]]
        for model in codegen.staging_properties(city)["models"]
    }
    for model, columns in documented.items():
        built = [
            row[0]
            for row in demo_build.query(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'staging' AND table_name = ? ORDER BY ordinal_position",
                [model],
            )
        ]
        assert built == columns, model


@pytest.mark.slow
def test_a_city_without_agenda_builds_typed_empty_agenda_models(tmp_path):
    """No indicators and no activity registry: the agenda's models exist, empty, with the
    columns and types the models downstream expect (not an error inside dbt)."""
    import duckdb

    city_dir = tmp_path / "city"
    shutil.copytree(DEMO_CITY, city_dir, ignore=shutil.ignore_patterns("agenda", "dbt"))
    city = load_city(city_dir)
    assert not city.agenda.indicators and city.agenda.activities is None
    project = tmp_path / "dbt_project"
    shutil.copytree(codegen.DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    codegen.generate(city, project)
    warehouse = tmp_path / "warehouse.duckdb"
    models = ["int_indicator_terms", "int_activity_registry", "int_activity_reach"]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *("run", "--select", *models),
            *("--project-dir", str(project), "--profiles-dir", str(project)),
        ],
        env=os.environ | {"CIM_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for model in models:
            assert con.execute(f"SELECT count(*) FROM intermediate.{model}").fetchone() == (0,)
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'int_activity_registry'"
            ).fetchall()
        )
    finally:
        con.close()
    assert types["target_area_ids"] == "VARCHAR[]" and types["start_date"] == "DATE"


@pytest.mark.slow
def test_configuration_values_reach_the_sql_escaped(tmp_path):
    """A filter value with a quote, a semicolon and a backslash is one SQL string literal
    in the compiled model: configuration is data, never SQL."""
    city_dir = tmp_path / "city"
    shutil.copytree(DEMO_CITY, city_dir, ignore=shutil.ignore_patterns("dbt"))
    hostile = "it's; drop table x -- \\ é"
    for path in [
        city_dir / "agenda" / "indicators.yaml",
        city_dir / "feeds" / "police_incidents.yaml",
    ]:
        # the filter value and the contract's allowed value; JSON strings are YAML strings
        path.write_text(path.read_text().replace("woninginbraak", json.dumps(hostile)))
    city = load_city(city_dir)
    assert hostile in city.agenda.indicators[0].numerator[0].where["offence_category"]
    project = tmp_path / "dbt_project"
    shutil.copytree(codegen.DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    codegen.generate(city, project)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *("compile", "--select", "int_indicator_terms"),
            *("--project-dir", str(project), "--profiles-dir", str(project)),
        ],
        env=os.environ | {"CIM_WAREHOUSE": str(tmp_path / "warehouse.duckdb")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    compiled = next((project / "target" / "compiled").rglob("int_indicator_terms.sql")).read_text()
    assert "\"offence_category\" in ('it''s; drop table x -- \\ é', 'fietsdiefstal'" in compiled
