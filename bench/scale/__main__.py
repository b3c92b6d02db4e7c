"""python -m bench.scale <scenario> [options]: one scenario, JSON out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import burst, calibrate, fanout, queue, retries, schedules, write_cost
from .results import RESULTS
from .sides import LIMITS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    p.add_argument("--results-dir", type=Path, default=RESULTS,
                   help="where <scenario>.jsonl is appended (default: bench/results)")
    sub = p.add_subparsers(dest="scenario", required=True)
    b = comparison(sub, "burst", "N one-pod TaskJobs versus N one-pod Jobs", run_for=5.0)
    b.add_argument("--n", type=int, default=1000)
    b.add_argument("--steady", action="store_true",
                   help="then measure the steady state on taskops' N finished TaskJobs")
    b.set_defaults(main=burst.main)
    f = comparison(sub, "fanout", "Indexed TaskJobs versus Indexed Jobs", run_for=2.0)
    f.add_argument("--jobs", type=int, default=100)
    f.add_argument("--completions", type=int, default=100)
    f.add_argument("--parallelism", type=int, default=10)
    f.set_defaults(main=fanout.main)
    r = comparison(sub, "retries", "failing attempts retried after the same backoff",
                   run_for=1.0)
    r.add_argument("--n", type=int, default=1000)
    r.set_defaults(main=retries.main)
    s = comparison(sub, "schedules", "TaskSchedules on @every against CronJobs every minute",
                   run_for=None)
    s.add_argument("--n", type=int, default=1000, help="schedules")
    s.add_argument("--every", default="10s",
                   help="TaskSchedules' @every interval (CronJobs: every minute whatever it says)")
    s.add_argument("--minutes", type=float, default=5.0, help="length of the measured window")
    s.set_defaults(main=schedules.main)
    q = comparison(sub, "queue", "TaskJobs queued behind --max-running (taskops only)",
                   run_for=1.0)
    q.add_argument("--n", type=int, default=10000)
    q.add_argument("--max-running", type=int, default=100, help="the operator's cap")
    q.set_defaults(main=queue.main)
    w = sub.add_parser("writecost", help="API server CPU per status write, TaskJob against Job")
    w.add_argument("--writes", type=int, default=4000, help="per variant")
    w.add_argument("--repeat", type=int, default=1)
    w.set_defaults(main=write_cost.main)
    c = sub.add_parser("calibrate", help="the raw ceiling: bare pods, pre-bound then scheduled")
    c.add_argument("--n", type=int, default=1000)
    c.add_argument("--repeat", type=int, default=1)
    c.set_defaults(main=calibrate.main)
    return p


def comparison(sub: Any, name: str, about: str, *,
               run_for: float | None) -> argparse.ArgumentParser:
    """A scenario run on both sides, alternating, `--repeat` rounds; `--run-for`
    unless `run_for` is None (the scenario makes no pods)."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=about)
    p.add_argument("--repeat", type=int, default=1, help="rounds; the sides alternate in each")
    p.add_argument("--sides", nargs="+", choices=["builtin", "taskops"],
                   default=["builtin", "taskops"])
    p.add_argument("--limits", choices=LIMITS, default="defaults")
    if run_for is not None:
        p.add_argument("--run-for", type=float, default=run_for, help="seconds each pod runs")
    return p


def main() -> None:
    args = parser().parse_args()
    args.main(args)


if __name__ == "__main__":
    main()
