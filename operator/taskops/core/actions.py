"""What the decisions ask the shell to do, and what they report for metrics.

Values only: `taskjob.decide` and `schedule.decide_schedule` return them, the
handlers execute them (in order) and tests compare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(frozen=True)
class CreatePod:
    """Create this pod; AlreadyExists means it is there already."""

    manifest: dict[str, Any]


@dataclass(frozen=True)
class DeletePod:
    """Delete a pod with this grace period (None: the pod's own)."""

    name: str
    grace_seconds: int | None


@dataclass(frozen=True)
class ReleasePod:
    """Remove the attempt-record finalizer: the attempt's outcome is in the status."""

    name: str


@dataclass(frozen=True)
class EmitEvent:
    """Post a Kubernetes Event on the TaskJob (type Normal or Warning)."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class AddJobFinalizer:
    """Add the drain finalizer to the TaskJob."""


@dataclass(frozen=True)
class RemoveJobFinalizer:
    """Remove the drain finalizer: the deleted TaskJob has no pods left running."""


@dataclass(frozen=True)
class DeleteJob:
    """Delete the TaskJob (ttlSecondsAfterFinished has passed)."""


@dataclass(frozen=True)
class Finished:
    """For metrics: the job reached Succeeded or Failed in this decision."""

    result: str
    reason: str
    duration_seconds: float


@dataclass(frozen=True)
class AttemptEnded:
    """For metrics: an attempt was recorded as ended in this decision."""

    index: int
    attempt: int
    outcome: str
    retried: bool


@dataclass(frozen=True)
class SlotTaken:
    """For metrics: the job took a slot in this decision, after `wait_seconds` Queued."""

    wait_seconds: float


Observation: TypeAlias = Finished | AttemptEnded | SlotTaken

Action: TypeAlias = (
    CreatePod
    | DeletePod
    | ReleasePod
    | EmitEvent
    | AddJobFinalizer
    | RemoveJobFinalizer
    | DeleteJob
)


@dataclass(frozen=True)
class Decision:
    """What to write and do after one look at a TaskJob and its pods."""

    status: dict[str, Any]  # the complete new .status (camelCase, JSON-ready, RFC 3339 'Z')
    actions: tuple[Action, ...]
    requeue_after: float | None  # seconds until the next time-based change
    observations: tuple[Observation, ...] = ()
    # The job would run now but holds no slot: the shell should ask for one
    # and, when granted, decide again with the slot.
    wants_slot: bool = False
