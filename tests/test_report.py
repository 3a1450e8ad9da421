"""Council reports (``cim report``, cim.report): every figure in the PDF and the HTML is the
published mart's, written as the dashboard writes it in each language; a suppressed cell
stays suppressed; a name from the city folder stays text; a user's mistake is one line."""

from __future__ import annotations

import html
import io
import re
import shutil

import dagster as dg
import duckdb
import pypdf
import pytest
from cim import settings
from cim.city import load_city
from cim.cli import main
from cim.publish.reader import CURRENT
from cim.report import build_report

from app import data, i18n
from app.i18n import catalog
from tests.conftest import DEMO_CITY

LANGS = ["en", "nl", "fr", "de"]
NAMES: dict[str, str] = {}  # indicator id -> its name in the published agenda
GOAL = "G1-overlast"


def flat(text: str) -> str:
    """Text with every run of white space (line breaks, no-break spaces) as one space."""
    return " ".join(text.split())


def pdf_text(blob: bytes) -> str:
    assert blob.startswith(b"%PDF")
    return flat(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(blob)).pages))


def html_text(blob: bytes) -> str:
    page = blob.decode("utf-8")
    return flat(html.unescape(re.sub(r"<[^>]+>", " ", page)))


def published(paths: settings.Paths, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(paths.published / CURRENT), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def progress_rows(paths: settings.Paths, area_id: str, goal: str | None = None) -> list[tuple]:
    """The published progress of the report's indicators in its area, from the mart."""
    rows = published(
        paths,
        """
        SELECT i.indicator_id, i.indicator_kind, p.latest_value, p.target_value,
               p.target_date, p.status, i.indicator_name
        FROM marts.fct_progress p JOIN marts.dim_indicator i USING (indicator_id)
        WHERE p.area_id = ? AND (? IS NULL OR i.goal_id = ?)
        ORDER BY i.goal_id, i.indicator_id
        """,
        [area_id, goal, goal],
    )
    NAMES.update({r[0]: r[6] for r in rows})
    return [r[:6] for r in rows]


def city_id(paths: settings.Paths) -> str:
    return published(paths, "SELECT area_id FROM marts.dim_area WHERE area_depth = 0")[0][0]


def words(lang: str, key: str, **kwargs) -> str:
    with i18n.speaking(lang):
        return flat(i18n.t(key, **kwargs))


def label(lang: str, key: str, value: str) -> str:
    """A "label: value" line as the report writes it in ``lang``."""
    return flat(catalog(lang)[f"report.{key}"] + catalog(lang)["report.colon"] + value)


def sections(text: str, lang: str, ids: list[str]) -> dict[str, str]:
    """Each indicator's part of the progress chapter: from its name (the city's word in
    ``lang``, else the agenda's as published) to the next one's."""
    with i18n.speaking(lang):
        names = [flat(str(i18n.indicator_text(i, "name", NAMES[i]))) for i in ids]
    starts = [text.index(name) for name in names]
    end = text.index(flat(catalog(lang)["report.actions"]), max(starts))
    bounds = sorted([*starts, end])
    return {
        i: text[start : bounds[bounds.index(start) + 1]]
        for i, start in zip(ids, starts, strict=True)
    }


def check_progress(text: str, lang: str, rows: list[tuple]) -> None:
    """Every published latest value and target next to its indicator's name, in the
    language's number format, with the status in the language's words."""
    found = sections(text, lang, [r[0] for r in rows])
    with i18n.speaking(lang):
        for indicator_id, kind, latest, target, target_date, state in rows:
            part = found[indicator_id]
            digits = data.value_digits({"indicator_kind": kind})
            if latest is None:
                continue
            assert label(lang, "latest", data.fmt(latest, digits)) in part, (lang, indicator_id)
            if target is not None:
                line = i18n.t(
                    "overview.target",
                    value=data.fmt(target, digits),
                    date=data.fmt_date(target_date),
                )
                assert label(lang, "target", line) in part, (lang, indicator_id)
            status = catalog(lang)["status." + state.replace(" ", "_")]
            assert label(lang, "status", status) in part, (lang, indicator_id)
            english = catalog("en")["status." + state.replace(" ", "_")]
            if lang != "en" and english != status:
                assert english not in part, (lang, indicator_id)


@pytest.mark.parametrize("lang", LANGS)
def test_a_goal_report_has_the_published_figures_in_the_language(demo_build, lang):
    paths = demo_build.paths
    text = pdf_text(build_report(paths, goal=GOAL, lang=lang))
    rows = progress_rows(paths, city_id(paths), GOAL)
    assert len(rows) >= 3 and any(r[3] is not None for r in rows)
    check_progress(text, lang, rows)
    snapshot = published(paths, "SELECT manifest->>'snapshot_id' FROM published.manifest")[0][0]
    assert label(lang, "snapshot", snapshot) in text
    # the chapters, in the language
    for key in ("progress", "actions", "coverage", "method"):
        assert flat(catalog(lang)[f"report.{key}"]) in text, key
    check_coverage(text, lang, paths, GOAL)
    check_actions(text, lang, paths, GOAL)


def check_actions(text: str, lang: str, paths: settings.Paths, goal: str) -> None:
    """Each action on the goal's indicators with its estimate and evidence level from
    marts.fct_action_impact, or the guard rails' "insufficient evidence"."""
    rows = published(
        paths,
        """
        SELECT a.action_name, a.result, a.effect, a.effect_lower_95, a.effect_upper_95,
               a.maryland_level
        FROM marts.fct_action_impact a JOIN marts.dim_indicator i USING (indicator_id)
        WHERE i.goal_id = ?
        """,
        [goal],
    )
    assert rows
    start = text.index(flat(catalog(lang)["report.actions"]))
    chapter = text[start : text.index(flat(catalog(lang)["report.coverage"]), start)]
    with i18n.speaking(lang):
        for name, result, effect, lower, upper, level in rows:
            assert flat(name) in chapter
            if result == "estimated":
                assert f"{data.fmt(effect)} " in chapter
                assert f"[{data.fmt(lower)} ; {data.fmt(upper)}]" in chapter
                assert words(lang, "report.level", level=int(level)) in chapter
            else:
                assert flat(catalog(lang)["impact.result.insufficient_evidence"]) in chapter


def check_coverage(text: str, lang: str, paths: settings.Paths, goal: str) -> None:
    """Each of the goal's feeds with its reporting rate from marts.fct_partner_health, and
    the latest run's checks counted from meta.dq_results."""
    feeds = published(
        paths,
        """
        SELECT h.feed_id, h.deliveries_expected, h.deliveries_received, h.reporting_rate
        FROM marts.fct_partner_health h
        WHERE h.feed_id IN (
            SELECT unnest(numerator_feeds) FROM marts.dim_indicator WHERE goal_id = ?
            UNION SELECT denominator_feed FROM marts.dim_indicator WHERE goal_id = ?)
        """,
        [goal, goal],
    )
    assert feeds
    chapter = text[text.index(flat(catalog(lang)["report.coverage"])) :]
    with i18n.speaking(lang):
        for feed, expected, received, rate in feeds:
            part = chapter[chapter.index(feed) :]
            assert data.fmt(received, 0) in part[:200] and data.fmt(expected, 0) in part[:200]
            assert flat(data.fmt_pct(rate)) in part[:200], feed
        (total, failed), *_ = published(
            paths,
            "SELECT count(*), count(*) FILTER (NOT success) FROM meta.dq_results WHERE run_id = "
            "(SELECT run_id FROM meta.dq_results ORDER BY checked_at DESC LIMIT 1)",
        )
        assert words(lang, "health.quality_count", total=total, failed=failed) in chapter


def test_a_report_ending_earlier_shows_the_value_of_its_last_period(demo_build):
    paths = demo_build.paths
    quarter = "2025-Q2"
    expected = published(
        paths,
        """
        SELECT i.indicator_id, i.indicator_kind, v.rolling_12m_value
        FROM marts.fct_indicator_values v
        JOIN marts.dim_indicator i USING (indicator_id)
        JOIN marts.dim_period p USING (period_id)
        WHERE i.goal_id = ? AND i.cadence = 'month' AND v.period_type = 'month'
          AND v.area_id = ? AND v.rolling_12m_value IS NOT NULL
          AND p.end_date = (SELECT end_date FROM marts.dim_period WHERE period_id = ?)
        """,
        [GOAL, city_id(paths), quarter],
    )
    assert expected
    progress_rows(paths, city_id(paths), GOAL)  # the published names
    text = pdf_text(build_report(paths, goal=GOAL, lang="nl", period=quarter))
    assert label("nl", "period", quarter) in text
    found = sections(text, "nl", [r[0] for r in expected])
    with i18n.speaking("nl"):
        for indicator_id, kind, value in expected:
            digits = data.value_digits({"indicator_kind": kind})
            assert label("nl", "latest", data.fmt(value, digits)) in found[indicator_id]


def suppressed_cells(demo_build, area_id: str) -> list[tuple]:
    """The area's suppressed cells with the value the pipeline computed and withheld."""
    return demo_build.query(
        """
        SELECT f.indicator_id, f.period_id, v.value
        FROM marts.fct_indicator_values f
        JOIN intermediate.int_indicator_values v USING (indicator_id, area_id, period_id)
        JOIN marts.dim_indicator i USING (indicator_id)
        WHERE f.suppressed AND f.area_id = ? AND f.period_type = i.cadence AND v.value > 0
        """,
        [area_id],
    )


def area_with_suppression(demo_build) -> str:
    found = demo_build.query(
        """
        SELECT f.area_id
        FROM marts.fct_indicator_values f
        JOIN intermediate.int_indicator_values v USING (indicator_id, area_id, period_id)
        WHERE f.suppressed AND v.value > 0 AND f.area_level = 'neighbourhood'
        GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1
        """
    )
    assert found, "the demo has suppressed cells with a value behind them"
    return found[0][0]


@pytest.mark.parametrize("lang", LANGS)
def test_an_area_report_keeps_suppressed_cells_suppressed(demo_build, lang):
    paths = demo_build.paths
    area_id = area_with_suppression(demo_build)
    text = pdf_text(build_report(paths, area=area_id, lang=lang))
    rows = progress_rows(paths, area_id)
    check_progress(text, lang, rows)
    cells = suppressed_cells(demo_build, area_id)
    assert cells
    with i18n.speaking(lang):
        for _indicator_id, _period_id, value in cells:
            shown = data.fmt(value, 2)
            assert not re.search(rf"(?<![\d.,]){re.escape(shown)}(?![\d])", text), shown
    # an indicator whose latest cell is suppressed says so, in the language, with no value
    latest_suppressed = published(
        paths,
        """
        SELECT v.indicator_id, v.period_id FROM marts.fct_indicator_values v
        JOIN marts.dim_indicator i USING (indicator_id)
        JOIN marts.dim_period p USING (period_id)
        WHERE v.area_id = ? AND v.period_type = i.cadence
        QUALIFY row_number() OVER (PARTITION BY v.indicator_id ORDER BY p.start_date DESC) = 1
            AND v.suppressed
        """,
        [area_id],
    )
    assert latest_suppressed
    found = sections(text, lang, [r[0] for r in latest_suppressed])
    for indicator_id, period_id in latest_suppressed:
        part = found[indicator_id]
        assert label(lang, "latest", catalog(lang)["suppressed"]) in part
        assert words(lang, "report.suppressed_latest", period=period_id) in part


def test_the_html_report_has_the_same_figures_and_a_hostile_name_stays_text(demo_build, tmp_path):
    """The city's name comes from the areas file: a name with markup is shown as written."""
    home = settings.Paths(tmp_path / "home")
    home.published.mkdir(parents=True)
    shutil.copy(demo_build.paths.published / CURRENT, home.published / CURRENT)
    hostile = '<script>alert("x")</script> Leiestad & *Co* #set'
    con = duckdb.connect(str(home.published / CURRENT))
    try:
        con.execute("UPDATE marts.dim_area SET area_name = ? WHERE area_depth = 0", [hostile])
    finally:
        con.close()
    page = build_report(home, goal=GOAL, lang="en", fmt="html")
    assert page.lstrip().lower().startswith(b"<!doctype html>")
    assert b"<script" not in page.lower()
    assert b"http://" not in page and b"https://" not in page.replace(
        b"http://www.w3.org/2000/svg", b""
    )  # self-contained: nothing to fetch
    text = html_text(page)
    assert flat(hostile) in text
    rows = progress_rows(home, city_id(home), GOAL)
    check_progress(text, "en", rows)
    pdf = pdf_text(build_report(home, goal=GOAL, lang="en"))
    assert flat(hostile) in pdf
    check_progress(pdf, "en", rows)


def test_stories_show_under_their_indicator(demo_build):
    class Note:
        def __init__(self, indicator_id: str, body: str):
            self.indicator_id, self.area_id, self.period_id = indicator_id, None, "2026-06"
            self.body, self.author, self.created_at = body, "A. Janssens", "2026-07-01"

    rows = progress_rows(demo_build.paths, city_id(demo_build.paths), GOAL)
    first, second = rows[0][0], rows[1][0]
    stories = [Note(first, "Night buses ran again from May."), Note("not_in_goal", "Elsewhere.")]
    text = pdf_text(build_report(demo_build.paths, goal=GOAL, lang="en", stories=stories))
    found = sections(text, "en", [first, second])
    assert "Night buses ran again from May." in found[first]
    assert "A. Janssens" in found[first]
    assert "Night buses" not in found[second]
    assert "Elsewhere." not in text


def test_cim_report_tells_the_approved_version_of_each_story_only(
    demo_build, monkeypatch, tmp_path
):
    """The notes the backbone approved in the app state, and none it did not: a revision
    awaiting approval leaves the approved text in the report."""
    from cim.appstate import open_state

    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    monkeypatch.setenv("CIM_APP_DB", f"sqlite:///{tmp_path / 'state.sqlite'}")
    state = open_state()
    first = progress_rows(demo_build.paths, city_id(demo_build.paths), GOAL)[0][0]
    told = state.notes.add(first, "Street lighting fixed on the main square.", author="bb")
    state.notes.approve(told.note_id, told.version, approver="bb")
    state.notes.revise(told.note_id, "A draft nobody approved yet.", author="bb")
    state.notes.add(first, "Unapproved partner note.", author="housing-1", partner_id="housing")
    output = tmp_path / "report.pdf"
    assert main(["report", "--goal", GOAL, "--lang", "en", "--output", str(output)]) == 0
    text = pdf_text(output.read_bytes())
    assert "Street lighting fixed on the main square." in text
    assert "A draft nobody approved yet." not in text
    assert "Unapproved partner note." not in text


def test_unknown_goal_or_area_is_one_line_naming_the_valid_ones(demo_build, monkeypatch, capsys):
    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    goals = [
        g
        for (g,) in published(demo_build.paths, "SELECT DISTINCT goal_id FROM marts.dim_indicator")
    ]
    assert main(["report", "--goal", "G9-nope", "--lang", "en"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "G9-nope" in err
    assert all(g in err for g in goals)
    assert main(["report", "--area", "nowhere", "--lang", "nl"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err and city_id(demo_build.paths) in err
    assert "onbekend" in err  # in the language asked for


def test_nothing_published_is_said_plainly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CIM_HOME", str(tmp_path / "empty"))
    assert main(["report", "--goal", GOAL, "--lang", "en"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "nothing is published" in err and "make pipeline" in err


def test_the_command_writes_the_file_it_names(demo_build, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    output = tmp_path / "out" / "report.html"
    assert main(["report", "--goal", GOAL, "--format", "html", "--output", str(output)]) == 0
    assert capsys.readouterr().out.strip() == str(output)
    assert output.read_bytes().lower().startswith(b"<!doctype html>")


def test_the_quarterly_asset_writes_every_goal_next_to_its_snapshot(demo_build, tmp_path):
    from cim.defs.report.assets import reports
    from cim.defs.resources import Deployment

    paths = demo_build.copy_to(tmp_path)
    city = load_city(DEMO_CITY)
    result = dg.materialize(
        [reports], resources={"deployment": Deployment(home=str(paths.home)), "city": city}
    )
    assert result.success
    snapshot = published(paths, "SELECT manifest->>'snapshot_id' FROM published.manifest")[0][0]
    lang = city.settings.languages[0]
    folder = paths.published / "reports" / snapshot
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{g.id}-{lang}.pdf" for g in city.agenda.goals
    )
    for goal in city.agenda.goals:
        assert snapshot in pdf_text((folder / f"{goal.id}-{lang}.pdf").read_bytes())


def test_the_overview_and_the_area_page_offer_their_report(demo_build, monkeypatch):
    from tests.test_app import run

    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    goals = published(demo_build.paths, "SELECT count(DISTINCT goal_id) FROM marts.dim_indicator")
    label = catalog("nl")["report.download"]

    def offered(at) -> list[str]:
        return [b.proto.label for b in at.get("download_button") if b.proto.label == label]

    assert len(offered(run("overview", lang="nl"))) == goals[0][0]
    assert len(offered(run("area", area="04017A", lang="nl"))) == 1
