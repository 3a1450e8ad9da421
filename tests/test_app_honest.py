"""The dashboard on the demo city says only what the evidence allows (issue 16): every
"better"/"worse" rests on non-overlapping 95% intervals, a change inside the noise is
neutral, charts break at gaps and never draw without data, ids stay in technical details."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from tests.test_app import CITY, run

pytestmark = pytest.mark.usefixtures("published")


def values(array) -> list:
    """A plotly array as a list: plain JSON, or a typed array ({dtype, bdata})."""
    if isinstance(array, dict):
        raw = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        return [None if isinstance(v, float) and math.isnan(v) else v for v in raw.tolist()]
    return list(array or [])


def _intervals(published, area_id: str) -> dict[str, tuple]:
    rows = published(
        "SELECT i.indicator_name || ' (' || i.unit || ')', a.latest_lower_95, a.latest_upper_95,"
        " c.latest_lower_95, c.latest_upper_95, c.latest_value "
        "FROM marts.fct_progress a JOIN marts.fct_progress c "
        "ON c.indicator_id = a.indicator_id AND c.area_id = ? "
        "JOIN marts.dim_indicator i ON i.indicator_id = a.indicator_id WHERE a.area_id = ?",
        [CITY, area_id],
    )
    return {name: rest for name, *rest in rows}


def test_every_better_or_worse_on_every_area_profile_rests_on_separate_intervals(
    published,
):
    areas = [a for (a,) in published("SELECT area_id FROM marts.dim_area WHERE area_depth > 0")]
    labels, same = 0, 0
    for area_id in areas:
        table = run("area", area=area_id).dataframe[0].value.set_index("indicator")
        bounds = _intervals(published, area_id)
        for name, verdict in table["compared with the city"].items():
            if verdict in ("better", "worse"):
                labels += 1
                lo, hi, city_lo, city_hi, _ = bounds[name]
                assert hi < city_lo or lo > city_hi, (area_id, name, bounds[name])
            elif verdict == "about the same":
                same += 1
                lo, hi, city_lo, city_hi, _ = bounds[name]
                assert not (hi < city_lo or lo > city_hi), (area_id, name)
    # the demo has both: real differences, and differences inside the noise
    assert labels > 0 and same > 0, (labels, same)


def test_a_change_inside_the_interval_is_neutral_on_the_overview(published):
    at = run("overview")
    rows = published(
        "SELECT i.indicator_name, p.change_since_baseline, "
        "p.baseline_value BETWEEN p.latest_lower_95 AND p.latest_upper_95 "
        "FROM marts.fct_progress p JOIN marts.dim_indicator i USING (indicator_id) "
        "WHERE p.area_id = ? AND p.change_since_baseline IS NOT NULL "
        "AND p.latest_lower_95 IS NOT NULL",
        [CITY],
    )
    colours = {m.label: m.proto.color for m in at.metric}
    assert rows
    neutral = [name for name, _, inside in rows if inside]
    assert neutral, "the demo city has a change inside the noise"
    gray, blue, orange = 2, 5, 3  # st.metric's MetricColor
    for name, _, inside in rows:
        # grey where the evidence cannot tell; blue or orange only where it can
        assert colours[name] == (gray if inside else colours[name]), name
        assert inside or colours[name] in (blue, orange), name
    text = " ".join(c.value for c in at.caption)
    assert "No change since the baseline that stands out from chance." in text
    # the snapshot id is a technical detail, not in the page's captions outside it
    (snapshot,) = published("SELECT manifest->>'snapshot_id' FROM published.manifest")[0]
    outside = [c.value for c in at.main.caption if snapshot in c.value]
    inside = [c.value for e in at.expander for c in e.caption if snapshot in c.value]
    assert inside and len(outside) == len(inside)


def test_an_area_without_values_says_so_instead_of_an_empty_chart(published):
    """The reported defect: property crime in the small neighbourhood 04017F drew charts
    without a single point."""
    at = run("indicator", indicator="property_crime_rate", area="04017F")
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        points = [
            v
            for trace in spec["data"]
            for v in values(trace.get("y") or trace.get("locations"))
            if v is not None
        ]
        assert points, "a chart without data"


def test_the_trend_band_breaks_at_a_gap(published):
    """youth participation misses one delivery (2025-07): the 12-month band stops before
    the gap and starts again after it, never one shape across it."""
    at = run("indicator", indicator="youth_participation_share", area=CITY)
    trend = json.loads(at.get("plotly_chart")[0].proto.spec)
    [line] = [d for d in trend["data"] if d.get("mode") == "lines+markers"]
    assert line.get("connectgaps") is False
    drawn = values(line["y"])
    # the gap is in the drawn series, between values
    assert any(v is None for v in drawn) and any(v is not None for v in drawn)
    captions = " ".join(c.value for c in at.caption)
    assert "No value for" in captions and "2025-07" in captions


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_trend_charts_are_said_in_words(published, lang):
    """Under each trend chart, a sentence a screen reader can read: the latest published
    value and interval, in the reader's words and number format, from the snapshot."""
    from app.data import fmt
    from app.i18n import catalog
    from app.series import scale_of

    scale = scale_of("month")
    period, value, lower, upper, missing = published(
        f"WITH s AS (SELECT period_id, {scale.value} v, {scale.lower} lo, {scale.upper} hi "
        "FROM marts.fct_indicator_values WHERE indicator_id = 'property_crime_rate' "
        "AND area_id = ? AND period_type = 'month') "
        "SELECT arg_max(period_id, period_id) FILTER (WHERE v IS NOT NULL), "
        "arg_max(v, period_id) FILTER (WHERE v IS NOT NULL), "
        "arg_max(lo, period_id) FILTER (WHERE v IS NOT NULL), "
        "arg_max(hi, period_id) FILTER (WHERE v IS NOT NULL), "
        "count(*) FILTER (WHERE v IS NULL) FROM s",
        [CITY],
    )[0]
    at = run("indicator", indicator="property_crime_rate", area=CITY, lang=lang)
    start = catalog(lang)["indicator.chart_summary"].split("{")[0]
    (said,) = [c.value for c in at.caption if c.value.startswith(start)]
    with pytest.MonkeyPatch.context() as env:
        env.setattr("app.i18n.lang", lambda: lang)
        for figure in (fmt(value), fmt(lower), fmt(upper)):
            assert figure in said, (figure, said)
    assert period in said
    assert f" {missing} " in said
    at = run("impact", action="ACT-014", indicator="nuisance_report_rate", lang=lang)
    start = catalog(lang)["impact.chart_summary"].split("{")[0]
    assert [c.value for c in at.caption if c.value.startswith(start)]
