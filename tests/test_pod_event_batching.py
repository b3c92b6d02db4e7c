"""When a pod's watch event brings its job's pass: gathered with the events
that follow it (`POD_EVENT_BATCH_SECONDS`), or at once when the last of the
job's running pods has ended and nothing else of the job can end with it."""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

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


PASS = "pass"  # a step: a worker takes the job's key (it must be queued) and is done with it
Step: TypeAlias = "tuple[str, dict[str, Any]] | str"


def feed(*steps: Step) -> tuple[int, int]:
    """Feed pod events to a fresh reconciler, with passes between them; the
    keys then queued to run now, and the delayed ones."""
    async def scenario() -> tuple[int, int]:
        r = TaskJobReconciler(None, None, Metrics())  # type: ignore[arg-type]
        for step in steps:
            if step == PASS:
                assert len(r.queue) == 1
                key = await r.queue.get()
                assert key == KEY
                r.queue.done(key)
            else:
                r.on_pod_event(*step)
        return len(r.queue), r.queue.delayed

    return asyncio.run(scenario())


def running(index: int, version: int) -> tuple[str, dict[str, Any]]:
    return "MODIFIED", owned(index, version, phase="Running")


def ends(index: int, version: int, phase: str = "Succeeded") -> tuple[str, dict[str, Any]]:
    return "MODIFIED", owned(index, version, phase=phase)


def test_the_only_pod_of_a_job_ending_brings_its_pass_at_once() -> None:
    assert feed(running(0, 1)) == (0, 1), "a start waits for the batch"
    assert feed(running(0, 1), ends(0, 2))[0] == 1
    feed(running(0, 1), ends(0, 2), PASS)  # the job's own key


def test_a_failed_only_pod_brings_its_pass_at_once_too() -> None:
    assert feed(("ADDED", owned(0, 1, phase="Failed")))[0] == 1


def test_a_pod_ending_beside_others_waits_for_the_rest_of_its_wave() -> None:
    assert feed(running(0, 1), running(1, 2), ends(0, 3)) == (0, 1)


def test_the_last_pod_of_a_wave_ending_ends_the_batch_at_once() -> None:
    assert feed(running(0, 1), running(1, 2), ends(0, 3), ends(1, 4, "Failed"))[0] == 1, \
        "the pass comes now"


def test_a_pod_gone_while_running_counts_no_more_among_the_running() -> None:
    # Three pods, so that the two left are not a one-pod job.
    gone = ("DELETED", owned(2, 4, phase="Running"))
    assert feed(running(0, 1), running(1, 2), running(2, 3), gone, ends(0, 5), ends(1, 6))[0] == 1


def test_a_change_to_a_parallel_jobs_pod_already_ended_waits_for_the_batch() -> None:
    released = ends(0, 5)  # its finalizer released
    assert feed(running(0, 1), running(1, 2), ends(0, 3), ends(1, 4), PASS, released)[0] == 0


def test_a_change_to_a_one_pod_jobs_ended_pod_brings_its_pass_at_once() -> None:
    released = ends(0, 3)  # its finalizer released
    assert feed(running(0, 1), ends(0, 2), PASS, released)[0] == 1


def test_an_echo_of_a_version_already_held_brings_no_pass() -> None:
    ended = ("ADDED", owned(0, 2, phase="Succeeded"))
    assert feed(ended, PASS, ("MODIFIED", owned(0, 2, phase="Succeeded"))) == (0, 0)
