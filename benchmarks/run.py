"""``make bench``: the pipeline against bare DuckDB on a demo city of 1, 3, 10M incidents.

For each scale, in one run on this machine: ingestion vs ``read_csv``; the full build
(ingest -> dbt -> checks -> publish) vs a hand-written SQL script whose headline values
must be equal; one new month vs the full build; the GX police suite vs the same rules in
SQL (counts must be equal); every dashboard page (AppTest, Chromium). Results go to
``<out>/bench-<time>.json`` and ``<out>/bench-<time>.md`` (and ``latest.*``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.report import machine, write_reports

REPO = Path(__file__).resolve().parents[1]
CITY = REPO / "cities" / "demo"
BIN = Path(sys.executable).parent


def measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Run one step in its own process: wall seconds, its peak RSS, its JSON output."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=REPO)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    last = [line for line in out.splitlines() if line.startswith("{")]
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        **(json.loads(last[-1]) if last else {}),
    }


def _env(home: Path, as_of: str) -> dict[str, str]:
    return os.environ | {
        "CIM_HOME": str(home),
        "CIM_CITY": str(CITY),
        "CIM_AS_OF": as_of,
        "DAGSTER_HOME": str(home / "dagster"),
    }


def _step(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.steps", name, *args]


def _copy(files: list[Path], landing: Path) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy2(file, landing / file.name)  # keeps mtimes: the delivery moments


def _pipeline(home: Path, env: dict) -> dict:
    subprocess.run([str(BIN / "cim"), "init"], env=env, check=True, capture_output=True)
    return measure([str(BIN / "cim"), "pipeline"], env)


def _headline_equal(home: Path, bare_db: Path) -> dict:
    """Every published headline cell against the hand-written script's."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{home / 'warehouse.duckdb'}' AS w (READ_ONLY)")
        con.execute(f"ATTACH '{bare_db}' AS b (READ_ONLY)")
        cells, differ, missing = con.execute(
            """
            SELECT count(*),
                   count_if(b.numerator IS DISTINCT FROM w.numerator
                            OR b.denominator IS DISTINCT FROM w.denominator
                            OR abs(b.value - w.value) > 1e-9 * greatest(1, abs(w.value))),
                   count_if(b.area_id IS NULL)
            FROM w.intermediate.int_indicator_values AS w
            LEFT JOIN b.headline AS b USING (indicator_id, area_id, period_id)
            WHERE w.indicator_id IN ('property_crime_rate', 'violent_crime_rate')
              AND w.period_type = 'month'
            """
        ).fetchone()
        examples = con.execute(
            """
            SELECT w.indicator_id, w.area_id, w.period_id, w.numerator, b.numerator,
                   w.denominator, b.denominator
            FROM w.intermediate.int_indicator_values AS w
            LEFT JOIN b.headline AS b USING (indicator_id, area_id, period_id)
            WHERE w.indicator_id IN ('property_crime_rate', 'violent_crime_rate')
              AND w.period_type = 'month'
              AND (b.numerator IS DISTINCT FROM w.numerator
                   OR b.denominator IS DISTINCT FROM w.denominator)
            ORDER BY ALL LIMIT 5
            """
        ).fetchall()
    return {
        "cells": cells,
        "differ": differ,
        "missing_in_bare": missing,
        "equal": differ == 0,
        "examples": [list(map(str, e)) for e in examples],
    }


def bench_scale(scale: int, work: Path, browser: bool) -> dict:
    from cim_demo import generate_demo_city

    shutil.rmtree(work, ignore_errors=True)
    source = work / "source"
    started = time.perf_counter()
    summary = generate_demo_city(CITY, source, incidents=scale, manifest_path=work / "m.json")
    manifest = json.loads(Path(summary["manifest"]).read_text())
    as_of = manifest["as_of"]
    files = sorted(p for p in source.iterdir() if p.is_file())
    police = sorted(p for p in files if p.name.startswith("politie_incidenten_"))
    result: dict = {"scale": scale, "generate_seconds": time.perf_counter() - started}
    result["police_rows"] = sum(
        f["rows"] for f in manifest["files"] if f["feed"] == "police_incidents"
    )

    # 1. ingestion of the police feed vs read_csv into a table
    home = work / "ingest"
    _copy(police, home / "landing")
    ours = measure(_step("ingest_police", str(home)), _env(home, as_of))
    bare_db = str(work / "bare_read.duckdb")
    bare = measure(_step("bare_read", str(source), bare_db), _env(home, as_of))
    result["ingestion"] = {
        "ours": ours,
        "bare": bare,
        "throughput_ratio": bare["seconds"] / ours["seconds"],
    }
    shutil.rmtree(home)

    # 2. the full build vs the hand-written script, headline values equal
    full = work / "full"
    _copy(files, full / "landing")
    build = _pipeline(full, _env(full, as_of))
    script = measure(
        _step("bare_indicators", str(source), str(work / "bare.duckdb")), _env(full, as_of)
    )
    result["full_build"] = {
        "ours": build,
        "bare_sql": script,
        "ratio": build["seconds"] / script["seconds"],
        "headline": _headline_equal(full, work / "bare.duckdb"),
    }

    # 3. one new month of police data after a build without it
    inc = work / "incremental"
    _copy([f for f in files if f != police[-1]], inc / "landing")
    before = _pipeline(inc, _env(inc, as_of))
    _copy([police[-1]], inc / "landing")
    month = _pipeline(inc, _env(inc, as_of))
    result["incremental"] = {
        "build_without_month": before,
        "new_month": month,
        "month_file": police[-1].name,
        "ratio_to_full_build": month["seconds"] / build["seconds"],
        "headline": _headline_equal(inc, work / "bare.duckdb"),
    }
    shutil.rmtree(inc)

    # 4. GX police suite vs the same rules as SQL
    gx = measure(_step("quality_gx", str(full), as_of), _env(full, as_of))
    sql = measure(_step("quality_sql", str(full), as_of), _env(full, as_of))
    result["quality"] = {
        "gx": gx,
        "sql": sql,
        "ratio": gx["validate_seconds"] / sql["validate_seconds"],
        "counts_equal": gx["unexpected"] == sql["unexpected"],
    }

    # 5. dashboard on this scale's published snapshot
    cmd = [sys.executable, "-m", "benchmarks.dashboard", str(full)]
    result["dashboard"] = measure(cmd + ([] if browser else ["--no-browser"]), _env(full, as_of))
    shutil.rmtree(work)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("CIM_HOME", "data")) / "bench"
    )
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timings")
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    results = {"started": started.isoformat(timespec="seconds"), "machine": machine(), "scales": []}
    for scale in sorted(args.scales):
        print(f"benchmark at {scale:,} incident rows ...", flush=True)
        results["scales"].append(bench_scale(scale, args.work / str(scale), not args.no_browser))
        json_file, md_file = write_reports(results, args.out, started)  # kept after each scale
    print(f"results: {json_file}\nsummary: {md_file}")
    print(md_file.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
