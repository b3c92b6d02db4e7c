"""A TaskJob's deletion seen while a pass still awaits its writes.

The watch can deliver a job's DELETED event before the reply of the write that
let it go (the drain finalizer's removal, a last status patch): the handler
forgets the job then, and what the pass does afterwards must not bring it
back. Found in the soak: each deleted job left its phase counted in
``taskops_taskjobs`` and its body in the store, for ever.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, TypeVar

from fake_api import FakeApi
from taskops.core.admission import Caps
from taskops.core.labels import JOB_FINALIZER
from taskops.core.observed import format_time
from taskops.handlers.taskjobs import TaskJobReconciler
from taskops.metrics import Metrics

T = TypeVar("T")
KEY = ("ns", "j")


class EchoFirst(TaskJobReconciler):
    """The real reconciler, with a watch faster than the API server's replies:
    every event a call caused is handled before the call returns."""

    api: FakeApi

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        result = fn(*args)
        self.api.deliver(self.on_job_event, self.on_pod_event)
        return result


def spec() -> dict[str, Any]:
    return {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}


async def finish(api: FakeApi, reconciler: EchoFirst) -> None:
    for _ in range(60):
        api.deliver(reconciler.on_job_event, reconciler.on_pod_event)
        await reconciler.reconcile(KEY)
        api.tick()
        if (api.jobs[KEY].get("status") or {}).get("phase") == "Succeeded":
            return
    raise AssertionError(f"never succeeded: {api.jobs[KEY].get('status')}")


def make(api: FakeApi) -> EchoFirst:
    reconciler = EchoFirst(api, None, Metrics(), clock=lambda: api.now,  # type: ignore[arg-type]
                           caps=Caps())
    reconciler.api = api
    reconciler.warm = True
    return reconciler


def delete(api: FakeApi) -> None:
    # What `kubectl delete` does to an object its finalizer holds.
    body = api.jobs[KEY]
    assert JOB_FINALIZER in body["metadata"]["finalizers"]
    body["metadata"]["deletionTimestamp"] = format_time(api.now)
    api._touch("TaskJob", body, "MODIFIED")


def test_a_deleted_job_is_not_counted_again_by_the_pass_that_let_it_go() -> None:
    async def scenario() -> EchoFirst:
        api = FakeApi(random.Random(0))
        api.add_job("j", spec())
        reconciler = make(api)
        await finish(api, reconciler)
        assert reconciler.metrics.phases.counts() == {("ns", "Succeeded"): 1}
        delete(api)
        for _ in range(10):
            api.deliver(reconciler.on_job_event, reconciler.on_pod_event)
            if KEY not in api.jobs:
                break
            await reconciler.reconcile(KEY)
            api.tick()
        assert KEY not in api.jobs, "the finalizer was never removed"
        return reconciler

    reconciler = asyncio.run(scenario())
    assert reconciler.metrics.phases.counts() == {}
    assert reconciler.jobs.get(KEY) is None


def test_a_status_reply_after_the_deletion_does_not_bring_the_job_back() -> None:
    async def scenario() -> EchoFirst:
        api = FakeApi(random.Random(0))
        api.add_job("j", spec())
        reconciler = make(api)
        deleted = api.jobs[KEY]
        original = api.patch_status

        def patch_then_vanish(*args: Any) -> Any:
            # The object goes (another client removed its finalizers) between
            # our patch taking effect and its reply reaching us.
            answer = original(*args)
            api.jobs.pop(KEY)
            api.pending.append(("TaskJob", "DELETED", dict(deleted)))
            return answer

        api.patch_status = patch_then_vanish  # type: ignore[method-assign]
        api.deliver(reconciler.on_job_event, reconciler.on_pod_event)
        await reconciler.reconcile(KEY)  # a new job's first pass creates its pod only
        assert api.status_writes == 0
        await reconciler.reconcile(KEY)  # this one writes the status
        assert api.status_writes == 1
        return reconciler

    reconciler = asyncio.run(scenario())
    assert reconciler.jobs.get(KEY) is None
    assert reconciler.metrics.phases.counts() == {}
