"""dbt: the indicator mart, every model a Dagster asset and every dbt test an asset check."""
