"""burst: N one-pod objects created as fast as the client can, through the
Job controller or through taskops, on a fresh etcd each time.

Per side: time until every pod exists and until every object reports
success, create-to-pod latency, the controller's requests per object by verb
(audit log), its CPU seconds and peak RSS, and the API server's CPU.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from . import audit, objects, procstat
from .cluster import BenchCluster, request
from .observe import watch_run
from .results import environment, percentile
from .sides import controller

NAMESPACE = "bench"
KINDS = {"builtin": ("Job", "jobs", "/apis/batch/v1"),
         "taskops": ("TaskJob", "taskjobs", "/apis/taskops.dev/v1alpha1")}


def create_all(api: client.ApiClient, path: str, bodies: list[dict[str, Any]],
               workers: int = 16) -> dict[str, float]:
    """Creates every body, returns name -> monotonic time its create returned."""
    def create(body: dict[str, Any]) -> tuple[str, float]:
        request(api, "POST", path, body=body)
        return body["metadata"]["name"], time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(create, bodies))


def run(side: str, n: int, *, limits: str, run_for: float = 5.0,
        timeout: float | None = None) -> dict[str, Any]:
    kind, plural, group_path = KINDS[side]
    cluster = BenchCluster.up(fresh=True)
    cluster.kubectl("create", "namespace", NAMESPACE)
    api = cluster.api()
    make = objects.job if side == "builtin" else objects.taskjob
    bodies = [make(f"burst-{i:05d}", run_for) for i in range(n)]
    deadline = timeout or max(180.0, n * 0.25)
    with controller(side, cluster, NAMESPACE, limits) as running:
        apiserver = cluster.pid("kube-apiserver")
        procstat.reset_peak(running.pid)
        before = procstat.sample(running.pid), procstat.sample(apiserver)
        offset = cluster.audit_offset()
        timeline, watches = watch_run(api, NAMESPACE, kind, plural, group_path,
                                      objects.finished, objects.succeeded)
        t0 = time.monotonic()
        created = create_all(api, f"{group_path}/namespaces/{NAMESPACE}/{plural}", bodies)
        t_created = time.monotonic()
        while len(timeline.done) < n and time.monotonic() - t0 < deadline:
            time.sleep(0.2)
        after = procstat.sample(running.pid), procstat.sample(apiserver)
        for w in watches:
            w.stop()
    requests = audit.requests_of(running.audit_user, audit.records(cluster.audit_log, offset))
    return summarise(side=side, kind=kind, n=n, limits=limits, run_for=run_for, t0=t0,
                     t_created=t_created, created=created, timeline=timeline,
                     requests=requests, before=before, after=after)


def summarise(*, side: str, kind: str, n: int, limits: str, run_for: float, t0: float,
              t_created: float, created: dict[str, float], timeline: Any,
              requests: audit.Requests, before: tuple[procstat.Sample, procstat.Sample],
              after: tuple[procstat.Sample, procstat.Sample]) -> dict[str, Any]:
    first_pod: dict[str, float] = {}
    for pod, seen in timeline.pods.items():
        owner = timeline.pod_owner[pod]
        if owner in created and (owner not in first_pod or seen < first_pod[owner]):
            first_pod[owner] = seen
    latency = [first_pod[name] - created[name] for name in first_pod]
    succeeded = sum(1 for ok in timeline.outcome.values() if ok)
    per = max(n, 1)
    return {
        "scenario": "burst", "side": side, "kind": kind, "n": n, "limits": limits,
        "run_for_seconds": run_for, "env": environment(),
        "create_seconds": round(t_created - t0, 3),
        "all_pods_seconds": round(max(first_pod.values()) - t0, 3) if len(first_pod) == n else None,
        "all_succeeded_seconds": (round(max(timeline.done.values()) - t0, 3)
                                  if succeeded == n else None),
        "objects_with_pod": len(first_pod), "succeeded": succeeded,
        "pods": len(timeline.pods),
        "create_to_pod_p50_seconds": round(percentile(latency, 50), 3) if latency else None,
        "create_to_pod_p99_seconds": round(percentile(latency, 99), 3) if latency else None,
        "create_to_pod_max_seconds": round(max(latency), 3) if latency else None,
        "requests": requests.as_dict(),
        "writes_per_object": round(requests.total_writes / per, 3),
        "events_per_object": round(requests.events / per, 3),
        "controller_cpu_seconds": round(after[0].cpu_seconds - before[0].cpu_seconds, 2),
        "controller_peak_rss_bytes": after[0].peak_rss_bytes,
        "controller_start_rss_bytes": before[0].rss_bytes,
        "apiserver_cpu_seconds": round(after[1].cpu_seconds - before[1].cpu_seconds, 2),
    }


def main(args: Any) -> list[dict[str, Any]]:
    from .results import append
    out = []
    for rep in range(args.repeat):
        for side in args.sides:
            result = run(side, args.n, limits=args.limits, run_for=args.run_for)
            result["repetition"] = rep
            append("burst", result, args.results_dir)
            print(json.dumps(result, sort_keys=True), flush=True)
            out.append(result)
    return out
