"""decide(): the TaskJob contract, one behaviour per test."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factories import (
    JOB_NAME,
    T0,
    FakeCluster,
    action_types,
    job_spec,
    make_job,
    make_pod,
    of_type,
    settle,
)
from taskops.api.taskjob import TaskJobStatus
from taskops.core.actions import (
    AddJobFinalizer,
    AttemptEnded,
    CreatePod,
    Decision,
    DeleteJob,
    DeletePod,
    EmitEvent,
    Finished,
    ReleasePod,
    RemoveJobFinalizer,
)
from taskops.core.admission import Gate
from taskops.core.conditions import status_patch
from taskops.core.job_status import format_duration, truncate_utf8
from taskops.core.labels import JOB_FINALIZER
from taskops.core.ledger import (
    FIRST_TRY,
    IndexBook,
    Ledger,
    format_index_ranges,
    parse_index_ranges,
)
from taskops.core.observed import ObservedPod, format_time
from taskops.core.taskjob import (
    STUCK_DELETION_SECONDS,
    decide,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Story:
    """A TaskJob over time: each step decides and writes the status back, like the shell."""

    spec: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)
    finalizers: tuple[str, ...] = (JOB_FINALIZER,)
    deleting: bool = False

    def step(self, now: datetime, *pods: ObservedPod, admitted: bool = True) -> Decision:
        job = make_job(
            self.spec, status=self.status, finalizers=self.finalizers, deleting=self.deleting
        )
        decision = decide(job, list(pods), now, Gate(admitted=admitted))
        self.status = decision.status
        return decision


def created(decision: Decision) -> list[str]:
    return [a.manifest["metadata"]["name"] for a in of_type(decision, CreatePod)]


def deleted(decision: Decision) -> list[tuple[str, int | None]]:
    return [(a.name, a.grace_seconds) for a in of_type(decision, DeletePod)]


def env(decision: Decision, index: int = 0) -> dict[str, str]:
    pod = of_type(decision, CreatePod)[index].manifest
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), None)


def failed_pod(index: int = 0, attempt: int = 0, seconds: float = 10, **kwargs: Any) -> ObservedPod:
    kwargs.setdefault("exit_code", 1)
    return make_pod(
        index, attempt, phase="Failed", created=at(seconds - 10), finished=at(seconds), **kwargs
    )


def succeeded_pod(
    index: int = 0, attempt: int = 0, seconds: float = 10, **kwargs: Any
) -> ObservedPod:
    return make_pod(
        index, attempt, phase="Succeeded", created=at(seconds - 10), finished=at(seconds), **kwargs
    )


# --- starting ----------------------------------------------------------------


def test_new_job_gets_the_finalizer_before_its_first_pod_in_one_pass() -> None:
    """The shell applies actions in order and stops at the first that fails, so
    the drain finalizer is on the job before its first pod exists, without a
    second pass (and a status write) waiting for the finalizer's echo."""
    decision = Story(job_spec(), finalizers=()).step(T0)
    kinds = action_types(decision)
    assert kinds.index("AddJobFinalizer") < kinds.index("CreatePod")
    assert (decision.status["phase"], decision.status["reason"]) == ("Pending", "Creating")


def test_the_drain_finalizer_is_asked_for_while_a_pod_has_not_ended() -> None:
    """The shell's first pass over a new job creates its pods only; the next
    asks for the finalizer if a pod is still there to drain, and not if they
    all ended meanwhile (an operator behind a burst of short jobs)."""
    running = Story(job_spec(), finalizers=()).step(at(3), make_pod(0, 0, created=T0))
    assert of_type(running, AddJobFinalizer) == [AddJobFinalizer()]
    ended = Story(job_spec(), finalizers=()).step(at(12), succeeded_pod(0, 0, seconds=8))
    assert ended.status["phase"] == "Succeeded"
    assert not of_type(ended, AddJobFinalizer)


def test_admitted_job_creates_the_first_attempt() -> None:
    decision = Story(job_spec()).step(at(5))
    assert created(decision) == [f"{JOB_NAME}-0-0"]
    assert env(decision) == {"TASK_INDEX": "0", "TASK_COUNT": "1", "TASK_ATTEMPT": "0"}
    status = decision.status
    assert (status["phase"], status["reason"]) == ("Pending", "Creating")
    assert status["startTime"] == format_time(at(5))
    assert (status["attemptCount"], status["active"], status["succeeded"], status["failed"]) == (
        1,
        1,
        0,
        0,
    )
    assert condition(status, "Admitted")["status"] == "True"  # type: ignore[index]
    assert status["message"] == f"creating pod {JOB_NAME}-0-0; 1 active, 0/1 succeeded"
    assert of_type(decision, EmitEvent) == [
        EmitEvent("Normal", "Pending", f"Creating: {status['message']}")]


def test_job_not_admitted_is_queued_and_asks_for_a_slot() -> None:
    decision = Story(job_spec()).step(T0, admitted=False)
    assert decision.status["phase"] == "Queued"
    assert decision.status["reason"] == "ConcurrencyCap"
    assert decision.wants_slot
    assert "startTime" not in decision.status
    assert condition(decision.status, "Admitted")["status"] == "False"  # type: ignore[index]
    assert not of_type(decision, CreatePod)


def test_admission_is_only_asked_before_the_start() -> None:
    story = Story(job_spec())
    story.step(T0)
    decision = story.step(at(1), make_pod(0, 0, created=T0), admitted=False)
    assert decision.status["phase"] == "Running"


def test_start_time_is_kept_from_the_first_admission() -> None:
    story = Story(job_spec(retry={"limit": 1, "backoff": {"policy": "None"}}))
    story.step(at(1))
    story.step(at(20), failed_pod(seconds=15))
    assert story.status["startTime"] == format_time(at(1))


# --- success -----------------------------------------------------------------


def test_successful_attempt_completes_the_job() -> None:
    story = Story(job_spec())
    story.step(at(1))
    decision = story.step(at(12), succeeded_pod(seconds=11, message="42 rows"))
    status = decision.status
    assert status["phase"] == "Succeeded"
    assert status["reason"] == "CompletionsReached"
    assert status["result"] == "42 rows"
    assert status["completionTime"] == format_time(at(12))
    assert status["duration"] == "11s"
    assert (status["succeeded"], status["failed"], status["active"]) == (1, 0, 0)
    assert condition(status, "Complete")["status"] == "True"  # type: ignore[index]
    assert EmitEvent("Normal", "Succeeded", status["message"]) in decision.actions
    assert Finished("Succeeded", "CompletionsReached", 11.0) in decision.observations
    assert AttemptEnded(0, 0, "Succeeded", retried=False) in decision.observations
    assert status["attempts"][-1]["reason"] == "Succeeded"


def test_succeeded_pod_is_released_only_after_the_status_records_it() -> None:
    story = Story(job_spec())
    story.step(at(1))
    pod = succeeded_pod()
    first = story.step(at(12), pod)
    assert not of_type(first, ReleasePod)
    second = story.step(at(13), pod)
    assert of_type(second, ReleasePod) == [ReleasePod(pod.name)]
    assert second.status == first.status
    assert not of_type(second, EmitEvent)
    assert not second.observations


@pytest.mark.parametrize(("completions", "parallelism"), [(1, 1), (3, 1), (3, 3), (5, 2), (4, 10)])
@pytest.mark.parametrize("mode", ["Indexed", "NonIndexed"])
def test_job_succeeds_when_every_completion_succeeded(
    completions: int, parallelism: int, mode: str
) -> None:
    story = Story(job_spec(completions=completions, parallelism=parallelism, completionMode=mode))
    done: list[ObservedPod] = []
    now = 0.0
    for _ in range(completions * 2):
        now += 10
        decision = story.step(at(now), *done)
        if story.status["phase"] == "Succeeded":
            break
        assert len(of_type(decision, CreatePod)) <= parallelism
        for action in of_type(decision, CreatePod):
            labels = action.manifest["metadata"]["labels"]
            done.append(
                succeeded_pod(int(labels["taskops.dev/index"]), 0, seconds=now + 5, message="ok")
            )
    assert story.status["phase"] == "Succeeded"
    assert story.status["succeeded"] == completions
    assert story.status["attemptCount"] == completions
    assert story.status["completedIndexes"] == format_index_ranges(range(completions))
    # Every index succeeded at its first attempt: completedIndexes says it all.
    assert "indexes" not in story.status


@pytest.mark.parametrize(
    ("parallelism", "completions", "expected"),
    [(1, 5, 1), (2, 5, 2), (5, 5, 5), (9, 5, 5), (3, 1, 1)],
)
@pytest.mark.parametrize("mode", ["Indexed", "NonIndexed"])
def test_parallelism_caps_the_pods_created(
    parallelism: int, completions: int, expected: int, mode: str
) -> None:
    decision = Story(
        job_spec(parallelism=parallelism, completions=completions, completionMode=mode)
    ).step(T0)
    assert len(of_type(decision, CreatePod)) == expected
    assert [env(decision, i)["TASK_INDEX"] for i in range(expected)] == [
        str(i) for i in range(expected)
    ]
    assert all(env(decision, i)["TASK_COUNT"] == str(completions) for i in range(expected))


def test_running_pods_count_against_parallelism() -> None:
    story = Story(job_spec(parallelism=2, completions=4, completionMode="Indexed"))
    story.step(T0)
    decision = story.step(at(1), make_pod(0, 0), make_pod(1, 0))
    assert not of_type(decision, CreatePod)
    decision = story.step(at(20), succeeded_pod(0, 0, seconds=15), make_pod(1, 0))
    assert created(decision) == [f"{JOB_NAME}-2-0"]


@pytest.mark.parametrize(
    ("max_bytes", "message", "expected"),
    [
        (4096, "hello", "hello"),
        (5, "hello world", "hello"),
        (1, "héllo", "h"),
        (2, "héllo", "h"),
        (3, "héllo", "hé"),
        (4, "日本語", "日"),
        (3, "🎉x", ""),
    ],
)
def test_result_is_cut_to_max_bytes_on_a_utf8_boundary(
    max_bytes: int, message: str, expected: str
) -> None:
    story = Story(job_spec(result={"maxBytes": max_bytes}))
    story.step(T0)
    decision = story.step(at(20), succeeded_pod(message=message))
    assert decision.status["result"] == expected
    assert len(decision.status["result"].encode()) <= max_bytes


def test_no_result_unless_taken_from_the_termination_message() -> None:
    story = Story(job_spec(result={"fromTerminationMessage": False}))
    story.step(T0)
    assert "result" not in story.step(at(20), succeeded_pod(message="secret")).status


def test_indexed_results_are_kept_per_index() -> None:
    story = Story(job_spec(completions=3, parallelism=3, completionMode="Indexed"))
    story.step(T0)
    pods = [succeeded_pod(i, message=f"part {i}") for i in range(3)]
    status = story.step(at(20), *pods).status
    assert status["results"] == {"0": "part 0", "1": "part 1", "2": "part 2"}
    assert "result" not in status


def test_indexed_results_share_a_status_budget() -> None:
    story = Story(job_spec(completions=1000, parallelism=1, completionMode="Indexed"))
    story.step(T0)
    status = story.step(at(20), succeeded_pod(0, message="x" * 4096)).status
    assert len(status["results"]["0"]) == 256 * 1024 // 1000


def test_nonindexed_result_is_the_last_success() -> None:
    story = Story(job_spec(completions=2, parallelism=2))
    story.step(T0)
    status = story.step(
        at(30),
        succeeded_pod(0, seconds=25, message="late"),
        succeeded_pod(1, seconds=12, message="early"),
    ).status
    assert status["result"] == "late"


# --- failures and retries ----------------------------------------------------


def test_failed_attempt_waits_for_backoff_then_retries() -> None:
    story = Story(job_spec(retry={"limit": 2}))
    story.step(T0)
    pod = failed_pod(seconds=10)
    decision = story.step(at(11), pod)
    assert decision.status["phase"] == "BackingOff"
    assert decision.status["nextAttemptTime"] == format_time(at(20))
    assert decision.requeue_after == pytest.approx(9)
    assert not of_type(decision, CreatePod)
    assert AttemptEnded(0, 0, "Failed", retried=True) in decision.observations
    assert any(e.reason == "AttemptFailed" for e in of_type(decision, EmitEvent))
    decision = story.step(at(15), pod)
    assert of_type(decision, ReleasePod) == [ReleasePod(pod.name)]
    assert not of_type(decision, CreatePod)
    decision = story.step(at(20), pod)
    assert created(decision) == [f"{JOB_NAME}-0-1"]
    assert env(decision)["TASK_ATTEMPT"] == "1"
    assert (decision.status["phase"], decision.status["reason"]) == ("Pending", "Creating")
    assert "nextAttemptTime" not in decision.status


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ({}, [10, 20, 40, 80]),
        ({"initialDelaySeconds": 1, "factor": 3.0}, [1, 3, 9, 27]),
        ({"initialDelaySeconds": 100, "maxDelaySeconds": 150}, [100, 150, 150, 150]),
        ({"policy": "Fixed", "initialDelaySeconds": 7}, [7, 7, 7, 7]),
        ({"policy": "None"}, [0, 0, 0, 0]),
    ],
)
def test_retry_delays_follow_the_backoff_policy(backoff: dict[str, Any], delays: list[int]) -> None:
    story = Story(job_spec(retry={"limit": 10, "backoff": backoff}))
    story.step(T0)
    now = 0.0
    for attempt, delay in enumerate(delays):
        now += 100
        decision = story.step(at(now + 0.5), failed_pod(0, attempt, seconds=now))
        expected = at(now + delay)
        index = story.status["indexes"]["0"]
        assert index["retryAfter"] == format_time(expected)
        assert index["failures"] == attempt + 1
        if delay:
            assert story.status["nextAttemptTime"] == format_time(expected)
        else:
            assert created(decision) == [f"{JOB_NAME}-0-{attempt + 1}"]
        now += max(delay, 1)


def test_jitter_spreads_parallel_retries_deterministically() -> None:
    spec = job_spec(
        completions=20,
        parallelism=20,
        completionMode="Indexed",
        retry={"limit": 3, "backoff": {"jitter": 1.0, "initialDelaySeconds": 100}},
    )
    pods = [failed_pod(i, 0, seconds=10) for i in range(20)]
    first = settle(spec, pods, at(11), status={"startTime": format_time(T0), "phase": "Running"})
    again = settle(spec, pods, at(11), status={"startTime": format_time(T0), "phase": "Running"})
    assert first == again
    times = {entry["retryAfter"] for entry in first.status["indexes"].values()}
    assert len(times) > 10
    for entry in first.status["indexes"].values():
        assert format_time(at(10)) <= entry["retryAfter"] <= format_time(at(210))


@pytest.mark.parametrize("limit", [0, 1, 2, 5])
def test_retry_limit_exhausted_fails_with_backoff_limit_exceeded(limit: int) -> None:
    story = Story(job_spec(retry={"limit": limit, "backoff": {"policy": "None"}}))
    story.step(T0)
    decision = None
    for attempt in range(limit + 1):
        decision = story.step(
            at(100 * attempt + 50), failed_pod(0, attempt, seconds=100 * attempt + 40)
        )
        if attempt < limit:
            assert created(decision) == [f"{JOB_NAME}-0-{attempt + 1}"]
    assert decision is not None
    assert decision.status["phase"] == "Failed"
    assert decision.status["reason"] == "BackoffLimitExceeded"
    assert f"spec.retry.limit is {limit}" in decision.status["message"]
    assert not of_type(decision, CreatePod)
    assert decision.status["attemptCount"] == limit + 1
    assert decision.status["failed"] == limit + 1
    assert condition(decision.status, "Failed")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
    assert (
        EmitEvent("Warning", "BackoffLimitExceeded", decision.status["message"]) in decision.actions
    )
    assert AttemptEnded(0, limit, "Failed", retried=False) in decision.observations


def test_indexed_retry_limit_is_per_index() -> None:
    story = Story(
        job_spec(
            completions=2,
            parallelism=2,
            completionMode="Indexed",
            retry={"limit": 1, "backoff": {"policy": "None"}},
        )
    )
    story.step(T0)
    decision = story.step(at(20), failed_pod(0, 0), failed_pod(1, 0))
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Creating")
    assert sorted(created(decision)) == [f"{JOB_NAME}-0-1", f"{JOB_NAME}-1-1"]
    decision = story.step(
        at(40), failed_pod(0, 0), failed_pod(1, 0), make_pod(0, 1), failed_pod(1, 1, seconds=35)
    )
    assert story.status["phase"] == "Failed"
    assert story.status["message"] == "index 1 failed 2 times; spec.retry.limit is 1"
    assert deleted(decision) == [(f"{JOB_NAME}-0-1", 30)]


def test_nonindexed_failures_count_against_the_whole_job() -> None:
    story = Story(
        job_spec(completions=3, parallelism=3, retry={"limit": 1, "backoff": {"policy": "None"}})
    )
    story.step(T0)
    decision = story.step(at(20), failed_pod(0, 0), failed_pod(1, 0), make_pod(2, 0))
    assert story.status["phase"] == "Failed"
    assert story.status["reason"] == "BackoffLimitExceeded"
    assert story.status["message"] == "2 attempts failed; spec.retry.limit is 1"
    assert deleted(decision) == [(f"{JOB_NAME}-2-0", 30)]


def test_nonindexed_backoff_grows_with_failures_of_the_whole_job() -> None:
    story = Story(job_spec(completions=2, parallelism=2, retry={"limit": 5}))
    story.step(T0)
    story.step(at(20), failed_pod(0, 0, seconds=10), failed_pod(1, 0, seconds=10))
    retry_after = sorted(e["retryAfter"] for e in story.status["indexes"].values())
    assert retry_after == [format_time(at(20)), format_time(at(30))]


EXIT_CODE_TABLE = [
    ("In", [1, 2], 1, True),
    ("In", [1, 2], 2, True),
    ("In", [1, 2], 3, False),
    ("In", [42], 137, False),
    ("NotIn", [42], 42, False),
    ("NotIn", [42], 1, True),
    ("NotIn", [42], 137, True),
    ("NotIn", [1, 2, 3], 3, False),
]


@pytest.mark.parametrize(("operator", "values", "exit_code", "retried"), EXIT_CODE_TABLE)
def test_exit_codes_decide_what_may_be_retried(
    operator: str, values: list[int], exit_code: int, retried: bool
) -> None:
    story = Story(
        job_spec(
            retry={
                "limit": 3,
                "backoff": {"policy": "None"},
                "onExitCodes": {"operator": operator, "values": values},
            }
        )
    )
    story.step(T0)
    decision = story.step(at(20), failed_pod(exit_code=exit_code))
    if retried:
        assert (story.status["phase"], story.status["reason"]) == ("Pending", "Creating")
        assert created(decision) == [f"{JOB_NAME}-0-1"]
    else:
        assert story.status["phase"] == "Failed"
        assert story.status["reason"] == "NonRetryableExitCode"
        assert f"code {exit_code}" in story.status["message"]
        assert not of_type(decision, CreatePod)
        assert story.status["attempts"][-1]["reason"] == "NonRetryableExitCode"


def test_failure_without_exit_code_is_retryable_under_on_exit_codes() -> None:
    story = Story(
        job_spec(
            retry={
                "limit": 1,
                "backoff": {"policy": "None"},
                "onExitCodes": {"operator": "In", "values": [1]},
            }
        )
    )
    story.step(T0)
    pod = make_pod(phase="Failed", pod_reason="UnexpectedAdmissionError", created=T0)
    assert created(story.step(at(20), pod)) == [f"{JOB_NAME}-0-1"]


def test_liveness_probe_kill_is_a_failed_attempt() -> None:
    story = Story(job_spec(retry={"limit": 1}))
    story.step(T0)
    decision = story.step(at(20), failed_pod(exit_code=137, reason="Error"))
    assert story.status["indexes"]["0"]["failures"] == 1
    assert story.status["attempts"][0]["exitCode"] == 137
    assert AttemptEnded(0, 0, "Failed", retried=True) in decision.observations


@pytest.mark.parametrize(
    "pod_kwargs",
    [
        {"phase": "Failed", "pod_reason": "Evicted"},
        {"phase": "Failed", "pod_reason": "Preempted"},
        {"phase": "Failed", "exit_code": 143, "disruption_condition": True},
        {"phase": "Running", "deleting": True},
        {"phase": "Failed", "exit_code": 143, "deleting": True},
    ],
)
def test_disrupted_attempt_is_replaced_without_counting(pod_kwargs: dict[str, Any]) -> None:
    story = Story(job_spec(retry={"limit": 0}))
    story.step(T0)
    decision = story.step(at(20), make_pod(0, 0, created=T0, **pod_kwargs))
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Creating")
    assert created(decision) == [f"{JOB_NAME}-0-1"]
    assert story.status["indexes"]["0"]["failures"] == 0
    assert story.status["attempts"][0]["reason"] == "Disrupted"
    assert AttemptEnded(0, 0, "Disrupted", retried=True) in decision.observations


@pytest.mark.parametrize(
    ("pod_kwargs", "expected"),
    [
        # A lost node: the taint manager marks the pod, then deletes it; the
        # kubelet is gone, so the pod stays Running and terminating.
        ({"phase": "Running", "deleting": True, "disruption_condition": True,
          "disruption": ("DeletionByTaintManager",
                         "Taint manager: deleting due to NoExecute taint")},
         "disrupted (DeletionByTaintManager: Taint manager: deleting due to NoExecute taint)"),
        ({"phase": "Failed", "pod_reason": "Evicted",
          "message": "The node was low on resource: memory."},
         "disrupted (Evicted: The node was low on resource: memory.)"),
        ({"phase": "Failed", "exit_code": 143, "disruption_condition": True,
          "disruption": ("PreemptionByScheduler", "")},
         "disrupted (PreemptionByScheduler); exit code 143"),
    ],
)
def test_a_disrupted_attempt_says_why(pod_kwargs: dict[str, Any], expected: str) -> None:
    story = Story(job_spec(retry={"limit": 0}))
    story.step(T0)
    story.step(at(20), make_pod(0, 0, created=T0, **pod_kwargs))
    attempt = story.status["attempts"][0]
    assert attempt["reason"] == "Disrupted"
    assert attempt["message"].startswith(expected), attempt["message"]


@pytest.mark.parametrize("limit", [0, 1])
def test_disrupted_attempt_counts_when_on_disruption_is_count(limit: int) -> None:
    story = Story(job_spec(retry={"limit": limit, "onDisruption": "Count"}))
    story.step(T0)
    story.step(at(20), make_pod(0, 0, phase="Failed", pod_reason="Evicted", created=T0))
    assert story.status["indexes"]["0"]["failures"] == 1
    assert story.status["phase"] == ("Failed" if limit == 0 else "BackingOff")


# --- deadlines ---------------------------------------------------------------


def test_active_deadline_drains_running_pods_and_fails() -> None:
    story = Story(
        job_spec(
            completions=2,
            parallelism=2,
            timeouts={"activeDeadlineSeconds": 60},
            shutdown={"gracePeriodSeconds": 45},
        )
    )
    decision = story.step(T0)
    assert decision.requeue_after == pytest.approx(60)
    pods = [make_pod(0, 0, created=T0), make_pod(1, 0, created=T0)]
    assert story.step(at(30), *pods).requeue_after == pytest.approx(30)
    decision = story.step(at(60), *pods)
    assert story.status["phase"] == "Failed"
    assert story.status["reason"] == "DeadlineExceeded"
    assert "activeDeadlineSeconds (60s)" in story.status["message"]
    assert deleted(decision) == [(f"{JOB_NAME}-0-0", 45), (f"{JOB_NAME}-1-0", 45)]
    assert [a["reason"] for a in story.status["attempts"]] == ["DeadlineExceeded"] * 2
    assert story.status["active"] == 0


def test_attempt_deadline_stops_the_pod_and_retries() -> None:
    story = Story(
        job_spec(
            retry={"limit": 1, "backoff": {"initialDelaySeconds": 5}},
            timeouts={"attemptDeadlineSeconds": 30},
        )
    )
    story.step(T0)
    pod = make_pod(0, 0, created=T0)
    assert story.step(at(10), pod).requeue_after == pytest.approx(20)
    decision = story.step(at(30), pod)
    assert deleted(decision) == [(pod.name, 30)]
    assert story.status["attempts"][-1]["reason"] == "AttemptDeadlineExceeded"
    assert story.status["indexes"]["0"] == {
        "attempts": 1,
        "failures": 1,
        "retryAfter": format_time(at(35)),
    }
    assert story.status["phase"] == "BackingOff"
    terminating = make_pod(0, 0, created=T0, deleting=True)
    decision = story.step(at(35), terminating)
    assert created(decision) == [f"{JOB_NAME}-0-1"]
    assert of_type(decision, ReleasePod) == [ReleasePod(pod.name)]


def test_attempt_deadline_counts_against_the_limit() -> None:
    story = Story(job_spec(timeouts={"attemptDeadlineSeconds": 30}))
    story.step(T0)
    decision = story.step(at(31), make_pod(0, 0, created=T0))
    assert story.status["phase"] == "Failed"
    assert story.status["reason"] == "BackoffLimitExceeded"
    assert len(deleted(decision)) == 1


def test_a_stopped_attempt_keeps_its_recorded_outcome_whatever_the_pod_says() -> None:
    story = Story(
        job_spec(
            retry={"limit": 1, "backoff": {"policy": "None"}},
            timeouts={"attemptDeadlineSeconds": 30},
        )
    )
    story.step(T0)
    story.step(at(31), make_pod(0, 0, created=T0))
    # The pod handled SIGTERM and exited 0: still the attempt that ran too long.
    decision = story.step(
        at(40), succeeded_pod(0, 0, seconds=35, deleting=True), make_pod(0, 1, created=at(31))
    )
    assert story.status["phase"] == "Running"
    assert story.status["indexes"]["0"]["failures"] == 1
    assert not any(isinstance(o, AttemptEnded) for o in decision.observations)


# --- suspend -----------------------------------------------------------------


def test_suspend_drains_running_pods_without_counting_them() -> None:
    story = Story(job_spec(retry={"limit": 0}))
    story.step(T0)
    story.spec = job_spec(retry={"limit": 0}, suspend=True)
    pod = make_pod(0, 0, created=T0)
    decision = story.step(at(20), pod)
    assert story.status["phase"] == "Suspended"
    assert deleted(decision) == [(pod.name, 30)]
    assert story.status["attempts"][-1]["reason"] == "Suspended"
    assert (story.status["failed"], story.status["indexes"]["0"]["failures"]) == (0, 0)
    assert condition(story.status, "Suspended")["status"] == "True"  # type: ignore[index]
    assert EmitEvent("Normal", "Suspended", story.status["message"]) in decision.actions
    assert story.status["active"] == 0


def test_resume_starts_a_new_attempt_and_keeps_the_counts() -> None:
    spec = job_spec(retry={"limit": 2, "backoff": {"policy": "None"}})
    story = Story(spec)
    story.step(T0)
    story.step(at(10), failed_pod(0, 0, seconds=5), make_pod(0, 1, created=at(6)))
    story.spec = {**spec, "suspend": True}
    story.step(at(20), failed_pod(0, 0, seconds=5), make_pod(0, 1, created=at(6)))
    story.spec = spec
    decision = story.step(
        at(30),
        failed_pod(0, 0, seconds=5),
        make_pod(0, 1, created=at(6), phase="Failed", exit_code=143, deleting=True),
    )
    assert (story.status["phase"], story.status["reason"]) == ("Pending", "Creating")
    assert created(decision) == [f"{JOB_NAME}-0-2"]
    assert story.status["indexes"]["0"]["failures"] == 1
    assert story.status["attemptCount"] == 3
    assert condition(story.status, "Suspended") is not None
    assert condition(story.status, "Suspended")["status"] == "False"  # type: ignore[index]


def test_job_created_suspended_starts_nothing_and_needs_no_finalizer_yet() -> None:
    story = Story(job_spec(suspend=True), finalizers=())
    decision = story.step(T0)
    assert decision.status["phase"] == "Suspended"
    assert "startTime" not in decision.status
    assert not of_type(decision, CreatePod)
    assert not of_type(decision, AddJobFinalizer)
    story.spec = job_spec(suspend=False)
    kinds = action_types(story.step(at(5)))
    assert kinds.index("AddJobFinalizer") < kinds.index("CreatePod")


# --- finishing ---------------------------------------------------------------


def test_ttl_deletes_the_job_after_it_finished() -> None:
    story = Story(job_spec(ttlSecondsAfterFinished=100))
    story.step(T0)
    decision = story.step(at(20), succeeded_pod())
    assert decision.requeue_after == pytest.approx(100)
    assert not of_type(decision, DeleteJob)
    assert story.step(at(119), succeeded_pod()).requeue_after == pytest.approx(1)
    assert of_type(story.step(at(120), succeeded_pod()), DeleteJob)


def test_ttl_zero_deletes_at_once() -> None:
    story = Story(job_spec(ttlSecondsAfterFinished=0))
    story.step(T0)
    assert of_type(story.step(at(20), succeeded_pod()), DeleteJob)


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_failed_pods_limit_deletes_the_oldest_released_failed_pods(limit: int) -> None:
    spec = job_spec(retry={"limit": 10, "backoff": {"policy": "None"}}, failedPodsLimit=limit)
    pods = [failed_pod(0, a, seconds=10 * (a + 1), finalizer=False) for a in range(5)]
    indexes = {"0": {"attempts": 5, "failures": 5}}
    status = {"phase": "Running", "startTime": format_time(T0), "indexes": indexes, "failed": 5}
    decision = settle(spec, [*pods, make_pod(0, 5, created=at(60))], at(70), status=status)
    assert deleted(decision) == [(p.name, None) for p in pods[: 5 - limit]]


def test_failed_pods_limit_waits_for_the_release() -> None:
    spec = job_spec(retry={"limit": 10, "backoff": {"policy": "None"}}, failedPodsLimit=0)
    story = Story(spec)
    story.step(T0)
    pod = failed_pod()
    assert not deleted(story.step(at(20), pod))
    assert of_type(story.step(at(21), pod), ReleasePod)
    released = failed_pod(finalizer=False)
    assert deleted(story.step(at(22), released, make_pod(0, 1, created=at(20)))) == [
        (pod.name, None)
    ]


def test_successful_pods_are_not_counted_as_failed_pods() -> None:
    spec = job_spec(completions=2, completionMode="Indexed", failedPodsLimit=0)
    status = {
        "phase": "Running",
        "startTime": format_time(T0),
        "indexes": {"0": {"attempts": 1, "failures": 0}},
        "completedIndexes": "0",
    }
    decision = settle(
        spec, [succeeded_pod(0, finalizer=False), make_pod(1, 0)], at(20), status=status
    )
    assert not deleted(decision)


# --- deletion ----------------------------------------------------------------


def test_deleting_job_drains_running_pods_and_holds_its_finalizer() -> None:
    story = Story(job_spec(completions=2, parallelism=2, shutdown={"gracePeriodSeconds": 20}))
    story.step(T0)
    story.deleting = True
    pods = [make_pod(0, 0), succeeded_pod(1, 0)]
    decision = story.step(at(20), *pods)
    assert deleted(decision) == [(f"{JOB_NAME}-0-0", 20)]
    assert not of_type(decision, RemoveJobFinalizer)
    assert not of_type(decision, CreatePod)
    assert not of_type(decision, AddJobFinalizer)
    decision = story.step(at(21), make_pod(0, 0, deleting=True), succeeded_pod(1, 0))
    assert sorted(r.name for r in of_type(decision, ReleasePod)) == [
        f"{JOB_NAME}-0-0",
        f"{JOB_NAME}-1-0",
    ]
    assert not of_type(decision, RemoveJobFinalizer)
    # Drained but not yet gone: the contract holds the job until the pod is.
    decision = story.step(
        at(40),
        failed_pod(0, 0, deleting=True, finalizer=False),
        succeeded_pod(1, 0, finalizer=False),
    )
    assert not of_type(decision, RemoveJobFinalizer)
    decision = story.step(at(41), succeeded_pod(1, 0, finalizer=False))
    assert of_type(decision, RemoveJobFinalizer) == [RemoveJobFinalizer()]


def test_a_pod_stuck_terminating_on_a_lost_node_holds_a_deleted_job_only_so_long() -> None:
    """Its deletionTimestamp (created + 30 min here) passed STUCK_DELETION_SECONDS ago:
    the node is gone. Once its outcome is released the job stops waiting for it and
    force-deletes it; before that moment it waits, and it asks to be woken then."""
    story = Story(job_spec(), deleting=True)
    story.step(T0)
    deadline = 30 * 60
    stuck = failed_pod(0, 0, deleting=True, finalizer=False)
    waiting = story.step(at(deadline + STUCK_DELETION_SECONDS - 1), stuck)
    assert not of_type(waiting, RemoveJobFinalizer)
    assert waiting.requeue_after == pytest.approx(1.0)
    later = story.step(at(deadline + STUCK_DELETION_SECONDS), stuck)
    assert of_type(later, RemoveJobFinalizer) == [RemoveJobFinalizer()]
    assert deleted(later) == [(f"{JOB_NAME}-0-0", 0)]
    # Still holding the attempt-record finalizer: its outcome first, so it waits.
    held = story.step(at(deadline + STUCK_DELETION_SECONDS),
                      make_pod(0, 0, deleting=True, finalizer=True))
    assert not of_type(held, RemoveJobFinalizer)


def test_deleting_job_without_pods_lets_go_at_once() -> None:
    decision = Story(job_spec(), deleting=True).step(T0)
    assert action_types(decision)[-1] == "RemoveJobFinalizer"
    assert not of_type(decision, CreatePod)


def test_deleting_job_that_lost_its_finalizer_is_left_alone() -> None:
    decision = Story(job_spec(), deleting=True, finalizers=()).step(T0)
    assert not of_type(decision, RemoveJobFinalizer)
    assert not of_type(decision, AddJobFinalizer)


# --- invalid specs -----------------------------------------------------------

INVALID_SPECS = [
    ({"parallelism": 0}, "spec.parallelism: "),
    ({"completions": 1001}, "spec.completions: "),
    ({"completionMode": "Sometimes"}, "spec.completionMode: "),
    ({"retry": {"limit": -1}}, "spec.retry.limit: "),
    ({"retry": {"backoff": {"jitter": 1.5}}}, "spec.retry.backoff.jitter: "),
    (
        {"retry": {"backoff": {"initialDelaySeconds": 10, "maxDelaySeconds": 5}}},
        "spec.retry.backoff.maxDelaySeconds must be >= ",
    ),
    (
        {"retry": {"onExitCodes": {"operator": "In", "values": []}}},
        "spec.retry.onExitCodes.values: ",
    ),
    ({"mainContainer": "ghost"}, "spec.mainContainer must name a container"),
    ({"template": {"spec": {"containers": []}}}, "spec.template.spec.containers must list"),
    ({"template": "not an object"}, "spec.template: "),
    (
        {"shutdown": {"drain": {"sleepSeconds": 1, "httpGet": {"port": 1}}}},
        "spec.shutdown.drain must set exactly one",
    ),
    ({"ttlSecondsAfterFinished": "soon"}, "spec.ttlSecondsAfterFinished: "),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID_SPECS)
def test_invalid_spec_fails_with_a_message_naming_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    spec = job_spec(**overrides)
    if overrides.get("template") == {"spec": {"containers": []}}:
        spec["template"]["spec"]["containers"] = []
    decision = Story(spec).step(T0)
    status = decision.status
    assert status["phase"] == "Failed"
    assert status["reason"] == "Invalid"
    assert message in status["message"]
    assert condition(status, "Invalid")["message"] == status["message"]  # type: ignore[index]
    assert not of_type(decision, CreatePod)
    assert EmitEvent("Warning", "Invalid", status["message"]) in decision.actions
    assert Finished("Failed", "Invalid", 0.0) in decision.observations


def test_missing_template_is_invalid() -> None:
    status = Story({}).step(T0).status
    assert (status["reason"], status["message"]) == ("Invalid", "spec.template: Field required")


def test_a_spec_made_invalid_while_running_drains_the_pods() -> None:
    story = Story(job_spec(shutdown={"gracePeriodSeconds": 12}))
    story.step(T0)
    story.spec = {**story.spec, "parallelism": -1}
    decision = story.step(at(10), make_pod(0, 0))
    assert story.status["reason"] == "Invalid"
    assert deleted(decision) == [(f"{JOB_NAME}-0-0", 12)]


@pytest.mark.parametrize(
    ("sleep", "grace", "warned"), [(5, 30, False), (30, 30, True), (60, 30, True), (1, 0, True)]
)
def test_drain_longer_than_the_grace_period_is_a_condition_not_an_error(
    sleep: int, grace: int, warned: bool
) -> None:
    status = (
        Story(job_spec(shutdown={"gracePeriodSeconds": grace, "drain": {"sleepSeconds": sleep}}))
        .step(T0)
        .status
    )
    assert (status["phase"], status["reason"]) == ("Pending", "Creating")
    warning = condition(status, "DrainExceedsGracePeriod")
    assert (warning is not None) is warned
    if warning:
        assert "spec.shutdown.drain.sleepSeconds" in warning["message"]


def test_no_drain_warning_when_the_template_has_its_own_prestop() -> None:
    template = {
        "spec": {
            "containers": [{"name": "main", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}}]
        }
    }
    status = (
        Story(
            job_spec(
                template=template, shutdown={"gracePeriodSeconds": 1, "drain": {"sleepSeconds": 60}}
            )
        )
        .step(T0)
        .status
    )
    assert condition(status, "DrainExceedsGracePeriod") is None


# --- terminal phases ---------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"suspend": True},
        {"parallelism": -5},
        {"completions": 5},
        {"retry": {"limit": 10}},
    ],
)
def test_terminal_phase_stays_terminal_whatever_changes(change: dict[str, Any]) -> None:
    story = Story(job_spec())
    story.step(T0)
    story.step(at(20), failed_pod())
    assert story.status["phase"] == "Failed"
    story.spec = {**story.spec, **change}
    for now in (30, 40):
        decision = story.step(at(now), failed_pod(finalizer=False))
        assert story.status["phase"] == "Failed"
        assert story.status["reason"] == "BackoffLimitExceeded"
        assert not of_type(decision, CreatePod)


def test_late_pod_of_a_finished_job_is_stopped() -> None:
    story = Story(job_spec(completions=2, parallelism=1, completionMode="Indexed"))
    story.step(T0)
    story.status = {**story.status, "phase": "Succeeded", "completionTime": format_time(at(5))}
    decision = story.step(at(10), make_pod(1, 0))
    assert deleted(decision) == [(f"{JOB_NAME}-1-0", 30)]
    assert story.status["phase"] == "Succeeded"


# --- conditions, events, status ----------------------------------------------


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    story = Story(job_spec())
    story.step(at(1))
    story.step(at(5), make_pod(0, 0, ready=False))
    ready = condition(story.status, "Ready")
    assert ready is not None and ready["status"] == "False"
    story.step(at(9), make_pod(0, 0, ready=False))
    assert condition(story.status, "Ready") == ready
    story.step(at(12), make_pod(0, 0, ready=True))
    ready_now = condition(story.status, "Ready")
    assert ready_now is not None
    assert (ready_now["status"], ready_now["lastTransitionTime"]) == ("True", format_time(at(12)))
    assert condition(story.status, "Admitted")["lastTransitionTime"] == format_time(at(1))  # type: ignore[index]


def test_conditions_have_the_metav1_shape() -> None:
    status = (
        Story(
            job_spec(),
        )
        .step(T0)
        .status
    )
    for cond in status["conditions"]:
        assert set(cond) == {
            "type",
            "status",
            "observedGeneration",
            "lastTransitionTime",
            "reason",
            "message",
        }
        assert cond["observedGeneration"] == 1


def test_observed_generation_follows_the_spec() -> None:
    job = make_job(job_spec(), generation=7)
    assert decide(job, [], T0).status["observedGeneration"] == 7


def test_no_event_without_a_phase_change() -> None:
    story = Story(job_spec())
    story.step(T0)
    story.step(at(1), make_pod(0, 0))
    decision = story.step(at(2), make_pod(0, 0))
    assert story.status["phase"] == "Running"
    assert not of_type(decision, EmitEvent)


def test_attempt_list_keeps_the_last_twenty() -> None:
    spec = job_spec(retry={"limit": 100, "backoff": {"policy": "None"}})
    story = Story(spec)
    story.step(T0)
    for attempt in range(30):
        story.step(
            at(10 * attempt + 10), failed_pod(0, attempt, seconds=10 * attempt + 5, finalizer=False)
        )
    attempts = story.status["attempts"]
    assert len(attempts) == 20
    assert attempts[-1] == {
        "attempt": 30,
        "index": 0,
        "pod": f"{JOB_NAME}-0-30",
        "reason": "Pending",
    }
    assert [a["attempt"] for a in attempts[:-1]] == list(range(11, 30))
    assert story.status["attemptCount"] == 31
    assert story.status["failed"] == 30


def test_status_validates_against_the_status_model() -> None:
    cluster = FakeCluster(
        spec=job_spec(completions=3, parallelism=2, completionMode="Indexed", retry={"limit": 2}),
        rng=random.Random(3),
    )
    cluster.run()
    assert cluster.statuses
    for status in cluster.statuses[1:]:
        model = TaskJobStatus.model_validate(status)
        assert (
            model.model_dump(by_alias=True, exclude_none=True, mode="json").keys() == status.keys()
        )


def test_running_pod_without_status_is_live() -> None:
    story = Story(job_spec())
    story.step(T0)
    decision = story.step(at(1), make_pod(0, 0, phase="Unknown"))
    assert not of_type(decision, CreatePod)
    assert story.status["active"] == 1


def test_lowering_completions_stops_the_pods_of_dropped_indexes() -> None:
    story = Story(job_spec(completions=3, parallelism=3, completionMode="Indexed"))
    story.step(T0)
    story.spec = {**story.spec, "completions": 1}
    decision = story.step(at(5), make_pod(0, 0), make_pod(1, 0), make_pod(2, 0))
    assert deleted(decision) == [(f"{JOB_NAME}-1-0", 30), (f"{JOB_NAME}-2-0", 30)]
    assert story.status["phase"] == "Running"


# --- level-triggered ---------------------------------------------------------


def test_the_same_inputs_give_the_same_decision() -> None:
    job = make_job(job_spec(completions=4, parallelism=4, completionMode="Indexed"))
    pods = [failed_pod(0), succeeded_pod(1), make_pod(2, 0)]
    assert decide(job, pods, at(30)) == decide(job, pods, at(30))
    assert decide(job, pods, at(30)) == decide(job, list(reversed(pods)), at(30))


def test_a_decision_written_back_is_a_fixed_point() -> None:
    spec = job_spec(completions=3, parallelism=3, completionMode="Indexed", retry={"limit": 3})
    pods = [failed_pod(0), succeeded_pod(1), make_pod(2, 0, ready=True)]
    first = settle(spec, pods, at(30), rounds=1)
    second = settle(spec, pods, at(31), status=first.status, rounds=1)
    assert second.status == first.status
    assert not of_type(second, EmitEvent)
    assert not second.observations


def test_a_stale_status_never_counts_an_attempt_twice() -> None:
    story = Story(job_spec(retry={"limit": 3}))
    story.step(T0)
    stale = dict(story.status)
    pod = failed_pod()
    recorded = story.step(at(20), pod)
    # The shell's next call still carries the status from before the record.
    again = decide(make_job(job_spec(retry={"limit": 3}), status=stale), [pod], at(21))
    assert again.status["indexes"] == recorded.status["indexes"]
    assert again.status["failed"] == 1


def test_after_a_crash_the_stop_is_issued_again() -> None:
    story = Story(job_spec(suspend=True))
    story.status = {
        "phase": "Suspended",
        "startTime": format_time(T0),
        "indexes": {"0": {"attempts": 1, "failures": 0}},
    }
    decision = story.step(at(5), make_pod(0, 0))
    assert deleted(decision) == [(f"{JOB_NAME}-0-0", 30)]
    assert of_type(decision, ReleasePod)


def test_pod_creation_is_repeated_until_seen_with_the_same_name() -> None:
    story = Story(job_spec())
    first = story.step(T0)
    second = story.step(at(1))
    assert created(first) == created(second) == [f"{JOB_NAME}-0-0"]
    assert second.status["attemptCount"] == 1


@pytest.mark.parametrize("seed", range(20))
def test_crashes_at_any_point_converge(seed: int) -> None:
    rng = random.Random(seed)
    cluster = FakeCluster(
        spec=job_spec(
            completions=3,
            parallelism=2,
            completionMode="Indexed",
            retry={"limit": 2, "backoff": {"initialDelaySeconds": 1}},
        ),
        rng=rng,
        crash_rate=0.5,
        stale=True,
    )
    cluster.run()
    assert cluster.status["phase"] in ("Succeeded", "Failed")
    assert cluster.quiet()
    assert cluster.status["attemptCount"] == len(cluster.created)


# --- helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("indexes", "text"),
    [
        ([], ""),
        ([0], "0"),
        ([0, 1, 2], "0-2"),
        ([0, 2, 3, 5, 7, 8, 9], "0,2-3,5,7-9"),
        ([3, 1, 2], "1-3"),
    ],
)
def test_index_ranges_round_trip(indexes: list[int], text: str) -> None:
    assert format_index_ranges(indexes) == text
    assert parse_index_ranges(text) == set(indexes)


@pytest.mark.parametrize("text", ["x", "1-", "-3", "5-2", None, 7, "0-99999999"])
def test_malformed_index_ranges_are_skipped(text: object) -> None:
    assert parse_index_ranges(text) == set()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (42, "42s"),
        (60, "1m"),
        (192, "3m12s"),
        (3600, "1h"),
        (7500, "2h5m"),
        (86400, "1d"),
        (273600, "3d4h"),
        (-5, "0s"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abc", 3, "abc"),
        ("abc", 2, "ab"),
        ("é", 1, ""),
        ("aé", 2, "a"),
        ("", 0, ""),
        ("€€", 5, "€"),
    ],
)
def test_truncate_utf8(text: str, limit: int, expected: str) -> None:
    assert truncate_utf8(text, limit) == expected


@pytest.mark.parametrize(
    ("observed", "new", "patch"),
    [
        ({}, {}, None),
        ({"a": 1}, {"a": 1}, None),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"m": {"x": 1, "y": 2}}, {"m": {"x": 1}}, {"m": {"y": None}}),
        ({"l": [1, 2]}, {"l": [1]}, {"l": [1]}),
        ({"a": None}, {"a": None}, None),
    ],
)
def test_status_patch_is_a_json_merge_patch(
    observed: dict[str, Any], new: dict[str, Any], patch: dict[str, Any] | None
) -> None:
    assert status_patch(observed, new) == patch


def test_a_pod_template_the_api_server_rejects_fails_the_job_invalid() -> None:
    """The schema cannot check a whole PodTemplateSpec: the shell reports the
    API server's refusal and the job ends Invalid with that message."""
    spec = job_spec()
    first = decide(make_job(spec), [], T0)
    assert of_type(first, CreatePod)
    refusal = "spec.template: Pod is invalid: spec.containers[0].name: Invalid value"
    decision = decide(make_job(spec, status=first.status), [], at(1), rejected=refusal)
    status = decision.status
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", "Invalid", refusal)
    assert condition(status, "Invalid")["status"] == "True"  # type: ignore[index]
    assert not of_type(decision, CreatePod)
    # Terminal stays terminal once the refusal is no longer passed.
    again = decide(make_job(spec, status=status), [], at(2))
    assert again.status["phase"] == "Failed" and not of_type(again, CreatePod)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"probes": {"http": {"port": "web"}}}, "spec.probes.http.port"),
        (
            {"shutdown": {"drain": {"httpGet": {"path": "/drain", "port": "admin"}}}},
            "spec.shutdown.drain.httpGet.port",
        ),
    ],
)
def test_a_named_port_the_main_container_does_not_declare_is_invalid(
    overrides: dict[str, Any], field: str
) -> None:
    status = Story(job_spec(**overrides)).step(T0).status
    assert (status["phase"], status["reason"]) == ("Failed", "Invalid")
    assert status["message"].startswith(field), status["message"]


def test_a_named_port_the_main_container_declares_is_fine() -> None:
    spec = job_spec(probes={"http": {"port": "web"}})
    spec["template"]["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 80}]
    decision = Story(spec).step(T0)
    assert decision.status["phase"] != "Failed"
    assert of_type(decision, CreatePod)


@st.composite
def ledgers(draw: st.DrawFn) -> Ledger:
    """A ledger as `_record` leaves one: every completed index has a book."""
    books = draw(st.dictionaries(
        st.integers(0, 30),
        st.builds(IndexBook, attempts=st.integers(0, 4), failures=st.integers(0, 3),
                  retry_after=st.sampled_from([None, datetime(2026, 12, 7, 9, 0, tzinfo=UTC)]),
                  started=st.booleans()),
        max_size=12))
    completed = draw(st.sets(st.sampled_from(sorted(books)))) if books else set()
    return Ledger(books=books, completed=completed)


@given(ledgers())
def test_the_index_ledger_reads_back_as_written(ledger: Ledger) -> None:
    status = {"indexes": ledger.index_entries(),
              "completedIndexes": format_index_ranges(ledger.completed)}
    again = Ledger.from_status(status)
    assert again.books == ledger.books
    assert again.completed == ledger.completed
    first_tries = {i for i in ledger.completed if ledger.books[i] == FIRST_TRY}
    assert first_tries.isdisjoint(int(i) for i in status["indexes"])
