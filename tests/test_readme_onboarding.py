"""The README's "Onboarding a new city" section, followed literally.

Every ```bash block of the section is run as written, in a fresh folder standing in for
the repository (its ``.venv`` linked in), with nothing of the test's own environment
saying which city or CIM_HOME to use: the README's commands must say it. The indicator
the template defines must then be published, with the value the README's delivery gives.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Onboarding a new city"
pytestmark = pytest.mark.slow  # one whole pipeline run of the template city (~1 min)


def onboarding_blocks(readme: str) -> list[str]:
    """The ```bash blocks of the onboarding section, in order."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start : end if end > 0 else None]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def delivered_rows(script: str) -> list[dict[str, str]]:
    """The CSV the README writes into the landing folder (its here-document)."""
    body = re.search(r"<<'CSV'\n(.*?)\nCSV\n", script, flags=re.DOTALL)
    assert body, "the README's delivery is no longer a <<'CSV' here-document"
    return list(csv.DictReader(io.StringIO(body[1])))


@pytest.fixture
def demo_models_restored():
    """Running the README's city rewrites the dbt project's generated models: give them
    back to the demo city for the tests that follow in this session."""
    yield
    env = {k: v for k, v in os.environ.items() if k != "CIM_CITY"}
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "cim"), "prepare"], env=env, check=True, capture_output=True
    )


def test_readme_onboarding_publishes_the_template_indicator(tmp_path, demo_models_restored):
    blocks = onboarding_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the onboarding section lost its command blocks"
    script = "\n".join(blocks)
    for command in ("cim new-city", "cim check-config", "cim pipeline"):
        assert command in script
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CIM_CITY", "CIM_HOME", "DAGSTER_HOME", "CIM_AS_OF", "VIRTUAL_ENV"}
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "configuration error" not in done.stderr
    assert "success; served snapshot" in done.stdout

    homes = [p.parent.parent for p in tmp_path.glob("data/*/published/current.duckdb")]
    assert len(homes) == 1, "the README's CIM_HOME holds no published snapshot"
    rows = delivered_rows(script)
    offences = sum(int(r["offences"]) for r in rows)
    residents = sum(int(r["residents"]) for r in rows)
    con = duckdb.connect(str(homes[0] / "published" / "current.duckdb"), read_only=True)
    try:
        published = con.execute(
            "SELECT area_id, area_level, numerator, denominator, value "
            "FROM marts.fct_indicator_values "
            "WHERE indicator_id = 'offence_rate' AND period_id = '2024'"
        ).fetchall()
    finally:
        con.close()
    by_area = {area: (level, num, den, value) for area, level, num, den, value in published}
    # each district as delivered, and the city as their total
    for row in rows:
        level, num, den, value = by_area[row["district"]]
        assert (level, num, den) == ("district", int(row["offences"]), int(row["residents"]))
        assert value == pytest.approx(1000 * int(row["offences"]) / int(row["residents"]))
    city = [v for v in by_area.values() if v[0] == "city"]
    assert len(city) == 1 and city[0][1:3] == (offences, residents)
    assert city[0][3] == pytest.approx(1000 * offences / residents)
