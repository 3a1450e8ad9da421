"""The significance rule and the gap rule, on their own (app.judgement, app.series)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from app import judgement
from app.series import complete, gaps, latest_run, runs, scale_of

NAN = float("nan")


@pytest.mark.parametrize(
    ("area", "city", "direction", "expected"),
    [
        # intervals apart: the direction decides
        ((10, 8, 12), (20, 18, 22), "down", "better"),
        ((10, 8, 12), (20, 18, 22), "up", "worse"),
        ((30, 28, 32), (20, 18, 22), "down", "worse"),
        # overlapping intervals: however far the values, "about the same"
        ((10, 5, 19), (20, 18, 22), "down", "same"),
        ((10, 8, 18.5), (20, 18, 22), "down", "same"),
        # touching intervals overlap
        ((10, 8, 18), (20, 18, 22), "down", "same"),
    ],
)
def test_better_or_worse_only_when_the_intervals_do_not_overlap(area, city, direction, expected):
    assert judgement.against_reference(*area, *city, direction=direction) == expected


def test_the_city_value_inside_the_areas_interval_is_about_the_same():
    """The reported defect: the city value within the area's own 95% interval was called
    better or worse."""
    assert judgement.against_reference(4.0, 2.5, 7.9, 5.1, direction="down") == "same"
    assert judgement.against_reference(4.0, 2.5, 4.9, 5.1, direction="down") == "better"


@pytest.mark.parametrize("missing", [None, NAN, pd.NA, "x"])
def test_no_value_or_no_interval_gives_no_judgement(missing):
    assert judgement.against_reference(missing, 1, 2, 3, direction="up") is None
    assert judgement.against_reference(1, missing, 2, 3, direction="up") is None
    assert judgement.against_reference(1, 0, 2, missing, direction="up") is None
    assert judgement.change(1, 0, missing, 3, direction="up") is None


def test_a_change_stands_out_only_when_the_baseline_lies_outside_the_interval():
    # -14% with the baseline inside the interval: not a change to colour
    assert judgement.change(86, 70, 103, 100, direction="down") == "same"
    assert judgement.delta_colour(judgement.change(86, 70, 103, 100, direction="down")) == "gray"
    assert judgement.change(86, 80, 92, 100, direction="down") == "better"
    assert judgement.change(86, 80, 92, 100, direction="up") == "worse"
    assert judgement.delta_colour("better") == "blue"
    assert judgement.delta_colour("worse") == "orange"
    assert judgement.delta_colour(None) == "gray"


def _series(values: list[float | None], months: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period_id": months,
            "start_date": pd.to_datetime([f"{m}-01" for m in months]),
            "value": [NAN if v is None else v for v in values],
        }
    )


def test_a_period_without_a_row_becomes_a_gap_not_a_bridge():
    calendar = _series([None] * 6, [f"2024-0{i}" for i in range(1, 7)])[["period_id", "start_date"]]
    s = _series([1, 2, 5, 6], ["2024-01", "2024-02", "2024-05", "2024-06"])
    full = complete(s, calendar)
    assert full["period_id"].tolist() == [f"2024-0{i}" for i in range(1, 7)]
    assert math.isnan(full.loc[2, "value"]) and math.isnan(full.loc[3, "value"])
    assert [r["period_id"].tolist() for r in runs(full, "value")] == [
        ["2024-01", "2024-02"],
        ["2024-05", "2024-06"],
    ]
    assert gaps(full, "value") == [("2024-03", "2024-04")]


def test_leading_and_trailing_empty_periods_are_not_gaps_between_values():
    s = _series([None, 1, None, 2, None], [f"2024-0{i}" for i in range(1, 6)])
    assert gaps(s, "value") == [("2024-03", "2024-03")]
    assert gaps(_series([None, None], ["2024-01", "2024-02"]), "value") == []


def test_the_sparkline_is_the_latest_stretch_of_one_scale():
    """The reported defect: a missing 12-month value was filled with a single month (4.8
    to 0.4). The sparkline reads one column only and stops at the gap."""
    s = _series([4.7, 4.8, None, 4.9, 5.0], [f"2024-0{i}" for i in range(1, 6)])
    assert latest_run(s, "value") == [4.9, 5.0]
    assert latest_run(_series([None], ["2024-01"]), "value") == []
    assert scale_of("month").value == "rolling_12m_value"
    assert scale_of("quarter").rolling and not scale_of("year").rolling
    assert scale_of("school_year").value == "value"


# --- dates on chart axes in the reader's language -------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en", "Oct 2025"), ("nl", "okt 2025"), ("fr", "oct. 2025"), ("de", "Okt. 2025")],
)
def test_date_axis_speaks_the_reader_language(monkeypatch, lang, expected):
    import pandas as pd
    import plotly.graph_objects as go

    from app import i18n

    monkeypatch.setattr(i18n, "lang", lambda: lang)
    months = pd.date_range("2025-01-01", "2026-03-01", freq="MS")
    figure = i18n.localised(go.Figure(go.Scatter(x=months, y=list(range(len(months))))))
    axis = figure.layout.xaxis
    assert expected in axis.ticktext  # every 3 months over 14 months: Jan, Apr, Jul, Oct
    assert len(axis.tickvals) == len(axis.ticktext) == 5
    assert axis.hoverformat == "%Y-%m"  # hover dates as numbers, alike in every language
    # more than three years: one tick a year, on January, written as the year
    years = pd.date_range("2020-03-01", "2025-10-01", freq="MS")
    figure = i18n.localised(go.Figure(go.Scatter(x=years, y=list(range(len(years))))))
    assert figure.layout.xaxis.ticktext == ("2021", "2022", "2023", "2024", "2025")
    # an axis of numbers (the event study's periods) is left alone
    figure = i18n.localised(go.Figure(go.Scatter(x=[-2, -1, 0, 1], y=[0, 0, 1, 1])))
    assert figure.layout.xaxis.ticktext is None
