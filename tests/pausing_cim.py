"""The ``cim`` command held still at one exact point, so a crash test can SIGKILL it there.

    python -P tests/pausing_cim.py --pause-at STAGE --marker PATH [--within S] pipeline ...

A test hook that lives with the tests: production code has none. This wrapper wraps, in
its own process only, the real function that runs at that moment, then runs
``cim.cli.main()`` with the remaining arguments. ``cim pipeline`` executes the Dagster
job in this process (``execute_in_process`` with the in-process executor), so the run
calls the wrapped function.

Stages:

- ``ingest``: inside the transaction that loads a delivery, once its rows, its rejected
  rows and its ledger line are written, before COMMIT: ``FeedRunner._write_ledger``
  returning right after ``FeedRunner._keep_rejects`` (which only that transaction calls).
- ``publish``: the new snapshot is complete under its final name, ``current.duckdb`` not
  yet switched to it: ``cim.publish.snapshot._switch``, before it runs.

There the wrapper writes the marker (JSON: the stage and what was being written) and
sleeps for the test to kill it. A pause point that is not reached fails loudly: when the
command ends without reaching it, or ``--within`` seconds pass first, the wrapper exits
with NOT_REACHED and says so, so a test waiting for the marker fails instead of passing
without having killed anything.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
from pathlib import Path

NOT_REACHED = 4  # the pause point was never reached
NOBODY_KILLED = 5  # held for --hold seconds and nobody killed the process
STAGES = ("ingest", "publish")
HERE = Path(__file__).resolve()


def command(stage: str, marker: Path, *cim_args: str, within: float | None = None) -> list[str]:
    """The command line that runs ``cim *cim_args`` held at ``stage``."""
    # -P: the tests folder does not go first on sys.path (its modules shadow nothing then)
    options = ["--pause-at", stage, "--marker", str(marker)]
    if within is not None:
        options += ["--within", str(within)]
    return [sys.executable, "-P", str(HERE), *options, *cim_args]


class Pause:
    """Where the process holds still, once; a watchdog fails it when that never happens."""

    def __init__(self, stage: str, marker: Path, within: float, hold: float):
        self.stage, self.marker, self.within, self.hold = stage, marker, within, hold
        self.reached = threading.Event()
        self._watchdog = threading.Timer(within, self._too_late)
        self._watchdog.daemon = True

    def start_watchdog(self) -> None:
        self._watchdog.start()

    def _too_late(self) -> None:
        if not self.reached.is_set():
            _say(f"pause point {self.stage!r} not reached within {self.within:g} s")
            os._exit(NOT_REACHED)

    def hold_here(self, **what: object) -> None:
        if self.reached.is_set():
            return  # one pause per process: a test kills it at the first
        self.reached.set()
        self._watchdog.cancel()
        staged = self.marker.with_name(self.marker.name + ".writing")
        staged.write_text(json.dumps({"stage": self.stage, "pid": os.getpid(), **what}))
        os.replace(staged, self.marker)  # the test never reads half a marker
        time.sleep(self.hold)
        _say(f"held at {self.stage!r} for {self.hold:g} s and nobody killed this process")
        os._exit(NOBODY_KILLED)


def _say(message: str) -> None:
    print(f"pausing_cim: {message}", file=sys.stderr, flush=True)


def _install_ingest(pause: Pause) -> None:
    from cim.ingest.loader import FeedRunner

    keep_rejects, write_ledger = FeedRunner._keep_rejects, FeedRunner._write_ledger
    armed = threading.Event()  # set between the rejected rows and the ledger line

    @functools.wraps(keep_rejects)
    def _keep_rejects(self, *args, **kwargs):
        result = keep_rejects(self, *args, **kwargs)
        armed.set()
        return result

    @functools.wraps(write_ledger)
    def _write_ledger(self, outcome, delivery, contract, archived, load_id):
        write_ledger(self, outcome, delivery, contract, archived, load_id)
        if armed.is_set():
            armed.clear()
            pause.hold_here(
                feed=outcome.feed,
                file=delivery.name,
                load_id=load_id,
                status=outcome.status,
                rows_accepted=outcome.rows_accepted,
            )

    FeedRunner._keep_rejects = _keep_rejects
    FeedRunner._write_ledger = _write_ledger


def _install_publish(pause: Pause) -> None:
    from cim.publish import snapshot

    switch = snapshot._switch

    @functools.wraps(switch)
    def _switch(paths, target: Path) -> None:
        pause.hold_here(snapshot_id=target.stem, snapshot=str(target))
        switch(paths, target)

    snapshot._switch = _switch


INSTALL = {"ingest": _install_ingest, "publish": _install_publish}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pausing_cim", description=__doc__.splitlines()[0])
    parser.add_argument("--pause-at", required=True, choices=STAGES)
    parser.add_argument("--marker", required=True, type=Path, help="written when paused")
    parser.add_argument(
        "--within", type=float, default=240.0, help="fail unless paused by then (seconds)"
    )
    parser.add_argument("--hold", type=float, default=600.0, help="how long to stay paused")
    parser.add_argument("cim_args", nargs=argparse.REMAINDER, help="the cim command")
    args = parser.parse_args(argv)
    pause = Pause(args.pause_at, args.marker.resolve(), args.within, args.hold)
    pause.start_watchdog()
    INSTALL[args.pause_at](pause)

    from cim.cli import main as cim_main

    code = cim_main(args.cim_args)
    if not pause.reached.is_set():
        _say(f"pause point {args.pause_at!r} never reached: `cim` ended (exit {code}) first")
        return NOT_REACHED
    return code


if __name__ == "__main__":
    sys.exit(main())
