"""The TaskSchedule decision: `decide_schedule(schedule, runs, now) -> ScheduleDecision`.

Pure: no I/O, no clock, no kopf. The shell observes a TaskSchedule and the
TaskJobs it owns (its runs), calls `decide_schedule`, applies
`ScheduleDecision.actions` in order, patches `.status` to
`ScheduleDecision.status` when it differs (`conditions.status_patch`), records
`observations` as metrics, and requeues after `requeue_after` seconds.

Which instants run
------------------
The schedule arithmetic is `taskops.core.cron` (docs/schedules.md). A run for
the scheduled instant `t` is named `<schedule>-<unix seconds of t>`
(`run_name`), carries the annotation `taskops.dev/scheduled-time: <t>`, and
starts at `t + jitter_offset(uid, t, jitterSeconds)`: `t` is *due* once that
start has passed. On every decision only the most recent due instant `D` that
is not yet settled is considered:

* it is started if no run for it exists, it is no more than
  `startingDeadlineSeconds` late (any lateness when unset) and the
  concurrency policy allows;
* instants between the last settled one and `D` are counted in
  `status.missedRuns` without being started, so an outage, a suspension or an
  invalid spec ends with at most ONE catch-up run (the latest), never a
  burst. They are counted by cron arithmetic: exactly for `@every`, by walking
  at most `MAX_COUNTED_INSTANTS` fire times for cron expressions (past that the
  count is a lower bound and the event says so).

How "already run" is remembered
-------------------------------
`status.lastConsideredTime` (the watermark W) says: every instant <= W has
been started, skipped or counted as missed, and is never started again.
Creating the run for `D` moves W only to the second before `D`; W reaches `D`
when a later decision *sees* the run (or `D` is skipped or missed). Until then
`D` stays due and its creation is asked for again, under the same name, so:

* a crash between the create and the status write loses nothing (the run is
  seen next time and settles `D`), and a crash between the status write and
  the create loses nothing either (`D` is still due and created again);
* a run is never created twice for one instant: the name is deterministic
  (AlreadyExists), and a run is deleted (history, Replace) only when the
  observed status already settles it (`W >= its instant`, or its trigger value
  is handled), so its disappearance cannot make it due again.

The shell may therefore apply the actions before or after the status patch.
Recommended: actions first, then the status (as CronJob does). Then a run the
status lists as asked for (see below) has been created, which the decision
relies on in one corner: when such a run is still not in the run list by the
time it is past its deadline or a newer instant is due, it is taken as
started (a lagging list) rather than counted as missed. Under status-first, a
crash between the status write and the create that lasts that long therefore
drops that one run without counting it.

The run that a decision asks to create is listed in `status.active` without
a uid at once (as CronJob lists a Job it just created); being listed there
marks it as announced, so the `RunCreated`/`RunTriggered` event and the
`created`/`triggered` observation come once even if the run list the shell
passes lags behind and the creation is asked for again.

Policies, suspend, triggers
---------------------------
* Forbid: a due instant while a run is active (not Succeeded/Failed, deleting
  or not, manual or scheduled) is skipped: counted as missed, event
  `RunSkipped`.
* Replace: the active runs are deleted (`DeleteRun`, background propagation:
  each TaskJob's own finalizer drains its pods), and the new run is created
  only once they are gone from the run list; meanwhile `D` stays due (its
  deadline still applies) and the decision requeues after
  `SETTLE_POLL_SECONDS`.
* suspend: no new runs, W does not move; on resume the latest instant passed
  while suspended starts if within the deadline and the earlier ones count as
  missed, as CronJob does. A pending manual trigger waits for the resume too.
* `taskops.dev/trigger: <value>` on the schedule starts one run at once,
  ignoring the concurrency policy (like `kubectl create job --from=cronjob/x`)
  but counting as active for later scheduled instants. The run is named
  `<schedule>-manual-<hash of value>`, carries the annotation
  `taskops.dev/trigger: <value>`, and `status.lastTrigger` records the value
  once the run is seen; a value different from it starts another run.

The shell's side of the bargain: `runs` are the TaskJobs whose controller
ownerReference is this schedule (others are ignored); the schedule passed is
never older than one passed before; CreateRun treats AlreadyExists and
DeleteRun NotFound as done (DeleteRun with a uid precondition); a failing
action stops the ones after it; EmitEvent is best effort; `status` is the
complete new status (absent keys are removed).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeAlias
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from taskops.api.taskjob import API_VERSION, TERMINAL_PHASES, describe_validation_error
from taskops.api.taskjob import KIND as TASKJOB_KIND
from taskops.api.taskschedule import KIND as SCHEDULE_KIND
from taskops.api.taskschedule import TaskScheduleSpec
from taskops.core.actions import EmitEvent
from taskops.core.coerce import as_count, as_list_or_tuple, as_mapping, as_non_empty_str
from taskops.core.conditions import bounded_message, condition, find_condition
from taskops.core.cron import (
    EverySchedule,
    Schedule,
    ScheduleError,
    jitter_offset,
    last_fire_at_or_before,
    next_fire_after,
    parse_schedule,
    validate_time_zone,
)
from taskops.core.labels import (
    ANNOTATION_SCHEDULED_TIME,
    ANNOTATION_TRIGGER,
    LABEL_SCHEDULE,
    LABEL_SCHEDULE_UID,
)
from taskops.core.observed import EPOCH, ObservedSchedule, as_utc, format_time, parse_time
from taskops.core.pods import HASH_LENGTH, job_label_value, short_hash

RUN_NAME_MAX: Final = 52
"""Longest run name, as CronJob keeps its Jobs' names: leaves room for pod suffixes."""
MAX_COUNTED_INSTANTS: Final = 1000
"""Most missed cron fire times one decision walks to count them."""
MAX_PENDING_WALK: Final = 100
"""Most not-yet-started instants one decision looks back through (only a jitter
longer than the schedule's interval makes more than one)."""
SETTLE_POLL_SECONDS: Final = 5.0
"""Requeue delay while waiting for something only the run list shows (a replaced
run to be gone, a deletion the status must settle first)."""
DELETE_PROPAGATION: Final = "Background"

_SECOND: Final = timedelta(seconds=1)

# --- what the shell observes --------------------------------------------------


@dataclass(frozen=True)
class ObservedRun:
    """One TaskJob of a schedule, as far as the schedule's decisions need it."""

    name: str
    namespace: str
    uid: str
    controller_uid: str | None  # uid of the controller ownerReference
    scheduled_time: datetime | None  # the scheduled-time annotation (scheduled runs)
    trigger: str | None  # the trigger annotation (manual runs)
    phase: str | None  # status.phase
    created: datetime | None
    finished: datetime | None  # status.completionTime
    deleting: bool

    @property
    def terminal(self) -> bool:
        """Whether the run ended (Succeeded or Failed)."""
        return self.phase in TERMINAL_PHASES


def observe_run(body: Mapping[str, Any]) -> ObservedRun:
    """The ObservedRun of a TaskJob body. Never raises."""
    metadata = as_mapping(body.get("metadata"))
    annotations = as_mapping(metadata.get("annotations"))
    status = as_mapping(body.get("status"))
    controller_uid = None
    for reference in as_list_or_tuple(metadata.get("ownerReferences")):
        reference = as_mapping(reference)
        if reference.get("controller") is True:
            controller_uid = as_non_empty_str(reference.get("uid"))
            break
    return ObservedRun(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        uid=str(metadata.get("uid", "")),
        controller_uid=controller_uid,
        scheduled_time=parse_time(annotations.get(ANNOTATION_SCHEDULED_TIME)),
        trigger=as_non_empty_str(annotations.get(ANNOTATION_TRIGGER)),
        phase=as_non_empty_str(status.get("phase")),
        created=parse_time(metadata.get("creationTimestamp")),
        finished=parse_time(status.get("completionTime")),
        deleting=metadata.get("deletionTimestamp") is not None,
    )


# --- the decision -------------------------------------------------------------


@dataclass(frozen=True)
class CreateRun:
    """Create this TaskJob; AlreadyExists means it is there already."""

    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        """The run's name."""
        return str(self.manifest["metadata"]["name"])


@dataclass(frozen=True)
class DeleteRun:
    """Delete a run (precondition: this uid), with this propagation policy.

    Background propagation: the TaskJob gets its deletionTimestamp at once and
    its own drain finalizer stops its pods with their grace period.
    """

    name: str
    uid: str
    reason: str
    propagation: str = DELETE_PROPAGATION


Outcome: TypeAlias = Literal["created", "skipped", "missed", "replaced", "triggered"]


@dataclass(frozen=True)
class RunOutcome:
    """For metrics (taskops_schedule_runs_total, taskops_schedule_lateness_seconds).

    `lateness_seconds` is how long after its start time (instant + jitter) a
    run was created, skipped or missed; None for triggered and replaced runs
    and for missed instants counted in bulk. `count` instants had this outcome.
    """

    outcome: Outcome
    lateness_seconds: float | None
    count: int = 1


ScheduleAction: TypeAlias = CreateRun | DeleteRun | EmitEvent


@dataclass(frozen=True)
class ScheduleDecision:
    """What to do and write after one look at a TaskSchedule and its runs."""

    status: dict[str, Any]  # the complete new .status (camelCase, JSON-ready, RFC 3339 'Z')
    actions: tuple[ScheduleAction, ...]
    requeue_after: float | None  # seconds; None: nothing time-based is pending
    observations: tuple[RunOutcome, ...] = ()


# --- names --------------------------------------------------------------------


def run_name(schedule_name: str, instant: datetime) -> str:
    """The run for `instant`: `<schedule>-<unix seconds>`, at most RUN_NAME_MAX chars.

    A longer schedule name is cut and followed by a hash of the whole name, so
    two long names with the same beginning still get different runs.
    """
    unix_seconds = (as_utc(instant) - EPOCH) // _SECOND
    return _fit(schedule_name, f"-{unix_seconds}")


def manual_run_name(schedule_name: str, trigger: str) -> str:
    """The run for trigger value `trigger`: `<schedule>-manual-<hash of value>`."""
    return _fit(schedule_name, f"-manual-{short_hash(trigger)}")


def _fit(base: str, suffix: str) -> str:
    if len(base) + len(suffix) <= RUN_NAME_MAX:
        return base + suffix
    budget = RUN_NAME_MAX - len(suffix) - HASH_LENGTH - 1
    # A DNS subdomain may not end a segment with '-' or '.'.
    prefix = base[: max(budget, 0)].rstrip("-.")
    digest = short_hash(base)
    return f"{prefix}-{digest}{suffix}" if prefix else digest + suffix


# --- the reconcile ------------------------------------------------------------


def decide_schedule(
    schedule: ObservedSchedule,
    runs: Sequence[ObservedRun],
    now: datetime,
    refused: str | None = None,
) -> ScheduleDecision:
    """Decide the TaskSchedule's new status and the runs to create and delete.

    Deterministic in its inputs (the order of `runs` does not matter) and
    level-triggered: deciding again on the result converges. Never raises on a
    bad spec: that is condition Invalid naming the field, and no runs.
    `refused` is the API server's refusal of a run of this spec (the schema
    cannot check everything in `taskJobTemplate`, label values for one): it
    makes the spec Invalid as well, until the spec changes.
    See the module docstring for the semantics and the shell's contract.
    """
    return _Reconcile(schedule, runs, as_utc(now), refused).decide()


@dataclass(frozen=True)
class _Plan:
    """The parsed, valid parts of a spec."""

    spec: TaskScheduleSpec
    cron: Schedule
    zone: ZoneInfo


@dataclass
class _Reconcile:
    schedule: ObservedSchedule
    all_runs: Sequence[ObservedRun]
    now: datetime
    refused: str | None = None
    runs: list[ObservedRun] = field(init=False)
    by_name: dict[str, ObservedRun] = field(init=False)
    seen_instants: set[datetime] = field(init=False)
    announced: set[str] = field(init=False)
    observed_watermark: datetime | None = field(init=False)
    observed_trigger: str | None = field(init=False)
    # The working state, written to the status at the end.
    watermark: datetime | None = field(init=False)
    last_schedule: datetime | None = field(init=False)
    last_trigger: str | None = field(init=False)
    missed: int = field(init=False)
    creates: list[CreateRun] = field(default_factory=list)
    deletes: list[DeleteRun] = field(default_factory=list)
    events: list[EmitEvent] = field(default_factory=list)
    outcomes: list[RunOutcome] = field(default_factory=list)
    not_due: list[datetime] = field(default_factory=list)  # instants whose start is ahead
    waiting_for: datetime | None = None  # Replace: the instant waiting for runs to go
    poll: bool = False

    def __post_init__(self) -> None:
        observed = self.schedule.status
        self.runs = sorted(
            (r for r in self.all_runs if r.controller_uid == self.schedule.uid), key=_run_order
        )
        self.by_name = {run.name: run for run in self.runs}
        self.seen_instants = {
            run.scheduled_time
            for run in self.runs
            if run.scheduled_time is not None and run.trigger is None
        }
        self.announced = {
            str(entry["name"])
            for entry in as_list_or_tuple(observed.get("active"))
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str)
        }
        self.observed_watermark = parse_time(observed.get("lastConsideredTime"))
        self.observed_trigger = as_non_empty_str(observed.get("lastTrigger"))
        self.watermark = self.observed_watermark
        self.last_schedule = _latest(
            parse_time(observed.get("lastScheduleTime")), *self.seen_instants
        )
        self.last_trigger = self.observed_trigger
        self.missed = as_count(observed.get("missedRuns"))

    def decide(self) -> ScheduleDecision:
        plan, problem = self._plan()
        upcoming = None
        if plan is not None and not self.schedule.deleting:
            if not plan.spec.suspend:
                self._schedule(plan)
                self._trigger(plan)
            self._trim_history(plan.spec)
            upcoming = self._next_fire(plan, self.now)
        elif problem is not None and self._observed_invalid_message() != bounded_message(problem):
            self.events.append(EmitEvent("Warning", "Invalid", problem))
        actions: tuple[ScheduleAction, ...] = (*self.creates, *self.events, *self.deletes)
        return ScheduleDecision(
            status=self._status(plan, problem, upcoming),
            actions=actions,
            requeue_after=self._requeue_after(plan, upcoming),
            observations=tuple(self.outcomes),
        )

    # -- the spec ----------------------------------------------------------------

    def _plan(self) -> tuple[_Plan | None, str | None]:
        try:
            spec = TaskScheduleSpec.model_validate(self.schedule.spec)
        except ValidationError as exc:
            return None, describe_validation_error(exc)
        try:
            cron = parse_schedule(spec.schedule)
        except ScheduleError as error:
            return None, f"spec.schedule: {error.message}"
        try:
            zone = validate_time_zone(spec.time_zone)
        except ScheduleError as error:
            return None, f"spec.timeZone: {error.message}"
        if self.refused is not None:
            return None, self.refused
        return _Plan(spec, cron, zone), None

    # -- scheduled runs ----------------------------------------------------------

    def _schedule(self, plan: _Plan) -> None:
        created = self.schedule.created
        settled = max(self.watermark or created, created)
        self.watermark = settled
        due = self._latest_due(plan, settled)
        if due is None:
            return
        older, exact = self._unrun_between(plan, settled, due)
        if older:
            self._missed_in_bulk(older, exact, settled, due)
        # Everything before `due` is settled now; `due` itself once its run is seen.
        self.watermark = max(settled, due - _SECOND)
        if self._has_run(due):
            self.watermark = due
            return
        name = run_name(self.schedule.name, due)
        lateness = (self.now - self._start(plan, due)).total_seconds()
        deadline = plan.spec.starting_deadline_seconds
        late = deadline is not None and lateness > deadline
        if name in self.announced:
            # Asked for already (the status says so): the run list lags or the
            # create was lost. Ask again, unless it is too late to start now.
            if late:
                self.watermark = due
            else:
                self._create_scheduled(plan, due, lateness, announce=False)
            return
        if late:
            self.watermark = due
            self._missed_one(due, lateness, deadline)
            return
        active = [run for run in self.runs if not run.terminal]
        if active and plan.spec.concurrency_policy == "Forbid":
            self.watermark = due
            self.missed += 1
            self.outcomes.append(RunOutcome("skipped", lateness))
            self.events.append(
                EmitEvent(
                    "Normal",
                    "RunSkipped",
                    f"skipped the run scheduled for {format_time(due)}: "
                    f"{_names(active)} still active and spec.concurrencyPolicy is Forbid",
                )
            )
            return
        if active and plan.spec.concurrency_policy == "Replace":
            self._replace(active, due)
            return
        self._create_scheduled(plan, due, lateness, announce=True)

    def _latest_due(self, plan: _Plan, settled: datetime) -> datetime | None:
        """The latest instant after `settled` whose start time has come, if any.

        Instants after it whose jittered start is still ahead go to `not_due`.
        """
        instant = self._last_fire(plan, self.now)
        for _ in range(MAX_PENDING_WALK):
            if instant is None or instant <= settled:
                return None
            if self._start(plan, instant) <= self.now:
                return instant
            self.not_due.append(instant)
            instant = self._last_fire(plan, instant - _SECOND)
        return None

    def _unrun_between(self, plan: _Plan, after: datetime, before: datetime) -> tuple[int, bool]:
        """Fire times strictly between `after` and `before` with no run: (count, exact).

        Instants whose run is seen, or announced in the status, are not missed.
        """
        started = set(self.seen_instants)
        if self.last_schedule is not None and (
            run_name(self.schedule.name, self.last_schedule) in self.announced
        ):
            started.add(self.last_schedule)
        cron = plan.cron
        if isinstance(cron, EverySchedule):
            # The grid is anchor + k*interval: count it by division.
            first = self._next_fire(plan, after)
            if first is None or first >= before:
                return 0, True
            total = -((first - before) // cron.interval)
            on_grid = sum(
                1
                for instant in started
                if after < instant < before and (instant - first) % cron.interval == timedelta(0)
            )
            return total - on_grid, True
        count = 0
        instant: datetime | None = after
        for _ in range(MAX_COUNTED_INSTANTS):
            instant = self._next_fire(plan, instant) if instant is not None else None
            if instant is None or instant >= before:
                return count, True
            if instant not in started:
                count += 1
        return count, False

    def _replace(self, active: list[ObservedRun], due: datetime) -> None:
        self.waiting_for = due
        self.poll = True
        for run in active:
            if run.deleting or not self._deletable(run):
                continue
            self.deletes.append(
                DeleteRun(
                    run.name,
                    run.uid,
                    f"replaced by the run scheduled for {format_time(due)} "
                    "(spec.concurrencyPolicy is Replace)",
                )
            )
            self.outcomes.append(RunOutcome("replaced", None))
            self.events.append(
                EmitEvent(
                    "Normal",
                    "RunReplaced",
                    f"deleting active run {run.name} to start the run scheduled for "
                    f"{format_time(due)} (spec.concurrencyPolicy is Replace)",
                )
            )

    def _create_scheduled(
        self, plan: _Plan, due: datetime, lateness: float, announce: bool
    ) -> None:
        name = run_name(self.schedule.name, due)
        self.creates.append(
            CreateRun(self._manifest(plan, name, {ANNOTATION_SCHEDULED_TIME: format_time(due)}))
        )
        self.last_schedule = _latest(self.last_schedule, due)
        if announce:
            self.outcomes.append(RunOutcome("created", lateness))
            late = f", {lateness:.0f}s late" if lateness >= 1 else ""
            self.events.append(
                EmitEvent(
                    "Normal", "RunCreated", f"created run {name} for {format_time(due)}{late}"
                )
            )

    def _missed_one(self, due: datetime, lateness: float, deadline: int | None) -> None:
        self.missed += 1
        self.outcomes.append(RunOutcome("missed", lateness))
        self.events.append(
            EmitEvent(
                "Warning",
                "RunMissed",
                f"missed the run scheduled for {format_time(due)}: {lateness:.0f}s late, more "
                f"than spec.startingDeadlineSeconds ({deadline})",
            )
        )

    def _missed_in_bulk(self, count: int, exact: bool, after: datetime, before: datetime) -> None:
        self.missed += count
        self.outcomes.append(RunOutcome("missed", None, count))
        amount = f"{count}" if exact else f"at least {count}"
        self.events.append(
            EmitEvent(
                "Warning",
                "RunMissed",
                f"missed {amount} runs scheduled after {format_time(after)} and before "
                f"{format_time(before)} (operator down, schedule suspended or invalid); only "
                "the latest due run is considered",
            )
        )

    # -- manual triggers ---------------------------------------------------------

    def _trigger(self, plan: _Plan) -> None:
        value = self.schedule.trigger
        if value is None or value == self.observed_trigger:
            return
        name = manual_run_name(self.schedule.name, value)
        if name in self.by_name:
            self.last_trigger = value
            return
        annotations = {ANNOTATION_TRIGGER: value}
        self.creates.append(CreateRun(self._manifest(plan, name, annotations)))
        if name not in self.announced:
            self.outcomes.append(RunOutcome("triggered", None))
            self.events.append(
                EmitEvent(
                    "Normal",
                    "RunTriggered",
                    f"created run {name} for {ANNOTATION_TRIGGER}={value!r}",
                )
            )

    # -- history -----------------------------------------------------------------

    def _trim_history(self, spec: TaskScheduleSpec) -> None:
        limits = (
            ("Succeeded", spec.successful_history_limit, "spec.successfulHistoryLimit"),
            ("Failed", spec.failed_history_limit, "spec.failedHistoryLimit"),
        )
        for phase, limit, field_name in limits:
            finished = [run for run in self.runs if run.phase == phase and not run.deleting]
            finished.sort(key=_run_order, reverse=True)
            for run in finished[limit:]:
                if not self._deletable(run):
                    self.poll = True  # the status written now settles it; delete next time
                    continue
                self.deletes.append(
                    DeleteRun(run.name, run.uid, f"history: {field_name} is {limit}")
                )

    def _deletable(self, run: ObservedRun) -> bool:
        """Whether the observed status settles `run`, so that its disappearance can
        never make a later decision create it again."""
        if run.trigger is not None:
            # Created again only while the annotation holds its value, unhandled.
            return not (
                self.schedule.trigger == run.trigger and self.observed_trigger != run.trigger
            )
        if run.scheduled_time is None:
            return True  # not one of ours by its annotations: never created again
        return self.observed_watermark is not None and self.observed_watermark >= run.scheduled_time

    # -- helpers -----------------------------------------------------------------

    def _has_run(self, instant: datetime) -> bool:
        return (
            instant in self.seen_instants or run_name(self.schedule.name, instant) in self.by_name
        )

    def _start(self, plan: _Plan, instant: datetime) -> datetime:
        offset = jitter_offset(self.schedule.uid, instant, plan.spec.jitter_seconds)
        return instant + timedelta(seconds=offset)

    def _next_fire(self, plan: _Plan, after: datetime) -> datetime | None:
        try:
            return next_fire_after(plan.cron, plan.zone, after=after, anchor=self.schedule.created)
        except ValueError:  # no fire time before year 10000
            return None

    def _last_fire(self, plan: _Plan, at: datetime) -> datetime | None:
        try:
            return last_fire_at_or_before(plan.cron, plan.zone, at=at, anchor=self.schedule.created)
        except ValueError:  # none in the cron module's search window
            return None

    def _manifest(self, plan: _Plan, name: str, extra: Mapping[str, str]) -> dict[str, Any]:
        raw = as_mapping(self.schedule.spec.get("taskJobTemplate"))
        template_meta = as_mapping(raw.get("metadata"))
        labels = {str(k): str(v) for k, v in as_mapping(template_meta.get("labels")).items()}
        labels[LABEL_SCHEDULE] = job_label_value(self.schedule.name)
        labels[LABEL_SCHEDULE_UID] = self.schedule.uid
        annotations = {
            str(k): str(v) for k, v in as_mapping(template_meta.get("annotations")).items()
        }
        # A template must not make a scheduled run look manual or the reverse.
        annotations.pop(ANNOTATION_SCHEDULED_TIME, None)
        annotations.pop(ANNOTATION_TRIGGER, None)
        annotations.update(extra)
        return {
            "apiVersion": API_VERSION,
            "kind": TASKJOB_KIND,
            "metadata": {
                "name": name,
                "namespace": self.schedule.namespace,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": SCHEDULE_KIND,
                        "name": self.schedule.name,
                        "uid": self.schedule.uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            # As the user wrote it (and the API server defaulted it): a field this
            # operator version does not know still reaches the TaskJob.
            "spec": copy.deepcopy(dict(as_mapping(raw.get("spec")))),
        }

    # -- the status --------------------------------------------------------------

    def _status(
        self, plan: _Plan | None, problem: str | None, upcoming: datetime | None
    ) -> dict[str, Any]:
        active: list[dict[str, Any]] = [
            {
                "name": run.name,
                "namespace": run.namespace or self.schedule.namespace,
                "uid": run.uid,
            }
            for run in self.runs
            if not run.terminal
        ]
        active += [
            {"name": create.name, "namespace": self.schedule.namespace} for create in self.creates
        ]
        status: dict[str, Any] = {}
        if active:
            status["active"] = active
        status["activeCount"] = len(active)
        if self.last_schedule is not None:
            status["lastScheduleTime"] = format_time(self.last_schedule)
        last_success = _latest(
            parse_time(self.schedule.status.get("lastSuccessfulTime")),
            *(run.finished for run in self.runs if run.phase == "Succeeded"),
        )
        if last_success is not None:
            status["lastSuccessfulTime"] = format_time(last_success)
        next_run = self._next_schedule_time(plan, upcoming)
        if next_run is not None:
            status["nextScheduleTime"] = format_time(next_run)
        status["missedRuns"] = self.missed
        if self.last_trigger is not None:
            status["lastTrigger"] = self.last_trigger
        if self.watermark is not None:
            status["lastConsideredTime"] = format_time(self.watermark)
        status["conditions"] = self._conditions(plan, problem)
        status["observedGeneration"] = self.schedule.generation
        return status

    def _next_schedule_time(self, plan: _Plan | None, upcoming: datetime | None) -> datetime | None:
        """The instant of the next run to start: one waiting to replace the active
        runs, one whose jittered start is still ahead, or the next fire time."""
        if plan is None or self.schedule.deleting:
            return None
        if self.waiting_for is not None:
            return self.waiting_for
        if self.not_due:
            return min(self.not_due)
        return upcoming

    def _conditions(self, plan: _Plan | None, problem: str | None) -> list[dict[str, Any]]:
        suspended = plan is not None and plan.spec.suspend
        if problem is not None:
            ready = ("False", "Invalid", problem)
        elif self.schedule.deleting:
            ready = ("False", "Deleting", "the schedule is being deleted: no new runs")
        elif suspended:
            ready = ("False", "Suspended", "spec.suspend is true: no new runs")
        else:
            assert plan is not None
            ready = (
                "True",
                "Scheduled",
                f"schedule {plan.spec.schedule!r} in {plan.spec.time_zone}",
            )
        conditions = {
            "Ready": ready,
            "Suspended": ("True", "Suspended", "spec.suspend is true: no new runs")
            if suspended
            else ("False", "NotSuspended", "spec.suspend is false"),
            "Invalid": ("True", "Invalid", problem)
            if problem is not None
            else ("False", "Valid", "the spec is valid"),
        }
        return [self._condition(kind, *value) for kind, value in conditions.items()]

    def _condition(self, kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return condition(
            self.schedule.status, kind, status, reason, message, self.schedule.generation, self.now
        )

    def _observed_condition(self, kind: str) -> Mapping[str, Any] | None:
        return find_condition(self.schedule.status, kind)

    def _observed_invalid_message(self) -> str | None:
        condition = self._observed_condition("Invalid")
        if condition is None or condition.get("status") != "True":
            return None
        return as_non_empty_str(condition.get("message"))

    def _requeue_after(self, plan: _Plan | None, upcoming: datetime | None) -> float | None:
        """Seconds until the earliest start still ahead (jitter included), or a short
        poll while waiting on the run list; None when no run can start by time."""
        if plan is None or plan.spec.suspend or self.schedule.deleting:
            return None
        moments = [self._start(plan, instant) for instant in self.not_due]
        if upcoming is not None:
            moments.append(self._start(plan, upcoming))
        if self.poll:
            moments.append(self.now + timedelta(seconds=SETTLE_POLL_SECONDS))
        if not moments:
            return None
        return max((min(moments) - self.now).total_seconds(), 0.0)


# --- helpers --------------------------------------------------------------------


def _run_order(run: ObservedRun) -> tuple[datetime, str]:
    # Scheduled runs by their instant, manual runs by their creation.
    return (run.scheduled_time or run.created or EPOCH, run.name)


def _names(runs: Sequence[ObservedRun]) -> str:
    shown = ", ".join(run.name for run in runs[:3])
    more = f" and {len(runs) - 3} more" if len(runs) > 3 else ""
    return f"run{'s' if len(runs) > 1 else ''} {shown}{more}"


def _latest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None
