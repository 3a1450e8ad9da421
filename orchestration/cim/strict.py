"""The one base of every configuration model: unknown keys are errors, values are frozen.

A misspelt key in a city's YAML must fail ``cim check-config`` with its name, not be
ignored while a default silently applies.
"""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
