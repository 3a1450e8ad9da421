"""Serve the dashboard and the Dagster UI together on 127.0.0.1; Ctrl-C stops both.

Each server runs in its own process group, so stopping this command also stops what
they started (the Dagster daemon, dbt subprocesses) instead of leaving them behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cim import settings

APP = settings.REPO_ROOT / "app" / "main.py"


def _start(command: list[str]) -> subprocess.Popen:
    # from the repository root: `dagster dev` finds the code location in pyproject.toml
    return subprocess.Popen(
        command, start_new_session=True, env=os.environ.copy(), cwd=settings.REPO_ROOT
    )


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # dagster dev shuts down cleanly on SIGINT
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def serve(dagster_port: int, app_port: int) -> int:
    bin_dir = Path(sys.executable).parent
    processes = [
        _start(
            [
                str(bin_dir / "dagster"),
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(dagster_port),
            ]
        ),
        _start(
            [
                str(bin_dir / "streamlit"),
                "run",
                str(APP),
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(app_port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ]
        ),
    ]
    print(
        f"Dashboard:  http://127.0.0.1:{app_port}\nDagster UI: http://127.0.0.1:{dagster_port}\n"
        "Press Ctrl-C to stop both.",
        flush=True,
    )
    stopping = False

    def _on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
    finally:
        _stop(processes)
    failed = [p.args[0] for p in processes if p.returncode not in (0, -2, -15, 130, None)]
    return 1 if failed and not stopping else 0
