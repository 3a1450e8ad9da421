"""Dagster code location of Collective Impact Monitor.

Definitions are discovered: every module under ``cim/defs`` contributes its own
``dg.Definitions`` (assets, checks, sensors, jobs, resources), built from the city that
``CIM_CITY`` names, read once per load. The city and the data folder (``CIM_HOME``) come
from the environment, so the same code serves any city.
"""

import dagster as dg

from cim import settings
from cim.defs.resources import forget_loaded


@dg.definitions
def defs() -> dg.Definitions:
    forget_loaded()
    return dg.load_from_defs_folder(project_root=settings.REPO_ROOT)
