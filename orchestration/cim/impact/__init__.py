"""Impact of actions on the shared indicators (docs/impact.md).

``estimate_impact`` works on any long panel, with ``ImpactSettings`` (the guard rails a
city sets under ``impact:``); ``cim.impact.tables`` runs it for every action in a city's
registry and writes the impact marts, whose columns ``cim.impact.schema`` reads from
their dbt declaration.

The names below are imported on first use: the city configuration imports
``cim.impact.settings`` and should not pay for numpy, pandas and scipy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cim.impact.estimator import Estimate, estimate_impact
    from cim.impact.panel import PanelError, long_panel
    from cim.impact.settings import ImpactSettings

_HOMES = {
    "Estimate": "cim.impact.estimator",
    "estimate_impact": "cim.impact.estimator",
    "ImpactSettings": "cim.impact.settings",
    "PanelError": "cim.impact.panel",
    "long_panel": "cim.impact.panel",
}

__all__ = ["Estimate", "ImpactSettings", "PanelError", "estimate_impact", "long_panel"]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
