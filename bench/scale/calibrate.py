"""calibrate: the ceiling every other figure is read against.

N bare pods created by the unthrottled bench client, first pre-bound to the
fake nodes (API server, etcd and kwok alone), then through the scheduler;
each timed from the first create until every pod is Running.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from . import objects
from .cluster import BenchCluster, create_all
from .observe import Watch
from .results import environment, repeated

NODES = 16


def pods_running(cluster: BenchCluster, namespace: str, n: int, prebound: bool) -> float:
    api = cluster.api()
    cluster.kubectl("create", "namespace", namespace)
    running: dict[str, float] = {}
    lock = threading.Lock()

    def seen(_type: str, pod: dict[str, Any], t: float) -> None:
        if (pod.get("status") or {}).get("phase") == "Running":
            with lock:
                running.setdefault(pod["metadata"]["name"], t)

    watch = Watch(api, f"/api/v1/namespaces/{namespace}/pods", seen)
    watch.start()
    watch.ready.wait(30)
    bodies = []
    for i in range(n):
        template = objects.pod_template(3600)
        spec = template["spec"]
        if prebound:
            spec["nodeName"] = f"kwok-node-{i % NODES}"
        bodies.append({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": f"pod-{i:05d}"}, "spec": spec})
    t0 = time.monotonic()
    create_all(api, f"/api/v1/namespaces/{namespace}/pods", bodies)
    deadline = t0 + max(120.0, n * 0.1)
    while len(running) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    watch.stop()
    if len(running) < n:
        raise TimeoutError(f"{len(running)}/{n} pods Running in {namespace}")
    return max(running.values()) - t0


def run(n: int) -> dict[str, Any]:
    cluster = BenchCluster.up(fresh=True, nodes=NODES)
    prebound = pods_running(cluster, "calibrate-prebound", n, prebound=True)
    scheduled = pods_running(cluster, "calibrate-scheduled", n, prebound=False)
    return {"scenario": "calibrate", "n": n, "env": environment(),
            "prebound_seconds": round(prebound, 3),
            "prebound_pods_per_second": round(n / prebound, 1),
            "scheduled_seconds": round(scheduled, 3),
            "scheduled_pods_per_second": round(n / scheduled, 1)}


def main(args: Any) -> list[dict[str, Any]]:
    return repeated("calibrate", args, lambda: run(args.n))
