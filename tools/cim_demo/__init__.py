"""Deterministic demo-city generator: fake but realistic partner deliveries for a city.

Everything city- and demo-specific is read from the city folder (``demo.yaml``, the feed
contracts, ``areas.csv``); see docs/demo-city.md. A tool beside the runtime, not part of
it: it may use ``cim`` (the period calendar, settings), ``cim`` never imports it.
"""

from cim_demo.generator import generate_demo_city
from cim_demo.spec import DemoSpec, load_demo_spec

__all__ = ["DemoSpec", "generate_demo_city", "load_demo_spec"]
