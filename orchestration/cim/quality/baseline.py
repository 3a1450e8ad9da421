"""The baseline suite of a feed, derived from its contract every time it runs.

Nothing here is written per feed: a new contract gets these checks for free.

- required columns are not empty (a partner-suppressed value such as "<5" counts as given);
- columns with ``allowed`` values hold only those;
- numeric columns with ``min``/``max`` stay in range (ingestion no longer rejects these
  rows, so this is where they are caught, as ERROR);
- the delivery period is not after the current period and not before ``start_period``.
"""

from __future__ import annotations

import datetime as dt

from cim.city import City, FeedContract
from cim.city.contracts import NUMERIC_TYPES, Column
from cim.periods import period_index, period_of
from cim.quality.outcome import ERROR
from cim.quality.rules import PERIODS, ROWS, Rule

PRESENT_SUFFIX = "_or_suppressed"


def _number(value: float) -> str:
    return f"{value:g}"


def default_advice(city: City, contract: FeedContract) -> str:
    partner = city.partner_by_id.get(contract.partner)
    contact = city.contact_for(contract)
    who = partner.name if partner else contract.partner
    return f"ask {who} ({contact.email}) to correct the file and resend it"


def _column_rules(contract: FeedContract, column: Column, advice: str, source: str) -> list[Rule]:
    label = f"{column.name} ({column.header!r})"
    rules = []
    if column.required:
        suppressible = bool(contract.suppressed_markers) and column.type in NUMERIC_TYPES
        target = column.name + (PRESENT_SUFFIX if suppressible else "")
        rules.append(
            Rule(
                name=f"{column.name} is given",
                expect="expect_column_values_to_not_be_null",
                kwargs={"column": target},
                severity=ERROR,
                problem=f"{label} is empty although the contract requires it",
                advice=advice,
                source=source,
            )
        )
    if column.allowed is not None:
        numeric = column.type in NUMERIC_TYPES
        values = [float(v) for v in column.allowed] if numeric else list(column.allowed)
        rules.append(
            Rule(
                name=f"{column.name} is one of the allowed values",
                expect="expect_column_values_to_be_in_set",
                kwargs={"column": column.name, "value_set": values},
                severity=ERROR,
                problem=f"{label} is not one of {', '.join(column.allowed)}",
                advice=advice,
                source=source,
            )
        )
    if column.min is not None or column.max is not None:
        low, high = column.min, column.max
        kwargs = {"column": column.name} | ({"min_value": low} if low is not None else {})
        kwargs |= {"max_value": high} if high is not None else {}
        if low is not None and high is not None:
            name = f"{column.name} between {_number(low)} and {_number(high)}"
            problem = f"{label} outside {_number(low)}..{_number(high)}"
        elif low is not None:
            name, problem = f"{column.name} >= {_number(low)}", f"{label} below {_number(low)}"
        else:
            name, problem = f"{column.name} <= {_number(high)}", f"{label} above {_number(high)}"
        rules.append(
            Rule(
                name,
                "expect_column_values_to_be_between",
                kwargs,
                ERROR,
                ROWS,
                problem,
                advice,
                source,
            )
        )
    return rules


def baseline_rules(city: City, contract: FeedContract, today: dt.date) -> list[Rule]:
    source = f"contract feeds/{contract.feed}.yaml"
    advice = default_advice(city, contract)
    rules = [
        rule
        for column in contract.stored_columns
        for rule in _column_rules(contract, column, advice, source)
    ]
    grain = contract.period.grain
    current = period_of(today, grain)
    if current is not None:
        rules.append(
            Rule(
                name=f"delivery period not after {current}",
                expect="expect_column_values_to_be_between",
                kwargs={"column": "period_index", "max_value": period_index(current, grain)},
                severity=ERROR,
                frame=PERIODS,
                problem=f"the file covers a period after the current one ({current})",
                advice="check the period in the file name; rename the file or ask for the "
                "right period and resend",
                source=source,
            )
        )
    start = period_index(contract.start_period, grain)
    if start is not None:
        rules.append(
            Rule(
                name=f"delivery period not before {contract.start_period}",
                expect="expect_column_values_to_be_between",
                kwargs={"column": "period_index", "min_value": start},
                severity=ERROR,
                frame=PERIODS,
                problem=f"the file covers a period before the feed's start_period "
                f"({contract.start_period})",
                advice="check the period in the file name, or move start_period in the contract",
                source=source,
            )
        )
    return rules
