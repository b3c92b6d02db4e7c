"""decide(): Pending until a main container runs, and spec.timeouts.pendingSeconds."""

from __future__ import annotations

from typing import Any

import pytest

from factories import JOB_NAME, T0, job_spec, make_pod, of_type, pod_body
from taskops.core.actions import AttemptEnded, EmitEvent
from taskops.core.observed import observe_pod
from taskops.core.progress_writes import PROGRESS_WINDOW_SECONDS
from test_taskjob_core import Story, at, created, deleted

UNSCHEDULABLE = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
PULL = ("ErrImagePull", 'failed to pull image "nope:1": not found')


def pending(**kwargs: Any) -> tuple[str, str] | None:
    observed = observe_pod(pod_body(phase=kwargs.pop("phase", "Pending"), **kwargs))
    assert observed is not None
    return observed.pending


# --- what the pod says ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ("Scheduling", "waiting to be scheduled")),
        ({"unschedulable": UNSCHEDULABLE}, ("Unschedulable", UNSCHEDULABLE)),
        ({"scheduled": True}, ("ContainerCreating",
                               "scheduled; the main container is being created")),
        ({"scheduled": True, "waiting": PULL}, PULL),
        ({"scheduled": True, "waiting": ("ImagePullBackOff", 'Back-off pulling image "x"')},
         ("ImagePullBackOff", 'Back-off pulling image "x"')),
        ({"scheduled": True, "waiting": ("PodInitializing", "")},
         ("PodInitializing", "init containers are running")),
        ({"scheduled": True, "waiting": ("PodInitializing", ""), "init_waiting": PULL},
         ("Init:ErrImagePull", f"init container init: {PULL[1]}")),
        # A sidecar runs, so the pod is Running; the main container still waits.
        ({"phase": "Running", "scheduled": True, "waiting": PULL, "sidecar_running": True}, PULL),
    ],
)
def test_why_a_pod_has_not_started_comes_from_its_own_state(
    kwargs: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert pending(**kwargs) == expected


@pytest.mark.parametrize("phase", ["Running", "Succeeded", "Failed"])
def test_a_main_container_that_runs_or_ran_has_started(phase: str) -> None:
    pod = make_pod(phase=phase)
    assert pod.main_started and pod.pending is None


# --- the phase ---------------------------------------------------------------


def test_the_job_is_pending_until_its_main_container_starts() -> None:
    story = Story(job_spec())
    story.step(T0)
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Creating")
    # On its way, the pod's progress waits out the window (progress_writes)...
    decision = story.step(at(1), make_pod(phase="Pending"))
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Creating")
    assert decision.requeue_after == pytest.approx(PROGRESS_WINDOW_SECONDS - 1)
    # ...and is written once it has passed.
    story.step(at(PROGRESS_WINDOW_SECONDS), make_pod(phase="Pending"))
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Scheduling")
    story.step(at(PROGRESS_WINDOW_SECONDS + 1), make_pod(phase="Pending", scheduled=True))
    assert story.status["reason"] == "ContainerCreating"
    assert story.status["message"] == (
        f"pod {JOB_NAME}-0-0: scheduled; the main container is being created; "
        "1 active, 0/1 succeeded")
    assert story.status["attempts"][-1]["reason"] == "Pending"
    later = at(PROGRESS_WINDOW_SECONDS + 2)
    decision = story.step(later, make_pod(phase="Running", started=later))
    assert (story.status["phase"], story.status["reason"]) == ("Running", "Running")
    assert story.status["attempts"][-1]["reason"] == "Running"
    assert of_type(decision, EmitEvent) == [
        EmitEvent("Normal", "Running", "1 active, 0/1 succeeded")]


def test_a_pod_that_starts_within_the_window_is_written_at_once() -> None:
    story = Story(job_spec())
    story.step(T0)
    decision = story.step(at(1), make_pod(phase="Running", started=at(1)))
    assert (story.status["phase"], story.status["reason"]) == ("Running", "Running")
    assert of_type(decision, EmitEvent) == [
        EmitEvent("Normal", "Running", "1 active, 0/1 succeeded")]


def test_trouble_is_a_warning_event_each_time_the_reason_changes() -> None:
    story = Story(job_spec())
    story.step(T0)
    decision = story.step(at(1), make_pod(phase="Pending", scheduled=True))
    assert not of_type(decision, EmitEvent)  # on its way: the status says it, no Event
    decision = story.step(at(5), make_pod(phase="Pending", scheduled=True, waiting=PULL))
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "ErrImagePull")
    assert PULL[1] in story.status["message"]
    assert of_type(decision, EmitEvent) == [
        EmitEvent("Warning", "Pending", f"ErrImagePull: {story.status['message']}")]
    # The same reason again: no second Event.
    decision = story.step(at(6), make_pod(phase="Pending", scheduled=True, waiting=PULL))
    assert not of_type(decision, EmitEvent)


def test_an_unschedulable_pod_says_why_at_once() -> None:
    story = Story(job_spec())
    story.step(T0)
    decision = story.step(at(1), make_pod(phase="Pending", unschedulable=UNSCHEDULABLE))
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Unschedulable")
    assert story.status["message"].startswith(f"pod {JOB_NAME}-0-0: {UNSCHEDULABLE}")
    assert [e.type for e in of_type(decision, EmitEvent)] == ["Warning"]


def test_a_running_sidecar_does_not_make_the_job_running() -> None:
    story = Story(job_spec())
    story.step(T0)
    story.step(at(1), make_pod(phase="Running", scheduled=True, waiting=PULL,
                               sidecar_running=True))
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "ErrImagePull")


def test_indexed_runs_as_soon_as_any_index_runs_and_shows_trouble_first() -> None:
    spec = job_spec(completions=3, parallelism=3, completionMode="Indexed")
    story = Story(spec)
    story.step(T0)
    story.step(at(1), make_pod(0, phase="Pending", scheduled=True),
               make_pod(1, phase="Pending", scheduled=True, waiting=PULL),
               make_pod(2, phase="Pending"))
    # Index 0 is on its way; index 1 is in trouble: that is what is shown.
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "ErrImagePull")
    assert story.status["message"].startswith(f"pod {JOB_NAME}-1-0: ")
    story.step(at(2), make_pod(0, phase="Pending", scheduled=True),
               make_pod(1, phase="Pending", scheduled=True, waiting=PULL),
               make_pod(2, phase="Running"))
    assert story.status["phase"] == "Running"


def test_a_retry_is_pending_again_until_it_starts() -> None:
    story = Story(job_spec(retry={"limit": 1, "backoff": {"policy": "None"}}))
    story.step(T0)
    story.step(at(1), make_pod(phase="Running"))
    failed = make_pod(phase="Failed", exit_code=1, finished=at(5))
    decision = story.step(at(6), failed)
    assert created(decision) == [f"{JOB_NAME}-0-1"]
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Creating")
    story.step(at(7), failed, make_pod(0, 1, phase="Running", created=at(6)))
    assert story.status["phase"] == "Running"


def test_a_parallel_job_between_waves_stays_running_without_an_event() -> None:
    """The next wave's pods on their way are not the job waiting again: its
    phase stays Running, and no Pending or Running Event is posted per wave."""
    story = Story(job_spec(completions=4, parallelism=2, completionMode="Indexed"))
    story.step(T0)
    story.step(at(1), make_pod(0, phase="Running"), make_pod(1, phase="Running"))
    assert story.status["phase"] == "Running"
    done = [make_pod(i, phase="Succeeded", finished=at(5)) for i in (0, 1)]
    decision = story.step(at(6), *done)
    assert created(decision) == [f"{JOB_NAME}-2-0", f"{JOB_NAME}-3-0"]
    assert (story.status["phase"], story.status["reason"]) == ("Running", "Running")
    assert not of_type(decision, EmitEvent), decision.actions
    next_wave = [make_pod(i, phase="Pending", scheduled=True, created=at(6)) for i in (2, 3)]
    decision = story.step(at(7), *done, *next_wave)
    assert story.status["phase"] == "Running" and not of_type(decision, EmitEvent)
    # A pod of the wave in trouble is what the job waits on: Pending, with a warning.
    stuck = make_pod(3, phase="Pending", scheduled=True, waiting=PULL, created=at(6))
    decision = story.step(at(8), *done, next_wave[0], stuck)
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "ErrImagePull")
    assert [(e.type, e.reason) for e in of_type(decision, EmitEvent)] == [("Warning", "Pending")]


# --- spec.timeouts.pendingSeconds ----------------------------------------------


def test_a_pod_that_does_not_start_in_time_fails_its_attempt_with_its_reason() -> None:
    story = Story(job_spec(timeouts={"pendingSeconds": 60},
                           retry={"limit": 1, "backoff": {"policy": "Fixed",
                                                          "initialDelaySeconds": 10}},
                           shutdown={"gracePeriodSeconds": 7}))
    story.step(T0)
    stuck = make_pod(phase="Pending", scheduled=True, waiting=PULL)
    decision = story.step(at(30), stuck)
    assert decision.requeue_after == pytest.approx(30)  # woken at the deadline
    assert not deleted(decision)
    decision = story.step(at(60), stuck)
    assert deleted(decision) == [(f"{JOB_NAME}-0-0", 7)]
    record = story.status["attempts"][0]
    assert record["reason"] == "PendingTimeout"
    assert record["message"] == (
        "the pod did not start running within spec.timeouts.pendingSeconds (60s): "
        f"ErrImagePull: {PULL[1]}")
    assert AttemptEnded(0, 0, "PendingTimeout", retried=True) in decision.observations
    assert story.status["indexes"]["0"]["failures"] == 1  # counted against retry.limit
    assert story.status["phase"] == "BackingOff"
    assert any(e.reason == "AttemptFailed" and "PendingTimeout" in e.message
               for e in of_type(decision, EmitEvent))
    # The retry is the last attempt allowed: its timeout fails the job.
    gone = make_pod(phase="Pending", scheduled=True, waiting=PULL, deleting=True)
    decision = story.step(at(70), gone)
    assert created(decision) == [f"{JOB_NAME}-0-1"]
    retry = make_pod(0, 1, phase="Pending", unschedulable=UNSCHEDULABLE, created=at(70))
    story.step(at(130), retry)
    assert (story.status["phase"], story.status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert "Unschedulable" in story.status["attempts"][-1]["message"]


def test_pending_seconds_spare_a_pod_whose_main_container_started() -> None:
    story = Story(job_spec(timeouts={"pendingSeconds": 60}))
    story.step(T0)
    decision = story.step(at(500), make_pod(phase="Running", started=at(2)))
    assert not deleted(decision)
    assert decision.requeue_after is None
    assert story.status["phase"] == "Running"


def test_a_deleted_pod_past_its_pending_deadline_is_a_pending_timeout() -> None:
    # The decision that deleted it was not written (a crash): the next one,
    # seeing the pod go, still knows why.
    story = Story(job_spec(timeouts={"pendingSeconds": 60}, retry={"limit": 2}))
    story.step(T0)
    story.step(at(65), make_pod(phase="Pending", scheduled=True, waiting=PULL, deleting=True))
    assert story.status["attempts"][0]["reason"] == "PendingTimeout"
    assert story.status["indexes"]["0"]["failures"] == 1
