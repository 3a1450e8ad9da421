"""The impact marts are declared once, as the dbt source ``impact``: the DuckDB tables,
the rows the estimator writes, the Dagster assets and one settings model all follow it."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest
import yaml
from cim.city import load_city
from cim.city.errors import ConfigError
from cim.impact import ImpactSettings
from cim.impact.cli import _OVERRIDES
from cim.impact.schema import DECLARATION, TABLES, ImpactRowError
from cim.impact.tables import _frame, write

from tests.conftest import DEMO_CITY


def _declared() -> dict[str, dict]:
    (source,) = yaml.safe_load(DECLARATION.read_text(encoding="utf-8"))["sources"]
    return {t["name"]: t for t in source["tables"]}


def _impact_row(**extra) -> dict:
    return {
        "action_id": "ACT-1",
        "indicator_id": "theft_rate",
        "goal_id": "safety",
        "desired_direction": "down",
        "result": "insufficient_evidence",
        "guard_rails_failed": ["1 comparison areas, 3 needed"],
        "analysed_as_of": dt.date(2025, 6, 30),
        **extra,
    }


def test_declaration_is_a_dbt_source_of_the_marts_schema_with_asset_keys():
    declared = _declared()
    assert (
        list(declared)
        == list(TABLES)
        == [
            "fct_action_impact",
            "fct_action_event_study",
            "fct_action_trends",
            "fct_action_donors",
        ]
    )
    for name, table in TABLES.items():
        assert table.asset_key == ("marts", name)
        assert declared[name]["meta"]["dagster"]["asset_key"] == ["marts", name]
        assert table.column_names == [c["name"] for c in declared[name]["columns"]]
        assert all(c.description and c.data_type for c in table.columns)
        assert declared[name]["data_tests"], "every table has table-level dbt tests"


def test_a_typo_in_a_column_name_fails_loudly_instead_of_a_null_column():
    frame = _frame("fct_action_impact", [_impact_row(effect=None)])
    assert (
        frame.loc[0, "action_id"] == "ACT-1"
        and list(frame.columns) == TABLES["fct_action_impact"].column_names
    )
    with pytest.raises(ImpactRowError) as caught:
        _frame("fct_action_impact", [_impact_row(efect=-0.4)])
    message = str(caught.value)
    assert "marts.fct_action_impact row 0" in message
    assert "efect: not a column of this table" in message
    assert "dbt_project/models/marts/impact/_impact__sources.yml" in message
    with pytest.raises(ImpactRowError, match=r"pre_periods: .*got 'three'"):
        _frame("fct_action_impact", [_impact_row(pre_periods="three")])
    with pytest.raises(ImpactRowError, match="area_grup: not a column"):
        _frame("fct_action_trends", [{"action_id": "A", "area_grup": "treated"}])


def test_tables_written_are_the_declaration_with_its_comments(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    frames = {
        "fct_action_impact": _frame("fct_action_impact", [_impact_row()]),
        "fct_action_event_study": _frame("fct_action_event_study", []),
        "fct_action_donors": _frame("fct_action_donors", []),
        "fct_action_trends": _frame(
            "fct_action_trends",
            [
                {
                    "action_id": "ACT-1",
                    "indicator_id": "theft_rate",
                    "period_id": "2025-01",
                    "period_start": dt.date(2025, 1, 1),
                    "area_group": "treated",
                    "value": 4.5,
                    "suppressed": False,
                }
            ],
        ),
    }
    write(con, frames)
    for name, table in TABLES.items():
        columns = con.execute(
            "SELECT column_name, lower(data_type), comment FROM duckdb_columns() "
            "WHERE schema_name = 'marts' AND table_name = ? ORDER BY column_index",
            [name],
        ).fetchall()
        assert columns == [(c.name, c.data_type, c.description) for c in table.columns]
        (comment,) = con.execute(
            "SELECT comment FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = ?",
            [name],
        ).fetchone()
        assert comment == table.description
    assert con.execute(
        "SELECT action_id, guard_rails_failed, analysed_as_of, effect FROM marts.fct_action_impact"
    ).fetchall() == [("ACT-1", ["1 comparison areas, 3 needed"], dt.date(2025, 6, 30), None)]
    assert con.execute("SELECT value FROM marts.fct_action_trends").fetchall() == [(4.5,)]
    con.close()


def test_impact_assets_follow_the_declaration(tmp_path):
    from cim.defs.dbt.project import city_dbt_project
    from cim.defs.impact.assets import build_impact_assets

    assets = build_impact_assets(city_dbt_project(load_city(DEMO_CITY), tmp_path / "w.duckdb"))
    assert {k.path[1] for k in assets.keys} == set(TABLES)
    for key in assets.keys:
        table = TABLES[key.path[1]]
        spec = assets.specs_by_key[key]
        assert spec.description == table.description
        schema = spec.metadata["dagster/column_schema"]
        assert [(c.name, c.type, c.description) for c in schema.columns] == [
            (c.name, c.data_type, c.description) for c in table.columns
        ]
    checks = {c.name: c for c in assets.check_specs}
    # every dbt test of the source is a check of its table; errors block publication
    assert checks["source_not_null_impact_fct_action_impact_result"].asset_key == dg.AssetKey(
        ["marts", "fct_action_impact"]
    )
    assert checks["trends_suppressed_groups_have_no_value"].blocking
    assert not checks["impact_effect_within_its_interval"].blocking  # severity warn
    assert len(checks) == sum(1 for t in _declared().values() for _ in _tests_of(t)), (
        "one check per dbt test"
    )


def _tests_of(table: dict):
    yield from table.get("data_tests", [])
    for column in table["columns"]:
        yield from column.get("data_tests", [])


def test_one_settings_model_for_city_estimator_and_cli(tmp_path):
    city = load_city(DEMO_CITY)
    assert isinstance(city.settings.impact, ImpactSettings)
    assert city.settings.impact == ImpactSettings()
    # every estimator setting is a `cim impact` flag; the design-only ones are not
    assert set(_OVERRIDES) == set(ImpactSettings.model_fields) - ImpactSettings.DESIGN_ONLY
    assert {"min_clusters", "max_placebo_sets", "event_bin"} <= set(_OVERRIDES)
    # overrides are validated like city.yaml
    assert ImpactSettings().replace(min_clusters=4).min_clusters == 4
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        ImpactSettings().replace(min_clusters=1)
    # the city's keys are the model's fields: same names, same limits
    folder = tmp_path / "city"
    folder.mkdir()
    for entry in DEMO_CITY.iterdir():
        (folder / entry.name).symlink_to(entry)
    (folder / "city.yaml").unlink()
    text = (DEMO_CITY / "city.yaml").read_text(encoding="utf-8")
    (folder / "city.yaml").write_text(
        text + "impact:\n  max_placebo_sets: 500\n  min_clusters: 8\n"
    )
    settings = load_city(folder).settings.impact
    assert (settings.max_placebo_sets, settings.min_clusters) == (500, 8)
    (folder / "city.yaml").write_text(text + "impact:\n  max_placebo_set: 500\n  min_clusters: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_city(folder)
    assert "impact.max_placebo_set: unknown key" in str(caught.value)
    assert "impact.min_clusters: Input should be greater than or equal to 2" in str(caught.value)


def test_cli_overrides_are_validated_like_city_yaml(tmp_path, capsys):
    from cim.cli import main

    from tests.test_impact import synthetic_panel

    panel = tmp_path / "panel.csv"
    synthetic_panel().to_csv(panel, index=False)
    assert main(["impact", str(panel), "--min-clusters", "1"]) == 2
    assert "impact: --min-clusters: Input should be greater than or equal to 2" in (
        capsys.readouterr().err
    )
    did = ["--method", "did", "--max-placebo-sets", "100"]
    code = main(["impact", str(panel), "--multiplier", "1000", *did])
    assert code == 0 and "placebo in space (100 sets)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse's own usage error, exit code 2
        main(["impact", str(panel), "--method", "twfe"])
    assert refused.value.code == 2 and "invalid choice: 'twfe'" in capsys.readouterr().err
