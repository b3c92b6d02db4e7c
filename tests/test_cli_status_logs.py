"""`status` and `logs` rendering with fixed objects: exact text out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskops.cli.logs_cmd import attempts_of, follow_step, gone_lines, prefixed, select
from taskops.cli.status_cmd import render_status, why_lines

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def flaky(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "flaky", "namespace": "batch", "uid": "u1"},
        "spec": {"completions": 1, "timeouts": {"activeDeadlineSeconds": 300},
                 "dependsOn": ["extract"]},
        "status": status,
    }


FAILED_ATTEMPT = {"attempt": 0, "index": 0, "pod": "flaky-0-0-abc",
                  "startTime": "2026-12-01T09:58:00Z", "finishTime": "2026-12-01T09:58:04Z",
                  "exitCode": 1, "reason": "Error", "message": "boom\nat line 3"}


def test_status_of_a_job_backing_off_says_when_it_retries_and_the_deadline_left() -> None:
    body = flaky(phase="BackingOff", reason="AttemptFailed",
                 message="0 active, 0/1 succeeded; next attempt at 2026-12-01T10:00:08Z",
                 attempts=[FAILED_ATTEMPT], attemptCount=1, active=0, succeeded=0, failed=1,
                 startTime="2026-12-01T09:58:00Z", nextAttemptTime="2026-12-01T10:00:08Z")
    assert render_status(body, {"extract": "Succeeded"}, NOW) == "\n".join([
        "Name:       flaky",
        "Namespace:  batch",
        "Phase:      BackingOff (AttemptFailed)",
        "Message:    0 active, 0/1 succeeded; next attempt at 2026-12-01T10:00:08Z",
        "Why:        next retry at 2026-12-01T10:00:08Z (in 8s)",
        "            deadline: 3m left of 5m (spec.timeouts.activeDeadlineSeconds)",
        "Progress:   0/1 succeeded (NonIndexed), 0 active, 1 failed, 1 attempts",
        "Started:    2026-12-01T09:58:00Z (2m ago)",
        "Depends on: extract (Succeeded)",
        "Attempts:",
        "  INDEX   ATTEMPT   POD             START                  DURATION   EXIT   "
        "REASON   MESSAGE",
        "  0       0         flaky-0-0-abc   2026-12-01T09:58:00Z   4s         1      "
        "Error    boom at line 3",
    ])


def test_status_names_the_dependencies_not_yet_done() -> None:
    body = flaky(phase="Waiting", reason="WaitingForDependencies", message="extract")
    lines = why_lines(body, {"extract": "Running", "load": None}, NOW)
    assert lines == ["waiting for dependencies: extract (Running), load (not found)"]


def test_status_of_a_queued_job_gives_its_position() -> None:
    body = flaky(phase="Queued", queuePosition=2, queuedSince="2026-12-01T09:59:30Z")
    assert why_lines(body, {}, NOW)[0] == (
        "queue position 2, queued since 2026-12-01T09:59:30Z (30s ago)")


def test_status_of_a_finished_job_shows_results_and_no_why() -> None:
    body = flaky(phase="Succeeded", reason="CompletionsReached", succeeded=1,
                 startTime="2026-12-01T09:58:00Z", completionTime="2026-12-01T09:59:00Z",
                 duration="60s", result="42")
    text = render_status(body, {"extract": "Succeeded"}, NOW)
    assert "Why:" not in text
    assert "Completed:  2026-12-01T09:59:00Z (1m ago), took 60s" in text
    assert text.endswith("Attempts:\n  none yet\nResults:\n  result: 42")


def test_status_without_status_asks_whether_the_operator_runs() -> None:
    text = render_status(flaky(), {}, NOW)
    assert "Message:    no status yet: is the operator running and watching this namespace?" \
        in text


def pod(name: str, index: int, attempt: int, created: str, state: dict[str, Any]
        ) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"taskops.dev/index": str(index),
                                    "taskops.dev/attempt": str(attempt)},
                         "annotations": {"taskops.dev/main-container": "main"}},
            "spec": {"containers": [{"name": "sidecar"}, {"name": "main"}]},
            "status": {"containerStatuses": [{"name": "main", "state": state}]}}


def test_attempts_are_oldest_first_kept_pods_and_gone_ones_from_the_status() -> None:
    job = flaky(attempts=[FAILED_ATTEMPT,
                          {"attempt": 1, "index": 0, "pod": "flaky-0-1-def",
                           "startTime": "2026-12-01T09:59:00Z"}])
    pods = [pod("flaky-0-2-ghi", 0, 2, "2026-12-01T09:59:30Z", {"waiting": {
                "reason": "ContainerCreating"}}),
            pod("flaky-0-1-def", 0, 1, "2026-12-01T09:59:00Z", {"running": {}})]
    attempts = attempts_of(job, pods)
    assert [(a.prefix, a.pod, a.kept, a.started, a.container) for a in attempts] == [
        ("[0/0]", "flaky-0-0-abc", False, False, None),
        ("[0/1]", "flaky-0-1-def", True, True, "main"),
        ("[0/2]", "flaky-0-2-ghi", True, False, "main"),
    ]
    assert attempts[2].waiting_reason == "ContainerCreating"
    assert [a.prefix for a in select(attempts, 0, 1)] == ["[0/1]"]
    assert gone_lines(attempts[0]) == [
        "[0/0] pod flaky-0-0-abc is gone (Error, exit code 1); the message recorded on the "
        "status:",
        "[0/0] boom",
        "[0/0] at line 3",
    ]
    assert prefixed(attempts[1], "one\ntwo\n") == ["[0/1] one", "[0/1] two"]


# ----------------------------------------------------------------------------- logs -f


def test_follow_picks_up_a_new_attempt_once_it_starts_and_goes_on_while_the_job_runs() -> None:
    job = flaky(phase="Running", attempts=[FAILED_ATTEMPT])
    waiting = [pod("flaky-0-1-def", 0, 1, "2026-12-01T09:59:00Z",
                   {"waiting": {"reason": "ContainerCreating"}})]
    handled = {(0, 0)}
    step = follow_step(job, attempts_of(job, waiting), handled, streaming=False)
    assert (step.stream, step.gone, step.unstarted, step.done) == ([], [], [], False)
    running = [pod("flaky-0-1-def", 0, 1, "2026-12-01T09:59:00Z", {"running": {}})]
    step = follow_step(job, attempts_of(job, running), handled, streaming=False)
    assert [a.prefix for a in step.stream] == ["[0/1]"] and not step.done


def test_follow_prints_the_record_of_an_attempt_whose_pod_went_before_it_was_followed() -> None:
    job = flaky(phase="BackingOff", attempts=[FAILED_ATTEMPT])
    step = follow_step(job, attempts_of(job, []), set(), streaming=False)
    assert [a.prefix for a in step.gone] == ["[0/0]"] and not step.done


def test_follow_ends_when_the_job_finished_and_every_stream_ended() -> None:
    job = flaky(phase="Succeeded", attempts=[FAILED_ATTEMPT])
    done = [pod("flaky-0-1-def", 0, 1, "2026-12-01T09:59:00Z", {"terminated": {}})]
    attempts = attempts_of(job, done)
    # The last attempt finished before it was seen: it is streamed (whole) first.
    first = follow_step(job, attempts, {(0, 0)}, streaming=False)
    assert [a.prefix for a in first.stream] == ["[0/1]"] and not first.done
    assert not follow_step(job, attempts, {(0, 0), (0, 1)}, streaming=True).done
    assert follow_step(job, attempts, {(0, 0), (0, 1)}, streaming=False).done


def test_follow_waits_for_the_pod_of_an_attempt_recorded_before_its_creation() -> None:
    # The operator writes the attempt on the status, then creates its pod.
    live = {"attempt": 1, "index": 0, "pod": "flaky-0-1-def", "reason": "Pending"}
    job = flaky(phase="Pending", attempts=[FAILED_ATTEMPT, live])
    step = follow_step(job, attempts_of(job, []), {(0, 0)}, streaming=False)
    assert (step.stream, step.gone, step.done) == ([], [], False)
    # Unless the job has finished: then it never will be, and its record is shown.
    job = flaky(phase="Failed", attempts=[FAILED_ATTEMPT, live])
    step = follow_step(job, attempts_of(job, []), {(0, 0)}, streaming=False)
    assert [a.prefix for a in step.gone] == ["[0/1]"] and step.done


def test_follow_ends_when_the_job_is_gone() -> None:
    assert follow_step(None, [], set(), streaming=False).done


def test_follow_says_which_attempt_never_started_when_the_job_finished() -> None:
    job = flaky(phase="Failed", attempts=[])
    stuck = [pod("flaky-0-0-abc", 0, 0, "2026-12-01T09:59:00Z",
                 {"waiting": {"reason": "ImagePullBackOff"}})]
    step = follow_step(job, attempts_of(job, stuck), set(), streaming=False)
    assert [(a.prefix, a.waiting_reason) for a in step.unstarted] == [
        ("[0/0]", "ImagePullBackOff")]
    assert step.done
