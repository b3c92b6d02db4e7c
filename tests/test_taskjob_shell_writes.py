"""The TaskJob shell's own writes: pods created a wave at a time, and a pod's
finalizer removed once, even while the watch has not shown the removal yet."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fake_api import FakeApi
from taskops.core.admission import Caps
from taskops.core.labels import JOB_FINALIZER, POD_FINALIZER
from taskops.handlers.taskjobs import TaskJobReconciler
from taskops.kube.client import Rejected
from taskops.metrics import Metrics

T = TypeVar("T")
KEY = ("ns", "j")
TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}


class Counting(TaskJobReconciler):
    """The real reconciler; its calls yield to the loop as the thread pool
    would, and it counts how many are in flight as each starts."""

    def __init__(self, api: FakeApi) -> None:
        super().__init__(api, None, Metrics(), clock=lambda: api.now,  # type: ignore[arg-type]
                         caps=Caps())
        self.api = api
        self.warm = True
        self.in_flight = 0
        self.starts: list[tuple[str, int]] = []  # (call, in flight as it started)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self.in_flight += 1
        self.starts.append((fn.__name__, self.in_flight))
        await asyncio.sleep(0)
        try:
            return fn(*args)
        finally:
            await asyncio.sleep(0)
            self.in_flight -= 1

    def calls(self, name: str) -> list[int]:
        return [depth for call, depth in self.starts if call == name]

    def deliver(self) -> None:
        self.api.deliver(self.on_job_event, self.on_pod_event)


class RefusingApi(FakeApi):
    def create_pod(self, namespace: str, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        super().create_pod(namespace, manifest)  # counted, then refused
        raise Rejected('Pod "x" is invalid: spec.containers[0].image: Required value')


def job(api: FakeApi, **spec: Any) -> Counting:
    api.add_job(KEY[1], {"template": TEMPLATE, **spec}, namespace=KEY[0])
    reconciler = Counting(api)
    reconciler.deliver()
    return reconciler


def test_a_wave_of_pods_is_created_in_batches_of_one_two_four() -> None:
    api = FakeApi(random.Random(1))
    reconciler = job(api, completions=8, parallelism=8, completionMode="Indexed")
    asyncio.run(reconciler.reconcile(KEY))
    assert len(api.created_pods) == 8
    # in flight as each create started: 1 | 1 2 | 1 2 3 4 | 1
    assert reconciler.calls("create_pod") == [1, 1, 2, 1, 2, 3, 4, 1]


def test_a_refused_template_costs_one_create() -> None:
    api = RefusingApi(random.Random(1))
    reconciler = job(api, completions=8, parallelism=8, completionMode="Indexed")
    asyncio.run(reconciler.reconcile(KEY))
    assert reconciler.calls("create_pod") == [1]
    asyncio.run(reconciler.reconcile(KEY))
    assert (api.jobs[KEY]["status"]["phase"], api.jobs[KEY]["status"]["reason"]) == (
        "Failed", "Invalid")


def test_a_pods_finalizer_is_removed_once_while_the_watch_lags() -> None:
    api = FakeApi(random.Random(1))
    reconciler = job(api)
    asyncio.run(reconciler.reconcile(KEY))
    (pod_key,) = api.pods
    api.pods[pod_key]["status"] = {"phase": "Succeeded", "containerStatuses": [
        {"name": "main", "ready": False, "state": {"terminated": {
            "exitCode": 0, "finishedAt": "2026-12-01T00:00:05Z"}}}]}
    api._touch("Pod", api.pods[pod_key], "MODIFIED")
    reconciler.deliver()

    async def passes() -> None:
        for _ in range(3):  # records, releases, and one more before the echo
            await reconciler.reconcile(KEY)

    asyncio.run(passes())
    assert api.jobs[KEY]["status"]["phase"] == "Succeeded"
    assert POD_FINALIZER not in api.pods[pod_key]["metadata"]["finalizers"]
    assert reconciler.calls("remove_pod_finalizer") == [1]
    # The echo arrives: nothing is left to release.
    reconciler.deliver()
    asyncio.run(reconciler.reconcile(KEY))
    assert reconciler.calls("remove_pod_finalizer") == [1]
    assert not reconciler.released


async def run_queued(reconciler: Counting) -> None:
    """What the workers would do next: every pass the queue holds, in order."""
    while len(reconciler.queue):
        key = await reconciler.queue.get()
        try:
            await reconciler.reconcile(key)
        finally:
            reconciler.queue.done(key)
    await reconciler.settle()


def jobs_created_together(api: FakeApi, count: int, caps: Caps) -> Counting:
    for i in range(count):
        api.add_job(f"j{i}", {"template": TEMPLATE}, namespace="ns")
    reconciler = Counting(api)
    reconciler.admission.caps = caps
    reconciler.deliver()
    return reconciler


def test_jobs_created_together_get_every_pod_before_any_status_write() -> None:
    api = FakeApi(random.Random(1))
    reconciler = jobs_created_together(api, 5, Caps())
    asyncio.run(run_queued(reconciler))
    order = [call for call, _ in reconciler.starts
             if call in ("add_finalizer", "create_pod", "patch_status")]
    # The drain finalizer too waits for the pass after: it is a custom
    # resource write as costly as a status write.
    assert order == ["create_pod"] * 5 + ["patch_status", "add_finalizer"] * 5
    # The pass after each job's first writes what that one would have: the
    # attempt and its pod, once, with one Event, and the finalizer of a job
    # whose pod is still there to drain.
    for i in range(5):
        status = api.jobs[("ns", f"j{i}")]["status"]
        assert status["phase"] == "Pending"
        assert [a["pod"] for a in status["attempts"]] == [f"j{i}-0-0"]
    assert api.status_writes == 5
    assert all(JOB_FINALIZER in job["metadata"]["finalizers"] for job in api.jobs.values())
    assert sorted(key[1] for key, _, _ in api.events) == [f"j{i}" for i in range(5)]
    # And the echoes of those writes change nothing more.
    reconciler.deliver()
    asyncio.run(run_queued(reconciler))
    assert (api.status_writes, len(api.created_pods), len(api.events)) == (5, 5, 5)


def test_a_job_whose_pod_ended_before_its_second_pass_never_pays_the_drain_finalizer() -> None:
    """An operator behind a burst reaches a job's second pass after its short
    pod has ended: one status write records the whole run, and with nothing
    left to drain no finalizer is added (nor removed later)."""
    api = FakeApi(random.Random(1))
    reconciler = jobs_created_together(api, 3, Caps())

    async def first_passes() -> None:
        for _ in range(3):
            key = await reconciler.queue.get()
            await reconciler.reconcile(key)
            reconciler.queue.done(key)

    asyncio.run(first_passes())
    assert (len(api.created_pods), api.status_writes) == (3, 0)
    for pod in api.pods.values():
        api._finish(pod, 0)
    reconciler.deliver()
    asyncio.run(run_queued(reconciler))
    for job in api.jobs.values():
        assert job["status"]["phase"] == "Succeeded"
        assert JOB_FINALIZER not in (job["metadata"].get("finalizers") or [])
    assert reconciler.calls("add_finalizer") == []
    assert api.status_writes == 3
    assert all(POD_FINALIZER not in pod["metadata"]["finalizers"] for pod in api.pods.values())


def test_under_concurrency_caps_a_new_jobs_admission_is_written_before_its_pod() -> None:
    # The written Admitted condition is what holds the slot across a restart.
    api = FakeApi(random.Random(1))
    reconciler = jobs_created_together(api, 2, Caps(total=10))
    asyncio.run(run_queued(reconciler))
    order = [call for call, _ in reconciler.starts
             if call in ("add_finalizer", "create_pod", "patch_status")]
    assert order == ["patch_status", "add_finalizer", "create_pod"] * 2
