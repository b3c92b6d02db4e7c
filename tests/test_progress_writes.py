"""Pods' progress waits for the rest of its wave; everything else is written at once."""

from __future__ import annotations

from typing import Any

import pytest

from factories import T0, job_spec, make_pod
from taskops.core.observed import ObservedPod
from taskops.core.progress_writes import PROGRESS_WINDOW_SECONDS, only_progress
from test_taskjob_core import Story, at, condition, created, succeeded_pod
from test_taskjob_pending import PULL

WAVE = job_spec(completions=4, parallelism=4, completionMode="Indexed")


def running(index: int, seconds: float = 1) -> ObservedPod:
    return make_pod(index, phase="Running", started=at(seconds), ready=True)


def starting(index: int, **kwargs: Any) -> ObservedPod:
    return make_pod(index, phase="Pending", scheduled=True, **kwargs)


def wave_created() -> Story:
    story = Story(WAVE)
    assert len(created(story.step(T0))) == 4
    return story


def test_pods_asked_for_count_as_active_from_the_start() -> None:
    """Their appearing in the cache then changes nothing to write."""
    story = wave_created()
    ready = condition(story.status, "Ready")
    assert ready is not None and ready["message"] == "0/4 active pods ready"
    written = story.status
    decision = story.step(at(PROGRESS_WINDOW_SECONDS + 1), *(starting(i) for i in range(4)))
    assert decision.status["conditions"] == written["conditions"]


# --- only_progress -----------------------------------------------------------


def attempt(index: int, reason: str, **more: Any) -> dict[str, Any]:
    return {"attempt": 0, "index": index, "pod": f"p-{index}", "reason": reason, **more}


def status(phase: str, attempts: list[dict[str, Any]], ready: str = "False",
           **more: Any) -> dict[str, Any]:
    return {
        "phase": phase, "reason": phase, "message": f"{phase}...",
        "conditions": [{"type": "Admitted", "status": "True"},
                       {"type": "Ready", "status": ready, "message": "n/m active pods ready"}],
        "attempts": attempts, "active": 2, "succeeded": 0, **more,
    }


BEFORE = status("Pending", [attempt(0, "Pending"), attempt(1, "Pending")])


def test_pods_starting_is_progress() -> None:
    after = status("Running", [attempt(0, "Running", startTime="2026-12-01T00:00:01Z"),
                               attempt(1, "Pending")], ready="True")
    assert only_progress(BEFORE, after)


@pytest.mark.parametrize("after", [
    # an attempt recorded as ended
    status("Running", [attempt(0, "Succeeded", finishTime="2026-12-01T00:00:09Z"),
                       attempt(1, "Pending")]),
    # a pod asked for
    status("Pending", [attempt(0, "Pending"), attempt(1, "Pending"), attempt(2, "Pending")]),
    # a count
    status("Pending", [attempt(0, "Pending"), attempt(1, "Pending")], succeeded=1),
    # a terminal phase
    status("Failed", [attempt(0, "Pending"), attempt(1, "Pending")]),
    # another condition
    {**BEFORE, "conditions": [{"type": "Admitted", "status": "False"},
                              BEFORE["conditions"][1]]},
    # an attempt under way that is another one
    status("Pending", [attempt(0, "Pending"), {**attempt(1, "Pending"), "pod": "q-1"}]),
], ids=["recorded", "created", "count", "terminal", "condition", "other-attempt"])
def test_anything_else_is_not(after: dict[str, Any]) -> None:
    assert not only_progress(BEFORE, after)


def test_from_a_phase_not_under_way_is_not_progress() -> None:
    queued = {**BEFORE, "phase": "Queued"}
    assert not only_progress(queued, BEFORE)


# --- decide ------------------------------------------------------------------


def test_half_a_wave_started_waits_for_the_rest() -> None:
    story = wave_created()
    written = story.status
    decision = story.step(at(1), running(0), running(1), starting(2), starting(3))
    assert decision.status == written  # nothing to write yet
    assert decision.requeue_after == pytest.approx(PROGRESS_WINDOW_SECONDS - 1)
    assert not decision.actions


def test_the_whole_wave_started_is_written_in_one_go() -> None:
    story = wave_created()
    story.step(at(1), running(0), running(1), starting(2), starting(3))
    story.step(at(2), *(running(i) for i in range(4)))
    assert story.status["phase"] == "Running"
    assert [a["reason"] for a in story.status["attempts"]] == ["Running"] * 4
    ready = condition(story.status, "Ready")
    assert ready is not None and ready["status"] == "True"


def test_the_window_bounds_the_wait() -> None:
    story = wave_created()
    story.step(at(PROGRESS_WINDOW_SECONDS), running(0), running(1), starting(2), starting(3))
    assert story.status["phase"] == "Running"
    assert [a["reason"] for a in story.status["attempts"]] == ["Running"] * 2 + ["Pending"] * 2


def test_a_pod_in_trouble_is_written_at_once() -> None:
    story = wave_created()
    story.step(at(1), running(0), running(1), starting(2), starting(3, waiting=PULL))
    assert story.status["phase"] == "Running"
    assert [a["reason"] for a in story.status["attempts"]] == ["Running"] * 2 + ["Pending"] * 2


def test_an_ended_attempt_is_written_at_once() -> None:
    story = wave_created()
    story.step(at(1), succeeded_pod(0, seconds=1), starting(1), starting(2), starting(3))
    assert story.status["succeeded"] == 1
    assert story.status["attempts"][0]["reason"] == "Succeeded"



def test_the_window_runs_from_the_newest_pod() -> None:
    """A pod slow to start does not end the wait for the pods created since:
    their creation was written, so nothing waits longer than the window."""
    story = Story(job_spec(completions=3, parallelism=2, completionMode="Indexed"))
    story.step(T0)
    done = succeeded_pod(0, seconds=20)
    story.step(at(20), done, starting(1))
    assert story.status["succeeded"] == 1 and story.status["active"] == 2
    written = story.status
    newest = make_pod(2, phase="Running", created=at(20), started=at(21), ready=True)
    decision = story.step(at(21), done, starting(1), newest)
    assert decision.status == written
    assert decision.requeue_after == pytest.approx(PROGRESS_WINDOW_SECONDS - 1)
    story.step(at(20 + PROGRESS_WINDOW_SECONDS), done, starting(1), newest)
    assert [a["reason"] for a in story.status["attempts"]][-2:] == ["Pending", "Running"]
