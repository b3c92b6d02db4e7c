"""Pydantic models of the TaskSchedule custom resource (taskops.dev/v1alpha1).

The single source of the TaskSchedule API, in the style of `taskops.api.taskjob`:
camelCase on the wire, defaults exactly as the contract (api.md, TaskSchedule),
a description on every field (they become `kubectl explain` text).

What the schema can reject at `kubectl apply` it rejects there: an unknown
concurrencyPolicy, negative limits, jitter and deadline, a schedule that is not
shaped like one (5 or 6 fields, a macro, `@every <duration>`) and a time zone
that is not shaped like an IANA name. Those two shape checks are CEL rules only,
on purpose: the full checks are `cron.parse_schedule` and
`cron.validate_time_zone` at reconcile time, whose messages name the exact
problem (`field 2 (minute): 61 is out of range 0-59`); a pydantic twin of the
coarse pattern would only hide them behind a vaguer message. `SCHEDULE_SHAPE`
and `TIME_ZONE_SHAPE` are tested to accept everything the full checks accept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import Field

from taskops.api.taskjob import (
    MAX_DURATION_SECONDS,
    PATH_MARK,
    ApiModel,
    Condition,
    TaskJobSpec,
    cel_rule,
)

KIND: Final = "TaskSchedule"
PLURAL: Final = "taskschedules"
SHORT_NAME: Final = "tsch"

MAX_SCHEDULE_LENGTH: Final = 256
MAX_JITTER_SECONDS: Final = 86400  # spreading runs by more than a day spreads nothing
MAX_KEPT_RUNS: Final = 1000  # finished TaskJobs kept per outcome
MAX_TIME_ZONE_LENGTH: Final = 64  # the longest IANA name today has 32 characters

# RE2 syntax (CEL's `matches`); `python_pattern` turns it into Python's. Macros
# are case-insensitive as in parse_schedule; a Go duration is numbers with units.
SCHEDULE_SHAPE: Final = (
    r"^\s*("
    r"(?i:@(yearly|annually|monthly|weekly|daily|midnight|hourly))"
    r"|(?i:@every)\s+[+-]?([0-9]*(\.[0-9]*)?[a-zA-Z\x{00b5}\x{03bc}]+)+"
    r"|\S+(\s+\S+){4,5}"
    r")\s*$"
)
"""Coarse shape of `spec.schedule`, checked by the API server (RE2 syntax)."""

TIME_ZONE_SHAPE: Final = r"^[A-Za-z_][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"
"""Shape of an IANA zone name (`UTC`, `EST5EDT`, `America/Port-au-Prince`, `Etc/GMT+5`)."""

SCHEDULE_SHAPE_MESSAGE: Final = (
    f"{PATH_MARK} must be 5 cron fields, 6 cron fields (leading seconds), one of @yearly "
    "@annually @monthly @weekly @daily @midnight @hourly, or '@every <duration>' such as "
    "'@every 5m'"
)
TIME_ZONE_SHAPE_MESSAGE: Final = (
    f"{PATH_MARK} must be an IANA time zone name such as 'UTC' or 'Europe/Berlin'"
)


def cel_string(text: str) -> str:
    """`text` as a single-quoted CEL string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def python_pattern(re2: str) -> str:
    r"""An RE2 pattern of this module in Python `re` syntax (`\x{hhhh}` to `\uhhhh`)."""
    return re2.replace(r"\x{00b5}", "\u00b5").replace(r"\x{03bc}", "\u03bc")


# --- spec --------------------------------------------------------------------


class TaskJobTemplateMetadata(ApiModel):
    """Labels and annotations copied onto every TaskJob the schedule creates."""

    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels of each run; the operator adds taskops.dev/schedule and "
        "taskops.dev/schedule-uid.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations of each run; the operator adds taskops.dev/scheduled-time "
        "(scheduled runs) or taskops.dev/trigger (manual runs).",
    )


class TaskJobTemplate(ApiModel):
    """The TaskJob each run creates."""

    metadata: TaskJobTemplateMetadata = Field(
        default_factory=TaskJobTemplateMetadata,
        description="Labels and annotations of each run.",
        json_schema_extra={"default": {}},
    )
    spec: TaskJobSpec = Field(description="The spec of each run, a TaskJob spec.")


ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class TaskScheduleSpec(ApiModel):
    """Create TaskJobs on a schedule: cron with seconds, time zones, jitter, policies."""

    schedule: str = Field(
        min_length=1,
        max_length=MAX_SCHEDULE_LENGTH,
        description="When to run: 5-field cron (minute hour day-of-month month day-of-week), "
        "6-field cron with a leading seconds field, a macro (@yearly @annually @monthly "
        "@weekly @daily @midnight @hourly) or '@every <duration>' (e.g. '@every 30s', "
        "'@every 1h30m'). See docs/schedules.md.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(f"self.matches({cel_string(SCHEDULE_SHAPE)})", SCHEDULE_SHAPE_MESSAGE)
            ]
        },
    )
    time_zone: str = Field(
        default="UTC",
        min_length=1,
        max_length=MAX_TIME_ZONE_LENGTH,
        description="IANA time zone name; cron fields match the wall-clock time there. At "
        "DST changes (Vixie cron's rule): a wildcard minute or hour (* or */n), and "
        "@hourly, follow elapsed time (both passes of a repeated hour, nothing in a gap); "
        "fixed minutes and hours fire once per local time (a time in a gap at the end "
        "of the gap, a repeated time at its first pass).",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(f"self.matches({cel_string(TIME_ZONE_SHAPE)})", TIME_ZONE_SHAPE_MESSAGE)
            ]
        },
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        default="Allow",
        description="Allow: runs may overlap. Forbid: a run due while another is active is "
        "skipped (counted in status.missedRuns). Replace: the active run is deleted (its "
        "pods drained) and the new run starts once it is gone.",
    )
    jitter_seconds: int = Field(
        default=0,
        ge=0,
        le=MAX_JITTER_SECONDS,
        description="Each run starts a pseudo-random offset in [0, jitterSeconds) after its "
        "scheduled time, derived from the schedule's uid and the time so every replica "
        "agrees. Keep it below the schedule's shortest interval.",
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_DURATION_SECONDS,
        description="A run that would start more than this many seconds late (after its "
        "jitter) is counted as missed instead. Unset: any lateness is allowed. Either way, "
        "after an outage at most one missed run (the latest) is started.",
    )
    suspend: bool = Field(
        default=False,
        description="No new runs while true (manual triggers wait too). On resume, as "
        "CronJob: the latest time passed while suspended starts if within "
        "startingDeadlineSeconds; earlier ones count as missed.",
    )
    successful_history_limit: int = Field(
        default=3,
        ge=0,
        le=MAX_KEPT_RUNS,
        description="Succeeded TaskJobs kept; older ones are deleted.",
    )
    failed_history_limit: int = Field(
        default=1,
        ge=0,
        le=MAX_KEPT_RUNS,
        description="Failed TaskJobs kept; older ones are deleted.",
    )
    task_job_template: TaskJobTemplate = Field(
        description="The TaskJob each run creates: {metadata: {labels, annotations}, spec}."
    )


# --- status ------------------------------------------------------------------


class RunReference(ApiModel):
    """A reference to a TaskJob of the schedule, like a CronJob's status.active entry."""

    name: str = Field(max_length=253, description="Name of the TaskJob.")
    namespace: str = Field(max_length=63, description="Namespace of the TaskJob.")
    uid: str | None = Field(
        default=None,
        max_length=64,
        description="UID of the TaskJob; absent while its creation is not yet observed.",
    )


class TaskScheduleStatus(ApiModel):
    """Observed state of a TaskSchedule, written by the operator only."""

    active: list[RunReference] | None = Field(
        default=None,
        description="Runs not yet finished (Succeeded or Failed), including ones being "
        "created or deleted.",
    )
    active_count: int | None = Field(
        default=None, ge=0, description="Number of entries in `active`."
    )
    last_schedule_time: datetime | None = Field(
        default=None, description="Scheduled time of the latest run started (RFC 3339)."
    )
    last_successful_time: datetime | None = Field(
        default=None, description="Completion time of the latest run that Succeeded (RFC 3339)."
    )
    next_schedule_time: datetime | None = Field(
        default=None,
        description="Scheduled time of the next run (RFC 3339); it starts up to "
        "jitterSeconds later.",
    )
    missed_runs: int | None = Field(
        default=None,
        ge=0,
        description="Runs not started: too late (startingDeadlineSeconds, an operator outage, "
        "a suspension) or skipped by concurrencyPolicy Forbid.",
    )
    last_trigger: str | None = Field(
        default=None,
        description="The last value of the taskops.dev/trigger annotation whose run was "
        "started; a different value starts another run.",
    )
    last_considered_time: datetime | None = Field(
        default=None,
        description="Operator bookkeeping: every scheduled time up to this one has been "
        "started, skipped or counted as missed and is never started again.",
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Suspended, Invalid.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The spec generation this status reflects."
    )
