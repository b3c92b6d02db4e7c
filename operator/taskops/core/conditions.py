"""Status helpers shared by every kind: metav1.Condition entries, the status patch."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from taskops.core.observed import format_time, parse_time

MAX_MESSAGE_CHARS: Final = 4096
"""Longest condition and status message written. A condition's message may hold
32,768 characters (metav1.Condition), and an API server refusal copied into it
can be longer (a template with many bad containers): past the limit the status
write itself would be refused, for ever. A person reads the first lines."""


def bounded_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message`, cut to `limit` characters with a note of how long it was."""
    if len(message) <= limit:
        return message
    note = f" ... [cut: {len(message)} characters in all]"
    return message[: max(limit - len(note), 0)] + note


def find_condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The observed condition of type `kind` in `status`, if any (tolerates junk)."""
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


def condition(
    observed_status: Mapping[str, Any],
    kind: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """A condition that keeps its lastTransitionTime while its status is unchanged."""
    previous = find_condition(observed_status, kind)
    since = now
    if previous is not None and previous.get("status") == status:
        since = parse_time(previous.get("lastTransitionTime")) or now
    return {
        "type": kind,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": format_time(since),
        "reason": reason,
        "message": bounded_message(message),
    }


def status_patch(observed: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON merge patch (RFC 7386) turning `observed` into `new`; None if equal.

    Keys gone from `new` become None (deleted); maps are diffed key by key,
    lists and scalars are replaced whole.
    """
    patch: dict[str, Any] = {}
    for key in observed.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        old = observed.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            sub = status_patch(old, value)
            if sub is not None:
                patch[key] = sub
        elif old != value or key not in observed:
            patch[key] = value
    return patch or None
