"""Builders for TaskJob and Pod objects as the API returns them, and a fake cluster.

`FakeCluster` is a small, pure simulator of what the operator's shell and the
cluster do with a `Decision`: it patches the status, applies the actions in
order (optionally crashing part way), moves pods along their lifecycle, and
can hand `decide` slightly stale views. The scenario tests and the property
tests drive it; it also checks the safety invariants on every step.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from taskops.core.actions import (
    AddJobFinalizer,
    CreatePod,
    Decision,
    DeleteJob,
    DeletePod,
    EmitEvent,
    ReleasePod,
    RemoveJobFinalizer,
)
from taskops.core.labels import (
    ANNOTATION_MAIN_CONTAINER,
    JOB_FINALIZER,
    LABEL_ATTEMPT,
    LABEL_INDEX,
    LABEL_TASKJOB,
    LABEL_TASKJOB_UID,
    POD_FINALIZER,
)
from taskops.core.observed import ObservedJob, ObservedPod, format_time, observe_job, observe_pod
from taskops.core.pods import pod_name
from taskops.core.taskjob import decide

T0 = datetime(2025, 1, 1, tzinfo=UTC)
JOB_NAME = "job"
JOB_UID = "uid-1"
NAMESPACE = "ns"


def merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: nested dicts merge, everything else replaces."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def job_spec(**overrides: Any) -> dict[str, Any]:
    """A minimal valid TaskJob spec (camelCase) with overrides merged in."""
    base = {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}
    return merge(base, overrides)


def job_body(
    spec: Mapping[str, Any] | None = None,
    *,
    status: Mapping[str, Any] | None = None,
    finalizers: tuple[str, ...] = (JOB_FINALIZER,),
    deleting: bool = False,
    generation: int = 1,
    name: str = JOB_NAME,
    uid: str = JOB_UID,
    created: datetime = T0,
) -> dict[str, Any]:
    """A TaskJob as the API returns it."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid,
        "generation": generation,
        "creationTimestamp": format_time(created),
        "finalizers": list(finalizers),
    }
    if deleting:
        metadata["deletionTimestamp"] = format_time(created + timedelta(hours=1))
    return {
        "apiVersion": "taskops.dev/v1alpha1",
        "kind": "TaskJob",
        "metadata": metadata,
        "spec": dict(spec if spec is not None else job_spec()),
        "status": dict(status or {}),
    }


def make_job(spec: Mapping[str, Any] | None = None, **kwargs: Any) -> ObservedJob:
    """An ObservedJob; keyword arguments as for `job_body`."""
    return observe_job(job_body(spec, **kwargs))


def pod_body(
    index: int = 0,
    attempt: int = 0,
    *,
    phase: str = "Running",
    job: str = JOB_NAME,
    created: datetime = T0,
    started: datetime | None = None,
    finished: datetime | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    message: str | None = None,
    pod_reason: str | None = None,
    ready: bool = False,
    deleting: bool = False,
    finalizer: bool = True,
    disruption_condition: bool = False,
    disruption: tuple[str, str] = ("EvictionByEvictionAPI", ""),
    main: str = "main",
    scheduled: bool | None = None,
    unschedulable: str | None = None,
    waiting: tuple[str, str] | None = None,
    init_waiting: tuple[str, str] | None = None,
    sidecar_running: bool = False,
) -> dict[str, Any]:
    """A pod of the TaskJob as the API returns it; terminal phases get a terminated state.

    A Pending pod's main container waits (`waiting`: reason and message,
    ContainerCreating by default); `scheduled` adds the PodScheduled condition
    (True, or False with reason Unschedulable and the message `unschedulable`);
    `init_waiting` an init container waiting; `sidecar_running` a second
    container that runs (the pod's phase is then Running while main waits).
    """
    terminal = phase in ("Succeeded", "Failed")
    if terminal and exit_code is None and pod_reason is None:
        exit_code = 0 if phase == "Succeeded" else 1
    state: dict[str, Any]
    if terminal and exit_code is not None:
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "finishedAt": format_time(finished or created + timedelta(seconds=10)),
        }
        if message is not None:
            terminated["message"] = message
        state = {"terminated": terminated}
    elif phase == "Running":
        state = {"running": {"startedAt": format_time(started or created)}}
    else:
        why, detail = waiting or ("ContainerCreating", "")
        state = {"waiting": {"reason": why, **({"message": detail} if detail else {})}}
    if waiting is not None and phase == "Running":
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    status: dict[str, Any] = {
        "phase": phase,
        "containerStatuses": [{"name": main, "ready": ready, "state": state}],
    }
    if sidecar_running:
        status["containerStatuses"].append(
            {"name": "sidecar", "ready": True, "state": {"running": {}}})
    conditions: list[dict[str, Any]] = []
    if unschedulable is not None:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                           "message": unschedulable})
    elif scheduled or (scheduled is None and phase != "Pending"):
        conditions.append({"type": "PodScheduled", "status": "True"})
    if init_waiting is not None:
        status["initContainerStatuses"] = [{"name": "init", "ready": False, "state": {
            "waiting": {"reason": init_waiting[0], "message": init_waiting[1]}}}]
    if phase != "Pending" or started is not None:
        status["startTime"] = format_time(started or created)
    if pod_reason is not None:
        status["reason"] = pod_reason
    if message is not None and "terminated" not in state:
        status["message"] = message
    if disruption_condition:
        condition = {"type": "DisruptionTarget", "status": "True", "reason": disruption[0]}
        if disruption[1]:
            condition["message"] = disruption[1]
        conditions.append(condition)
    if conditions:
        status["conditions"] = conditions
    metadata: dict[str, Any] = {
        "name": pod_name(job, index, attempt),
        "namespace": NAMESPACE,
        "creationTimestamp": format_time(created),
        "labels": {
            LABEL_TASKJOB: job,
            LABEL_TASKJOB_UID: JOB_UID,
            LABEL_INDEX: str(index),
            LABEL_ATTEMPT: str(attempt),
        },
        "annotations": {ANNOTATION_MAIN_CONTAINER: main},
        "finalizers": [POD_FINALIZER] if finalizer else [],
    }
    if deleting:
        metadata["deletionTimestamp"] = format_time(created + timedelta(minutes=30))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": main, "image": "busybox"}], "restartPolicy": "Never"},
        "status": status,
    }


def make_pod(index: int = 0, attempt: int = 0, **kwargs: Any) -> ObservedPod:
    """An ObservedPod; keyword arguments as for `pod_body`."""
    observed = observe_pod(pod_body(index, attempt, **kwargs))
    assert observed is not None
    return observed


def action_types(decision: Decision) -> list[str]:
    """The class names of a decision's actions, in order."""
    return [type(action).__name__ for action in decision.actions]


def of_type(decision: Decision, kind: type[Any]) -> list[Any]:
    """The actions of one type, in order."""
    return [action for action in decision.actions if isinstance(action, kind)]


def settle(
    spec: Mapping[str, Any],
    pods: list[ObservedPod],
    now: datetime,
    *,
    status: Mapping[str, Any] | None = None,
    rounds: int = 2,
    **job_kwargs: Any,
) -> Decision:
    """Decide, write the status back, and decide again (`rounds` times) with the same pods.

    What the shell does between two pod events: the last decision is returned.
    """
    current = dict(status or {})
    decision = None
    for _ in range(rounds):
        decision = decide(make_job(spec, status=current, **job_kwargs), pods, now)
        current = decision.status
    assert decision is not None
    return decision


# --- the fake cluster --------------------------------------------------------


class InvariantViolation(AssertionError):
    """The simulated operator did something the contract forbids."""


@dataclass
class FakeCluster:
    """One TaskJob and its pods, driven by `decide` the way the shell drives it.

    Safety invariants checked on every action: no attempt (index, attempt) is
    created twice, and never more running (non-terminal, non-deleting) pods
    than spec.parallelism. Liveness (ending terminal) is checked by callers.
    """

    spec: dict[str, Any]
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    now: datetime = T0
    stale: bool = False  # hand decide pod views that lag (watch delay)
    # Chance that the response of a status write is lost and the shell decides
    # again from the status before it, which the contract asks it not to do.
    # Then only "no attempt twice" must still hold: a decision made on the
    # old status may undo what the lost one decided (a terminal phase
    # included) and overshoot parallelism (the lost status knew the pods in
    # flight).
    lost_writes: float = 0.0
    crash_rate: float = 0.0  # chance a reconcile stops after a random number of actions
    disruption_rate: float = 0.05
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    finalizers: list[str] = field(default_factory=list)
    deleting: bool = False
    gone: bool = False
    statuses: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    pod_views: list[dict[str, dict[str, Any]]] = field(default_factory=lambda: [{}])
    seen_status: int = 0
    seen_pods: int = 0
    created: dict[tuple[int, int], str] = field(default_factory=dict)
    disrupted: set[tuple[int, int]] = field(default_factory=set)
    events: list[EmitEvent] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    decisions: int = 0
    orphans: int = 0

    @property
    def status(self) -> dict[str, Any]:
        """The status as stored in the (fake) API server."""
        return self.statuses[-1]

    def job_view(self, status: Mapping[str, Any]) -> ObservedJob:
        return make_job(
            self.spec, status=status, finalizers=tuple(self.finalizers), deleting=self.deleting
        )

    def reconcile(self) -> Decision:
        """One reconcile: observe (maybe stale), decide, patch status, apply actions."""
        # Views never go back in time: a cache only moves forward.
        status_at = self.rng.randint(self.seen_status, len(self.statuses) - 1)
        view = self.pods
        if self.stale:
            # A watch cache lags by a few changes, not by minutes.
            latest = len(self.pod_views) - 1
            pods_at = self.rng.randint(max(self.seen_pods, latest - 3), latest)
            self.seen_pods = pods_at
            view = self.pod_views[pods_at]
        self.seen_status = status_at
        observed_status = self.statuses[status_at]
        pods = [observe_pod(p) for p in view.values()]
        decision = decide(
            self.job_view(observed_status), [p for p in pods if p is not None], self.now
        )
        self.decisions += 1
        crash_after = len(decision.actions)
        if self.crash_rate and self.rng.random() < self.crash_rate:
            crash_after = self.rng.randint(-1, len(decision.actions))
        if crash_after < 0:
            return decision
        if decision.status != observed_status:
            self._write_status(decision.status)
            # The shell keeps the written status (the patch response) unless
            # the response was lost.
            if not (self.lost_writes and self.rng.random() < self.lost_writes):
                self.seen_status = len(self.statuses) - 1
        for action in decision.actions[:crash_after]:
            self._apply(action)
        return decision

    def _write_status(self, status: dict[str, Any]) -> None:
        previous = self.status.get("phase")
        terminal = previous in ("Succeeded", "Failed")
        if terminal and status.get("phase") != previous and not self.lost_writes:
            raise InvariantViolation(f"terminal phase {previous} became {status.get('phase')}")
        self.statuses.append(status)  # decide returns a fresh dict every time
        if status.get("phase") != previous:
            self.phases.append(str(status.get("phase")))

    def _snapshot(self) -> None:
        if self.stale:  # only stale views need the history
            self.pod_views.append(_clone(self.pods))

    def _apply(self, action: object) -> None:
        if isinstance(action, CreatePod):
            self._create(action.manifest)
        elif isinstance(action, DeletePod):
            pod = self.pods.get(action.name)
            if pod is not None and "deletionTimestamp" not in pod["metadata"]:
                pod["metadata"]["deletionTimestamp"] = format_time(self.now)
                self._reap(action.name)
                self._snapshot()
        elif isinstance(action, ReleasePod):
            pod = self.pods.get(action.name)
            if pod is not None and POD_FINALIZER in pod["metadata"]["finalizers"]:
                pod["metadata"]["finalizers"].remove(POD_FINALIZER)
                self._reap(action.name)
                self._snapshot()
        elif isinstance(action, EmitEvent):
            self.events.append(action)
        elif isinstance(action, AddJobFinalizer):
            if JOB_FINALIZER not in self.finalizers:
                self.finalizers.append(JOB_FINALIZER)
        elif isinstance(action, RemoveJobFinalizer):
            if JOB_FINALIZER in self.finalizers:
                self.finalizers.remove(JOB_FINALIZER)
            if self.deleting and not self.finalizers:
                self._gone()
        elif isinstance(action, DeleteJob):
            self.delete_job()
        else:  # pragma: no cover - a new action type must be simulated
            raise AssertionError(f"unknown action {action!r}")

    def delete_job(self) -> None:
        """`kubectl delete taskjob`: held by the finalizer, if any."""
        self.deleting = True
        if not self.finalizers:
            self._gone()

    def _gone(self) -> None:
        # The TaskJob is removed. The shell's safety net releases pods whose
        # TaskJob is gone (a creation raced the deletion); count them.
        self.gone = True
        for pod in self.pods.values():
            if POD_FINALIZER in pod["metadata"]["finalizers"]:
                self.orphans += 1
                pod["metadata"]["finalizers"].remove(POD_FINALIZER)

    def _create(self, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        if name in self.pods:
            return  # AlreadyExists: the shell treats it as done
        labels = manifest["metadata"]["labels"]
        key = (int(labels[LABEL_INDEX]), int(labels[LABEL_ATTEMPT]))
        if key in self.created:
            raise InvariantViolation(f"attempt {key} created twice (pod {name})")
        self.created[key] = name
        pod = _clone(manifest)
        pod["metadata"]["creationTimestamp"] = format_time(self.now)
        pod["status"] = {"phase": "Pending"}
        self.pods[name] = pod
        running = sum(
            1
            for p in self.pods.values()
            if p["status"]["phase"] in ("Pending", "Running")
            and "deletionTimestamp" not in p["metadata"]
        )
        if running > self.spec.get("parallelism", 1) and not self.lost_writes:
            raise InvariantViolation(f"{running} running pods > parallelism")
        self._snapshot()

    def _reap(self, name: str) -> None:
        # The API server removes a deleted pod once it has stopped and has no
        # finalizers left.
        pod = self.pods[name]
        meta = pod["metadata"]
        if (
            "deletionTimestamp" in meta
            and not meta["finalizers"]
            and pod["status"]["phase"] in ("Succeeded", "Failed")
        ):
            del self.pods[name]

    def step_pods(self, success_rate: float = 0.6) -> None:
        """Move every pod one random step along its lifecycle."""
        changed = False
        for name in sorted(self.pods):
            pod = self.pods[name]
            meta, status = pod["metadata"], pod["status"]
            labels = meta["labels"]
            key = (int(labels[LABEL_INDEX]), int(labels[LABEL_ATTEMPT]))
            phase = status["phase"]
            roll = self.rng.random()
            if "deletionTimestamp" in meta:
                if phase in ("Pending", "Running"):
                    self._terminate(pod, 143, "Error")
                    changed = True
                self._reap(name)
                changed = True
                continue
            if phase == "Pending" and roll < 0.7:
                status.update(phase="Running", startTime=format_time(self.now))
                status["containerStatuses"] = [
                    {"name": meta["annotations"][ANNOTATION_MAIN_CONTAINER], "ready": True}
                ]
                changed = True
            elif phase == "Running" and roll < self.disruption_rate:
                self.disrupted.add(key)
                if self.rng.random() < 0.5:
                    self._terminate(pod, 137, "Error")
                    status["reason"] = "Evicted"
                else:
                    meta["deletionTimestamp"] = format_time(self.now)  # kubectl delete pod
                changed = True
            elif phase == "Running" and roll < 0.6:
                if self.rng.random() < success_rate:
                    self._terminate(pod, 0, "Completed", message=f"result of {name}")
                else:
                    self._terminate(pod, self.rng.choice([1, 2, 137]), "Error", message="oops")
                changed = True
        if changed:
            self._snapshot()

    def _terminate(
        self, pod: dict[str, Any], exit_code: int, reason: str, message: str | None = None
    ) -> None:
        main = pod["metadata"]["annotations"][ANNOTATION_MAIN_CONTAINER]
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": reason,
            "finishedAt": format_time(self.now),
        }
        if message is not None:
            terminated["message"] = message
        pod["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        pod["status"].setdefault("startTime", format_time(self.now))
        pod["status"]["containerStatuses"] = [
            {"name": main, "ready": False, "state": {"terminated": terminated}}
        ]

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.now += timedelta(seconds=seconds)

    def run(self, max_steps: int = 400) -> None:
        """Reconcile and move pods until the job is terminal and quiet, or `max_steps`."""
        for _ in range(max_steps):
            if self.gone:
                return
            decision = self.reconcile()
            terminal = self.status.get("phase") in ("Succeeded", "Failed")
            if terminal and self.quiet() and not self.deleting:
                return
            self.step_pods()
            wait = decision.requeue_after
            self.advance(min(wait, 30.0) if wait else self.rng.choice([1.0, 5.0]))

    def quiet(self) -> bool:
        """No pod runs and none holds the attempt-record finalizer."""
        return all(
            p["status"]["phase"] in ("Succeeded", "Failed")
            and POD_FINALIZER not in p["metadata"]["finalizers"]
            for p in self.pods.values()
        )


def _clone(value: Any) -> Any:
    # copy.deepcopy is the simulator's bottleneck; JSON-like data needs less.
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value
