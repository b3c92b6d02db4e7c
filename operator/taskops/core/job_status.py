"""A TaskJob's `.status` as one decision renders it, from what that decision found.

Pure rendering: the phase machine (`taskops.core.taskjob`) decides the phase,
the ledger and the pods to create; this module only writes them down as the
complete new status (camelCase, JSON-ready, RFC 3339 'Z'), conditions
included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from taskops.api.taskjob import MAX_ATTEMPT_RECORDS, TERMINAL_PHASES, TaskJobSpec
from taskops.core.actions import CreatePod
from taskops.core.coerce import as_non_negative_int
from taskops.core.conditions import bounded_message, condition, find_condition
from taskops.core.ledger import Ledger, format_index_ranges
from taskops.core.observed import ObservedJob, ObservedPod, format_time
from taskops.core.pods import template_main_container

# The reason of a job failed for its spec, and the type of the condition saying so.
INVALID: Final = "Invalid"

_CONDITION_ORDER: Final = (
    "Admitted",
    "Ready",
    "Suspended",
    "Complete",
    "Failed",
    "Invalid",
    "DrainExceedsGracePeriod",
)


@dataclass(frozen=True)
class StatusInputs:
    """What one decision found, as far as its status shows it."""

    job: ObservedJob  # its status is the observed one: conditions keep their transition times
    spec: TaskJobSpec | None  # None when the spec is invalid
    ledger: Ledger  # the working ledger, with this decision's recordings
    new_records: Sequence[dict[str, Any]]  # attempts this decision recorded as ended
    live: Sequence[ObservedPod]  # pods of unrecorded attempts that still run
    creates: Sequence[tuple[int, int, CreatePod]]  # (index, attempt, create) decided now
    start_time: datetime | None
    completion_time: datetime | None
    waiting: Sequence[datetime]  # retry times of indexes backing off
    now: datetime
    admitted: tuple[str, str, str]  # the Admitted condition: status, reason, message
    queued_since: datetime | None = None  # while Queued
    queue_position: int | None = None  # while Queued, within the exact positions
    dependency_results: str | None = None  # TASK_DEPENDENCY_RESULTS, once started


def render_status(inputs: StatusInputs, phase: str, reason: str, message: str) -> dict[str, Any]:
    """The complete new `.status` for `phase`, `reason` and `message`."""
    ledger = inputs.ledger
    live = inputs.live
    status: dict[str, Any] = {
        "phase": phase,
        "reason": reason,
        "message": bounded_message(message),
        "conditions": _conditions(inputs, phase, reason, message),
        "observedGeneration": inputs.job.generation,
    }
    attempts = _attempt_list(inputs)
    if attempts:
        status["attempts"] = attempts
    status["attemptCount"] = sum(
        book.attempts + (1 if book.started else 0) for book in ledger.books.values()
    )
    status["active"] = len(live) + len(inputs.creates)
    status["succeeded"] = len(ledger.completed)
    status["failed"] = ledger.failed
    if inputs.start_time is not None:
        status["startTime"] = format_time(inputs.start_time)
    if phase in TERMINAL_PHASES and inputs.completion_time is not None:
        status["completionTime"] = format_time(inputs.completion_time)
        start = inputs.start_time or inputs.job.created
        status["duration"] = format_duration(inputs.completion_time - start)
    if inputs.queued_since is not None:
        status["queuedSince"] = format_time(inputs.queued_since)
    if inputs.queue_position is not None:
        status["queuePosition"] = inputs.queue_position
    if inputs.dependency_results is not None:
        status["dependencyResults"] = inputs.dependency_results
    if inputs.waiting and phase not in TERMINAL_PHASES:
        status["nextAttemptTime"] = format_time(min(inputs.waiting))
    if ledger.result is not None:
        status["result"] = ledger.result
    if ledger.results:
        status["results"] = dict(sorted(ledger.results.items(), key=lambda kv: _sort_key(kv[0])))
    if ledger.completed:
        status["completedIndexes"] = format_index_ranges(ledger.completed)
    entries = ledger.index_entries()
    if entries:
        status["indexes"] = entries
    return status


def progress_message(
    phase: str, *, active: int, succeeded: int, completions: int, waiting: Sequence[datetime]
) -> str:
    """The message of a job under way: `2 active, 3/5 succeeded[; next attempt at ...]`."""
    text = f"{active} active, {succeeded}/{completions} succeeded"
    if phase == "BackingOff" and waiting:
        text += f"; next attempt at {format_time(min(waiting))}"
    return text


def drain_warning(spec: TaskJobSpec | None) -> str | None:
    """Why the drain cannot finish before the kill, if spec.shutdown makes it so."""
    if spec is None or spec.shutdown.drain is None:
        return None
    sleep = spec.shutdown.drain.sleep_seconds
    grace = spec.shutdown.grace_period_seconds
    main = template_main_container(spec) or {}
    lifecycle = main.get("lifecycle")
    if isinstance(lifecycle, Mapping) and "preStop" in lifecycle:
        return None  # the template's own hook is used, not the drain
    if sleep is None or sleep < grace:
        return None
    return (
        f"spec.shutdown.drain.sleepSeconds ({sleep}) is not shorter than "
        f"spec.shutdown.gracePeriodSeconds ({grace}): the container is killed "
        "before the drain ends"
    )


def truncate_utf8(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` bytes of UTF-8, never inside a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def format_duration(delta: timedelta) -> str:
    """A short human duration like kubectl's: 42s, 3m12s, 2h5m, 3d4h."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def _attempt_list(inputs: StatusInputs) -> list[dict[str, Any]]:
    ended = [*inputs.ledger.records, *inputs.new_records]
    running = []
    for pod in sorted(inputs.live, key=lambda p: (p.created or inputs.now, p.index, p.attempt)):
        entry: dict[str, Any] = {"attempt": pod.attempt, "index": pod.index, "pod": pod.name}
        began = pod.started or pod.created
        if began is not None:
            entry["startTime"] = format_time(began)
        # Until its main container starts, the attempt is Pending whatever else
        # of the pod runs (an init container, a sidecar).
        entry["reason"] = "Pending" if pod.phase == "Running" and not pod.main_started \
            else pod.phase
        running.append(entry)
    starting = [
        {
            "attempt": attempt,
            "index": index,
            "pod": create.manifest["metadata"]["name"],
            "reason": "Pending",
        }
        for index, attempt, create in inputs.creates
    ]
    return (ended + running + starting)[-MAX_ATTEMPT_RECORDS:]


def _conditions(
    inputs: StatusInputs, phase: str, reason: str, message: str
) -> list[dict[str, Any]]:
    live = inputs.live
    observed = inputs.job.status
    conditions: dict[str, tuple[str, str, str]] = {"Admitted": inputs.admitted}
    ready = sum(1 for pod in live if pod.ready)
    # Pods asked for count as active (as in status.active): their appearing
    # in the cache then changes nothing, which saves a status write a wave.
    active = len(live) + len(inputs.creates)
    if active and ready == active:
        conditions["Ready"] = ("True", "PodsReady", f"{ready}/{active} active pods ready")
    elif active:
        conditions["Ready"] = (
            "False",
            "PodsNotReady",
            f"{ready}/{active} active pods ready",
        )
    else:
        conditions["Ready"] = ("False", "NoActivePods", "no active pods")
    if phase == "Suspended":
        conditions["Suspended"] = ("True", "Suspended", message)
    elif find_condition(observed, "Suspended") is not None:
        conditions["Suspended"] = ("False", "Resumed", "spec.suspend is false")
    if phase == "Succeeded":
        conditions["Complete"] = ("True", reason, message)
    if phase == "Failed":
        conditions["Failed"] = ("True", reason, message)
        if reason == INVALID:
            conditions["Invalid"] = ("True", INVALID, message)
    warning = drain_warning(inputs.spec)
    if warning is not None:
        conditions["DrainExceedsGracePeriod"] = ("True", "DrainExceedsGracePeriod", warning)
    return [
        condition(observed, kind, *conditions[kind], inputs.job.generation, inputs.now)
        for kind in _CONDITION_ORDER
        if kind in conditions
    ]


def _sort_key(key: str) -> tuple[int, str]:
    number = as_non_negative_int(key)
    return (number if number is not None else 1 << 62, key)
