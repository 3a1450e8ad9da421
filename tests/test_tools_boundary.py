"""The runtime stands alone: the demo generator (tools/cim_demo) and the test hooks
(tests/pausing_cim.py) live outside it, and the dependency goes tools -> runtime only."""

from __future__ import annotations

import ast
import datetime as dt
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

RUNTIME = [REPO / "orchestration" / "cim", REPO / "app"]
OUTSIDE = ("cim_demo", "tools", "tests")  # what runtime code never imports


def _imported(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_runtime_module_imports_the_demo_or_the_tests():
    sources = [p for folder in RUNTIME for p in folder.rglob("*.py")]
    assert len(sources) > 50
    offending = {
        str(p.relative_to(REPO)): sorted(n for n in _imported(p) if n.split(".")[0] in OUTSIDE)
        for p in sources
    }
    assert not {p: names for p, names in offending.items() if names}
    assert not (REPO / "orchestration" / "cim" / "demo").exists()
    assert not (REPO / "orchestration" / "cim" / "faults.py").exists()


def test_loading_the_runtime_leaves_the_demo_unimported():
    probe = (
        "import sys, json\n"
        "import cim.definitions, cim.cli, cim.ingest, cim.publish, cim.serve, cim.health\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{OUTSIDE!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_demo_uses_the_runtime_period_calendar():
    """Demo period labels, days and indexes are cim.periods', for every grain."""
    from cim import periods
    from cim_demo import timeline

    for ordinal in range(2019 * 12, 2027 * 12):
        month = timeline.month_period(ordinal)
        assert month.label == periods.period_at(ordinal, "month")
        assert month.start == periods.period_start(month.label, "month")
        assert month.key == periods.period_index(month.label, "month") == ordinal
        assert timeline.month_ordinal(month.label) == ordinal
        assert timeline.month_ordinal(month.end.isoformat()) == ordinal
    for year in range(2019, 2027):
        for grain, period in [
            ("year", timeline.year_period(year)),
            ("school_year", timeline.school_year_period(year)),
            *(("quarter", timeline.quarter_period(year, q)) for q in range(1, 5)),
        ]:
            assert period.label == periods.period_of(period.start, grain)
            assert period.label == periods.period_of(period.end, grain)
            assert periods.period_end(period.label, grain) == period.end + dt.timedelta(days=1)
            assert period.key == periods.period_index(period.label, grain)


def test_cim_has_no_demo_command():
    from cim.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["demo"])
    assert exit_.value.code == 2
