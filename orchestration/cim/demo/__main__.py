"""``python -m cim.demo CITY_DIR LANDING_DIR [--incidents N] [--manifest PATH]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cim.demo.generator import generate_demo_city


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cim.demo", description=__doc__)
    parser.add_argument("city_dir", type=Path)
    parser.add_argument("landing_dir", type=Path)
    parser.add_argument("--incidents", type=int, default=None)
    parser.add_argument("--manifest", type=Path, default=None)
    args = parser.parse_args(argv)
    summary = generate_demo_city(
        args.city_dir, args.landing_dir, incidents=args.incidents, manifest_path=args.manifest
    )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
