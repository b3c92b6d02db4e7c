"""The runs `backfill` and `trigger` create, from the operator's own schedule code:
the instants from `taskops.core.cron`, the names from `taskops.core.schedule`, and
each run's manifest from `decide_schedule` itself."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from taskops.cli.errors import CliError
from taskops.core.cron import (
    EverySchedule,
    ScheduleError,
    fire_times,
    parse_schedule,
    validate_time_zone,
)
from taskops.core.labels import ANNOTATION_TRIGGER
from taskops.core.observed import format_time, observe_schedule, parse_time
from taskops.core.schedule import CreateRun, decide_schedule, run_name

_SECOND = timedelta(seconds=1)

#: Most instants one backfill enumerates (past that it refuses, whatever --yes says).
MAX_ENUMERATED = 100_000


def instants_between(body: Mapping[str, Any], start: datetime, end: datetime,
                     limit: int) -> list[datetime]:
    """The schedule's fire times in [start, end], at most `limit` + 1 of them (so
    the caller can tell "more than limit"), by the operator's `fire_times`."""
    spec = body.get("spec") or {}
    try:
        schedule = parse_schedule(str(spec.get("schedule", "")))
        zone = validate_time_zone(str(spec.get("timeZone") or "UTC"))
    except ScheduleError as err:
        raise CliError(f"the schedule is invalid: {err.message}") from err
    anchor = parse_time((body.get("metadata") or {}).get("creationTimestamp")) or start
    found: list[datetime] = []
    try:
        for instant in fire_times(schedule, zone, start - _SECOND, anchor):
            if instant > end or len(found) > limit:
                break
            found.append(instant)
    except ValueError:  # no fire time before year 10000
        pass
    return found


def scheduled_run(body: Mapping[str, Any], instant: datetime) -> dict[str, Any]:
    """The TaskJob the operator creates for `instant`: `decide_schedule` asked about a
    copy of the schedule for which `instant` is the one run due now (its watermark
    just before it, no jitter, deadline, suspension, concurrency limit or pending
    trigger in the way, created before it)."""
    due = copy.deepcopy(dict(body))
    metadata = due.setdefault("metadata", {})
    spec = due.setdefault("spec", {})
    metadata.pop("deletionTimestamp", None)
    (metadata.get("annotations") or {}).pop(ANNOTATION_TRIGGER, None)
    created = parse_time(metadata.get("creationTimestamp"))
    try:
        every = isinstance(parse_schedule(str(spec.get("schedule", ""))), EverySchedule)
    except ScheduleError:
        every = False
    if not every and (created is None or created >= instant):
        # A cron schedule's instants do not depend on its creation; only that it
        # existed decides whether an instant is due. (@every's anchor stays.)
        metadata["creationTimestamp"] = format_time(instant - _SECOND)
    spec.update({"suspend": False, "jitterSeconds": 0, "concurrencyPolicy": "Allow"})
    spec.pop("startingDeadlineSeconds", None)
    due["status"] = {"lastConsideredTime": format_time(instant - _SECOND)}
    decision = decide_schedule(observe_schedule(due), [], instant)
    name = run_name(str(metadata.get("name", "")), instant)
    for action in decision.actions:
        if isinstance(action, CreateRun) and action.name == name:
            return action.manifest
    problems = [c.get("message") for c in decision.status.get("conditions") or []
                if c.get("type") == "Invalid" and c.get("status") == "True"]
    raise CliError(f"the operator would not create run {name}: "
                   + (str(problems[0]) if problems else "no run is due for that instant"))
