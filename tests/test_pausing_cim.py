"""The crash tests' pause (tests/pausing_cim.py) fails loudly when its point is not reached.

A crash test waits for the marker, then kills the run: were the pause point to move or
vanish (the wrapped function renamed, no longer called), the wrapper must exit with an
error instead of letting the run finish, so that the test fails rather than pass having
killed nothing.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests import pausing_cim
from tests.conftest import DEMO_CITY


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return os.environ | {
        "CIM_HOME": str(tmp_path / "home"),
        "CIM_CITY": str(DEMO_CITY),
        "DAGSTER_HOME": str(tmp_path / "home" / "dagster"),
    }


def _run(env: dict, *args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False, **options)


@pytest.mark.parametrize("stage", pausing_cim.STAGES)
def test_a_command_that_ends_without_the_pause_point_fails(env, tmp_path, stage):
    marker = tmp_path / "paused"
    done = _run(env, *pausing_cim.command(stage, marker, "check-config"))
    # the wrapper installed its pause (the functions it wraps exist), cim ran and passed
    assert "OK" in done.stdout
    assert done.returncode == pausing_cim.NOT_REACHED, done.stdout + done.stderr
    assert f"pause point {stage!r} never reached" in done.stderr
    assert not marker.exists()


def test_a_pause_point_not_reached_in_time_fails(env, tmp_path):
    marker = tmp_path / "paused"
    done = _run(env, *pausing_cim.command("ingest", marker, "pipeline", within=0.5), timeout=120)
    assert done.returncode == pausing_cim.NOT_REACHED, done.stdout + done.stderr
    assert "pause point 'ingest' not reached within 0.5 s" in done.stderr
    assert not marker.exists()
