"""python -m bench.scale <scenario> [options]: one scenario, JSON out."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import burst
from .results import RESULTS
from .sides import LIMITS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    p.add_argument("--results-dir", type=Path, default=RESULTS,
                   help="where <scenario>.jsonl is appended (default: bench/results)")
    sub = p.add_subparsers(dest="scenario", required=True)
    b = sub.add_parser("burst", help="N one-pod TaskJobs versus N one-pod Jobs")
    b.add_argument("--n", type=int, default=1000)
    b.add_argument("--repeat", type=int, default=1, help="rounds; sides alternate in each")
    b.add_argument("--sides", nargs="+", choices=["builtin", "taskops"],
                   default=["builtin", "taskops"])
    b.add_argument("--limits", choices=LIMITS, default="defaults")
    b.add_argument("--run-for", type=float, default=5.0, help="seconds each pod runs")
    b.set_defaults(main=burst.main)
    return p


def main() -> None:
    args = parser().parse_args()
    args.main(args)


if __name__ == "__main__":
    main()
