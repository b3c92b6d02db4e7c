"""What the shell observes, extracted from API objects into frozen values.

`observe_pod`, `observe_job` and `observe_schedule` take objects as the API
returns them (camelCase JSON, which is what kopf hands to handlers) and never
raise on a malformed or partial object: a field that is missing or of the
wrong type reads as absent.
Also here: the wire format of times (RFC 3339, UTC, `Z`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Self

from taskops.core.coerce import as_list_or_tuple, as_mapping, as_non_empty_str, digits_as_int
from taskops.core.labels import (
    ANNOTATION_MAIN_CONTAINER,
    ANNOTATION_TRIGGER,
    LABEL_ATTEMPT,
    LABEL_INDEX,
    LABEL_TASKJOB,
    POD_FINALIZER,
)

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
DISRUPTION_REASONS: Final = frozenset({"Evicted", "Preempted"})
POD_PHASES: Final = frozenset({"Pending", "Running", "Succeeded", "Failed", "Unknown"})


#: The phases a pod never leaves: its containers are done.
FINAL_POD_PHASES: Final = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class ObservedPod:
    """One pod of a TaskJob, as far as decisions need it."""

    name: str
    index: int
    attempt: int
    phase: str  # Pending/Running/Succeeded/Failed/Unknown
    created: datetime | None  # metadata.creationTimestamp
    started: datetime | None  # status.startTime
    finished: datetime | None  # main container state.terminated.finishedAt
    exit_code: int | None  # main container terminated exitCode
    termination_reason: str | None  # container terminated reason, or pod status.reason
    termination_message: str | None  # main container terminated message
    ready: bool  # main container ready
    deleting: bool  # metadata.deletionTimestamp set
    disrupted: bool  # DisruptionTarget condition True, or reason Evicted/Preempted
    has_finalizer: bool  # POD_FINALIZER present
    # metadata.deletionTimestamp: when the kubelet must have stopped the pod
    # (the delete request's time plus its grace period).
    deletion_deadline: datetime | None = None
    # Why it was disrupted, from the DisruptionTarget condition or the pod's own
    # status (eviction): "DeletionByTaintManager: Taint manager: deleting ...".
    disruption: str | None = None
    # Whether the main container has started (is running or has run): what
    # makes the job Running rather than Pending.
    main_started: bool = False
    # While it has not: why, from the pod's own state (the scheduler's verdict,
    # the container's waiting reason), as (reason, message).
    pending: tuple[str, str] | None = None

    @property
    def terminal(self) -> bool:
        """Whether the pod reached Succeeded or Failed (its containers are done)."""
        return self.phase in FINAL_POD_PHASES


@dataclass(frozen=True)
class ObservedObject:
    """What every observed custom object has; spec and status stay raw camelCase
    dicts (plain, deep copies)."""

    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime  # metadata.creationTimestamp
    deleting: bool  # metadata.deletionTimestamp set
    spec: Mapping[str, Any]
    status: Mapping[str, Any]

    @classmethod
    def _observe(cls, body: Mapping[str, Any], **kind_fields: Any) -> Self:
        metadata = as_mapping(body.get("metadata"))
        generation = metadata.get("generation")
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=generation if isinstance(generation, int) else 0,
            created=parse_time(metadata.get("creationTimestamp")) or EPOCH,
            deleting=metadata.get("deletionTimestamp") is not None,
            spec=_plain(as_mapping(body.get("spec"))),
            status=_plain(as_mapping(body.get("status"))),
            **kind_fields,
        )


@dataclass(frozen=True)
class ObservedJob(ObservedObject):
    """One TaskJob."""

    finalizers: tuple[str, ...]
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ObservedSchedule(ObservedObject):
    """One TaskSchedule; `created` is the anchor of @every and of catch-up."""

    annotations: Mapping[str, str]

    @property
    def trigger(self) -> str | None:
        """The `taskops.dev/trigger` annotation's value; None when absent or empty."""
        value = self.annotations.get(ANNOTATION_TRIGGER)
        return value or None


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None if absent or malformed."""
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return as_utc(parsed)


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, to the second, like metav1.Time."""
    # isoformat, not strftime: %Y does not pad years below 1000 to four digits.
    return as_utc(moment).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod | None:
    """The ObservedPod of a pod dict; None if it lacks the taskops labels.

    The main container is the one named by the `taskops.dev/main-container`
    annotation (set at creation), else the first container.
    """
    metadata = as_mapping(pod.get("metadata"))
    labels = as_mapping(metadata.get("labels"))
    index = digits_as_int(labels.get(LABEL_INDEX))
    attempt = digits_as_int(labels.get(LABEL_ATTEMPT))
    if LABEL_TASKJOB not in labels or index is None or attempt is None:
        return None
    spec = as_mapping(pod.get("spec"))
    status = as_mapping(pod.get("status"))

    main = _main_container_name(metadata, spec)
    container_status: Mapping[str, Any] = {}
    for candidate in as_list_or_tuple(status.get("containerStatuses")):
        candidate = as_mapping(candidate)
        if main is None or candidate.get("name") == main:
            container_status = candidate
            break
    state = as_mapping(container_status.get("state"))
    terminated = as_mapping(state.get("terminated"))
    exit_code = terminated.get("exitCode")
    pod_reason = as_non_empty_str(status.get("reason"))
    phase = as_non_empty_str(status.get("phase"))
    disruption = _disruption(status, pod_reason)
    main_started = _main_started(phase, container_status, state)

    return ObservedPod(
        name=str(metadata.get("name", "")),
        index=index,
        attempt=attempt,
        phase=phase if phase in POD_PHASES else "Pending",
        created=parse_time(metadata.get("creationTimestamp")),
        started=parse_time(status.get("startTime")),
        finished=parse_time(terminated.get("finishedAt")),
        exit_code=exit_code if isinstance(exit_code, int) else None,
        termination_reason=as_non_empty_str(terminated.get("reason")) or pod_reason,
        termination_message=as_non_empty_str(terminated.get("message")),
        ready=container_status.get("ready") is True,
        deleting=metadata.get("deletionTimestamp") is not None,
        disrupted=disruption is not None,
        has_finalizer=POD_FINALIZER in as_list_or_tuple(metadata.get("finalizers")),
        deletion_deadline=parse_time(metadata.get("deletionTimestamp")),
        disruption=disruption,
        main_started=main_started,
        pending=None if main_started else _pending(status, state),
    )


def observe_job(body: Mapping[str, Any]) -> ObservedJob:
    """The ObservedJob of a TaskJob body (a kopf Body or a plain dict)."""
    metadata = as_mapping(body.get("metadata"))
    labels = as_mapping(metadata.get("labels"))
    return ObservedJob._observe(
        body,
        finalizers=tuple(str(f) for f in as_list_or_tuple(metadata.get("finalizers"))),
        labels={str(k): str(v) for k, v in labels.items()},
    )


def observe_schedule(body: Mapping[str, Any]) -> ObservedSchedule:
    """The ObservedSchedule of a TaskSchedule body (a kopf Body or a plain dict)."""
    annotations = as_mapping(as_mapping(body.get("metadata")).get("annotations"))
    return ObservedSchedule._observe(
        body,
        annotations={str(k): str(v) for k, v in annotations.items() if isinstance(v, str)},
    )


def _main_container_name(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    annotated = as_mapping(metadata.get("annotations")).get(ANNOTATION_MAIN_CONTAINER)
    if isinstance(annotated, str) and annotated:
        return annotated
    containers = as_list_or_tuple(spec.get("containers"))
    if containers:
        name = as_mapping(containers[0]).get("name")
        return name if isinstance(name, str) else None
    return None


def _main_started(phase: str | None, container_status: Mapping[str, Any],
                  state: Mapping[str, Any]) -> bool:
    if "running" in state or "terminated" in state:
        return True
    if "waiting" in state:
        return False
    # No state reported for the main container (a minimal or simulated
    # pod): the pod's own phase says whether its containers run or ran.
    return phase in ("Running", "Succeeded", "Failed")


#: What a pod not yet scheduled and not refused by the scheduler is doing.
SCHEDULING: Final = "Scheduling"
#: A scheduled pod whose kubelet has not reported the main container yet.
CONTAINER_CREATING: Final = "ContainerCreating"


def _pending(status: Mapping[str, Any], state: Mapping[str, Any]) -> tuple[str, str]:
    """Why the main container has not started: the first of the scheduler's
    refusal, an init container's trouble, the main container's waiting reason."""
    scheduled = None
    for condition in as_list_or_tuple(status.get("conditions")):
        condition = as_mapping(condition)
        if condition.get("type") == "PodScheduled":
            scheduled = condition
            break
    if scheduled is None:
        return SCHEDULING, "waiting to be scheduled"
    if scheduled.get("status") != "True":
        return (as_non_empty_str(scheduled.get("reason")) or SCHEDULING,
                as_non_empty_str(scheduled.get("message")) or "not scheduled yet")
    for init in as_list_or_tuple(status.get("initContainerStatuses")):
        waiting = as_mapping(as_mapping(as_mapping(init).get("state")).get("waiting"))
        reason = as_non_empty_str(waiting.get("reason"))
        if reason is not None and reason != "PodInitializing":
            # kubectl's own notation for an init container's trouble.
            name = as_non_empty_str(as_mapping(init).get("name")) or "init"
            message = as_non_empty_str(waiting.get("message"))
            return f"Init:{reason}", f"init container {name}" + (f": {message}" if message else "")
    waiting = as_mapping(state.get("waiting"))
    reason = as_non_empty_str(waiting.get("reason"))
    if reason is not None:
        return reason, as_non_empty_str(waiting.get("message")) or _WAITING_MESSAGES.get(
            reason, reason)
    return CONTAINER_CREATING, _WAITING_MESSAGES[CONTAINER_CREATING]


_WAITING_MESSAGES: Final = {
    CONTAINER_CREATING: "scheduled; the main container is being created",
    "PodInitializing": "init containers are running",
}


def _disruption(status: Mapping[str, Any], pod_reason: str | None) -> str | None:
    for condition in as_list_or_tuple(status.get("conditions")):
        condition = as_mapping(condition)
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            return _reason_and_message(condition.get("reason"), condition.get("message"))
    if pod_reason in DISRUPTION_REASONS:
        return _reason_and_message(pod_reason, status.get("message"))
    return None


def _reason_and_message(reason: Any, message: Any) -> str:
    parts = [str(part) for part in (reason, message) if isinstance(part, str) and part]
    return ": ".join(parts) or "DisruptionTarget"


def _plain(value: Any) -> Any:
    # kopf hands out read-only views over its own dicts; the core works on
    # plain, private copies so that nothing it does can reach back into them.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
