"""A city is configuration: its areas, partners and feed contracts, in one folder."""

from cim.city.config import Area, City, Partner, load_city
from cim.city.contracts import Column, FeedContract
from cim.city.errors import ConfigError

__all__ = ["Area", "City", "Column", "ConfigError", "FeedContract", "Partner", "load_city"]
