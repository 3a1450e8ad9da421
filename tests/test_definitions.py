"""Dagster definitions: one asset per contract, sensor on the landing folder, real runs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml
from cim.city import load_city
from cim.defs.ingestion.assets import build_ingestion_assets
from cim.defs.ingestion.sensors import build_landing_sensor
from cim.defs.resources import Deployment

from tests.quirky import police_csv, police_row


def test_asset_keys_snapshot():
    from cim.definitions import defs

    definitions = defs()
    keys = sorted(k.to_user_string() for k in definitions.resolve_all_asset_keys())
    feeds = [
        "activity_registry",
        "contact_centre_reports",
        "early_school_leavers",
        "housing_complaints",
        "police_incidents",
        "population",
        "resident_survey",
        "youth_participation",
    ]
    config = ["areas", "feed_backfills", "feeds", "goals", "indicators", "partners", "targets"]
    models = {
        "intermediate": [
            "int_feed_expected_deliveries",
            "int_activity_reach",
            "int_activity_registry",
            "int_area_ancestors",
            "int_indicator_completeness",
            "int_indicator_rollup",
            "int_indicator_suppression",
            "int_indicator_terms",
            "int_indicator_values",
            "int_periods",
        ],
        "marts": [
            "dim_area",
            "dim_indicator",
            "dim_partner",
            "dim_period",
            "fct_action_donors",
            "fct_action_event_study",
            "fct_action_impact",
            "fct_action_trends",
            "fct_activities",
            "fct_feed_health",
            "fct_indicator_values",
            "fct_partner_health",
            "fct_progress",
        ],
        "staging": [f"stg_{f}" for f in feeds]
        + [f"stg_meta__{t}" for t in [*config, "file_ledger", "delivered_periods"]],
    }
    assert keys == sorted(
        [f"raw/{f}" for f in feeds]
        + [f"meta/{t}" for t in [*config, "file_ledger", "landing_triage"]]
        + [f"{layer}/{m}" for layer, names in models.items() for m in names]
        + ["published/snapshot", "published/reports", "meta/reminders"]
    )
    assert {j.name for j in definitions.jobs} >= {"ingest_feeds", "pipeline"}
    assert definitions.resolve_sensor_def("landing_folder_sensor")
    assert definitions.resolve_sensor_def("record_failed_runs")
    assert definitions.resolve_schedule_def("daily_refresh")
    quarterly = definitions.resolve_schedule_def("quarterly_reports")
    assert quarterly.cron_schedule == "0 8 1 1,4,7,10 *"
    # the daily pipeline publishes; the reports are written quarterly, by their own job
    pipeline = definitions.resolve_job_def("pipeline")
    assert dg.AssetKey(["published", "reports"]) not in pipeline.asset_layer.selected_asset_keys
    assert set(definitions.resources) == {"city", "dbt", "deployment"}


def test_sensor_requests_only_feeds_with_new_or_changed_files(home, demo_city):
    deployment = Deployment(home=str(home.home))
    resources = {"deployment": deployment, "city": demo_city}
    sensor = build_landing_sensor()
    with dg.build_sensor_context(resources=resources) as context:
        assert isinstance(sensor(context), dg.SkipReason)
    (home.landing / "politie_incidenten_2023-04.csv").write_bytes(
        police_csv([police_row(1)]).encode("cp1252")
    )
    (home.landing / "mystery.bin").write_bytes(b"?")
    with dg.build_sensor_context(resources=resources) as context:
        request = sensor(context)
        cursor = context.cursor
    assert sorted(k.to_user_string() for k in request.asset_selection) == [
        "meta/landing_triage",
        "raw/police_incidents",
    ]
    with dg.build_sensor_context(resources=resources, cursor=cursor) as context:
        assert isinstance(sensor(context), dg.SkipReason)  # nothing new since
    (home.landing / "politie_incidenten_2023-04.csv").write_bytes(
        police_csv([police_row(2)]).encode("cp1252") * 2
    )
    with dg.build_sensor_context(resources=resources, cursor=cursor) as context:
        request = sensor(context)
    assert [k.to_user_string() for k in request.asset_selection] == ["raw/police_incidents"]


def test_second_city_with_its_own_feed_runs_without_code_change(tmp_path: Path, home):
    """Another city: other areas, another partner, a feed the demo city does not have."""
    city_dir = tmp_path / "othercity"
    (city_dir / "feeds").mkdir(parents=True)
    (city_dir / "city.yaml").write_text(
        "id: havenstad\nname: Havenstad\ncountry: NL\narea_levels: [buurt, wijk, gemeente]\n"
    )
    (city_dir / "areas.csv").write_text(
        "area_code,name,level,parent_code,valid_from,valid_to,grid_row,grid_col\n"
        "GM0999,Havenstad,gemeente,,,,,\nWK099901,Centrum,wijk,GM0999,,,,\n"
        "BU09990101,Markt,buurt,WK099901,,,,\nBU09990102,Haven,buurt,WK099901,,,,\n"
    )
    (city_dir / "partners.yaml").write_text(
        yaml.safe_dump(
            {
                "partners": [
                    {
                        "id": "grid",
                        "name": "Netbeheer",
                        "contact": {"name": "Data", "email": "d@n.example"},
                    }
                ]
            }
        )
    )
    (city_dir / "feeds" / "streetlight_faults.yaml").write_text(
        yaml.safe_dump(
            {
                "feed": "streetlight_faults",
                "partner": "grid",
                "file_pattern": "storingen_*.csv",
                "format": "csv",
                "dialect": {"delimiter": ",", "date_format": "%d-%m-%Y"},
                "period": {"grain": "quarter", "from_filename": r"(?P<year>\d{4})q(?P<quarter>\d)"},
                "sla": {"cadence": "quarterly", "due_days": 15, "grace_days": 5},
                "keys": ["fault_id"],
                "columns": [
                    {"name": "fault_id", "source": "melding", "required": True},
                    {
                        "name": "buurt_code",
                        "source": "buurt",
                        "type": "area_code",
                        "area_level": "buurt",
                        "required": True,
                    },
                    {"name": "reported_on", "source": "gemeld", "type": "date", "required": True},
                    {"name": "fixed_in_time", "source": "op tijd", "type": "boolean"},
                ],
            }
        )
    )
    (home.landing / "storingen_2025q3.csv").write_text(
        "melding,buurt,gemeld,op tijd\nS1,BU09990101,03-07-2025,ja\n"
        "S2,BU09990102,04-07-2025,nee\nS3,BU0000,05-07-2025,ja\n"
    )
    city = load_city(city_dir)
    result = dg.materialize(
        build_ingestion_assets(city),
        resources={
            "deployment": Deployment(home=str(home.home)),
            "city": city,
        },
    )
    assert result.success
    import duckdb

    con = duckdb.connect(str(home.warehouse), read_only=True)
    assert con.execute(
        "SELECT fault_id, fixed_in_time FROM raw.streetlight_faults ORDER BY 1"
    ).fetchall() == [
        ("S1", True),
        ("S2", False),
    ]
    assert con.execute(
        "SELECT period, rows_read, rows_accepted, rows_rejected FROM meta.file_ledger"
    ).fetchall() == [("2025-Q3", 3, 2, 1)]
    con.close()
