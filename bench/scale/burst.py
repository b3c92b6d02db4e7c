"""burst: N one-pod objects created as fast as the client can, through the
Job controller or through taskops, on a fresh etcd each time.

Per side: time until every pod exists and until every object reports
success, create-to-pod latency, the controller's requests per object by verb
(audit log), its CPU seconds and peak RSS, and the API server's CPU.
"""

from __future__ import annotations

import json
from typing import Any

from . import objects, workload
from .results import append


def run(side: str, n: int, *, limits: str, run_for: float = 5.0) -> dict[str, Any]:
    make = objects.job if side == "builtin" else objects.taskjob
    bodies = [make(f"burst-{i:05d}", run_for) for i in range(n)]
    # The Job controller at its shipped 20 QPS needs about 0.3 s per Job.
    r = workload.run(side, bodies, limits=limits, pods=n, timeout=max(300.0, n * 0.8))
    result = workload.summary("burst", r, pods=n)
    result["run_for_seconds"] = run_for
    return result


def main(args: Any) -> list[dict[str, Any]]:
    out = []
    for rep in range(args.repeat):
        for side in args.sides:
            result = run(side, args.n, limits=args.limits, run_for=args.run_for)
            result["repetition"] = rep
            append("burst", result, args.results_dir)
            print(json.dumps(result, sort_keys=True), flush=True)
            out.append(result)
    return out
