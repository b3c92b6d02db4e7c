"""When a pod's watch event brings its job's pass: gathered with the events
that follow it (`POD_EVENT_BATCH_SECONDS`), or at once when the last of the
job's running pods has ended and nothing else of the job can end with it."""

from __future__ import annotations

import asyncio
from typing import Any

from factories import JOB_NAME, JOB_UID, NAMESPACE, pod_body
from taskops.api.taskjob import KIND
from taskops.handlers.taskjobs import TaskJobReconciler
from taskops.metrics import Metrics

KEY = (NAMESPACE, JOB_NAME)


def owned(index: int, version: int, **kwargs: Any) -> dict[str, Any]:
    """A pod of the job as the watch delivers it: owned, and versioned."""
    pod = pod_body(index, **kwargs)
    pod["metadata"]["uid"] = f"pod-{index}"
    pod["metadata"]["resourceVersion"] = str(version)
    pod["metadata"]["ownerReferences"] = [{"apiVersion": "taskops.dev/v1alpha1", "kind": KIND,
                                           "name": JOB_NAME, "uid": JOB_UID,
                                           "controller": True}]
    return pod


def reconciler() -> TaskJobReconciler:
    return TaskJobReconciler(None, None, Metrics())  # type: ignore[arg-type]


def test_the_only_pod_of_a_job_ending_brings_its_pass_at_once() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 1, phase="Running"))
        assert (len(r.queue), r.queue.delayed) == (0, 1), "a start waits for the batch"
        r.on_pod_event("MODIFIED", owned(0, 2, phase="Succeeded"))
        assert len(r.queue) == 1 and await r.queue.get() == KEY

    asyncio.run(scenario())


def test_a_failed_only_pod_brings_its_pass_at_once_too() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 1, phase="Failed"))
        assert len(r.queue) == 1

    asyncio.run(scenario())


def test_a_pod_ending_beside_others_waits_for_the_rest_of_its_wave() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 1, phase="Running"))
        r.on_pod_event("ADDED", owned(1, 2, phase="Running"))
        r.on_pod_event("MODIFIED", owned(0, 3, phase="Succeeded"))
        assert (len(r.queue), r.queue.delayed) == (0, 1)

    asyncio.run(scenario())


def test_the_last_pod_of_a_wave_ending_ends_the_batch_at_once() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 1, phase="Running"))
        r.on_pod_event("ADDED", owned(1, 2, phase="Running"))
        r.on_pod_event("MODIFIED", owned(0, 3, phase="Succeeded"))
        r.on_pod_event("MODIFIED", owned(1, 4, phase="Failed"))
        assert len(r.queue) == 1, "the pass comes now"

    asyncio.run(scenario())


def test_a_pod_gone_while_running_counts_no_more_among_the_running() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 1, phase="Running"))
        r.on_pod_event("ADDED", owned(1, 2, phase="Running"))
        r.on_pod_event("DELETED", owned(1, 3, phase="Running"))
        r.on_pod_event("MODIFIED", owned(0, 4, phase="Succeeded"))
        assert len(r.queue) == 1

    asyncio.run(scenario())


def test_a_change_to_a_parallel_jobs_pod_already_ended_waits_for_the_batch() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 1, phase="Running"))
        r.on_pod_event("ADDED", owned(1, 2, phase="Running"))
        r.on_pod_event("MODIFIED", owned(0, 3, phase="Succeeded"))
        r.on_pod_event("MODIFIED", owned(1, 4, phase="Succeeded"))
        key = await r.queue.get()
        r.queue.done(key)
        r.on_pod_event("MODIFIED", owned(0, 5, phase="Succeeded"))  # its finalizer released
        assert len(r.queue) == 0

    asyncio.run(scenario())


def test_a_change_to_a_one_pod_jobs_ended_pod_brings_its_pass_at_once() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 1, phase="Running"))
        r.on_pod_event("MODIFIED", owned(0, 2, phase="Succeeded"))
        key = await r.queue.get()
        r.queue.done(key)
        r.on_pod_event("MODIFIED", owned(0, 3, phase="Succeeded"))  # its finalizer released
        assert len(r.queue) == 1

    asyncio.run(scenario())


def test_an_echo_of_a_version_already_held_brings_no_pass() -> None:
    async def scenario() -> None:
        r = reconciler()
        r.on_pod_event("ADDED", owned(0, 2, phase="Succeeded"))
        key = await r.queue.get()
        r.queue.done(key)
        r.on_pod_event("MODIFIED", owned(0, 2, phase="Succeeded"))
        assert (len(r.queue), r.queue.delayed) == (0, 0)

    asyncio.run(scenario())
