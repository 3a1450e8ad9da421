"""Collective Impact Monitor: shared measurement for cities that fight insecurity together."""

import os

# Works offline: no tool may phone home. Set before any of them is imported.
for _name, _value in {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
}.items():
    os.environ.setdefault(_name, _value)
