"""queue: N one-pod TaskJobs created at once behind the operator's
`--max-running` cap, drained on a fresh etcd.

taskops only: the Job controller has no cap on running Jobs, so its side is
recorded as absent (the report shows n/a). A job counts as admitted when the
harness's watch first sees its pod (the operator creates it in the reconcile
that admits the job). Per run: admissions per second once the cap is full
(the admissions after the first `cap`, over the time from the `cap`-th to the
last), the operator's status writes per admission (audit log), the time to
drain (first create to every TaskJob finished), the most pods running at
once (never above the cap), and the figures every scenario reports.
"""

from __future__ import annotations

from typing import Any

from . import objects, workload
from .observe import Timeline
from .results import environment, percentile, rounds

STATUS_WRITE = "patch taskjobs/status"


def admissions_per_second(admitted: list[float], cap: int) -> float | None:
    """Admissions after the first `cap` over the time they took: the rate at
    which slots are handed on, which the initial fill does not show."""
    times = sorted(admitted)
    if len(times) <= cap or times[-1] <= times[cap - 1]:
        return None
    return (len(times) - cap) / (times[-1] - times[cap - 1])


def peak_running(tl: Timeline) -> int:
    """The most pods seen at once between their first sighting and their end."""
    edges = sorted([(t, 1) for t in tl.pods.values()] +
                   [(t, -1) for pod, t in tl.pod_ended.items() if pod in tl.pods])
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def absent(n: int, cap: int, limits: str) -> dict[str, Any]:
    return {"scenario": "queue", "side": "builtin", "kind": "Job", "n": n, "cap": cap,
            "limits": limits, "env": environment(), "absent": True,
            "why": "the Job controller has no cap on running Jobs"}


def run(side: str, n: int, cap: int, *, limits: str, run_for: float) -> dict[str, Any]:
    if side == "builtin":
        return absent(n, cap, limits)
    bodies = [objects.taskjob(f"queued-{i:05d}", run_for) for i in range(n)]
    r = workload.run(side, bodies, limits=limits, operator_args=["--max-running", str(cap)],
                     timeout=max(600.0, n * 0.5))
    result = workload.summary("queue", r, pods=n)
    first_pod: dict[str, float] = {}
    for pod, owner in r.timeline.pod_owner.items():
        if owner in r.created:
            first_pod[owner] = min(r.timeline.pods[pod], first_pod.get(owner, float("inf")))
    admitted = list(first_pod.values())
    waits = [t - r.t0 for t in admitted]
    rate = admissions_per_second(admitted, cap)
    status_writes = r.requests.writes.get(STATUS_WRITE, 0)
    result.update(
        cap=cap, run_for_seconds=run_for,
        admissions_per_second=None if rate is None else round(rate, 2),
        status_writes_per_admission=round(status_writes / max(len(admitted), 1), 3),
        drain_seconds=result["all_finished_seconds"],
        admission_wait_p50_seconds=round(percentile(waits, 50), 3) if waits else None,
        admission_wait_max_seconds=round(max(waits), 3) if waits else None,
        peak_running=peak_running(r.timeline),
        # The least a drain can take: n / cap waves of one pod's life each.
        drain_floor_seconds=round(n / cap * run_for, 1))
    return result


def main(args: Any) -> list[dict[str, Any]]:
    return rounds("queue", args, lambda side: run(
        side, args.n, args.max_running, limits=args.limits, run_for=args.run_for))
