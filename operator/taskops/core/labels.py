"""The one place for the label keys, finalizers and annotations taskops owns.

These names are part of the product: changing one later orphans the finalizers
and hides the pods already in the cluster from the operator, so they live here
and nowhere else.
"""

from __future__ import annotations

from typing import Final

from taskops.api.taskjob import GROUP

ANNOTATION_PREFIX: Final = f"{GROUP}/"
"""Prefix of every label, annotation and finalizer the operator writes."""

LABEL_TASKJOB: Final = f"{GROUP}/taskjob"
"""On pods: the owning TaskJob's name (truncated with a hash past 63 chars)."""

LABEL_TASKJOB_UID: Final = f"{GROUP}/taskjob-uid"
"""On pods: the owning TaskJob's uid, exact; the selector the operator lists by."""

LABEL_INDEX: Final = f"{GROUP}/index"
"""On pods: the 0-based completion index (TASK_INDEX)."""

LABEL_ATTEMPT: Final = f"{GROUP}/attempt"
"""On pods: the 0-based attempt number within the index (TASK_ATTEMPT)."""

ANNOTATION_MAIN_CONTAINER: Final = f"{GROUP}/main-container"
"""On pods: the container whose exit code, message and readiness count."""

POD_FINALIZER: Final = f"{GROUP}/attempt-record"
"""On pods: held until the attempt's outcome is recorded in the TaskJob status."""

JOB_FINALIZER: Final = f"{GROUP}/drain"
"""On TaskJobs: held until the job's pods are drained on deletion."""

# TaskSchedule's keys.
LABEL_SCHEDULE: Final = f"{GROUP}/schedule"
"""On runs: the schedule's name (truncated with a hash past 63 chars)."""
LABEL_SCHEDULE_UID: Final = f"{GROUP}/schedule-uid"
"""On runs: the schedule's uid, exact; the selector to list a schedule's runs by."""
ANNOTATION_SCHEDULED_TIME: Final = f"{GROUP}/scheduled-time"
"""On scheduled runs: the instant the run is for (RFC 3339, UTC)."""
ANNOTATION_TRIGGER: Final = f"{GROUP}/trigger"
"""On a schedule: set to a new value to start one run now. On that run: the value."""
