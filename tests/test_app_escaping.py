"""Escaped output: partner and configuration text never runs as a spreadsheet formula in a
download, nor as Markdown, HTML or a remote image in the dashboard.

The helpers are tested on their own (real pandas, real openpyxl, a real CommonMark parser),
then the app is run with AppTest on a copy of the published demo snapshot into which hostile
registry and configuration text has been written.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil

import duckdb
import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.export import FORMULA_PREFIXES, csv_bytes, excel_bytes, neutralise, neutralise_cell
from app.text import html_text, md, md_code
from tests.downloads import downloads, keep_downloads
from tests.test_app import run

FORMULA = '=HYPERLINK("http://x","y")'
IMAGE = "![t](http://example.invalid/p.png)"
TAG = '<img src="http://example.invalid/q.png">'
JS_LINK = "[click](javascript:alert(1))"
NEGATIVE_NUMBER = re.compile(r"-\d[\d,]*(?:\.\d+)?")

HOSTILE_TEXTS = [
    FORMULA,
    IMAGE,
    TAG,
    JS_LINK,
    "<script>alert(1)</script>",
    "<https://example.invalid/auto>",
    "see https://example.invalid/x, www.example.invalid or a@example.invalid",
    "**bold** _em_ ~~gone~~ `code` $x^2$ :red[colour] :material/home:",
    "# heading\n- item\n+ item\n1. item\n2) item\n> quote\n---\ntext\n===",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "&lt;img src=x&gt; &amp; \\![t](http://example.invalid/e.png)",
    "[ref]\n\n[ref]: http://example.invalid/ref.png",
]


def commonmark():
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def visible_text(rendered: str) -> str:
    """What a reader sees of rendered HTML: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()


# --- spreadsheet exports -----------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        FORMULA,
        "+1+1",
        "-1+1",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "=",
        "-",
        "-1,234.56e3",
    ],
)
def test_formula_prefixes_get_a_leading_quote(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["Centrum", "'=already quoted", " =1+1", "12.5", "-1", "-0.25", "-1,234.56", "–"]
)
def test_other_text_and_written_out_negative_numbers_are_kept(cell):
    assert neutralise_cell(cell) == cell


@pytest.mark.parametrize("cell", [None, -3, -0.5, 7, True, pd.NA])
def test_non_text_cells_are_untouched(cell):
    assert neutralise_cell(cell) is cell


def hostile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "area": [FORMULA, "@SUM(A1)", "Centrum"],
            "=partner header": ["+1+1", "\t=1", "ok"],
            "value": [-3.5, 0.0, 2.25],
            "count": pd.array([-2, None, 4], dtype="Int64"),
            "flag": [True, False, True],
            "day": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
            "shown": ["-1,234.56", "suppressed", "-0.50"],
        }
    )


def test_neutralise_keeps_numbers_numbers_and_quotes_text():
    frame = hostile_frame()
    safe = neutralise(frame)
    assert list(safe.columns) == [
        "area",
        "'=partner header",
        "value",
        "count",
        "flag",
        "day",
        "shown",
    ]
    assert safe["area"].tolist() == ["'" + FORMULA, "'@SUM(A1)", "Centrum"]
    assert safe["'=partner header"].tolist() == ["'+1+1", "'\t=1", "ok"]
    for col in ["value", "count", "flag", "day"]:
        assert safe[col].dtype == frame[col].dtype
        pd.testing.assert_series_equal(safe[col], frame[col])
    assert safe["shown"].tolist() == ["-1,234.56", "suppressed", "-0.50"]
    assert frame["area"].iloc[0] == FORMULA  # the shown frame itself is not changed


def test_csv_bytes_have_no_formula_cell_and_numbers_read_back_as_numbers():
    data = csv_bytes(hostile_frame())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_PREFIXES) or NEGATIVE_NUMBER.fullmatch(cell), cell
    back = pd.read_csv(io.BytesIO(data))
    assert back["value"].tolist() == [-3.5, 0.0, 2.25]
    assert back["count"].iloc[0] == -2
    assert back["area"].iloc[0] == "'" + FORMULA
    assert back["'=partner header"].tolist() == ["'+1+1", "'\t=1", "ok"]


def test_excel_round_trip_shows_quoted_text_and_keeps_numbers(tmp_path):
    frame = hostile_frame()
    frame.loc[2, "area"] = "bell\x07 and nul\x00 removed"
    file = tmp_path / "export.xlsx"
    file.write_bytes(excel_bytes(frame))
    sheet = openpyxl.load_workbook(file).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)  # openpyxl stored no formula
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["area", "'=partner header", "value"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["'" + FORMULA, "'@SUM(A1)", "bell and nul removed"]
    assert [r[1] for r in rows] == ["'+1+1", "'\t=1", "ok"]
    assert [r[2] for r in rows] == [-3.5, 0, 2.25]
    assert rows[0][3] == -2 and isinstance(rows[0][3], int)
    assert sheet.cell(row=2, column=3).data_type == "n"
    assert [r[6] for r in rows] == ["-1,234.56", "suppressed", "-0.50"]


# --- Markdown and HTML in the app ---------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_md_renders_exactly_the_text_and_nothing_else(text):
    rendered = commonmark().render(md(text))
    assert "<img" not in rendered
    assert "<a " not in rendered
    assert "<script" not in rendered
    for tag in ("<strong", "<em", "<del", "<code", "<h1", "<ul", "<ol", "<blockquote", "<hr"):
        assert tag not in rendered
    assert "<table" not in rendered
    assert "![" not in md(text)
    assert "<img" not in md(text)
    # nothing was interpreted: the reader sees the text itself (line breaks aside)
    assert visible_text(rendered).split() == text.split()


def test_md_leaves_ordinary_names_and_identifiers_alone():
    for text in [
        "Young people (12-24) taking part in youth work, per 100",
        "Registered property crime per 1,000 residents",
        "Early school leavers (%)",
        "youth_participation",
        "04017A",
    ]:
        assert md(text) == text
    assert md(None) == "–"
    assert md(float("nan"), missing="") == ""


def test_md_code_cannot_be_closed_early():
    for text in ["a ` ![f](http://x/f.png)", "``", "`x`", "plain"]:
        rendered = commonmark().render(md_code(text))
        assert rendered.count("<code>") == 1
        assert "<img" not in rendered
        code = re.search(r"<code>(.*)</code>", rendered, re.S).group(1)
        assert html.unescape(code) == text


def test_html_text_for_plotly_labels():
    assert html_text('<img src="x"> & <b>y</b>') == '&lt;img src="x"&gt; &amp; &lt;b&gt;y&lt;/b&gt;'
    assert html_text("Centrum") == "Centrum"


# --- the app on a hostile snapshot --------------------------------------------------------


AREA_NAMES = {
    "04017A": FORMULA,
    "04017B": "@SUM(1+1)*cmd|' /C calc'!A0",
    "04017C": "+1+cmd|' /C calc'!A0",
    "04017D": "\t=1+2",
    "04017E": "-2+3",
    "04017F": f"{TAG} {IMAGE}",
    "04017F001": IMAGE,
    "04017C006": f"{TAG}{JS_LINK}",
}
DESCRIPTION = f"{IMAGE}\n{TAG}\n{JS_LINK}\n<script>alert(1)</script>"


@pytest.fixture
def hostile(demo_build, tmp_path, monkeypatch):
    """A copy of the published demo snapshot with hostile registry and config text."""
    home = tmp_path / "home"
    (home / "published").mkdir(parents=True)
    file = home / "published" / "current.duckdb"
    shutil.copyfile(demo_build.paths.published / "current.duckdb", file)
    con = duckdb.connect(str(file))
    try:
        for area_id, name in AREA_NAMES.items():
            con.execute(
                "UPDATE marts.dim_area SET area_name = ? WHERE area_id = ?", [name, area_id]
            )
        con.execute(
            "UPDATE marts.fct_activities SET action_name = ?, action_description = ?, "
            "partner_name = ? WHERE action_id = 'ACT-014'",
            [FORMULA, DESCRIPTION, IMAGE],
        )
        con.execute(
            "UPDATE marts.fct_action_impact SET action_name = ? WHERE action_id = 'ACT-014'",
            [FORMULA],
        )
        con.execute(
            "UPDATE marts.fct_action_impact SET comparison_rule = ? "
            "WHERE action_id = 'ACT-014' AND indicator_id = 'nuisance_report_rate'",
            [f"{IMAGE} {TAG}"],
        )
        con.execute(
            "UPDATE marts.fct_action_impact SET guard_rails_failed = [?] "
            "WHERE action_id = 'ACT-014' AND indicator_id = 'violent_crime_rate'",
            [f"district only {IMAGE}"],
        )
        con.execute(
            "UPDATE marts.dim_indicator SET indicator_name = ?, definition = ?, unit = ?, "
            "formula = ?, owner_partner_name = ? WHERE indicator_id = 'violent_crime_rate'",
            [
                f"{IMAGE} violent",
                f"{TAG} {FORMULA} {JS_LINK}",
                f"<b>{IMAGE}</b>",
                "a ` " + IMAGE,
                TAG,
            ],
        )
        goal = con.execute(
            "SELECT goal_id FROM marts.dim_indicator WHERE indicator_id = 'violent_crime_rate'"
        ).fetchone()[0]
        con.execute(
            "UPDATE marts.dim_indicator SET goal_name = ?, goal_description = ? WHERE goal_id = ?",
            [IMAGE, f"{TAG}\n- {JS_LINK}", goal],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    monkeypatch.setenv("CIM_HOME", str(home))
    keep_downloads(monkeypatch)
    return file


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page hands to Streamlit to render as Markdown."""
    texts = [
        e.value
        for kind in ("markdown", "caption", "info", "warning", "success", "error")
        for e in getattr(at, kind)
    ]
    texts += [e.value for kind in ("title", "header", "subheader") for e in getattr(at, kind)]
    texts += [m.label for m in at.metric] + [m.help for m in at.metric if m.help]
    texts += [e.label for e in at.expander] + [link.value for link in at.page_link]
    return texts


CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)


def assert_inert(texts: list[str]) -> None:
    """No Markdown image, raw HTML, script or foreign link in any of ``texts``. Inside an
    inline code span (the indicator's formula) text is shown verbatim, so it is checked as
    rendered, not as written."""
    parser = commonmark()
    for text in texts:
        prose = CODE_SPAN.sub("", text)
        assert "![" not in prose, text
        assert "<img" not in text.lower(), text
        assert "<script" not in text.lower(), text
        assert "javascript:" not in prose, text
        rendered = parser.render(text)
        assert "<img" not in rendered, text
        assert "<script" not in rendered, text
        for href in re.findall(r'href="([^"]*)"', rendered):
            assert href.startswith("http://127.0.0.1:"), (
                href,
                text,
            )  # docs; pages use st.page_link


def test_partners_page_shows_registry_text_as_text(hostile):
    at = run("partners")
    texts = markdown_texts(at)
    assert_inert(texts)
    label = next(e.label for e in at.expander if "HYPERLINK" in e.label)
    assert visible_text(commonmark().render(label)) == f"{FORMULA} · {IMAGE}"
    body = next(t for t in texts if "example.invalid/q.png" in t)
    assert visible_text(commonmark().render(body)).split() == DESCRIPTION.split()
    table = at.dataframe[0].value  # the table shows the registry's own words
    assert FORMULA in table["action"].tolist()


def test_indicator_download_and_page_are_escaped(hostile):
    at = run("indicator", indicator="violent_crime_rate", area="04017")
    assert at.radio(key="breakdown_level").value == "district"
    assert_inert(markdown_texts(at))
    about = " ".join(m.value for m in at.markdown)
    assert "HYPERLINK" in about and "example.invalid" in about

    files = downloads(at)
    data = next(v for k, v in files.items() if k.endswith("_district.csv"))  # breakdown
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith("=") for cell in cells)
    for cell in cells:
        assert not cell.startswith(FORMULA_PREFIXES) or NEGATIVE_NUMBER.fullmatch(cell), cell
    areas = [row[0] for row in rows[1:]]  # the area's name comes first
    for area_id in ("04017A", "04017B", "04017C", "04017D", "04017E"):
        assert "'" + AREA_NAMES[area_id] in areas
    assert AREA_NAMES["04017F"] in areas  # starts with "<": no formula, kept as it is
    shown = at.dataframe[0].value  # the page itself shows the names as they are
    assert FORMULA in shown["area"].tolist()

    trend, geo = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    hover = [text for trace in geo["data"] for text in trace.get("text", [])]
    assert any("&lt;img" in h for h in hover)
    assert not any("<img" in h or "<b>" in h for h in hover)
    title = trend["layout"]["yaxis"]["title"]["text"]
    assert "<b>" not in title and "&lt;b&gt;" in title


def test_overview_cards_and_goals_are_escaped(hostile):
    at = run("overview")
    texts = markdown_texts(at)
    assert_inert(texts)
    assert any("violent" in m.label and "example.invalid" in m.label for m in at.metric)


def test_impact_page_design_and_reasons_are_escaped(hostile):
    at = run("impact", action="ACT-014", indicator="nuisance_report_rate")
    texts = markdown_texts(at)
    assert_inert(texts)
    design = " ".join(m.value for m in at.markdown)
    assert "example.invalid" in design  # area names and the rule are there, as text
    at = run("impact", action="ACT-014", indicator="violent_crime_rate")
    texts = markdown_texts(at)
    assert_inert(texts)
    assert any("district only" in t for t in texts)
