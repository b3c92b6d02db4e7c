"""Every number a user can write has bounds, and every value inside them is safe.

A schema-valid but huge integer (10^12 seconds) once made `decide` raise
OverflowError (datetime arithmetic past year 9999), so the object was retried
for ever and never showed Invalid. Two guards, both tested here: the CRD
rejects such values at apply (a `maximum` on every number of the spec), and a
value stored before the bound existed (or written past an older CRD) ends
Invalid naming the field, with no exception, in the job and the schedule core.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import yaml

from crd_schema import nodes
from factories import T0, FakeCluster, job_spec, make_job, pod_body
from schedule_factories import make_schedule, run_body, schedule_spec
from taskops.api.crdgen import OUTPUT_DIRS, REPO_ROOT, TASKJOB, TASKSCHEDULE, CrdDescriptor
from taskops.api.taskjob import TaskJobStatus
from taskops.core.conditions import MAX_MESSAGE_CHARS
from taskops.core.observed import observe_pod
from taskops.core.schedule import CreateRun, decide_schedule, observe_run
from taskops.core.taskjob import decide

HUGE = 10**12


@functools.cache
def spec_schema(descriptor: CrdDescriptor) -> dict[str, Any]:
    crd = yaml.safe_load((REPO_ROOT / OUTPUT_DIRS[0] / descriptor.filename).read_text())
    root: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root["properties"]["spec"]  # type: ignore[no-any-return]


def numbers(descriptor: CrdDescriptor) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every integer and number node of the spec (embedded Kubernetes objects excluded)."""
    for path, node in nodes(spec_schema(descriptor)):
        if node.get("type") in ("integer", "number") or node.get("x-kubernetes-int-or-string"):
            yield path, node


def lists(descriptor: CrdDescriptor) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, node in nodes(spec_schema(descriptor)):
        if node.get("type") == "array":
            yield path, node


JOB_NUMBERS = [path for path, node in numbers(TASKJOB) if node.get("type") == "integer"]
SCHEDULE_NUMBERS = [path for path, node in numbers(TASKSCHEDULE) if node.get("type") == "integer"]


def test_the_walk_finds_the_fields_that_once_overflowed() -> None:
    for path in (
        "timeouts.activeDeadlineSeconds",
        "timeouts.attemptDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "retry.backoff.initialDelaySeconds",
        "retry.backoff.maxDelaySeconds",
    ):
        assert path in JOB_NUMBERS
    assert "jitterSeconds" in SCHEDULE_NUMBERS
    assert "taskJobTemplate.spec.timeouts.activeDeadlineSeconds" in SCHEDULE_NUMBERS


@pytest.mark.parametrize(
    ("descriptor", "path", "node"),
    [(d, p, n) for d in (TASKJOB, TASKSCHEDULE) for p, n in numbers(d) if n.get("type")],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_number_is_bounded_at_apply(
    descriptor: CrdDescriptor, path: str, node: dict[str, Any]
) -> None:
    assert "minimum" in node and "maximum" in node, f"{descriptor.names.kind} spec.{path}: {node}"


@pytest.mark.parametrize(
    ("descriptor", "path", "node"),
    [(d, p, n) for d in (TASKJOB, TASKSCHEDULE) for p, n in lists(d)],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_list_is_bounded_at_apply(
    descriptor: CrdDescriptor, path: str, node: dict[str, Any]
) -> None:
    assert "maxItems" in node, f"{descriptor.names.kind} spec.{path}: {node}"


def put(spec: dict[str, Any], path: str, value: int) -> dict[str, Any]:
    """`spec` with the integer at a dotted path (lists of integers get one item) set."""
    *parents, leaf = path.split(".")
    node = spec
    for part in parents:
        node = node.setdefault(part, {})
    if leaf.endswith("[*]"):
        node[leaf[:-3]] = [value]
    else:
        node[leaf] = value
    return spec


def job_with(path: str, value: int) -> dict[str, Any]:
    spec = job_spec()
    if path.startswith("retry.onExitCodes"):
        spec["retry"] = {"onExitCodes": {"operator": "In", "values": [1]}}
    if path.startswith("shutdown.drain"):
        spec["shutdown"] = {"drain": {}}
    return put(spec, path, value)


def job_situations(spec: dict[str, Any]) -> Iterator[tuple[Any, list[Any]]]:
    """The job fresh, with a running pod, after a failed attempt, and finished."""
    yield make_job(spec), []
    yield (
        make_job(spec, status={"phase": "Running", "startTime": "2025-01-01T00:00:00Z"}),
        [observe_pod(pod_body(0, 0, phase="Running", started=T0))],
    )
    yield (
        make_job(spec, status={"phase": "Running", "startTime": "2025-01-01T00:00:00Z"}),
        [observe_pod(pod_body(0, 0, phase="Failed", started=T0))],
    )
    finished = {
        "phase": "Succeeded",
        "startTime": "2025-01-01T00:00:00Z",
        "completionTime": "2025-01-01T00:01:00Z",
    }
    yield make_job(spec, status=finished), []


@pytest.mark.parametrize("path", JOB_NUMBERS)
def test_a_huge_integer_makes_the_job_invalid_naming_the_field(path: str) -> None:
    leaf = path.split(".")[-1].removesuffix("[*]")
    for job, pods in job_situations(job_with(path, HUGE)):
        decision = decide(job, pods, T0 + timedelta(minutes=2))
        if job.status.get("phase") == "Succeeded":
            # A finished job keeps its outcome; it must still be decided
            # (its TTL and pods) without raising.
            decide(job, pods, T0 + timedelta(days=3650))
            continue
        assert decision.status["phase"] == "Failed", path
        assert decision.status["reason"] == "Invalid", path
        assert leaf in decision.status["message"], (path, decision.status["message"])


@pytest.mark.parametrize("path", JOB_NUMBERS)
def test_every_integer_at_its_maximum_runs_a_whole_job(path: str) -> None:
    """Decisions at the largest value the schema accepts never raise, however long the job lives."""
    maximum = dict(numbers(TASKJOB))[path]["maximum"]
    spec = job_with(path, maximum)
    for job, pods in job_situations(spec):
        decide(job, pods, T0 + timedelta(minutes=2))
        decide(job, pods, T0 + timedelta(days=3650))
    cluster = FakeCluster(spec=put(job_with(path, maximum), "retry.limit", 2), rng=random.Random(1))
    cluster.run(max_steps=60)


def observe_run_body() -> Any:
    return observe_run(run_body(T0 + timedelta(hours=1), phase="Succeeded"))


@pytest.mark.parametrize("path", SCHEDULE_NUMBERS)
def test_a_huge_integer_makes_the_schedule_invalid_naming_the_field(path: str) -> None:
    spec = put(schedule_spec(), path, HUGE)
    leaf = path.split(".")[-1].removesuffix("[*]")
    for runs in ([], [observe_run_body()]):
        decision = decide_schedule(make_schedule(spec), runs, T0 + timedelta(hours=3))
        invalid = [c for c in decision.status.get("conditions", []) if c["type"] == "Invalid"]
        assert invalid and invalid[0]["status"] == "True", path
        assert leaf in invalid[0]["message"], (path, invalid[0]["message"])
        assert not [a for a in decision.actions if isinstance(a, CreateRun)], path


@pytest.mark.parametrize("path", SCHEDULE_NUMBERS)
def test_every_schedule_integer_at_its_maximum_decides(path: str) -> None:
    maximum = dict(numbers(TASKSCHEDULE))[path]["maximum"]
    spec = put(schedule_spec(), path, maximum)
    for runs in ([], [observe_run_body()]):
        for later in (timedelta(hours=3), timedelta(days=3650)):
            decide_schedule(make_schedule(spec), runs, T0 + later)


def test_a_refusal_longer_than_a_condition_may_hold_is_cut_so_the_status_write_lands() -> None:
    refusal = "spec.template: Pod \"job-0-0\" is invalid: " + "spec.containers[0].image: x; " * 3000
    decision = decide(make_job(job_spec()), [], T0, rejected=refusal)
    status = TaskJobStatus.model_validate(decision.status)
    assert status.phase == "Failed" and status.reason == "Invalid"
    assert decision.status["message"].startswith("spec.template: Pod")
    assert f"{len(refusal)} characters in all" in decision.status["message"]
    for condition in decision.status["conditions"]:
        assert len(condition["message"]) <= MAX_MESSAGE_CHARS
