"""An in-memory API server and kubelet for driving the real TaskJob reconciler.

`FakeApi` answers the calls `TaskJobReconciler` makes of `KubeClient` with
the API server's semantics that matter here (resourceVersions, AlreadyExists,
finalizers holding a deleted object, merge patches of status), delivers watch
events late (a lagging cache), can fail any call before or after it took
effect (a lost response), and moves pods along like a kubelet. It checks the
admission invariants on every pod creation: the caps bound the TaskJobs with
pods still running, and a dependent's pod needs every dependency Succeeded.
The decisions are the operator's own; only the cluster is simulated.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from taskops.core.conditions import status_patch
from taskops.core.labels import LABEL_TASKJOB
from taskops.core.observed import format_time
from taskops.kube.client import Gone
from taskops.kube.store import Key

T0 = datetime(2026, 12, 1, tzinfo=UTC)
Watcher = Callable[[str | None, Mapping[str, Any]], None]


class Injected(Exception):
    """A fault injected into an API call."""


def merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeApi:
    def __init__(self, rng: random.Random, fail_rate: float = 0.0,
                 caps: tuple[int | None, int | None] = (None, None)) -> None:
        self.rng = rng
        self.fail_rate = fail_rate
        self.caps = caps
        self.now = T0
        self.jobs: dict[Key, dict[str, Any]] = {}
        self.pods: dict[Key, dict[str, Any]] = {}
        self.events: list[tuple[Key, str, str]] = []  # (job key, reason, message)
        self.created_pods: list[str] = []
        self.status_writes = 0
        self.violations: list[str] = []
        self.peak_running: Counter[str] = Counter()
        self._rv = itertools.count(1)
        self._uid = itertools.count(1)
        self.pending: deque[tuple[str, str, dict[str, Any]]] = deque()  # (kind, type, body)
        #: job name -> attempts that fail (exit 1) before one succeeds
        self.failures: dict[str, int] = {}

    # ------------------------------------------------------------------ faults
    def _maybe_fail(self) -> None:
        if self.fail_rate and self.rng.random() < self.fail_rate:
            raise Injected("injected API error")

    def _maybe_lose_answer(self) -> None:
        # The call took effect but its answer never arrived.
        if self.fail_rate and self.rng.random() < self.fail_rate / 2:
            raise Injected("injected lost response")

    # ------------------------------------------------------------------ objects
    def _touch(self, kind: str, body: dict[str, Any], event: str) -> dict[str, Any]:
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        self.pending.append((kind, event, copy.deepcopy(body)))
        return copy.deepcopy(body)

    def add_job(self, name: str, spec: dict[str, Any], namespace: str = "ns") -> None:
        body = {"apiVersion": "taskops.dev/v1alpha1", "kind": "TaskJob",
                "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{next(self._uid)}",
                             "generation": 1, "creationTimestamp": format_time(self.now)},
                "spec": copy.deepcopy(spec)}
        self.jobs[(namespace, name)] = body
        self._touch("TaskJob", body, "ADDED")

    def deliver(self, on_job: Watcher, on_pod: Watcher, count: int | None = None) -> None:
        """Hand the oldest `count` pending watch events (all when None) to the watchers."""
        n = len(self.pending) if count is None else min(count, len(self.pending))
        for _ in range(n):
            kind, event, body = self.pending.popleft()
            (on_job if kind == "TaskJob" else on_pod)(event, body)

    # ------------------------------------------------------------------ KubeClient
    def list_pods(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(p) for p in self.pods.values()]

    def list_custom(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        return [copy.deepcopy(j) for j in self.jobs.values()] if plural == "taskjobs" else []

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        self._maybe_fail()
        job = self.jobs.get((namespace, name))
        return copy.deepcopy(job) if job is not None else None

    def patch_status(self, plural: str, namespace: str, name: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
        self._maybe_fail()
        patch = status_patch(old, new)
        if patch is None:
            return None
        job = self.jobs.get((namespace, name))
        if job is None:
            raise Gone(name)
        status = job.setdefault("status", {})
        merge_patch(status, patch)
        self.status_writes += 1
        answer = self._touch("TaskJob", job, "MODIFIED")
        self._maybe_lose_answer()
        return answer

    def create_pod(self, namespace: str, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        self._maybe_fail()
        name = manifest["metadata"]["name"]
        if (namespace, name) in self.pods:
            return None
        pod = copy.deepcopy(dict(manifest))
        pod["metadata"].update(uid=f"pod-{next(self._uid)}",
                               creationTimestamp=format_time(self.now))
        pod["status"] = {"phase": "Pending"}
        job_name = pod["metadata"]["ownerReferences"][0]["name"]
        self._check_dependencies(namespace, job_name)
        self.pods[(namespace, name)] = pod
        self.created_pods.append(name)
        self._check_caps()
        answer = self._touch("Pod", pod, "ADDED")
        self._maybe_lose_answer()
        return answer

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None) -> None:
        self._maybe_fail()
        pod = self.pods.get((namespace, name))
        if pod is None:
            return
        if pod["metadata"].get("finalizers"):
            if "deletionTimestamp" not in pod["metadata"]:
                pod["metadata"]["deletionTimestamp"] = format_time(self.now)
                self._touch("Pod", pod, "MODIFIED")
        else:
            self._remove_pod(namespace, name)

    def remove_pod_finalizer(self, namespace: str, name: str, finalizer: str,
                             known: list[str] | None = None) -> None:
        self._maybe_fail()
        pod = self.pods.get((namespace, name))
        if pod is None or finalizer not in (pod["metadata"].get("finalizers") or []):
            return
        pod["metadata"]["finalizers"].remove(finalizer)
        if "deletionTimestamp" in pod["metadata"] and not pod["metadata"]["finalizers"] \
                and pod["status"]["phase"] in ("Succeeded", "Failed"):
            self._remove_pod(namespace, name)
        else:
            self._touch("Pod", pod, "MODIFIED")

    def add_finalizer(self, plural: str, namespace: str, name: str, finalizer: str,
                      current: list[str]) -> dict[str, Any] | None:
        self._maybe_fail()
        job = self.jobs.get((namespace, name))
        if job is None or (job["metadata"].get("finalizers") or []) != current:
            return None  # gone, or the JSON patch's test of the list failed (422)
        job["metadata"]["finalizers"] = [*current, finalizer]
        answer = self._touch("TaskJob", job, "MODIFIED")
        self._maybe_lose_answer()
        return answer

    def remove_finalizer(self, plural: str, namespace: str, name: str, finalizer: str) -> None:
        self._maybe_fail()
        job = self.jobs.get((namespace, name))
        if job is None:
            return
        finalizers = job["metadata"].get("finalizers") or []
        if finalizer in finalizers:
            finalizers.remove(finalizer)
        if "deletionTimestamp" in job["metadata"] and not finalizers:
            del self.jobs[(namespace, name)]
            self.pending.append(("TaskJob", "DELETED", copy.deepcopy(job)))
        else:
            self._touch("TaskJob", job, "MODIFIED")

    def delete_custom(self, plural: str, namespace: str, name: str, uid: str,
                      propagation: str = "Background") -> None:
        self._maybe_fail()

    def post_event(self, involved: Mapping[str, Any], kind: str, type_: str, reason: str,
                   message: str, now: datetime) -> None:
        meta = involved["metadata"]
        self.events.append(((meta["namespace"], meta["name"]), reason, message))

    # ------------------------------------------------------------------ kubelet
    def tick(self, seconds: float = 1.0) -> None:
        """Time passes; each pod moves one step along its life, by chance."""
        self.now += timedelta(seconds=seconds)
        for key, pod in list(self.pods.items()):
            phase = pod["status"]["phase"]
            deleting = "deletionTimestamp" in pod["metadata"]
            if phase in ("Succeeded", "Failed"):
                if deleting and not pod["metadata"].get("finalizers"):
                    self._remove_pod(*key)
                continue
            if deleting:
                self._finish(pod, 137)
            elif phase == "Pending" and self.rng.random() < 0.6:
                pod["status"] = {"phase": "Running", "startTime": format_time(self.now),
                                 "containerStatuses": [{"name": "main", "ready": True,
                                                        "state": {"running": {}}}]}
                self._touch("Pod", pod, "MODIFIED")
            elif phase == "Running" and self.rng.random() < 0.5:
                job = pod["metadata"]["labels"][LABEL_TASKJOB]
                attempt = int(pod["metadata"]["labels"]["taskops.dev/attempt"])
                self._finish(pod, 1 if attempt < self.failures.get(job, 0) else 0)

    def _finish(self, pod: dict[str, Any], code: int) -> None:
        job = pod["metadata"]["labels"][LABEL_TASKJOB]
        pod["status"] = {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [
            {"name": "main", "ready": False, "state": {"terminated": {
                "exitCode": code, "finishedAt": format_time(self.now),
                "message": f"{job} done"}}}]}
        self._touch("Pod", pod, "MODIFIED")

    def _remove_pod(self, namespace: str, name: str) -> None:
        pod = self.pods.pop((namespace, name))
        self.pending.append(("Pod", "DELETED", copy.deepcopy(pod)))

    # ------------------------------------------------------------------ invariants
    def running_jobs(self) -> dict[str, set[str]]:
        """Namespace -> TaskJobs with a pod not yet terminal."""
        out: dict[str, set[str]] = {}
        for (ns, _), pod in self.pods.items():
            if pod["status"]["phase"] not in ("Succeeded", "Failed"):
                out.setdefault(ns, set()).add(pod["metadata"]["ownerReferences"][0]["name"])
        return out

    def _check_caps(self) -> None:
        total, per_namespace = self.caps
        running = self.running_jobs()
        count = sum(len(jobs) for jobs in running.values())
        self.peak_running["cluster"] = max(self.peak_running["cluster"], count)
        if total is not None and count > total:
            self.violations.append(f"{count} TaskJobs running over the cap of {total}")
        for ns, jobs in running.items():
            self.peak_running[ns] = max(self.peak_running[ns], len(jobs))
            if per_namespace is not None and len(jobs) > per_namespace:
                self.violations.append(f"{len(jobs)} running in {ns} over {per_namespace}")

    def _check_dependencies(self, namespace: str, job_name: str) -> None:
        job = self.jobs[(namespace, job_name)]
        for dep in job["spec"].get("dependsOn") or []:
            phase = (self.jobs.get((namespace, dep), {}).get("status") or {}).get("phase")
            if phase != "Succeeded":
                self.violations.append(f"{job_name} started while {dep} is {phase}")
