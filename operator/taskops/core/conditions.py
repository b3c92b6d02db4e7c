"""metav1.Condition entries, shared by every kind's status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from taskops.core.observed import format_time, parse_time


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
        "message": message,
    }
