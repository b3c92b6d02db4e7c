"""Which status changes of a TaskJob may wait a little: its pods' progress.

The pods of a parallel job are created in one pass and start over the next
seconds, one after another. Writing the status at each start (the attempt's
`Pending` becoming `Running`, the `Ready` count, the phase `Pending` becoming
`Running`) cost 3 to 5 status writes per wave of pods where one says the
same (measured in the bench's fan-out: 50 status writes per TaskJob of 100
completions against the Job controller's 21). A change that is only that
progress, while more of it is on its way, is held back for at most
`PROGRESS_WINDOW_SECONDS`; anything else (an attempt recorded, a pod asked
for, a pod in trouble, a terminal phase) is written at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

#: How long after the creation of a job's newest pod a change that is only
#: progress may wait for the rest of its pods to start.
PROGRESS_WINDOW_SECONDS: Final = 20.0

_UNDER_WAY: Final = frozenset({"Pending", "Running"})
# The fields a pod's progress rewrites; every other one must be unchanged.
_PROGRESS_FIELDS: Final = frozenset({"phase", "reason", "message", "conditions", "attempts"})
# Of an attempt under way, what its pod's start changes.
_ATTEMPT_PROGRESS_FIELDS: Final = frozenset({"reason", "startTime"})
# Of the conditions, the one counting ready pods.
_PROGRESS_CONDITION: Final = "Ready"


def only_progress(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether `new` differs from `old` only by the progress of pods under way.

    Both are complete statuses. Progress: the phase moving between Pending
    and Running (with its reason and message), the Ready condition, and the
    reason and start time of attempts that have not ended.
    """
    if old.get("phase") not in _UNDER_WAY or new.get("phase") not in _UNDER_WAY:
        return False
    for key in set(old) | set(new):
        if key not in _PROGRESS_FIELDS and old.get(key) != new.get(key):
            return False
    return (_without_progress_condition(old.get("conditions"))
            == _without_progress_condition(new.get("conditions"))
            and _same_attempts(old.get("attempts"), new.get("attempts")))


def _without_progress_condition(conditions: object) -> list[Any] | None:
    if not isinstance(conditions, list):
        return None
    return [c for c in conditions
            if not (isinstance(c, Mapping) and c.get("type") == _PROGRESS_CONDITION)]


def _same_attempts(old: object, new: object) -> bool:
    if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
        return old == new
    return all(a == b or _same_attempt_under_way(a, b) for a, b in zip(old, new, strict=True))


def _same_attempt_under_way(old: object, new: object) -> bool:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return False
    if not (_under_way(old) and _under_way(new)):
        return False
    keys = (set(old) | set(new)) - _ATTEMPT_PROGRESS_FIELDS
    return all(old.get(key) == new.get(key) for key in keys)


def _under_way(attempt: Mapping[str, Any]) -> bool:
    return attempt.get("reason") in _UNDER_WAY and "finishTime" not in attempt


def progress_window_end(pods_created: Sequence[datetime]) -> datetime | None:
    """Until when progress may wait: the creation of the job's newest pod
    plus the window; None without pods.

    A pod's creation is written at once (it is not progress), so whatever
    progress is held back happened since, and waits less than the window.
    The newest, not the oldest: one pod slow to start in a job that keeps
    creating pods would otherwise end the wait for all the others.
    """
    if not pods_created:
        return None
    return max(pods_created) + timedelta(seconds=PROGRESS_WINDOW_SECONDS)
