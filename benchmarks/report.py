"""Benchmark results as JSON and as a Markdown summary with the machine's details."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from importlib import metadata
from pathlib import Path

# issue #8's targets, each judged on the largest scale of the run
TARGETS = {
    "ingestion": "our throughput >= 50% of bare read_csv, peak memory < 2 GB",
    "full_build": "full build within 3x the hand-written SQL script",
    "incremental": "one new month < 10% of a full build",
    "quality": "GX suite within 3x the same rules in SQL",
    "dashboard": "every page's server-side run < 1 s",
}


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kb = 0
    versions = {}
    for package in ("duckdb", "dagster", "dbt-core", "great-expectations", "streamlit"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def verdicts(scale: dict) -> dict[str, tuple[bool, str]]:
    """Target met or missed, with the figure, for one scale's results."""
    ing, full, inc = scale["ingestion"], scale["full_build"], scale["incremental"]
    q, pages = scale["quality"], scale["dashboard"]["apptest"]
    slowest = max(pages, key=lambda p: pages[p]["cold"])
    return {
        "ingestion": (
            ing["throughput_ratio"] >= 0.5 and ing["ours"]["peak_rss_mb"] < 2048,
            f"{ing['throughput_ratio']:.0%} of bare throughput, "
            f"peak {ing['ours']['peak_rss_mb']:,.0f} MB",
        ),
        "full_build": (full["ratio"] <= 3, f"{full['ratio']:.1f}x the SQL script"),
        "incremental": (
            inc["ratio_to_full_build"] < 0.10,
            f"{inc['ratio_to_full_build']:.0%} of the full build",
        ),
        "quality": (q["ratio"] <= 3, f"{q['ratio']:.1f}x the SQL rules"),
        "dashboard": (
            all(p["cold"] < 1 for p in pages.values()),
            f"slowest page {slowest}: {pages[slowest]['cold']:.2f} s cold",
        ),
    }


def _equal_cells(s: dict) -> str:
    headline = s["full_build"]["headline"]
    return f"{headline['cells'] - headline['differ']:,} of {headline['cells']:,}"


def _row(label: str, scales: list[dict], pick) -> str:
    return f"| {label} | " + " | ".join(pick(s) for s in scales) + " |"


def markdown(results: dict) -> str:
    scales = results["scales"]
    m = results["machine"]
    head = "| figure | " + " | ".join(f"{s['scale']:,} rows" for s in scales) + " |"
    sep = "|---|" + "---|" * len(scales)
    lines = [
        f"# Benchmark {results['started']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, "
        f"Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
        head,
        sep,
        _row("police rows", scales, lambda s: f"{s['police_rows']:,}"),
        _row("ingestion: ours s", scales, lambda s: f"{s['ingestion']['ours']['seconds']:.1f}"),
        _row(
            "ingestion: bare read_csv s",
            scales,
            lambda s: f"{s['ingestion']['bare']['seconds']:.1f}",
        ),
        _row(
            "ingestion: throughput vs bare",
            scales,
            lambda s: f"{s['ingestion']['throughput_ratio']:.0%}",
        ),
        _row(
            "ingestion: peak MB ours / bare",
            scales,
            lambda s: (
                f"{s['ingestion']['ours']['peak_rss_mb']:,.0f} / "
                f"{s['ingestion']['bare']['peak_rss_mb']:,.0f}"
            ),
        ),
        _row("full build s", scales, lambda s: f"{s['full_build']['ours']['seconds']:.1f}"),
        _row(
            "full build peak MB", scales, lambda s: f"{s['full_build']['ours']['peak_rss_mb']:,.0f}"
        ),
        _row(
            "hand-written SQL s", scales, lambda s: f"{s['full_build']['bare_sql']['seconds']:.1f}"
        ),
        _row("full build / SQL", scales, lambda s: f"{s['full_build']['ratio']:.1f}x"),
        _row(
            "headline cells equal",
            scales,
            _equal_cells,
        ),
        _row("new month s", scales, lambda s: f"{s['incremental']['new_month']['seconds']:.1f}"),
        _row(
            "new month / full build",
            scales,
            lambda s: f"{s['incremental']['ratio_to_full_build']:.0%}",
        ),
        _row(
            "GX police suite s", scales, lambda s: f"{s['quality']['gx']['validate_seconds']:.2f}"
        ),
        _row(
            "same rules in SQL s",
            scales,
            lambda s: f"{s['quality']['sql']['validate_seconds']:.2f}",
        ),
        _row("GX / SQL", scales, lambda s: f"{s['quality']['ratio']:.1f}x"),
        _row(
            "GX and SQL counts equal",
            scales,
            lambda s: "yes" if s["quality"]["counts_equal"] else "NO",
        ),
    ]
    pages = list(scales[0]["dashboard"]["apptest"])
    for page in pages:
        lines.append(
            _row(
                f"page {page}: AppTest cold / warm s",
                scales,
                lambda s, p=page: "{cold:.2f} / {warm:.2f}".format(**s["dashboard"]["apptest"][p]),
            )
        )
    if all("browser_first_render" in s["dashboard"] for s in scales):
        for page in pages:
            lines.append(
                _row(
                    f"page {page}: Chromium first render s",
                    scales,
                    lambda s, p=page: f"{s['dashboard']['browser_first_render'][p]:.2f}",
                )
            )
    largest = scales[-1]
    lines += [
        "",
        f"## Targets at {largest['scale']:,} rows",
        "",
        "| target | met | figure |",
        "|---|---|---|",
    ]
    for key, (met, figure) in verdicts(largest).items():
        lines.append(f"| {TARGETS[key]} | {'yes' if met else '**no**'} | {figure} |")
    if len(scales) > 1:
        first = scales[0]
        factor = largest["police_rows"] / first["police_rows"]
        lines += [
            "",
            f"## Growth from {first['scale']:,} to {largest['scale']:,} rows (x{factor:.1f} rows)",
            "",
            "| figure | grows by |",
            "|---|---|",
        ]
        for label, pick in [
            ("ingestion (ours)", lambda s: s["ingestion"]["ours"]["seconds"]),
            ("ingestion (bare)", lambda s: s["ingestion"]["bare"]["seconds"]),
            ("full build", lambda s: s["full_build"]["ours"]["seconds"]),
            ("hand-written SQL", lambda s: s["full_build"]["bare_sql"]["seconds"]),
            ("new month", lambda s: s["incremental"]["new_month"]["seconds"]),
            ("GX suite", lambda s: s["quality"]["gx"]["validate_seconds"]),
            ("SQL rules", lambda s: s["quality"]["sql"]["validate_seconds"]),
        ]:
            lines.append(f"| {label} | x{pick(largest) / pick(first):.1f} |")
    return "\n".join(lines) + "\n"


def write_stamped(
    results: dict, text: str, out: Path, started: dt.datetime, stem: str, latest: str
) -> tuple[Path, Path]:
    """``<stem>-<time>.json`` and ``.md`` in ``out``, copied to ``<latest>.json`` and ``.md``
    (the results a reader opens first; the stamped ones keep the history)."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    json_file, md_file = out / f"{stem}-{stamp}.json", out / f"{stem}-{stamp}.md"
    json_file.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    md_file.write_text(text, encoding="utf-8")
    for file in (json_file, md_file):
        (out / f"{latest}{file.suffix}").write_text(
            file.read_text(encoding="utf-8"), encoding="utf-8"
        )
    return json_file, md_file


def write_reports(results: dict, out: Path, started: dt.datetime) -> tuple[Path, Path]:
    return write_stamped(results, markdown(results), out, started, "bench", "latest")
