"""burst: N one-pod objects created as fast as the client can, through the
Job controller or through taskops, on a fresh etcd each time.

Per side: time until every pod exists and until every object reports
success, create-to-pod latency, the controller's requests per object by verb
(audit log), its CPU seconds and peak RSS, and the API server's CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import objects, steady, workload
from .results import append, rounds
from .sides import Running


def run(side: str, n: int, *, limits: str, run_for: float = 5.0,
        steady_to: Path | None = None) -> dict[str, Any]:
    """One side's burst; with `steady_to` (taskops only), then the steady
    state on the same objects, appended to that results directory."""
    make = objects.job if side == "builtin" else objects.taskjob
    bodies = [make(f"burst-{i:05d}", run_for) for i in range(n)]
    then = None
    if steady_to is not None and side == "taskops":
        def then(running: Running) -> dict[str, Any]:
            return steady.measure(running, n)
    # The Job controller at its shipped 20 QPS needs about 0.3 s per Job.
    r = workload.run(side, bodies, limits=limits, timeout=max(300.0, n * 0.8),
                     then=then)
    if r.extra and steady_to is not None:
        append("steady", {**r.extra, "limits": limits}, steady_to)
        print(json.dumps(r.extra, sort_keys=True), flush=True)
    result = workload.summary("burst", r, pods=n)
    result["run_for_seconds"] = run_for
    return result


def main(args: Any) -> list[dict[str, Any]]:
    steady_to = args.results_dir if args.steady else None
    return rounds("burst", args, lambda side: run(
        side, args.n, limits=args.limits, run_for=args.run_for, steady_to=steady_to))
