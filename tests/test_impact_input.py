"""`cim impact PANEL.csv` reads any reasonable panel and answers a bad one with a message
naming the problem and exit code 2, never a traceback: the command's own entry point
(``cim.cli.main``, in process: an exception fails the test), and the installed command in a
subprocess for the cases that show what a user's terminal sees."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest
from cim.cli import main
from cim.impact import long_panel

from tests.conftest import REPO
from tests.test_impact import synthetic_panel

CIM = str(REPO / ".venv" / "bin" / "cim")
FAST = ["--max-placebo-sets", "100"]


def _cim(*args: str, real: bool = False) -> subprocess.CompletedProcess:
    argv = ["impact", *map(str, args)]
    if real:  # the installed command: what a user's terminal shows
        return subprocess.run(
            [CIM, *argv], capture_output=True, text=True, timeout=300, check=False
        )
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _panel(**kwargs) -> pd.DataFrame:
    return synthetic_panel(**{"areas": 8, "treated": 3, "periods": 12, **kwargs})


def _csv(tmp_path, frame: pd.DataFrame, name: str = "panel.csv", **kwargs) -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False, **kwargs)
    return str(path)


def _json(tmp_path, frame: pd.DataFrame, *args: str, **kwargs) -> dict:
    done = _cim(_csv(tmp_path, frame, **kwargs), "--multiplier", 1000, "--json", *FAST, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _refused(done: subprocess.CompletedProcess, *words: str) -> str:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "np." not in output  # no numpy reprs like np.int64(1970)
    assert done.stderr.startswith("impact: ")
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


def _text(rows: list[str]) -> str:
    return "\n".join(rows) + "\n"


HEADER = "area,period,treated,post,value"
GOOD = [f"{a},{t},{int(a == 'A')},{int(a == 'A' and t >= 3)},{t}" for a in "ABC" for t in range(5)]


@pytest.mark.parametrize(
    ("content", "args", "words"),
    [
        (
            _text([HEADER] + [r[:4] + "0,0" + r[7:] for r in GOOD]),
            [],
            ["no area is treated: the treated (or treatment) column is 0 everywhere"],
        ),
        (_text([HEADER, *GOOD[:4], "NaN,4,0,0,1"]), [], ["row 5", "area code is missing", "'NaN'"]),
        (_text([HEADER, *GOOD[:4], ",4,0,0,1"]), [], ["row 5", "CSV line 6"]),
        (_text([HEADER, *GOOD[:6], "B,1,0,0,inf"]), [], ["column 'value', row 7", "infinite"]),
        (_text([HEADER, *GOOD[:6], "B,1,0,0,1e400"]), [], ["column 'value', row 7", "'1e400'"]),
        (_text([HEADER, *GOOD[:2], "A,2,1,0,-Infinity"]), [], ["row 3", "infinite"]),
        (_text([HEADER, *GOOD[:2], "A,2,1,0,lots"]), [], ["row 3", "'lots' is not a number"]),
        (_text([HEADER, *GOOD[:2], "A,2,2,0,1"]), [], ["column 'treated', row 3: '2'"]),
        (_text([HEADER, *GOOD[:2], "A,2,1,1,2,3,4"]), [], ["Expected 5 fields in line 4, saw 7"]),
        ("", [], ["has no rows"]),
        ("\n\n", [], ["has no rows"]),
        (_text([HEADER]), [], ["has no rows"]),
        (_text([HEADER, *GOOD]), ["--treated", "value", "--post", "value"], ["duplicate roles"]),
        (_text([HEADER, *GOOD]), ["--treated", "post"], ["duplicate roles", "'post'"]),
        (
            _text(["buurt,periode,t,p,value", *GOOD]),
            ["--area", "wijk"],
            ["no column 'wijk'", "'buurt', 'periode', 't', 'p', 'value'"],
        ),
        (
            _text(["buurt,periode", "A,2024-01"]),
            [],
            ["lacks column(s) ['area', 'period', 'treated', 'post']", "'buurt', 'periode'"],
        ),
        (
            _text(["area;period;treated;post;value", *(r.replace(",", ";") for r in GOOD)]),
            ["--sep", ","],
            ["looks ';'-separated: pass --sep ';'"],
        ),
        (
            _text([HEADER, *GOOD[:5], "B,2020-03,0,0,1"]),
            [],
            ["mixes numbers and text", "'2020-03'"],
        ),
        (
            _text([HEADER, "A,2024-3,1,0,1", "A,2024-10,1,1,2", "B,2024-3,0,0,1"]),
            [],
            ["more than one way", "'2024-3'", "'2024-10'"],
        ),
        (
            _text(
                ["area,period,treatment,value"]
                + [f"{a},{t},{int(a == 'A' and 3 <= t < 5)},{t}" for a in "ABC" for t in range(7)]
            ),
            [],
            ["area 'A'", "from period 3 but 0 again in period 5", "action that stops"],
        ),
        (_text([HEADER, *GOOD, "A,1,1,0,9"]), [], ["area 'A', period 1 appears twice"]),
    ],
)
def test_bad_panels_get_a_message_and_exit_code_2(tmp_path, content, args, words):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    _refused(_cim(path, *args), *words)


def test_files_that_cannot_be_read(tmp_path):
    _refused(_cim(tmp_path / "missing.csv", real=True), "does not exist")
    _refused(_cim(tmp_path, real=True), "is a folder")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(_text([HEADER, "Zuid\xe9,1,1,0,1"]).encode("latin-1"))
    _refused(_cim(latin, real=True), "not UTF-8", "line 2", "Save the file as UTF-8")


def test_delimiters_are_sniffed_and_a_bom_is_fine(tmp_path):
    panel = _panel()
    expected = _json(tmp_path, panel)["effect"]
    for sep in [";", "\t", "|"]:
        assert _json(tmp_path, panel, sep=sep)["effect"] == pytest.approx(expected, rel=1e-12)
    assert _json(tmp_path, panel, "--sep", "\\t", sep="\t")["effect"] == pytest.approx(expected)
    assert _json(tmp_path, panel, encoding="utf-8-sig")["effect"] == pytest.approx(expected)


def test_decimal_commas_in_a_semicolon_file(tmp_path):
    panel = _panel().assign(value=lambda p: p["numerator"] / p["denominator"] * 1000)
    panel = panel.drop(columns=["numerator", "denominator"])
    expected = _json(tmp_path, panel)["effect"]
    path = tmp_path / "comma.csv"
    panel.to_csv(path, index=False, sep=";", decimal=",")
    assert "," in path.read_text().splitlines()[1]
    done = _cim(path, "--json", *FAST)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["effect"] == pytest.approx(expected, rel=1e-12)


def test_missing_outcomes_are_left_out_and_counted(tmp_path):
    panel = _panel().astype({"numerator": object, "denominator": object})
    panel.loc[[3, 40], "numerator"] = "n/a"
    panel.loc[50, "numerator"] = ""
    panel.loc[60, "numerator"] = "."
    panel.loc[70, "denominator"] = 0
    path = _csv(tmp_path, panel)
    done = _cim(path, "--multiplier", 1000, *FAST, real=True)
    assert done.returncode == 0, done.stderr
    assert "Rows left out: 4 no outcome (empty or n/a), 1 zero denominator" in done.stdout
    result = _json(tmp_path, panel)
    assert result["rows_dropped"] == {"no outcome (empty or n/a)": 4, "zero denominator": 1}
    kept = panel.drop(index=[3, 40, 50, 60, 70])
    assert result["effect"] == pytest.approx(_json(tmp_path, kept)["effect"], rel=1e-12)
    assert _json(tmp_path, kept)["rows_dropped"] == {}


def test_treatment_layout_equals_treated_and_post(tmp_path):
    """The synthdid / pyfixest shape (Proposition 99: State;Year;PacksPerCapita;treated
    with treated 1 for California from 1989) gives the same estimate."""
    panel = _panel().assign(period=lambda p: p["period"].str[1:].astype(int) + 1980)
    expected = _json(tmp_path, panel)
    d = panel.assign(treated=panel["treated"] * panel["post"]).drop(columns=["post"])
    d = d.rename(columns={"area": "State", "period": "Year", "numerator": "packs"})
    path = tmp_path / "prop99.csv"
    d.to_csv(path, index=False, sep=";")
    done = _cim(
        path,
        *["--area", "State", "--period", "Year", "--treatment", "treated"],
        *["--numerator", "packs", "--multiplier", 1000, "--json", *FAST],
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for key in ["effect", "cluster_se", "placebo_lower", "placebo_upper", "n_treated"]:
        assert got[key] == pytest.approx(expected[key], rel=1e-12), key


def test_both_layouts_at_once_are_refused(tmp_path):
    panel = _panel().assign(treatment=lambda p: p["treated"] * p["post"])
    _refused(_cim(_csv(tmp_path, panel)), "treatment column and treated/post")


def test_integer_periods_sort_as_numbers_and_a_lone_period_is_counted(tmp_path):
    rows = [
        {"area": a, "period": str(t), "treated": str(int(a == "A")), "post": str(int(t >= 6))}
        | {"value": str(t + (a == "A") * (t >= 6))}
        for a in "ABCD"
        for t in range(1, 13)
    ]
    rows.append({"area": "B", "period": "99", "treated": "0", "post": "1", "value": "1"})
    panel = long_panel(pd.DataFrame(rows))
    assert panel.periods == list(range(1, 13))  # '9' < '10'; 99 only area B has
    assert panel.dropped == {"period only one area has": 1}
    done = _cim(_csv(tmp_path, pd.DataFrame(rows)), "--min-clusters", 2)
    assert done.returncode == 0, done.stderr
    assert "Rows left out: 1 period only one area has" in done.stdout
    assert "5 periods before and 7 after" in done.stdout


def test_messages_show_plain_values(tmp_path):
    panel = _panel().assign(period=lambda p: p["period"].str[1:].astype(int) + 1970)
    d = panel.assign(treatment=panel["treated"] * panel["post"]).drop(columns=["treated", "post"])
    d.loc[(d["area"] == "A00") & (d["period"] == 1980), "treatment"] = 0
    message = _refused(_cim(_csv(tmp_path, d)), "from period 1976 but 0 again in period 1980")
    with pytest.raises(ValueError, match="1976") as caught:
        long_panel(d)  # typed columns too
    assert "np." not in str(caught.value) and "np." not in message
