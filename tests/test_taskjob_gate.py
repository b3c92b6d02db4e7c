"""decide() under the admission gate: Queued, Waiting, slots held and given back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from factories import T0, job_spec, make_job, make_pod, of_type
from taskops.api.taskjob import TaskJobStatus
from taskops.core.actions import CreatePod, Decision, EmitEvent, SlotTaken
from taskops.core.admission import GLOBAL, Gate, QueueSpot
from taskops.core.dag import Broken, Satisfied, Waiting
from taskops.core.labels import JOB_FINALIZER
from taskops.core.observed import format_time
from taskops.core.taskjob import decide

SPOT = QueueSpot(GLOBAL, limit=3, in_use=3, position=4)
NOT_ADMITTED = Gate(admitted=False, queue=SPOT)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(spec: dict[str, Any], status: dict[str, Any], now: datetime, gate: Gate,
         *pods: Any) -> Decision:
    decision = decide(make_job(spec, status=status, finalizers=(JOB_FINALIZER,)), list(pods),
                      now, gate)
    TaskJobStatus.model_validate(decision.status)
    return decision


def admitted(status: dict[str, Any]) -> tuple[str, str]:
    cond = next(c for c in status["conditions"] if c["type"] == "Admitted")
    return cond["status"], cond["reason"]


def test_a_job_without_a_slot_is_queued_with_its_position_and_asks_for_one() -> None:
    d = step(job_spec(), {}, at(1), NOT_ADMITTED)
    assert d.wants_slot
    assert (d.status["phase"], d.status["reason"]) == ("Queued", "ConcurrencyCap")
    assert d.status["queuePosition"] == 4
    assert d.status["queuedSince"] == format_time(at(1))
    assert admitted(d.status) == ("False", "ConcurrencyCap")
    assert "global cap of 3" in d.status["message"] and "3 TaskJobs ahead" in d.status["message"]
    assert not of_type(d, CreatePod)
    assert of_type(d, EmitEvent)[0] == EmitEvent("Normal", "Queued", d.status["message"])


def test_queued_since_is_kept_while_queued_and_the_wait_is_measured_at_admission() -> None:
    queued = step(job_spec(), {}, at(1), NOT_ADMITTED).status
    again = step(job_spec(), queued, at(30), NOT_ADMITTED)
    assert again.status["queuedSince"] == format_time(at(1))
    assert not of_type(again, EmitEvent)  # no phase change, no event
    taken = step(job_spec(), queued, at(41), Gate())
    assert admitted(taken.status) == ("True", "Admitted")
    assert "queuedSince" not in taken.status and "queuePosition" not in taken.status
    assert SlotTaken(40.0) in taken.observations
    assert EmitEvent("Normal", "Admitted", "admitted after 40s Queued") in taken.actions
    assert of_type(taken, CreatePod)


def test_a_job_admitted_at_once_waited_zero_and_gets_no_admitted_event() -> None:
    d = step(job_spec(), {}, at(1), Gate())
    assert SlotTaken(0.0) in d.observations
    assert all(e.reason != "Admitted" for e in of_type(d, EmitEvent))


def test_queue_seconds_exceeded_fails_with_queue_timeout() -> None:
    spec = job_spec(timeouts={"queueSeconds": 10})
    queued = step(spec, {}, at(0), NOT_ADMITTED)
    assert queued.requeue_after == 10
    d = step(spec, queued.status, at(10), NOT_ADMITTED)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "QueueTimeout")
    assert "spec.timeouts.queueSeconds (10s)" in d.status["message"]
    assert not d.wants_slot


def test_backing_off_gives_the_slot_back_and_queues_again_when_due() -> None:
    spec = job_spec(retry={"limit": 2, "backoff": {"policy": "Fixed", "initialDelaySeconds": 10}})
    running = step(spec, {}, at(0), Gate())
    failed = make_pod(0, 0, phase="Failed", created=at(0), finished=at(5), exit_code=1)
    backoff = step(spec, running.status, at(5), Gate(), failed)
    assert backoff.status["phase"] == "BackingOff"
    assert admitted(backoff.status) == ("False", "BackingOff")
    # While the delay runs, no slot is wanted even without one.
    waiting = step(spec, backoff.status, at(8), NOT_ADMITTED, failed)
    assert waiting.status["phase"] == "BackingOff" and not waiting.wants_slot
    # Due, and no slot free: Queued, with a fresh queuedSince.
    due = step(spec, backoff.status, at(16), NOT_ADMITTED, failed)
    assert due.wants_slot and due.status["phase"] == "Queued"
    assert due.status["queuedSince"] == format_time(at(16))
    # Granted: the second attempt starts.
    go = step(spec, due.status, at(17), Gate(), failed)
    assert [c.manifest["metadata"]["name"] for c in of_type(go, CreatePod)] == ["job-0-1"]


def test_pods_still_stopping_keep_the_slot() -> None:
    spec = job_spec(timeouts={"activeDeadlineSeconds": 10})
    running = step(spec, {}, at(0), Gate())
    pod = make_pod(0, 0, created=at(0))
    over = step(spec, running.status, at(11), Gate(), pod)
    assert over.status["phase"] == "Failed"
    assert admitted(over.status) == ("True", "Draining")
    stopping = make_pod(0, 0, created=at(0), deleting=True)
    still = step(spec, over.status, at(12), Gate(), stopping)
    assert admitted(still.status) == ("True", "Draining")
    done = make_pod(0, 0, phase="Failed", created=at(0), finished=at(13), exit_code=137)
    gone = step(spec, still.status, at(14), Gate(), done)
    assert admitted(gone.status) == ("False", "Finished")


def test_live_pods_hold_the_slot_whatever_the_gate_says() -> None:
    running = step(job_spec(), {}, at(0), Gate())
    d = step(job_spec(), running.status, at(1), NOT_ADMITTED, make_pod(0, 0, created=at(0)))
    assert d.status["phase"] == "Running" and not d.wants_slot


def test_waiting_for_dependencies_holds_no_slot_and_wakes_for_a_missing_one() -> None:
    verdict = Waiting("waiting for build to succeed; lint not found yet", at(300))
    d = step(job_spec(dependsOn=["build", "lint"]), {}, at(1), Gate(dependencies=verdict))
    assert (d.status["phase"], d.status["reason"]) == ("Waiting", "WaitingForDependencies")
    assert admitted(d.status) == ("False", "WaitingForDependencies")
    assert d.status["message"] == verdict.message
    assert not d.wants_slot and not of_type(d, CreatePod)
    assert d.requeue_after == 299


def test_a_broken_dependency_fails_the_job_with_its_reason() -> None:
    d = step(job_spec(dependsOn=["a"]), {}, at(1),
             Gate(dependencies=Broken("DependencyCycle", "spec.dependsOn forms a cycle: a -> a")))
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "DependencyCycle")
    assert of_type(d, EmitEvent)[0].type == "Warning"


def test_dependency_results_reach_every_attempt_and_are_kept_on_the_status() -> None:
    results = json.dumps({"build": "v1.2"})
    spec = job_spec(dependsOn=["build"], retry={"limit": 1, "backoff": {"policy": "None"}})
    first = step(spec, {}, at(0), Gate(dependencies=Satisfied(results)))
    env = {e["name"]: e["value"]
           for e in of_type(first, CreatePod)[0].manifest["spec"]["containers"][0]["env"]}
    assert env["TASK_DEPENDENCY_RESULTS"] == results
    assert first.status["dependencyResults"] == results
    # Once started, the dependencies no longer matter: the copy is used.
    failed = make_pod(0, 0, phase="Failed", created=at(0), finished=at(2), exit_code=1)
    retry = step(spec, first.status, at(3), Gate(dependencies=Waiting("gone", None)), failed)
    env = {e["name"]: e["value"]
           for e in of_type(retry, CreatePod)[0].manifest["spec"]["containers"][0]["env"]}
    assert env["TASK_DEPENDENCY_RESULTS"] == results


def test_no_dependencies_no_env() -> None:
    d = step(job_spec(), {}, at(0), Gate())
    env = [e["name"] for e in of_type(d, CreatePod)[0].manifest["spec"]["containers"][0]["env"]]
    assert "TASK_DEPENDENCY_RESULTS" not in env
    assert "dependencyResults" not in d.status
