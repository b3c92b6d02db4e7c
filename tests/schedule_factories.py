"""Builders for TaskSchedule and TaskJob (run) objects, and a fake cluster for schedules.

`ScheduleCluster` is a small, pure simulator of what the schedule shell and the
cluster do with a `ScheduleDecision`: it applies the actions (before or after
the status patch, as the shell chooses), may crash part way, hands
`decide_schedule` a run list that lags, completes runs, and finishes deletions
later. It checks on every create that no scheduled instant ever gets a second
run, the invariant the deterministic names and the deletion guard exist for.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from taskops.core.actions import EmitEvent
from taskops.core.observed import ObservedSchedule, format_time, observe_schedule, parse_time
from taskops.core.schedule import (
    ANNOTATION_SCHEDULED_TIME,
    ANNOTATION_TRIGGER,
    CreateRun,
    DeleteRun,
    ObservedRun,
    RunOutcome,
    ScheduleDecision,
    decide_schedule,
    manual_run_name,
    observe_run,
    run_name,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NAME = "nightly"
UID = "schedule-uid-1"
NAMESPACE = "ns"


def at(seconds: float) -> datetime:
    """T0 plus `seconds`."""
    return T0 + timedelta(seconds=seconds)


def merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: nested dicts merge, everything else replaces."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def schedule_spec(**overrides: Any) -> dict[str, Any]:
    """A valid TaskSchedule spec (camelCase): hourly, UTC, with overrides merged in."""
    base = {
        "schedule": "0 * * * *",
        "taskJobTemplate": {
            "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}
        },
    }
    return merge(base, overrides)


def schedule_body(
    spec: Mapping[str, Any] | None = None,
    *,
    status: Mapping[str, Any] | None = None,
    trigger: str | None = None,
    annotations: Mapping[str, str] | None = None,
    created: datetime = T0,
    generation: int = 1,
    deleting: bool = False,
    name: str = NAME,
    uid: str = UID,
) -> dict[str, Any]:
    """A TaskSchedule as the API returns it."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid,
        "generation": generation,
        "creationTimestamp": format_time(created),
        "annotations": dict(annotations or {}),
    }
    if trigger is not None:
        metadata["annotations"][ANNOTATION_TRIGGER] = trigger
    if deleting:
        metadata["deletionTimestamp"] = format_time(created + timedelta(days=1))
    return {
        "apiVersion": "taskops.dev/v1alpha1",
        "kind": "TaskSchedule",
        "metadata": metadata,
        "spec": dict(spec if spec is not None else schedule_spec()),
        "status": dict(status or {}),
    }


def make_schedule(spec: Mapping[str, Any] | None = None, **kwargs: Any) -> ObservedSchedule:
    """An ObservedSchedule; keyword arguments as for `schedule_body`."""
    return observe_schedule(schedule_body(spec, **kwargs))


def run_body(
    instant: datetime | None = None,
    *,
    trigger: str | None = None,
    phase: str | None = "Running",
    created: datetime | None = None,
    finished: datetime | None = None,
    deleting: bool = False,
    owner_uid: str | None = UID,
    name: str | None = None,
    schedule_name: str = NAME,
) -> dict[str, Any]:
    """A run (TaskJob) of the schedule as the API returns it.

    Scheduled runs (`instant`) are named and annotated as the core names them;
    manual runs (`trigger`) likewise. Terminal phases get a completionTime.
    """
    annotations: dict[str, str] = {}
    if instant is not None:
        annotations[ANNOTATION_SCHEDULED_TIME] = format_time(instant)
        name = name or run_name(schedule_name, instant)
    if trigger is not None:
        annotations[ANNOTATION_TRIGGER] = trigger
        name = name or manual_run_name(schedule_name, trigger)
    assert name is not None, "a run needs an instant, a trigger or a name"
    created = created or instant or T0
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": f"uid-{name}",
        "creationTimestamp": format_time(created),
        "annotations": annotations,
        "ownerReferences": [],
    }
    if owner_uid is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "taskops.dev/v1alpha1",
                "kind": "TaskSchedule",
                "name": schedule_name,
                "uid": owner_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    if deleting:
        metadata["deletionTimestamp"] = format_time(created + timedelta(seconds=1))
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if phase in ("Succeeded", "Failed"):
        status["completionTime"] = format_time(finished or created + timedelta(seconds=30))
    return {
        "apiVersion": "taskops.dev/v1alpha1",
        "kind": "TaskJob",
        "metadata": metadata,
        "spec": {},
        "status": status,
    }


def make_run(instant: datetime | None = None, **kwargs: Any) -> ObservedRun:
    """An ObservedRun; keyword arguments as for `run_body`."""
    return observe_run(run_body(instant, **kwargs))


def created_from(create: CreateRun, now: datetime, phase: str | None = None) -> dict[str, Any]:
    """The object the API server stores for a CreateRun."""
    body = copy.deepcopy(create.manifest)
    body["metadata"]["uid"] = f"uid-{body['metadata']['name']}"
    body["metadata"]["creationTimestamp"] = format_time(now)
    body["status"] = {"phase": phase} if phase is not None else {}
    return body


def of_type(decision: ScheduleDecision, kind: type[Any]) -> list[Any]:
    """The actions of one type, in order."""
    return [action for action in decision.actions if isinstance(action, kind)]


def creates(decision: ScheduleDecision) -> list[CreateRun]:
    return of_type(decision, CreateRun)


def deletes(decision: ScheduleDecision) -> list[DeleteRun]:
    return of_type(decision, DeleteRun)


def events(decision: ScheduleDecision) -> list[EmitEvent]:
    return of_type(decision, EmitEvent)


def reasons(decision: ScheduleDecision) -> list[str]:
    return [event.reason for event in events(decision)]


def outcomes(decision: ScheduleDecision) -> list[tuple[str, int]]:
    return [(o.outcome, o.count) for o in decision.observations]


def scheduled_instant(create: CreateRun) -> datetime | None:
    return parse_time(create.manifest["metadata"]["annotations"].get(ANNOTATION_SCHEDULED_TIME))


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [c for c in status["conditions"] if c["type"] == kind]
    return dict(found)


# --- a story: one schedule, decided step by step like the shell would ---------


@dataclass
class Story:
    """A TaskSchedule over time. Each `step` decides, applies the actions to the run
    objects (creates appear at once, deletions finish at once) and writes the
    status back: an ideal shell with a fresh run list."""

    spec: dict[str, Any] = field(default_factory=schedule_spec)
    status: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    trigger: str | None = None
    created: datetime = T0
    generation: int = 1
    decisions: list[ScheduleDecision] = field(default_factory=list)

    def observe(self) -> ObservedSchedule:
        return make_schedule(
            self.spec,
            status=self.status,
            trigger=self.trigger,
            created=self.created,
            generation=self.generation,
        )

    def decide(self, now: datetime) -> ScheduleDecision:
        """Decide without applying anything."""
        return decide_schedule(self.observe(), [observe_run(r) for r in self.runs.values()], now)

    def step(self, now: datetime, *, keep_deleting: bool = False) -> ScheduleDecision:
        decision = self.decide(now)
        for action in decision.actions:
            if isinstance(action, CreateRun):
                self.runs.setdefault(action.name, created_from(action, now))
            elif isinstance(action, DeleteRun):
                if keep_deleting and action.name in self.runs:
                    meta = self.runs[action.name]["metadata"]
                    meta["deletionTimestamp"] = format_time(now)
                else:
                    self.runs.pop(action.name, None)
        self.status = decision.status
        self.decisions.append(decision)
        return decision

    def finish(self, name: str, phase: str = "Succeeded", when: datetime | None = None) -> None:
        status = self.runs[name]["status"]
        status["phase"] = phase
        status["completionTime"] = format_time(when or T0)

    def start_all(self) -> None:
        for body in self.runs.values():
            body["status"].setdefault("phase", "Running")

    def gone(self, name: str) -> None:
        self.runs.pop(name)

    def scheduled(self) -> list[datetime]:
        """Instants of the scheduled runs that exist, ascending."""
        found = [
            parse_time(r["metadata"]["annotations"].get(ANNOTATION_SCHEDULED_TIME))
            for r in self.runs.values()
        ]
        return sorted(t for t in found if t is not None)


# --- the fake cluster ---------------------------------------------------------


class InvariantViolation(AssertionError):
    """The simulated operator did something the contract forbids."""


@dataclass
class ScheduleCluster:
    """One TaskSchedule and its runs, driven by `decide_schedule` as a shell would.

    `actions_first` chooses the shell's order (apply actions, then patch the
    status; or the reverse). `crash_rate` makes a reconcile stop at a random
    point; `lag` hands the core run lists up to that many changes old (the
    schedule's status is never older than one seen before, as the contract
    asks). Deletions take a step or more to finish (the TaskJob drains).
    """

    spec: dict[str, Any]
    rng: random.Random
    now: datetime = T0
    actions_first: bool = True
    crash_rate: float = 0.0
    lag: int = 0
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_views: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    seen_view: int = 0
    status: dict[str, Any] = field(default_factory=dict)
    trigger: str | None = None
    created_instants: dict[datetime, str] = field(default_factory=dict)
    created_triggers: list[str] = field(default_factory=list)
    created_log: list[tuple[datetime, str]] = field(default_factory=list)  # (when, name)
    # (time, the schedule as observed, the runs as observed, the decision)
    decisions: list[tuple[datetime, ObservedSchedule, list[ObservedRun], ScheduleDecision]] = field(
        default_factory=list
    )
    observations: list[RunOutcome] = field(default_factory=list)
    events: list[EmitEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._snapshot()

    def schedule(self) -> ObservedSchedule:
        return make_schedule(self.spec, status=self.status, trigger=self.trigger)

    def view(self) -> list[ObservedRun]:
        if not self.lag:
            return [observe_run(body) for body in self.runs.values()]
        # A cache lags by a few changes and never goes back.
        latest = len(self.run_views) - 1
        self.seen_view = self.rng.randint(max(self.seen_view, latest - self.lag), latest)
        return [observe_run(body) for body in self.run_views[self.seen_view].values()]

    def reconcile(self) -> ScheduleDecision:
        schedule, runs = self.schedule(), self.view()
        decision = decide_schedule(schedule, runs, self.now)
        self.decisions.append((self.now, schedule, runs, decision))
        steps: list[Any] = list(decision.actions)
        status_step = object()
        steps.insert(len(steps) if self.actions_first else 0, status_step)
        crash_after = len(steps)
        if self.crash_rate and self.rng.random() < self.crash_rate:
            crash_after = self.rng.randint(0, len(steps))
        for step in steps[:crash_after]:
            if step is status_step:
                self.status = decision.status
            else:
                self._apply(step)
        if crash_after == len(steps):
            self.observations.extend(decision.observations)
        return decision

    def _snapshot(self) -> None:
        if self.lag:  # only lagging views need the history
            # Only metadata and status change after creation: copy those.
            self.run_views.append(
                {
                    name: {
                        **body,
                        "metadata": dict(body["metadata"]),
                        "status": dict(body["status"]),
                    }
                    for name, body in self.runs.items()
                }
            )

    def _apply(self, action: object) -> None:
        if isinstance(action, CreateRun):
            self._create(action)
        elif isinstance(action, DeleteRun):
            body = self.runs.get(action.name)
            if body is not None and body["metadata"]["uid"] == action.uid:
                body["metadata"].setdefault("deletionTimestamp", format_time(self.now))
                self._snapshot()
        elif isinstance(action, EmitEvent):
            self.events.append(action)
        else:  # pragma: no cover - a new action type must be simulated
            raise AssertionError(f"unknown action {action!r}")

    def _create(self, action: CreateRun) -> None:
        name = action.name
        if name in self.runs:
            return  # AlreadyExists
        instant = scheduled_instant(action)
        if instant is not None:
            if instant in self.created_instants:
                raise InvariantViolation(
                    f"a second run {name} for {format_time(instant)} "
                    f"(first: {self.created_instants[instant]})"
                )
            self.created_instants[instant] = name
        else:
            self.created_triggers.append(
                action.manifest["metadata"]["annotations"][ANNOTATION_TRIGGER]
            )
        self.created_log.append((self.now, name))
        self.runs[name] = created_from(action, self.now)
        self._snapshot()

    def step_runs(self, finish_rate: float = 0.5) -> None:
        """Move every run one random step: start, finish, or vanish once deleting."""
        changed = False
        for name in sorted(self.runs):
            body = self.runs[name]
            status = body["status"]
            roll = self.rng.random()
            if "deletionTimestamp" in body["metadata"]:
                if roll < 0.6:  # drained: the finalizer lets go
                    del self.runs[name]
                    changed = True
                continue
            if "phase" not in status and roll >= finish_rate / 2:
                status["phase"] = "Running"
                changed = True
            elif status.get("phase", "Running") == "Running" and roll < finish_rate:
                # Quick runs may end before the schedule ever sees them running.
                status["phase"] = "Succeeded" if self.rng.random() < 0.7 else "Failed"
                status["completionTime"] = format_time(self.now)
                changed = True
        if changed:
            self._snapshot()

    def scheduled_runs_created_between(self, after: datetime, until: datetime) -> list[datetime]:
        return sorted(t for t in self.created_instants if after < t <= until)
