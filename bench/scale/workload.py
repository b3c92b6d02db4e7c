"""One side of a comparison run on a fresh bench cluster: create the objects,
watch their pods and outcomes, count the controller's requests and resources.

burst, fan-out and retries differ only in the objects they create and in the
figures they add from the timeline (`summary` plus their own).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import audit, objects, procstat
from .cluster import BenchCluster, create_all
from .observe import Timeline, watch_run
from .results import environment, percentile
from .sides import Running, controller, kcm_limits

NAMESPACE = "bench"
KINDS = {"builtin": ("Job", "jobs", "/apis/batch/v1"),
         "taskops": ("TaskJob", "taskjobs", "/apis/taskops.dev/v1alpha1")}


@dataclass
class Run:
    """What one side did: raw observations, summarised by `summary`."""

    side: str
    kind: str
    limits: str
    created: dict[str, float]  # object name -> its create returned (monotonic)
    t0: float
    t_created: float
    timeline: Timeline
    requests: audit.Requests
    before: tuple[procstat.Sample, procstat.Sample]  # controller, API server
    after: tuple[procstat.Sample, procstat.Sample]
    extra: dict[str, Any] = field(default_factory=dict)  # what `then` returned


def run(side: str, bodies: list[dict[str, Any]], *, limits: str, timeout: float,
        then: Callable[[Running], dict[str, Any]] | None = None,
        operator_args: Sequence[str] = ()) -> Run:
    """Creates `bodies` as fast as the client can and waits until every one
    finished (or `timeout`). `then` measures more on the finished objects
    while the controller runs; `operator_args` are more flags for the operator."""
    kind, plural, group_path = KINDS[side]
    qps, burst = kcm_limits(limits)
    cluster = BenchCluster.up(fresh=True, kcm_qps=qps, kcm_burst=burst)
    cluster.kubectl("create", "namespace", NAMESPACE)
    api = cluster.api()
    with controller(side, cluster, NAMESPACE, limits, operator_args=operator_args) as running:
        apiserver = cluster.pid("kube-apiserver")
        procstat.reset_peak(running.pid)
        before = procstat.sample(running.pid), procstat.sample(apiserver)
        offset = cluster.audit_offset()
        timeline, watches = watch_run(api, NAMESPACE, kind, plural, group_path,
                                      objects.finished, objects.succeeded)
        t0 = time.monotonic()
        created = create_all(api, f"{group_path}/namespaces/{NAMESPACE}/{plural}", bodies)
        t_created = time.monotonic()
        while len(timeline.done) < len(bodies) and time.monotonic() - t0 < timeout:
            time.sleep(0.2)
        # What a controller does after the last object finished (removing
        # pod finalizers, last Events) is its work too: wait until it is quiet.
        audit.wait_quiet(cluster.audit_log, running.audit_user, offset)
        after = procstat.sample(running.pid), procstat.sample(apiserver)
        for w in watches:
            w.stop()
        extra = then(running) if then is not None else {}
    requests = audit.requests_of(running.audit_user, audit.records(cluster.audit_log, offset))
    return Run(side, kind, limits, created, t0, t_created, timeline, requests, before, after,
               extra)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summary(scenario: str, r: Run, *, pods: int) -> dict[str, Any]:
    """The figures every scenario reports; `pods` is how many the run should make."""
    n = len(r.created)
    tl = r.timeline
    first_pod: dict[str, float] = {}
    for pod, seen in tl.pods.items():
        owner = tl.pod_owner[pod]
        if owner in r.created and seen < first_pod.get(owner, float("inf")):
            first_pod[owner] = seen
    latency = [first_pod[name] - r.created[name] for name in first_pod]
    succeeded = sum(1 for ok in tl.outcome.values() if ok)
    all_pods = sorted(tl.pods.values())[pods - 1] - r.t0 if len(tl.pods) >= pods else None
    all_done = max(tl.done.values()) - r.t0 if len(tl.done) == n else None
    return {
        "scenario": scenario, "side": r.side, "kind": r.kind, "n": n, "limits": r.limits,
        "env": environment(),
        "create_seconds": _rounded(r.t_created - r.t0),
        "all_pods_seconds": _rounded(all_pods),
        "all_finished_seconds": _rounded(all_done),
        "all_succeeded_seconds": _rounded(all_done if succeeded == n else None),
        "objects_with_pod": len(first_pod), "finished": len(tl.done), "succeeded": succeeded,
        "pods": len(tl.pods),
        "create_to_pod_p50_seconds": _rounded(percentile(latency, 50) if latency else None),
        "create_to_pod_p99_seconds": _rounded(percentile(latency, 99) if latency else None),
        "create_to_pod_max_seconds": _rounded(max(latency) if latency else None),
        "requests": r.requests.as_dict(),
        "writes_per_object": round(r.requests.total_writes / max(n, 1), 3),
        "writes_per_pod": round(r.requests.total_writes / max(len(tl.pods), 1), 3),
        "events_per_object": round(r.requests.events / max(n, 1), 3),
        "controller_cpu_seconds": round(r.after[0].cpu_seconds - r.before[0].cpu_seconds, 2),
        "controller_peak_rss_bytes": r.after[0].peak_rss_bytes,
        "controller_start_rss_bytes": r.before[0].rss_bytes,
        "apiserver_cpu_seconds": round(r.after[1].cpu_seconds - r.before[1].cpu_seconds, 2),
    }
