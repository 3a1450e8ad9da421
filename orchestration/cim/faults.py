"""Fault injection for the crash tests: hold still at a named stage.

When ``CIM_TEST_PAUSE_AT`` names a stage, the pipeline writes the stage name to
``CIM_TEST_PAUSE_MARKER`` and sleeps there, so a test can SIGKILL it at exactly that
point. Unset (always, outside those tests), this does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_at(stage: str) -> None:
    if os.environ.get("CIM_TEST_PAUSE_AT") != stage:
        return
    marker = os.environ.get("CIM_TEST_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(stage)
    time.sleep(float(os.environ.get("CIM_TEST_PAUSE_SECONDS", "120")))
