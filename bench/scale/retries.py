"""retries: N one-pod objects whose attempts fail, allowed one retry each,
with the same backoff on both sides (the Job controller's fixed 10 s; a
TaskJob's `retry.backoff` set to 10 s). Both attempts fail (kwok cannot tell a
Job's first attempt from its second), which changes nothing measured: the gap
from the first attempt's failure to the second attempt's pod, against the
configured delay, and the requests each retry costs.
"""

from __future__ import annotations

from typing import Any

from . import objects, workload
from .results import percentile, rounds

# kube-controller-manager's pod-failure backoff before the first retry
# (pkg/controller/job: DefaultJobPodFailureBackOff); not configurable there.
JOB_BACKOFF_SECONDS = 10.0


def retry_gaps(r: workload.Run) -> list[float]:
    """Per object: second pod seen minus first pod seen ended."""
    by_owner: dict[str, list[str]] = {}
    for pod, owner in r.timeline.pod_owner.items():
        by_owner.setdefault(owner, []).append(pod)
    gaps = []
    for pods in by_owner.values():
        if len(pods) < 2:
            continue
        first, second = sorted(pods, key=lambda p: r.timeline.pods[p])[:2]
        ended = r.timeline.pod_ended.get(first)
        if ended is not None:
            gaps.append(r.timeline.pods[second] - ended)
    return gaps


def run(side: str, n: int, *, limits: str, run_for: float) -> dict[str, Any]:
    if side == "builtin":
        bodies = [objects.job(f"retry-{i:05d}", run_for, backoff_limit=1, fail=True)
                  for i in range(n)]
    else:
        bodies = [objects.taskjob(f"retry-{i:05d}", run_for, retries=1, fail=True,
                                  backoff_seconds=JOB_BACKOFF_SECONDS) for i in range(n)]
    r = workload.run(side, bodies, limits=limits,
                     timeout=max(600.0, n * 1.2))
    result = workload.summary("retries", r, pods=2 * n)
    gaps = retry_gaps(r)
    retries = max(len(r.timeline.pods) - n, 1)
    result.update(
        run_for_seconds=run_for, configured_delay_seconds=JOB_BACKOFF_SECONDS,
        retried=len(gaps),
        retry_gap_p50_seconds=round(percentile(gaps, 50), 3) if gaps else None,
        retry_gap_p99_seconds=round(percentile(gaps, 99), 3) if gaps else None,
        retry_gap_max_seconds=round(max(gaps), 3) if gaps else None,
        # Every write the controller made, spread over the retries: the
        # whole run's writes less the same run without retries is not
        # measurable in one run, so this is an upper bound.
        writes_per_retry=round(r.requests.total_writes / retries, 3))
    return result


def main(args: Any) -> list[dict[str, Any]]:
    return rounds("retries", args, lambda side: run(
        side, args.n, limits=args.limits, run_for=args.run_for))
