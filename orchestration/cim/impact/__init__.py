"""Impact of actions on the shared indicators (docs/impact.md).

``estimate_impact`` works on any long panel; ``cim.impact.tables`` runs it for every
action in a city's registry and writes the impact marts.
"""

from cim.impact.estimator import Estimate, Options, estimate_impact
from cim.impact.panel import PanelError, long_panel

__all__ = ["Estimate", "Options", "PanelError", "estimate_impact", "long_panel"]
