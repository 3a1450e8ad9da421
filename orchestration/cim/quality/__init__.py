"""Data quality with Great Expectations, offline: raw feeds and marts, with readable outcomes.

    from cim.quality import run_feed_suite, run_mart_suite, write_results, build_data_docs

Suites are the feed contract's baseline plus the YAML rules in ``expectations/``; see
docs/quality.md. Great Expectations is imported on first use, not with this package.
"""

from cim.quality.docs import build_data_docs
from cim.quality.outcome import ERROR, WARN, CheckOutcome
from cim.quality.results import read_results, write_results
from cim.quality.suites import run_feed_suite, run_mart_suite

__all__ = [
    "ERROR",
    "WARN",
    "CheckOutcome",
    "build_data_docs",
    "read_results",
    "run_feed_suite",
    "run_mart_suite",
    "write_results",
]
