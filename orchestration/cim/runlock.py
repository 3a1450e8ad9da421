"""One writer of the warehouse at a time per CIM_HOME, and readers that never break it.

DuckDB lets one process write a file and then refuses every other process, readers
included; a reader that opens the file first makes the writer fail instead. So every
process agrees on an advisory lock, ``CIM_HOME/.writer.lock`` (``flock``):

- a pipeline run (``cim pipeline``, or a run launched by Dagster's UI, schedule or
  sensor) holds it exclusively for the whole run, and writes who it is into the file;
  a second run waits for it (bounded, ``CIM_LOCK_WAIT`` seconds, default 600) and then
  refuses with the holder's pid, run id and start time;
- a reader of the warehouse (``cim ledger``...) takes it shared, and only when no
  writer holds it; otherwise it reads the published snapshot or waits.

The kernel drops an ``flock`` when its process dies, SIGKILL included: a killed run
never leaves a stale lock behind. Runs killed that way do stay STARTED in Dagster's run
storage; :func:`fail_abandoned_runs` marks them failed once their process is gone.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from cim.settings import Paths

LOCK_FILE = ".writer.lock"
DEFAULT_WAIT = 600.0  # seconds a run waits for another one before it refuses
DEFAULT_DUCKDB_RETRY = 60.0  # seconds a connection retries a lock held outside CIM


def writer_wait() -> float:
    """How long a pipeline run waits for another one (``CIM_LOCK_WAIT``)."""
    return float(os.environ.get("CIM_LOCK_WAIT", DEFAULT_WAIT))


def duckdb_retry() -> float:
    """How long a writer retries DuckDB's own lock error (``CIM_DUCKDB_RETRY``)."""
    return float(os.environ.get("CIM_DUCKDB_RETRY", DEFAULT_DUCKDB_RETRY))


def lock_path(paths: Paths) -> Path:
    return paths.home / LOCK_FILE


@dataclass(frozen=True)
class Holder:
    """Who holds the writer lock, as written into the lock file."""

    pid: int | None = None
    run_id: str | None = None
    started: str | None = None
    command: str | None = None

    def describe(self) -> str:
        parts = [f"pid {self.pid or '?'}", f"run id {self.run_id or '?'}"]
        if self.started:
            parts.append(f"started {self.started}, {_age(self.started)} ago")
        if self.command:
            parts.append(f"by {self.command}")
        return ", ".join(parts)


def _age(started: str) -> str:
    try:
        since = dt.datetime.fromisoformat(started)
    except ValueError:
        return "?"
    return human_duration((dt.datetime.now(since.tzinfo) - since).total_seconds())


def human_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


class Busy(RuntimeError):
    """Another pipeline run holds CIM_HOME: this one waited and gave up."""

    def __init__(self, paths: Paths, holder: Holder | None, waited: float, remedy: str):
        self.paths, self.holder, self.waited = paths, holder, waited
        who = (
            f"another pipeline run ({holder.describe()})"
            if holder and holder.pid
            else f"another process (holding {lock_path(paths)})"
        )
        waited_text = f"; waited {waited:.0f} s" if waited else ""
        super().__init__(
            f"{who} holds CIM_HOME {paths.home} and is writing its warehouse{waited_text}. {remedy}"
        )


def read_holder(paths: Paths) -> Holder | None:
    """The writer named in the lock file (meaningful only while the lock is held)."""
    for _ in range(3):  # the holder may be rewriting it this very moment
        try:
            text = lock_path(paths).read_text(encoding="utf-8")
        except OSError:
            return None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
            return Holder(**{k: data.get(k) for k in ("pid", "run_id", "started", "command")})
        except (ValueError, TypeError):
            time.sleep(0.05)
    return None


# Writer locks this process holds, by lock file: re-entrant, so the CLI, the Dagster
# resource and the publish step of one run share one lock (the outermost releases it).
_HELD: dict[str, Holder] = {}
_GUARD = threading.RLock()


def _key(paths: Paths) -> str:
    return os.path.realpath(lock_path(paths))


def holds_writer(paths: Paths) -> bool:
    with _GUARD:
        return _key(paths) in _HELD


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


@contextmanager
def writer(
    paths: Paths,
    run_id: str | None = None,
    wait: float | None = None,
    command: str = "cim",
    on_wait: Callable[[str], None] | None = None,
    remedy: str = "Wait for it to finish, or run again with a longer --wait (seconds).",
) -> Iterator[bool]:
    """Hold CIM_HOME's writer lock; yields True when this call took it (not re-entered).

    Waits up to ``wait`` seconds (default :func:`writer_wait`) for another holder, then
    raises :class:`Busy`.
    """
    key = _key(paths)
    with _GUARD:
        reentered = key in _HELD
    if reentered:
        yield False
        return
    wait = writer_wait() if wait is None else wait
    fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline, told = time.monotonic() + wait, False
        while not _try_flock(fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline:
                raise Busy(paths, read_holder(paths), wait, remedy)
            if not told and on_wait is not None:
                holder = read_holder(paths)
                on_wait(
                    f"waiting up to {wait:.0f} s for "
                    + (
                        f"another pipeline run ({holder.describe()})"
                        if holder and holder.pid
                        else "readers of the warehouse"
                    )
                    + f" to release CIM_HOME {paths.home}"
                )
                told = True
            time.sleep(min(0.5, max(0.01, deadline - time.monotonic())))
        holder = Holder(
            pid=os.getpid(),
            run_id=run_id,
            started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            command=command,
        )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder.__dict__).encode(), 0)
        except OSError as exc:  # a full disk: hold the lock anyway, so cleanup can free it
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
        with _GUARD:
            _HELD[key] = holder
        try:
            yield True
        finally:
            with _GUARD:
                del _HELD[key]
            with suppress(OSError):
                os.ftruncate(fd, 0)  # nobody holds it: say nothing stale
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


@contextmanager
def reader(paths: Paths, wait: float = 0.0) -> Iterator[bool]:
    """Share the lock while reading the warehouse; yields False when a writer holds it.

    Yields True when the warehouse may be opened read-only now (no writer holds the
    lock, or this very process is the writer), False when a writer still held it after
    ``wait`` seconds: the caller must then not open the warehouse.
    """
    if holds_writer(paths):
        yield True
        return
    path = lock_path(paths)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:  # a read-only CIM_HOME: no writer can run there either
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield True
            return
    try:
        deadline = time.monotonic() + wait
        while not _try_flock(fd, fcntl.LOCK_SH):
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(0.2)
        yield True
    finally:
        os.close(fd)


# --- runs killed mid-way -----------------------------------------------------------


def _process_started(pid: int) -> float | None:
    """When a process started (epoch seconds), from /proc; None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            return -1.0  # a zombie: dead, not yet reaped
        ticks = int(fields[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_alive(pid: int, since: float | None = None) -> bool:
    """Whether ``pid`` runs, and is not a newer process that reused the number."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    started = _process_started(pid)
    if started is not None and started < 0:
        return False
    # a process started after the run's own event cannot be the run's process
    return not (since is not None and started is not None and started > since + 2)


def _run_process(instance, run_id: str) -> tuple[int | None, float | None]:
    """The pid of a run's process and when it was seen, from the run's own events."""
    import dagster as dg

    for of_type in (dg.DagsterEventType.RUN_START, dg.DagsterEventType.ENGINE_EVENT):
        records = instance.get_records_for_run(run_id, of_type=of_type, ascending=False).records
        for record in records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                continue
            if of_type == dg.DagsterEventType.RUN_START and event.pid:
                return event.pid, entry.timestamp
            # "Started process for run (pid: N)" carries the run worker's pid
            metadata = getattr(event.event_specific_data, "metadata", None) or {}
            pid = metadata.get("pid")
            if pid is not None:
                try:
                    return int(getattr(pid, "value", pid)), entry.timestamp
                except (TypeError, ValueError):
                    continue
    return None, None


def fail_abandoned_runs(instance, exclude: str | None = None, by: str = "cim") -> list[str]:
    """Mark failed the STARTED/STARTING runs whose process is gone; returns what it did.

    Call it only while holding the writer lock: then no live run of this CIM_HOME is
    writing, and a run whose process still exists (waiting for the lock, or still
    starting) is left alone, as is a run whose process is not recorded.
    """
    import dagster as dg

    done = []
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    for run in runs:
        if run.run_id == exclude:
            continue
        pid, seen = _run_process(instance, run.run_id)
        if pid is None or pid == os.getpid() or process_alive(pid, seen):
            continue
        instance.report_run_failed(
            run,
            message=f"Marked failed by {by} (pid {os.getpid()}): the process of this run "
            f"(pid {pid}) is gone; it was killed (SIGKILL, out of memory, power loss) before "
            "it could record its end. Nothing it wrote was published; the previous "
            "snapshot stayed served, and files it had not loaded are still in landing.",
        )
        done.append(f"run {run.run_id} ({run.job_name}, pid {pid}) was killed: marked failed")
    return done


# --- disk and permission problems, said plainly --------------------------------------

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


class DiskFull(OSError):
    """No space left where a file had to be written; the message names the folder."""

    def __init__(self, folder: Path, doing: str):
        super().__init__(
            errno.ENOSPC,
            f"no space left on the disk of {folder} while {doing}. Free space there "
            "(or give CIM_HOME a bigger disk) and run again.",
            str(folder),
        )

    def __str__(self) -> str:
        return self.strerror


def disk_full(exc: BaseException) -> bool:
    """ENOSPC however it arrives: an OSError, or a DuckDB or SQLite error message."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    text = str(exc)
    return "No space left on device" in text or "database or disk is full" in text


def explain(exc: BaseException, paths: Paths) -> str | None:
    """A message naming the path and what to do, for errors a user can fix; else None."""
    filename = getattr(exc, "filename", None)
    where = Path(filename) if filename else paths.home
    folder = where if where.is_dir() else where.parent
    named = "" if where == folder else f" ({where})"
    if isinstance(exc, DiskFull):
        return str(exc)
    if disk_full(exc):
        if not filename:  # DuckDB and SQLite name no file: point at the deployment
            folder = paths.home
        return (
            f"no space left on the disk of {folder} (CIM_HOME is {paths.home}). Free space "
            "there (old snapshots in published/snapshots, or move CIM_HOME to a bigger "
            "disk) and run again; the previous snapshot stays served."
        )
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno in NOT_WRITABLE_ERRNOS) or (
        "Permission denied" in text or "Read-only file system" in text
    ):
        if (isinstance(exc, OSError) and exc.errno == errno.EROFS) or "Read-only" in text:
            return (
                f"cannot write in {folder}: it is on a read-only file system{named}. "
                f"CIM_HOME ({paths.home}) must be writable: mount it read-write, or point "
                "CIM_HOME at a writable folder."
            )
        user = _user()
        return (
            f"permission denied for user {user} in {folder}{named}. CIM_HOME "
            f"({paths.home}) must be readable and writable by the user running cim: fix "
            f"its permissions (e.g. `chown -R {user} {paths.home}`), or point CIM_HOME at "
            "a writable folder."
        )
    return None


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())
