"""The TaskSchedule reconciler over a small fake API: one status write per run."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from schedule_factories import NAMESPACE, at, schedule_body, schedule_spec
from taskops.api.taskschedule import TaskScheduleStatus
from taskops.core.conditions import status_patch
from taskops.handlers.taskschedules import TaskScheduleReconciler
from taskops.kube.client import Rejected
from taskops.metrics import Metrics

T = TypeVar("T")


class Api:
    """What the reconciler calls; status writes and created runs are recorded."""

    def __init__(self, schedule: dict[str, Any]) -> None:
        self.schedule = schedule
        self.status_writes: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.refuse: str | None = None  # the API server's refusal of every run
        self.creates = 0
        self._rv = itertools.count(100)

    def create_custom(self, plural: str, namespace: str,
                      manifest: Mapping[str, Any]) -> dict[str, Any]:
        self.creates += 1
        if self.refuse is not None:
            raise Rejected(self.refuse)
        body = copy.deepcopy(dict(manifest))
        body["metadata"].update(uid=f"uid-{body['metadata']['name']}",
                                resourceVersion=str(next(self._rv)))
        self.runs.append(body)
        return copy.deepcopy(body)

    def patch_status(self, plural: str, namespace: str, name: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
        if status_patch(old, new) is None:
            return None
        self.status_writes.append(copy.deepcopy(dict(new)))
        self.schedule["status"] = copy.deepcopy(dict(new))
        self.schedule["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(self.schedule)

    def post_event(self, involved: Mapping[str, Any], kind: str, type_: str, reason: str,
                   message: str, now: datetime) -> None:
        self.events.append((type_, reason, message))


class Inline(TaskScheduleReconciler):
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    async def run_queued(self) -> None:
        """What the workers would do next: the passes the queue holds, then the
        Events sent without waiting."""
        while len(self.queue):
            key = await self.queue.get()
            try:
                await self.reconcile(key)
            finally:
                self.queue.done(key)
        await self.settle()


def test_a_scheduled_run_costs_one_status_write_that_names_it_with_its_uid() -> None:
    schedule = schedule_body(schedule_spec(schedule="@every 10s"))
    schedule["metadata"]["resourceVersion"] = "1"
    api = Api(schedule)
    clock: list[datetime] = [at(10.2)]
    reconciler = Inline(api, None, Metrics(), clock=lambda: clock[0])  # type: ignore[arg-type]
    reconciler.on_schedule_event(None, copy.deepcopy(schedule))
    key = (NAMESPACE, schedule["metadata"]["name"])

    async def passes() -> None:
        await reconciler.reconcile(key)
        await reconciler.run_queued()
        for run in api.runs:  # the watch brings the runs and the status back
            reconciler.on_run_event("ADDED", run)
        reconciler.on_schedule_event("MODIFIED", copy.deepcopy(api.schedule))
        await reconciler.reconcile(key)

    asyncio.run(passes())
    assert len(api.runs) == 1
    assert len(api.status_writes) == 1, api.status_writes
    (active,) = api.status_writes[0]["active"]
    assert active["uid"] == api.runs[0]["metadata"]["uid"]


def test_a_run_the_api_server_refuses_makes_the_schedule_invalid_once_until_the_spec_changes() -> (
    None
):
    schedule = schedule_body(schedule_spec(schedule="@every 10s"))
    schedule["metadata"]["resourceVersion"] = "1"
    api = Api(schedule)
    # As the API server words a label value it refuses; very long, as a
    # refusal listing many fields can be (past a condition's 32 KiB).
    api.refuse = 'TaskJob.taskops.dev "nightly-10" is invalid: metadata.labels: ' + "x" * 40_000
    clock: list[datetime] = [at(10.2)]
    reconciler = Inline(api, None, Metrics(), clock=lambda: clock[0])  # type: ignore[arg-type]
    reconciler.on_schedule_event(None, copy.deepcopy(schedule))
    key = (NAMESPACE, schedule["metadata"]["name"])

    async def passes(count: int) -> None:
        for _ in range(count):
            await reconciler.reconcile(key)
            await reconciler.run_queued()
            reconciler.on_schedule_event("MODIFIED", copy.deepcopy(api.schedule))
            clock[0] = clock[0] + timedelta(seconds=10)

    asyncio.run(passes(5))
    assert api.runs == []
    assert api.creates == 1, "a refused spec is not tried again until it changes"
    (invalid,) = [c for c in api.schedule["status"]["conditions"] if c["type"] == "Invalid"]
    assert invalid["status"] == "True"
    assert invalid["message"].startswith("spec.taskJobTemplate: the API server refused the run")
    assert "metadata.labels" in invalid["message"]
    assert len(invalid["message"]) <= 32768
    TaskScheduleStatus.model_validate(api.schedule["status"])
    warnings = [e for e in api.events if e[0] == "Warning"]
    assert [reason for _, reason, _ in warnings] == ["Invalid"], api.events
    assert len(api.status_writes) == 1, "one write says so; the next passes change nothing"

    # The user fixes the template: a new generation is tried at once.
    api.refuse = None
    api.schedule["metadata"].update(generation=2, resourceVersion="999")
    reconciler.on_schedule_event("MODIFIED", copy.deepcopy(api.schedule))
    asyncio.run(passes(1))
    assert len(api.runs) == 1
    (invalid,) = [c for c in api.schedule["status"]["conditions"] if c["type"] == "Invalid"]
    assert invalid["status"] == "False"


class Schedules(Api):
    """Several schedules behind one fake API, every call logged in order."""

    def __init__(self, schedules: list[dict[str, Any]]) -> None:
        super().__init__(schedules[0])
        self.by_name = {s["metadata"]["name"]: s for s in schedules}
        self.calls: list[tuple[str, str]] = []

    def create_custom(self, plural: str, namespace: str,
                      manifest: Mapping[str, Any]) -> dict[str, Any]:
        owner = manifest["metadata"]["ownerReferences"][0]["name"]
        self.calls.append(("create", owner))
        return super().create_custom(plural, namespace, manifest)

    def patch_status(self, plural: str, namespace: str, name: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
        self.schedule = self.by_name[name]
        self.calls.append(("status", name))
        return super().patch_status(plural, namespace, name, old, new)


def test_schedules_due_together_create_all_their_runs_before_any_status_write() -> None:
    # A run's lateness is its creation's; the status writes wait behind every
    # creation due at the same moment, and each schedule still writes once.
    names = [f"s{i}" for i in range(5)]
    schedules = [schedule_body(schedule_spec(schedule="@every 10s"), name=name,
                               uid=f"uid-{name}") for name in names]
    for schedule in schedules:
        schedule["metadata"]["resourceVersion"] = "1"
    api = Schedules(schedules)
    clock: list[datetime] = [at(10.2)]
    reconciler = Inline(api, None, Metrics(), clock=lambda: clock[0])  # type: ignore[arg-type]
    for schedule in schedules:
        reconciler.on_schedule_event(None, copy.deepcopy(schedule))
    asyncio.run(reconciler.run_queued())

    assert api.calls == [("create", n) for n in names] + [("status", n) for n in names]
    for schedule in schedules:
        (active,) = schedule["status"]["active"]
        assert active["uid"] == f"uid-{schedule['metadata']['name']}-{int(at(10).timestamp())}"
    created = [e for e in api.events if e[1] == "RunCreated"]
    assert len(created) == len(names), api.events
    assert reconciler.metrics.schedule_runs.labels(outcome="created")._value.get() == 5


def test_a_schedule_whose_next_run_is_due_by_its_deferred_pass_writes_its_status_then() -> None:
    # Overloaded (more due than runs can be created for): by the time the
    # deferred pass comes, the next instant is due too. It creates that run
    # and writes the status with both, rather than deferring for ever.
    schedule = schedule_body(schedule_spec(schedule="@every 10s"), name="s0", uid="uid-s0")
    schedule["metadata"]["resourceVersion"] = "1"
    api = Schedules([schedule])
    clock: list[datetime] = [at(10.2)]
    reconciler = Inline(api, None, Metrics(), clock=lambda: clock[0])  # type: ignore[arg-type]
    reconciler.on_schedule_event(None, copy.deepcopy(schedule))
    key = (NAMESPACE, "s0")

    async def passes() -> None:
        await reconciler.reconcile(key)  # creates the run for 10 s, defers
        clock[0] = at(20.2)
        key_again = await reconciler.queue.get()
        await reconciler.reconcile(key_again)  # the deferred pass: 20 s is due
        reconciler.queue.done(key_again)
        await reconciler.settle()

    asyncio.run(passes())
    assert api.calls == [("create", "s0"), ("create", "s0"), ("status", "s0")]
    assert len(schedule["status"]["active"]) == 2
