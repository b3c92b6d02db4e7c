"""fan-out: Indexed objects of many completions, a few pods at a time each:
100 TaskJobs of 100 completions at parallelism 10 against the same Indexed Jobs."""

from __future__ import annotations

from typing import Any

from . import objects, workload
from .results import rounds


def run(side: str, jobs: int, completions: int, parallelism: int, *, limits: str,
        run_for: float) -> dict[str, Any]:
    make = objects.job if side == "builtin" else objects.taskjob
    bodies = [make(f"fan-{i:04d}", run_for, completions=completions, parallelism=parallelism,
                   indexed=True) for i in range(jobs)]
    pods = jobs * completions
    waves = -(-completions // parallelism)
    r = workload.run(side, bodies, limits=limits,
                     timeout=max(600.0, waves * run_for * 4, pods * 0.5))
    result = workload.summary("fanout", r, pods=pods)
    result.update(jobs=jobs, completions=completions, parallelism=parallelism,
                  run_for_seconds=run_for, n=pods)
    return result


def main(args: Any) -> list[dict[str, Any]]:
    return rounds("fanout", args, lambda side: run(
        side, args.jobs, args.completions, args.parallelism, limits=args.limits,
        run_for=args.run_for))
