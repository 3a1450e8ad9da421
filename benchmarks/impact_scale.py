"""``make bench-impact``: the impact estimate at scale, beside pyfixest on the same panel.

A seeded long panel (areas x months; 30% of the areas treated from one common start in
the middle month, 36 of 72; area and month effects, noise and a known effect) is written
once as Parquet.
Each measurement then runs in a fresh process that reads it, so its peak memory (the
child's ``ru_maxrss``) is its own:

- ``ours``: ``estimate_impact(frame, ImpactSettings(method="did"))`` from the long pandas
  frame: validation, the cluster-robust DiD, the pre-trend test and the event study;
- ``pyfixest``: ``feols("y ~ d | area + period")`` and the event study
  ``feols("y ~ i(rel, ref=-1) | area + period")``, both with ``vcov={"CRV1": "area"}``;
- ``placebo``: ours with 3 treated areas, where the 2,000 placebo-in-space sets are the
  headline (streamed in blocks of fixed memory).

Our estimate, cluster standard error and event-study coefficients must equal pyfixest's.
Results: ``<out>/impact-<time>.json`` and ``.md`` (and ``impact-latest.*``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.report import machine, write_stamped

REPO = Path(__file__).resolve().parents[1]
EFFECT = -0.5  # the known effect
SHARE_TREATED = 0.3
PLACEBO_TREATED = 3
PEAK_TARGET_MB = 2048
RATIO_TARGET = 3.0
# the event study of the bar: bins of one period (a bare panel's default)
TARGET = (
    f"at the largest scale: full estimate within {RATIO_TARGET:g}x pyfixest's two-way "
    f"fixed-effects fit plus event study, peak memory < {PEAK_TARGET_MB / 1024:g} GB"
)


def make_panel(areas: int, periods: int, seed: int, treated: int | None = None):
    """The long panel: area ``A00001``.., period ``2019-01``.., treated/post 0/1, value;
    ``d`` and ``rel`` (months since the start, -1 outside the treated areas) for pyfixest."""
    import pandas as pd

    start = periods // 2  # the common start: month 36 of 72
    gen = np.random.default_rng(seed)
    n_treated = treated if treated is not None else round(SHARE_TREATED * areas)
    is_treated = np.zeros(areas, dtype=bool)
    is_treated[gen.choice(areas, n_treated, replace=False)] = True
    area_fe = gen.normal(10, 2, areas)
    period_fe = np.cumsum(gen.normal(0, 0.3, periods))
    a = np.repeat(np.arange(areas), periods)
    t = np.tile(np.arange(periods), areas)
    post = (t >= start).astype(np.int8)
    treated_row = is_treated[a].astype(np.int8)
    d = treated_row * post
    value = area_fe[a] + period_fe[t] + EFFECT * d + gen.normal(0, 1, len(a))
    months = [f"{2019 + m // 12}-{m % 12 + 1:02d}" for m in range(periods)]
    names = np.array([f"A{i:05d}" for i in range(areas)], dtype=object)
    return pd.DataFrame(
        {
            "area": names[a],
            "period": np.array(months, dtype=object)[t],
            "treated": treated_row,
            "post": post,
            "value": value,
            "d": d.astype(float),
            "rel": np.where(treated_row == 1, t - start, -1),
        }
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_ours(panel_file: Path) -> dict:
    import pandas as pd
    from cim.impact import ImpactSettings, estimate_impact

    estimate_impact(make_panel(30, 48, 0), ImpactSettings(method="did"))  # warm up, untimed
    frame = pd.read_parquet(panel_file)
    loaded = _peak_mb()
    started = time.perf_counter()
    est = estimate_impact(frame, ImpactSettings(method="did"))
    seconds = time.perf_counter() - started
    return {
        "estimate_seconds": seconds,
        "rows": len(frame),
        "loaded_rss_mb": loaded,
        "effect": est.effect,
        "cluster_se": est.cluster_se,
        "cluster_se_nested": est.cluster_se_nested,
        "interval_method": est.interval_method,
        "placebo_sets": est.placebo_sets,
        "placebo_lower": est.placebo_lower,
        "placebo_upper": est.placebo_upper,
        "lower": est.lower,
        "upper": est.upper,
        "status": est.status,
        "event_study": {str(b.bin): b.coef for b in est.event_study},
    }


def child_pyfixest(panel_file: Path) -> dict:
    import pandas as pd
    import pyfixest as pf

    warm = make_panel(30, 48, 0).rename(columns={"value": "y"})
    started = time.perf_counter()
    for formula in ("y ~ d | area + period", "y ~ i(rel, ref=-1) | area + period"):
        pf.feols(formula, data=warm, vcov={"CRV1": "area"})  # compiles its numba code
    warm_seconds = time.perf_counter() - started
    frame = pd.read_parquet(panel_file).rename(columns={"value": "y"})
    loaded = _peak_mb()
    started = time.perf_counter()
    did = pf.feols("y ~ d | area + period", data=frame, vcov={"CRV1": "area"})
    did_seconds = time.perf_counter() - started
    started = time.perf_counter()
    event = pf.feols("y ~ i(rel, ref=-1) | area + period", data=frame, vcov={"CRV1": "area"})
    event_seconds = time.perf_counter() - started
    coef = event.coef()
    bins = {}
    for name, value in coef.items():  # rel::-36 and so on
        bins[str(int(float(name.rsplit("::", 1)[1])))] = float(value)
    return {
        "warm_up_seconds": warm_seconds,
        "did_seconds": did_seconds,
        "event_seconds": event_seconds,
        "estimate_seconds": did_seconds + event_seconds,
        "rows": len(frame),
        "loaded_rss_mb": loaded,
        "effect": float(did.coef()["d"]),
        "cluster_se": float(did.se()["d"]),  # CRV1, fixed effects nested in clusters not counted
        "event_study": bins,
    }


def _child(kind: str, panel_file: Path) -> int:
    result = {"ours": child_ours, "pyfixest": child_pyfixest}[kind](panel_file)
    result["peak_rss_mb_self"] = _peak_mb()
    print(json.dumps(result, default=float))
    return 0


def _measure(kind: str, panel_file: Path) -> dict:
    from benchmarks.run import measure

    cmd = [sys.executable, "-m", "benchmarks.impact_scale", "--child", kind, str(panel_file)]
    return measure(cmd, dict(__import__("os").environ))


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def compare(ours: dict, theirs: dict) -> dict:
    """Our figures against pyfixest's: relative differences, and equal to 1e-6 or not.
    pyfixest's default CRV1 factor leaves out the area effects (nested in the clusters),
    as our ``cluster_se_nested`` does."""
    bins = sorted(set(ours["event_study"]) | set(theirs["event_study"]), key=int)
    missing = [b for b in bins if b not in ours["event_study"] or b not in theirs["event_study"]]
    event = max(
        (
            abs(ours["event_study"][b] - theirs["event_study"][b])
            / max(1.0, abs(theirs["event_study"][b]))
            for b in bins
            if b not in missing
        ),
        default=0.0,
    )
    out = {
        "effect_rel_diff": _rel(ours["effect"], theirs["effect"]),
        "cluster_se_rel_diff": _rel(ours["cluster_se_nested"], theirs["cluster_se"]),
        "event_bins": len(bins),
        "event_bins_missing": missing,
        "event_max_diff": event,
    }
    out["equal"] = (
        out["effect_rel_diff"] < 1e-6
        and out["cluster_se_rel_diff"] < 1e-6
        and not missing
        and event < 1e-6
    )
    return out


def bench_scale(areas: int, periods: int, seed: int, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    panel_file = work / f"panel-{areas}.parquet"
    started = time.perf_counter()
    make_panel(areas, periods, seed).to_parquet(panel_file)
    result = {"areas": areas, "periods": periods, "rows": areas * periods}
    result["generate_seconds"] = time.perf_counter() - started
    ours = _measure("ours", panel_file)
    theirs = _measure("pyfixest", panel_file)
    result |= {
        "ours": ours,
        "pyfixest": theirs,
        "ratio": ours["estimate_seconds"] / theirs["estimate_seconds"],
        "equal": compare(ours, theirs),
        "truth": EFFECT,
    }
    panel_file.unlink()
    return result


def bench_placebo(areas: int, periods: int, seed: int, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    panel_file = work / f"placebo-{areas}.parquet"
    make_panel(areas, periods, seed, treated=PLACEBO_TREATED).to_parquet(panel_file)
    ours = _measure("ours", panel_file)
    panel_file.unlink()
    return {"areas": areas, "periods": periods, "treated": PLACEBO_TREATED, "ours": ours}


def verdict(results: dict) -> dict:
    largest = max(results["scales"], key=lambda s: s["areas"])
    ratio, peak = largest["ratio"], largest["ours"]["peak_rss_mb"]
    return {
        "areas": largest["areas"],
        "ratio": ratio,
        "ratio_met": ratio <= RATIO_TARGET,
        "peak_rss_mb": peak,
        "peak_met": peak < PEAK_TARGET_MB,
        "equal": largest["equal"]["equal"],
        "met": ratio <= RATIO_TARGET and peak < PEAK_TARGET_MB and largest["equal"]["equal"],
    }


def markdown(results: dict) -> str:
    m, scales = results["machine"], results["scales"]
    head = "| figure | " + " | ".join(f"{s['areas']:,} areas" for s in scales) + " |"
    rows = [
        ("rows", lambda s: f"{s['rows']:,}"),
        ("ours: estimate s", lambda s: f"{s['ours']['estimate_seconds']:.2f}"),
        ("pyfixest: DiD + event study s", lambda s: f"{s['pyfixest']['estimate_seconds']:.2f}"),
        (
            "pyfixest: DiD / event study s",
            lambda s: f"{s['pyfixest']['did_seconds']:.2f} / {s['pyfixest']['event_seconds']:.2f}",
        ),
        ("ratio ours / pyfixest", lambda s: f"{s['ratio']:.2f}"),
        (
            "peak MB ours / pyfixest",
            lambda s: f"{s['ours']['peak_rss_mb']:,.0f} / {s['pyfixest']['peak_rss_mb']:,.0f}",
        ),
        (
            "MB after reading the panel",
            lambda s: f"{s['ours']['loaded_rss_mb']:,.0f}",
        ),
        ("effect ours (truth -0.5)", lambda s: f"{s['ours']['effect']:.6f}"),
        ("effect rel. diff to pyfixest", lambda s: f"{s['equal']['effect_rel_diff']:.1e}"),
        ("cluster se rel. diff", lambda s: f"{s['equal']['cluster_se_rel_diff']:.1e}"),
        (
            "event study: bins, max diff",
            lambda s: f"{s['equal']['event_bins']}, {s['equal']['event_max_diff']:.1e}",
        ),
        ("equal to pyfixest", lambda s: "yes" if s["equal"]["equal"] else "NO"),
    ]
    v = results["verdict"]
    lines = [
        f"# Impact benchmark {results['started']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, "
        f"Python {m['python']}; " + ", ".join(f"{k} {x}" for k, x in results["versions"].items()),
        "",
        f"Panel: areas x {scales[0]['periods']} months, {SHARE_TREATED:.0%} treated from "
        f"month {scales[0]['periods'] // 2}, effect {EFFECT}; "
        '`estimate_impact(method="did")` from the long frame against pyfixest\'s `feols` '
        "DiD plus event study (CRV1 by area), each in a fresh process.",
        "",
        head,
        "|---|" + "---|" * len(scales),
        *(f"| {label} | " + " | ".join(pick(s) for s in scales) + " |" for label, pick in rows),
        "",
        f"## Target ({TARGET})",
        "",
        f"- ratio {v['ratio']:.2f} at {v['areas']:,} areas: "
        + ("met" if v["ratio_met"] else "MISSED"),
        f"- peak {v['peak_rss_mb']:,.0f} MB: " + ("met" if v["peak_met"] else "MISSED"),
        "- equal to pyfixest: " + ("yes" if v["equal"] else "NO"),
    ]
    largest = max(scales, key=lambda s: s["areas"])
    ours, theirs = largest["ours"], largest["pyfixest"]
    if not v["ratio_met"]:
        lines.append(
            f"- time bound: ours {ours['estimate_seconds']:.1f} s against pyfixest's "
            f"{theirs['did_seconds']:.1f} s (DiD) + {theirs['event_seconds']:.1f} s (event study)"
        )
    if not v["peak_met"]:
        lines.append(
            f"- memory bound: {ours['loaded_rss_mb']:,.0f} MB after reading the panel, "
            f"{ours['peak_rss_mb'] - ours['loaded_rss_mb']:,.0f} MB more at the peak"
        )
    if results.get("placebo"):
        p = results["placebo"]
        o = p["ours"]
        lines += [
            "",
            "## Placebo in space",
            "",
            f"{p['areas']:,} areas x {p['periods']} months, {p['treated']} treated: "
            f"{o['placebo_sets']:,} placebo sets as the headline ({o['interval_method']}); "
            f"{o['estimate_seconds']:.1f} s, peak {o['peak_rss_mb']:,.0f} MB "
            f"({o['loaded_rss_mb']:,.0f} MB after reading the panel); "
            f"interval [{o['lower']:.3f}, {o['upper']:.3f}].",
        ]
    return "\n".join(lines) + "\n"


def write(results: dict, out: Path, started: dt.datetime) -> tuple[Path, Path]:
    return write_stamped(results, markdown(results), out, started, "impact", "impact-latest")


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for package in ("numpy", "scipy", "pandas", "pyfixest"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PANEL"), help=argparse.SUPPRESS)
    parser.add_argument("--areas", type=int, nargs="+", default=[5_000, 20_000])
    parser.add_argument("--periods", type=int, default=72)
    parser.add_argument("--placebo-areas", type=int, default=5_000, help="0: no placebo run")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "results" / "tmp")
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], Path(args.child[1]))
    if args.periods < 8:
        parser.error("--periods must be 8 or more: the start is the middle month")
    started = dt.datetime.now(dt.UTC)
    results = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": _versions(),
        "target": TARGET,
        "scales": [],
    }
    work = args.work / f"impact-{started.strftime('%Y%m%dT%H%M%S')}"
    try:
        for areas in sorted(args.areas):
            print(f"impact benchmark at {areas:,} areas x {args.periods} months ...", flush=True)
            results["scales"].append(bench_scale(areas, args.periods, args.seed, work))
        if args.placebo_areas:
            print(f"placebo run at {args.placebo_areas:,} areas ...", flush=True)
            results["placebo"] = bench_placebo(args.placebo_areas, args.periods, args.seed, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["verdict"] = verdict(results)
    json_file, md_file = write(results, args.out, started)
    print(f"results: {json_file}\nsummary: {md_file}")
    print(md_file.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
