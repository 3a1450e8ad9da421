"""When the dashboard may say "better", "worse" or "changed": only where the evidence can
tell (docs/method.md, "Better, worse, about the same").

Pure functions of published figures and their 95% intervals; no Streamlit, so the rule is
tested on its own and every page applies the same one.

- An area against the city: "better" or "worse" only when the two 95% intervals do not
  overlap. Non-overlap is a conservative test (two values whose intervals just touch
  differ at well under the 5% level), which is what a public label should rest on; when
  the city's interval is not known, the city value must lie outside the area's interval.
- A value against its baseline: a change "stands out" only when the baseline lies outside
  the latest value's 95% interval. Otherwise the change is shown, but in neutral words and
  colour: "no change that stands out from chance".
- Without a value or an interval there is no judgement at all (``None``).
"""

from __future__ import annotations

import math
from typing import Literal

Judgement = Literal["better", "worse", "same"]


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _direction(difference: float, direction: str) -> Judgement:
    """A real difference read through the indicator's desired direction."""
    return "better" if (difference < 0) == (direction == "down") else "worse"


def against_reference(
    value: object,
    lower: object,
    upper: object,
    reference: object,
    reference_lower: object = None,
    reference_upper: object = None,
    *,
    direction: str,
) -> Judgement | None:
    """An area's value (with its 95% bounds) against a reference (the city), with the
    reference's bounds when known: "better"/"worse" only when the intervals do not overlap
    (or, without reference bounds, the reference lies outside the area's interval)."""
    v, lo, hi, ref = (_number(x) for x in (value, lower, upper, reference))
    if v is None or ref is None or lo is None or hi is None:
        return None
    ref_lo, ref_hi = _number(reference_lower), _number(reference_upper)
    if ref_lo is None or ref_hi is None:
        ref_lo = ref_hi = ref
    if hi < ref_lo or lo > ref_hi:
        return _direction(v - ref, direction)
    return "same"


def change(
    latest: object, lower: object, upper: object, baseline: object, *, direction: str
) -> Judgement | None:
    """The latest value against its baseline: a change stands out only when the baseline
    lies outside the latest value's 95% interval."""
    v, lo, hi, base = (_number(x) for x in (latest, lower, upper, baseline))
    if v is None or base is None or lo is None or hi is None:
        return None
    if base < lo or base > hi:
        return _direction(v - base, direction)
    return "same"


def delta_colour(judgement: Judgement | None) -> str:
    """``st.metric``'s ``delta_color``: blue for better, orange for worse (a colour-blind
    safe pair), grey where the evidence cannot tell."""
    return {"better": "blue", "worse": "orange"}.get(judgement or "", "gray")
