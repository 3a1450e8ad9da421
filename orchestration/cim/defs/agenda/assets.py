"""Mirror the city folder (areas, partners, feeds and their backfills, goals, indicators,
targets) to meta.*."""

import dagster as dg

from cim.city import City
from cim.city.mirror import CONFIG_TABLES, mirror_city
from cim.defs.resources import Deployment, loaded_city


def build_city_config_asset(city: City) -> dg.AssetsDefinition:
    """One step writes every configuration table: they must always agree with each other."""

    @dg.multi_asset(
        name="city_config",
        group_name="agenda",
        specs=[
            dg.AssetSpec(
                ["meta", table],
                kinds={"duckdb"},
                description=f"meta.{table}, mirrored from the city folder {city.folder.name}/",
                metadata={"city_folder": dg.MetadataValue.path(str(city.folder))},
            )
            for table in CONFIG_TABLES
        ],
    )
    def _city_config(deployment: Deployment, city: dg.ResourceParam[City]):
        with deployment.warehouse() as con:
            counts = mirror_city(con, city)
        for table, rows in counts.items():
            yield dg.MaterializeResult(
                asset_key=["meta", table], metadata={"dagster/row_count": rows}
            )

    return _city_config


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_city_config_asset(loaded_city())])
