"""writecost: what one write costs the API server, by kind and verb.

The burst figures say a TaskJob costs the API server about twice what a Job
does for the same number of writes. This isolates the write: W status writes
on objects nobody reconciles (no operator runs; the Jobs carry a `managedBy`
the Job controller leaves alone), from `THREADS` client threads each on its
own object, each write changing the status as a controller's does (the phase
and a counter flip). Variants: a TaskJob written with a JSON merge patch (what
the operator sends) and with an update (PUT of the whole object at its
resourceVersion, what client-go's UpdateStatus sends), and a Job both ways;
and W creates of each kind (the body the burst scenario sends: a client's
burst pays this before any controller acts).
API server and etcd CPU are read from /proc around each variant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import objects
from .cluster import BenchCluster, request
from .procstat import sample
from .results import environment, repeated

THREADS = 8
# Status writes as a merge patch and as an update, and the object's create.
VERBS = ("merge", "put", "create")
NAMESPACE = "writecost"
TASKJOBS = f"/apis/taskops.dev/v1alpha1/namespaces/{NAMESPACE}/taskjobs"
JOBS = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"


def taskjob_status(i: int) -> dict[str, Any]:
    """A running TaskJob's status as the operator writes it (one attempt)."""
    t = "2026-12-03T09:00:00Z"
    return {
        "phase": "Running" if i % 2 else "Pending", "reason": "Started",
        "message": f"attempt 1 of 1 running ({i})",
        "conditions": [
            {"type": "Admitted", "status": "True", "lastTransitionTime": t,
             "reason": "Admitted", "message": "no cap", "observedGeneration": 1},
            {"type": "Ready", "status": "True" if i % 2 else "False",
             "lastTransitionTime": t, "reason": "PodReady", "message": "", "observedGeneration": 1},
        ],
        "attempts": [{"attempt": 0, "index": 0, "pod": "wc-0-a0", "startTime": t,
                      "reason": "Running"}],
        "attemptCount": 1, "active": 1, "succeeded": 0, "failed": 0, "startTime": t,
        "indexes": {"0": {"attempts": 0, "failures": 0, "started": True}},
        "observedGeneration": 1,
    }


def job_status(i: int) -> dict[str, Any]:
    """A running Job's status as the Job controller writes it."""
    return {"active": 1, "ready": i % 2, "terminating": 0, "startTime": "2026-12-03T09:00:00Z",
            "uncountedTerminatedPods": {}, "succeeded": 0, "failed": 0}


def unreconciled_job(name: str) -> dict[str, Any]:
    """A Job the Job controller leaves alone: suspended, managed by nobody."""
    job = objects.job(name, 5)
    job["spec"]["suspend"] = True
    job["spec"]["managedBy"] = "bench.taskops.dev/nobody"
    return job


def unreconciled_taskjob(name: str) -> dict[str, Any]:
    """A TaskJob as the burst sends it (no operator runs in writecost)."""
    return objects.taskjob(name, 5)


def _variant(cluster: BenchCluster, api: Any, path: str, status: Callable[[int], dict[str, Any]],
             body: Callable[[str], dict[str, Any]], verb: str, writes: int) -> dict[str, Any]:
    names = [f"wc-{verb}-{t}" for t in range(THREADS)]
    per_thread = writes // THREADS

    def merge(name: str) -> None:
        for i in range(per_thread):
            request(api, "PATCH", f"{path}/{name}/status", body={"status": status(i)},
                    content_type="application/merge-patch+json")

    def put(name: str) -> None:
        current = request(api, "GET", f"{path}/{name}")  # an update needs the whole object
        for i in range(per_thread):
            current["status"] = status(i)
            current = request(api, "PUT", f"{path}/{name}/status", body=current)

    def create(name: str) -> None:
        # What a client's burst costs before any controller acts: the object's
        # create, the same body the burst scenario sends.
        for i in range(per_thread):
            request(api, "POST", path, body=body(f"{name}-{i}"))

    work = {"merge": merge, "put": put, "create": create}[verb]

    before = {c: sample(cluster.pid(c)).cpu_seconds for c in ("kube-apiserver", "etcd")}
    t0 = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, names))  # re-raises a thread's failure
    wall = time.monotonic() - t0
    after = {c: sample(cluster.pid(c)).cpu_seconds for c in ("kube-apiserver", "etcd")}
    done = per_thread * THREADS
    return {"writes": done, "seconds": round(wall, 3),
            "writes_per_second": round(done / wall, 1),
            "apiserver_cpu_ms_per_write": round((after["kube-apiserver"] - before["kube-apiserver"])
                                                / done * 1000, 3),
            "etcd_cpu_ms_per_write": round((after["etcd"] - before["etcd"]) / done * 1000, 3)}


def run(writes: int) -> dict[str, Any]:
    cluster = BenchCluster.up(fresh=True)
    api = cluster.api()
    cluster.kubectl("create", "namespace", NAMESPACE)
    for verb in ("merge", "put"):
        for t in range(THREADS):
            name = f"wc-{verb}-{t}"
            request(api, "POST", TASKJOBS, body=unreconciled_taskjob(name))
            request(api, "POST", JOBS, body=unreconciled_job(name))
    out: dict[str, Any] = {"scenario": "writecost", "env": environment(), "threads": THREADS}
    for kind, path, status, body in (
            ("TaskJob", TASKJOBS, taskjob_status, unreconciled_taskjob),
            ("Job", JOBS, job_status, unreconciled_job)):
        for verb in VERBS:
            out[f"{kind}_{verb}"] = _variant(cluster, api, path, status, body, verb, writes)
    return out


def main(args: Any) -> list[dict[str, Any]]:
    return repeated("writecost", args, lambda: run(args.writes))
