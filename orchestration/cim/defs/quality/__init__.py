"""Great Expectations suites as Dagster asset checks: ERROR blocks publication."""
