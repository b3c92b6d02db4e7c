"""Extracting what decisions need from pods and TaskJobs as the API returns them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import T0, job_body, pod_body
from taskops.core.labels import (
    ANNOTATION_MAIN_CONTAINER,
    JOB_FINALIZER,
    LABEL_ATTEMPT,
    LABEL_INDEX,
    LABEL_TASKJOB,
    POD_FINALIZER,
)
from taskops.core.observed import (
    EPOCH,
    format_time,
    observe_job,
    observe_pod,
    parse_time,
)


def observed(**kwargs: Any) -> Any:
    pod = observe_pod(pod_body(**kwargs))
    assert pod is not None
    return pod


@pytest.mark.parametrize("missing", [LABEL_TASKJOB, LABEL_INDEX, LABEL_ATTEMPT])
def test_pod_without_the_taskops_labels_is_not_ours(missing: str) -> None:
    pod = pod_body()
    del pod["metadata"]["labels"][missing]
    assert observe_pod(pod) is None


@pytest.mark.parametrize("value", ["", "-1", "x", "1.5", "٣", None, 3])
def test_pod_with_a_malformed_index_label_is_not_ours(value: object) -> None:
    pod = pod_body()
    pod["metadata"]["labels"][LABEL_INDEX] = value
    assert observe_pod(pod) is None


@pytest.mark.parametrize("body", [{}, {"metadata": None}, {"metadata": {"labels": "x"}}])
def test_malformed_pods_are_not_ours(body: dict[str, Any]) -> None:
    assert observe_pod(body) is None


def test_running_pod() -> None:
    pod = observed(index=3, attempt=2, phase="Running", ready=True)
    assert (pod.name, pod.index, pod.attempt, pod.phase) == ("job-3-2", 3, 2, "Running")
    assert pod.created == T0 and pod.started == T0
    assert pod.ready and not pod.terminal and not pod.deleting and not pod.disrupted
    assert pod.has_finalizer
    assert pod.finished is None and pod.exit_code is None


@pytest.mark.parametrize(
    ("phase", "exit_code", "reason"),
    [("Succeeded", 0, "Completed"), ("Failed", 1, "Error"), ("Failed", 137, "OOMKilled")],
)
def test_terminated_main_container(phase: str, exit_code: int, reason: str) -> None:
    finished = T0 + timedelta(seconds=42)
    pod = observed(
        phase=phase, exit_code=exit_code, reason=reason, message="out", finished=finished
    )
    assert pod.terminal
    assert pod.exit_code == exit_code
    assert pod.termination_reason == reason
    assert pod.termination_message == "out"
    assert pod.finished == finished


def test_main_container_is_found_by_annotation_not_position() -> None:
    body = pod_body(phase="Failed", exit_code=3, main="worker")
    body["status"]["containerStatuses"].insert(
        0,
        {"name": "sidecar", "ready": True, "state": {"terminated": {"exitCode": 0}}},
    )
    pod = observe_pod(body)
    assert pod is not None and pod.exit_code == 3


def test_without_the_annotation_the_first_container_is_main() -> None:
    body = pod_body(phase="Failed", exit_code=5)
    del body["metadata"]["annotations"][ANNOTATION_MAIN_CONTAINER]
    pod = observe_pod(body)
    assert pod is not None and pod.exit_code == 5


@pytest.mark.parametrize(
    ("kwargs", "disrupted"),
    [
        ({"phase": "Failed", "pod_reason": "Evicted"}, True),
        ({"phase": "Failed", "pod_reason": "Preempted"}, True),
        ({"phase": "Running", "disruption_condition": True}, True),
        ({"phase": "Failed", "pod_reason": "DeadlineExceeded"}, False),
        ({"phase": "Failed", "exit_code": 137}, False),
    ],
)
def test_disruption_is_a_condition_or_a_reason(kwargs: dict[str, Any], disrupted: bool) -> None:
    assert observed(**kwargs).disrupted is disrupted


def test_pod_reason_is_the_termination_reason_when_no_container_terminated() -> None:
    pod = observed(phase="Failed", pod_reason="Evicted")
    assert pod.termination_reason == "Evicted"
    assert pod.exit_code is None


@pytest.mark.parametrize("deleting", [True, False])
@pytest.mark.parametrize("finalizer", [True, False])
def test_deletion_and_finalizer(deleting: bool, finalizer: bool) -> None:
    pod = observed(deleting=deleting, finalizer=finalizer)
    assert pod.deleting is deleting
    assert pod.has_finalizer is finalizer


@pytest.mark.parametrize("phase", [None, "", "Weird", 3])
def test_unknown_phase_reads_as_pending(phase: object) -> None:
    body = pod_body()
    body["status"]["phase"] = phase
    pod = observe_pod(body)
    assert pod is not None and pod.phase == "Pending"


def test_job_is_observed_as_plain_copies() -> None:
    body = job_body(status={"phase": "Running", "attempts": [{"index": 0}]})
    job = observe_job(body)
    assert (job.namespace, job.name, job.uid, job.generation) == ("ns", "job", "uid-1", 1)
    assert job.created == T0
    assert job.finalizers == (JOB_FINALIZER,)
    assert not job.deleting
    body["status"]["attempts"][0]["index"] = 9
    assert job.status["attempts"][0]["index"] == 0


def test_job_deleting_and_defaults() -> None:
    assert observe_job(job_body(deleting=True)).deleting
    empty = observe_job({})
    assert (empty.name, empty.generation, empty.created) == ("", 0, EPOCH)
    assert empty.spec == {} and empty.status == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01T00:00:00Z", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T00:00:00.5Z", datetime(2025, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2025-01-01T02:00:00+02:00", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T00:00:00", datetime(2025, 1, 1, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        (None, None),
        (12, None),
    ],
)
def test_parse_time(text: object, expected: datetime | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 1, 1, 0, 0, 1, 999999, tzinfo=UTC), "2025-01-01T00:00:01Z"),
        (datetime(2025, 1, 1, 3, tzinfo=timezone(timedelta(hours=3))), "2025-01-01T00:00:00Z"),
        (datetime(2025, 1, 1), "2025-01-01T00:00:00Z"),
    ],
)
def test_format_time_is_rfc3339_utc_seconds(moment: datetime, text: str) -> None:
    assert format_time(moment) == text


@settings(max_examples=200, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_property_times_round_trip_to_the_second(moment: datetime) -> None:
    """parse_time(format_time(t)) is t without its microseconds."""
    assert parse_time(format_time(moment)) == moment.replace(microsecond=0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["metadata", "spec", "status"]), json_values))
def test_property_observe_never_raises(body: dict[str, Any]) -> None:
    """Any JSON object observes without raising (as a pod: ours or not)."""
    observe_pod(body)
    observe_job(body)


def test_observed_pod_finalizer_name() -> None:
    body = pod_body(finalizer=False)
    body["metadata"]["finalizers"] = ["other", POD_FINALIZER]
    pod = observe_pod(body)
    assert pod is not None and pod.has_finalizer
