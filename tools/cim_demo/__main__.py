"""Generate the demo city into the landing folder, unless data is already there.

``cim-demo`` (``make run``, ``make demo``) reads CIM_CITY and writes into CIM_HOME's
landing folder, like the ``cim`` command. ``cim-demo CITY_DIR LANDING_DIR`` (or
``python -m cim_demo CITY_DIR LANDING_DIR``) writes any city's demo into any folder. The
manifest (the answer key) goes next to the landing folder unless ``--manifest``; a landing
folder (or CIM_HOME's archive) with data in it is left alone unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cim import settings
from cim.city import load_city

from cim_demo.accounts import make_demo_accounts
from cim_demo.generator import generate_demo_city


def _waiting(landing: Path) -> bool:
    """Files in a landing folder (hidden ones are uploads in progress, not data)."""
    return landing.is_dir() and any(not p.name.startswith(".") for p in landing.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cim-demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "city_dir", type=Path, nargs="?", default=None, help="city folder (default CIM_CITY)"
    )
    parser.add_argument(
        "landing_dir",
        type=Path,
        nargs="?",
        default=None,
        help="where the deliveries go (default CIM_HOME's landing folder)",
    )
    parser.add_argument("--incidents", type=int, default=None, help="police incident rows in total")
    parser.add_argument("--force", action="store_true", help="generate even if data exists")
    parser.add_argument("--manifest", type=Path, default=None, help="where the manifest goes")
    args = parser.parse_args(argv)
    city_dir = args.city_dir or settings.city_dir()
    if args.landing_dir is None:
        paths = settings.paths()
        landing, where = paths.landing, f"landing or archive under {paths.home}"
        occupied = _waiting(landing) or any(paths.archive.iterdir())
    else:
        landing, where = args.landing_dir, str(args.landing_dir)
        occupied = _waiting(landing)
    if args.landing_dir is None:
        # a deployment: accounts to try the partner and backbone pages with
        listing = make_demo_accounts(load_city(city_dir), paths)
        print(f"demo sign-in accounts (partners, backbone): {listing}")
    if occupied and not args.force:
        print(f"{where} is not empty: demo city not generated (use --force to add it anyway)")
        return 0
    summary = generate_demo_city(
        city_dir, landing, incidents=args.incidents, manifest_path=args.manifest
    )
    print(
        f"demo city written to {landing}: "
        + ", ".join(f"{feed} {n} files" for feed, n in sorted(summary["files"].items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
