"""The objects a scenario creates: the same pod under a Job and a TaskJob.

Pods land on kwok's fake nodes (toleration and node selector) and end after
`run_for` (bench/cluster/stages.yaml), failing when labelled to. The image is
never pulled: kwok runs nothing.
"""

from __future__ import annotations

from typing import Any

RUN_FOR = "bench.taskops.dev/run-for"
OUTCOME = "bench.taskops.dev/outcome"
IMAGE = "docker.io/library/busybox:1.35"


def pod_template(run_for: float, *, fail: bool = False) -> dict[str, Any]:
    labels = {OUTCOME: "fail"} if fail else {}
    return {
        "metadata": {"annotations": {RUN_FOR: f"{run_for:g}s"}, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"type": "kwok"},
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists",
                             "effect": "NoSchedule"}],
            "containers": [{"name": "main", "image": IMAGE}],
        },
    }


def job(name: str, run_for: float, *, completions: int = 1, parallelism: int = 1,
        indexed: bool = False, backoff_limit: int = 0, fail: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": pod_template(run_for, fail=fail),
                            "completions": completions, "parallelism": parallelism,
                            "backoffLimit": backoff_limit}
    if indexed:
        spec["completionMode"] = "Indexed"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def taskjob(name: str, run_for: float, *, completions: int = 1, parallelism: int = 1,
            indexed: bool = False, retries: int = 0, fail: bool = False,
            backoff_seconds: float = 10.0) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": pod_template(run_for, fail=fail)}
    if indexed:
        spec.update(completionMode="Indexed", completions=completions, parallelism=parallelism)
    if retries:
        backoff = {"policy": "Fixed", "initialDelaySeconds": int(backoff_seconds)}
        spec["retry"] = {"limit": retries, "backoff": backoff}
    return {"apiVersion": "taskops.dev/v1alpha1", "kind": "TaskJob",
            "metadata": {"name": name}, "spec": spec}


def succeeded(kind: str, obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    if kind == "TaskJob":
        return bool(status.get("phase") == "Succeeded")
    return any(c.get("type") == "Complete" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def finished(kind: str, obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    if kind == "TaskJob":
        return status.get("phase") in ("Succeeded", "Failed")
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in status.get("conditions") or [])
