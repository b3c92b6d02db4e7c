"""The TaskJob phase machine: `decide(job, pods, now) -> Decision`.

Pure: no I/O, no clock, no kopf. The shell observes a TaskJob and its pods,
calls `decide`, patches `.status` to `Decision.status` (when it differs), then
applies `Decision.actions` in order, then requeues after
`Decision.requeue_after` seconds.

How attempts are remembered
---------------------------
An attempt is identified by (index, attempt) and its pod is named after both
(`pods.pod_name`), so asking twice for the same attempt yields AlreadyExists,
never a second pod. Per index, attempts run one after the other: attempt `a+1`
is only created once attempt `a` is recorded as ended. The status therefore
remembers each index with a watermark, `status.indexes[i].attempts`: attempts
below it have ended and are counted; the next attempt gets that number.
Recording an attempt means raising the watermark past it, which makes counting
idempotent whatever the crash point or the staleness of the inputs.

A pod carries the `taskops.dev/attempt-record` finalizer until a status that
records its attempt has been observed (written and read back): only then is
it released, so an outcome cannot vanish before it is counted. The status
also remembers which indexes have an attempt started (`indexes[i].started`),
so a pod the cache does not show yet still holds its parallelism slot and is
asked for again under the same name rather than replaced by another index.

The shell's side of the bargain:
- the pods passed are the job's pods (selected by the `taskops.dev/taskjob-uid`
  label); the pod cache may lag a little behind the cluster;
- the job passed is never older than a status the shell wrote or passed
  before (keep the patch response; after a write whose outcome is unknown,
  read the job again). A status older than the pods is fine. Deciding from a
  status older than one already written can undo what that write decided
  (even a terminal phase), though it never creates an attempt twice;
- CreatePod treats AlreadyExists, DeletePod and ReleasePod treat NotFound as
  done; a failing action stops the ones after it (the next reconcile redoes
  them); EmitEvent is best effort. A CreatePod the API server keeps refusing
  (an invalid pod template, a quota) is asked for again on every reconcile:
  surfacing that error is the shell's part;
- `status` is the complete new status: keys absent from it must be removed
  (`conditions.status_patch` computes the JSON merge patch that does that);
- a pod whose TaskJob is gone (a creation that raced the deletion) still
  holds the attempt-record finalizer: the shell releases such orphans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, get_args

from pydantic import ValidationError

from taskops.api.taskjob import (
    MAX_DURATION_SECONDS,
    MAX_GRACE_SECONDS,
    MAX_KEPT_PODS,
    RESULTS_BUDGET_BYTES,
    TERMINAL_PHASES,
    Phase,
    Shutdown,
    TaskJobSpec,
    describe_validation_error,
)
from taskops.core.actions import (
    Action,
    AddJobFinalizer,
    AttemptEnded,
    CreatePod,
    Decision,
    DeleteJob,
    DeletePod,
    EmitEvent,
    Finished,
    Observation,
    ReleasePod,
    RemoveJobFinalizer,
    SlotTaken,
)
from taskops.core.admission import CONCURRENCY_CAP, OPEN, QUEUE_TIMEOUT, Gate
from taskops.core.backoff import retry_delay
from taskops.core.coerce import as_mapping, as_non_empty_str, as_non_negative_int
from taskops.core.conditions import find_condition
from taskops.core.dag import WAITING_FOR_DEPENDENCIES, Broken, Waiting
from taskops.core.job_status import (
    INVALID,
    StatusInputs,
    progress_message,
    render_status,
    truncate_utf8,
)
from taskops.core.labels import JOB_FINALIZER
from taskops.core.ledger import IndexBook, Ledger
from taskops.core.observed import (
    CONTAINER_CREATING,
    SCHEDULING,
    ObservedJob,
    ObservedPod,
    as_utc,
    format_time,
    parse_time,
)
from taskops.core.pods import pod_manifest, template_main_container
from taskops.core.progress_writes import only_progress, progress_window_end

# --- attempt outcomes (status.attempts[].reason) -----------------------------

SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
NON_RETRYABLE: Final = "NonRetryableExitCode"
ATTEMPT_DEADLINE: Final = "AttemptDeadlineExceeded"
PENDING_TIMEOUT: Final = "PendingTimeout"
DISRUPTED: Final = "Disrupted"
SUSPENDED: Final = "Suspended"
DEADLINE: Final = "DeadlineExceeded"
STOPPED: Final = "Stopped"  # the job ended or is being deleted while the attempt ran

# Job failure reasons (status.reason when phase is Failed).
BACKOFF_LIMIT: Final = "BackoffLimitExceeded"  # and INVALID, from job_status

# Outcomes that end an attempt without success but allow a retry.
_RETRYABLE: Final = frozenset({FAILED, ATTEMPT_DEADLINE, PENDING_TIMEOUT, DISRUPTED})
# The reason of a job Pending while its pod is asked for and not seen yet.
CREATING: Final = "Creating"
# Pending reasons that are progress, not trouble: no Warning Event for them.
_ON_THE_WAY: Final = frozenset({CREATING, SCHEDULING, CONTAINER_CREATING, "PodInitializing"})
_ATTEMPT_MESSAGE_MAX_BYTES: Final = 512
#: How long past its deletion deadline (the delete's time plus the grace
#: period) a deleted job waits for a pod before it stops waiting: a pod on a
#: lost node never finishes terminating.
STUCK_DELETION_SECONDS: Final = 60


def decide(
    job: ObservedJob,
    pods: Sequence[ObservedPod],
    now: datetime,
    gate: Gate = OPEN,
    rejected: str | None = None,
) -> Decision:
    """Decide the TaskJob's new status and the actions that move it on.

    Deterministic in its inputs (the order of `pods` does not matter) and
    level-triggered: applying the decision and deciding again converges, and
    an attempt is never counted twice nor created twice. `gate` is what the
    admission layer says: whether the job holds a slot (else it is Queued, or
    BackingOff while no retry is due, and `Decision.wants_slot` asks the shell
    for one), where it waits, and what its dependencies say (consulted until
    the job first starts: Waiting, or Failed for a failed dependency or a
    cycle). Never raises on a bad spec: that is phase Failed, reason Invalid.
    `rejected` is the API server's refusal of this job's pod template (the
    schema cannot check a whole PodTemplateSpec): it makes the spec Invalid.
    """
    return _Reconcile(job, pods, as_utc(now), gate, rejected).decide()


# --- the reconcile -----------------------------------------------------------


@dataclass(frozen=True)
class _Knobs:
    """The spec values needed even when the spec is invalid (to drain and clean up)."""

    grace_seconds: int
    ttl_seconds: int | None
    failed_pods_limit: int

    @classmethod
    def of(cls, spec: TaskJobSpec | None, raw: Mapping[str, Any]) -> _Knobs:
        if spec is not None:
            return cls(
                spec.shutdown.grace_period_seconds,
                spec.ttl_seconds_after_finished,
                spec.failed_pods_limit,
            )
        # An invalid spec may hold any number: read each within its bound (a
        # TTL of 10^12 seconds would overflow the date arithmetic).
        shutdown = raw.get("shutdown")
        grace = _at_most(
            as_non_negative_int(as_mapping(shutdown).get("gracePeriodSeconds")),
            MAX_GRACE_SECONDS,
        )
        limit = _at_most(as_non_negative_int(raw.get("failedPodsLimit")), MAX_KEPT_PODS)
        return cls(
            grace if grace is not None else Shutdown.model_fields["grace_period_seconds"].default,
            _at_most(as_non_negative_int(raw.get("ttlSecondsAfterFinished")), MAX_DURATION_SECONDS),
            limit if limit is not None else TaskJobSpec.model_fields["failed_pods_limit"].default,
        )


def _at_most(value: int | None, bound: int) -> int | None:
    return None if value is None else min(value, bound)


class _Reconcile:
    """One run of `decide`; the steps share the inputs and the working ledger."""

    def __init__(
        self,
        job: ObservedJob,
        pods: Sequence[ObservedPod],
        now: datetime,
        gate: Gate,
        rejected: str | None = None,
    ) -> None:
        self.job = job
        self.now = now
        self.gate = gate
        self.pods = sorted(pods, key=lambda p: (p.index, p.attempt, p.name))
        self.observed = job.status
        observed_phase = self.observed.get("phase")
        self.observed_phase = observed_phase if observed_phase in get_args(Phase) else None
        self.was_terminal = self.observed_phase in TERMINAL_PHASES
        self.spec, self.invalid = _parse_spec(job.spec)
        if self.invalid is None and rejected is not None:
            self.invalid = rejected
        self.knobs = _Knobs.of(self.spec, job.spec)
        self.ledger = Ledger.from_status(self.observed)
        # What the observed status already records: pods below these
        # watermarks may be released (the record has been written).
        self.recorded_before = {i: b.attempts for i, b in self.ledger.books.items()}
        self.started_before = any(b.started for b in self.ledger.books.values())
        self.start_time = parse_time(self.observed.get("startTime"))
        if self.start_time is None and self.pods:
            # Pods exist only after the start: a status that lacks the start
            # time is a stale one (its write is not visible yet). Re-deriving
            # it keeps deadlines from restarting.
            created = [pod.created for pod in self.pods if pod.created is not None]
            self.start_time = _floor_second(min(created)) if created else None
        self.completion_time = parse_time(self.observed.get("completionTime"))
        results = self.observed.get("dependencyResults")
        # Taken once, at the first admission: every attempt sees the same input.
        self.dependency_results = results if isinstance(results, str) else None
        admitted = find_condition(self.observed, "Admitted")
        self.held_before = admitted is not None and admitted.get("status") == "True"

        self.wants_slot = False
        self.queued_since: datetime | None = None
        self.queue_deadline: datetime | None = None
        self.recheck_at: datetime | None = None
        self.new_records: list[dict[str, Any]] = []
        self.attempt_events: list[EmitEvent] = []
        self.ended: list[tuple[int, int, str]] = []
        self.non_retryable: tuple[str, str] | None = None
        self.stops: list[DeletePod] = []
        self.creates: list[tuple[int, int, CreatePod]] = []
        self.waiting: list[datetime] = []
        self.latest_success: tuple[datetime, int, int] | None = None
        self.progress_until: datetime | None = None

    # -- steps ---------------------------------------------------------------

    def decide(self) -> Decision:
        ending = self.was_terminal or self.invalid is not None or self.job.deleting
        self._record_ended_pods(ending)
        if not ending and self.spec is not None and not self.spec.suspend:
            self._stop_overdue_attempts()
        phase, reason, message = self._phase()
        self._stop_live_pods(phase, reason)
        for pod in self._live_pods():
            self.ledger.book(pod.index).started = True
        if phase in TERMINAL_PHASES or self.job.deleting:
            # Creations decided but never seen will not be asked for again.
            for book in self.ledger.books.values():
                book.started = False
        if phase == "Running" and not self.job.deleting:
            self._plan_creates()
            if not self._live_pods() and not self.creates and self.waiting:
                phase, reason = "BackingOff", "BackingOff"
            if self.start_time is None:
                self.start_time = _floor_second(self.now)
            assert self.spec is not None  # Running: the spec is valid
            message = progress_message(
                phase,
                active=len(self._live_pods()) + len(self.creates),
                succeeded=len(self.ledger.completed),
                completions=self.spec.completions,
                waiting=self.waiting,
            )
            if phase == "Running":
                phase, reason, message = self._running_or_pending(message)
        if phase in TERMINAL_PHASES and self.completion_time is None:
            self.completion_time = _floor_second(self.now)
        admitted = self._admitted_condition(phase, reason, message)
        spot = self.gate.queue if phase == "Queued" else None

        status = render_status(
            StatusInputs(
                job=self.job,
                spec=self.spec,
                ledger=self.ledger,
                new_records=self.new_records,
                live=self._live_pods(),
                creates=self.creates,
                start_time=self.start_time,
                completion_time=self.completion_time,
                waiting=self.waiting,
                now=self.now,
                admitted=admitted,
                queued_since=self.queued_since if phase == "Queued" else None,
                queue_position=spot.position if spot is not None else None,
                dependency_results=self.dependency_results if self.start_time else None,
            ),
            phase,
            reason,
            message,
        )
        self.progress_until = self._progress_may_wait_until(status, reason)
        if self.progress_until is not None:
            # Only the progress of pods that are starting, and more of it is
            # on its way: it is written with the rest (progress_writes).
            status = dict(self.observed)
            phase = self.observed_phase or phase
            reason = as_non_empty_str(self.observed.get("reason")) or reason
        actions: list[Action] = []
        if phase == "Pending" and reason != self.observed.get("reason"):
            # Why it waits changed (or it starts waiting): say so; a warning
            # when the pod is in trouble rather than on its way.
            trouble = reason not in _ON_THE_WAY
            if trouble or phase != self.observed_phase:
                actions.append(EmitEvent("Warning" if trouble else "Normal", "Pending",
                                         f"{reason}: {message}"))
        elif phase != self.observed_phase:
            # The event reason is the new phase, or why the job failed.
            failed = phase == "Failed"
            actions.append(
                EmitEvent("Warning" if failed else "Normal", reason if failed else phase, message)
            )
        if self._takes_slot(admitted) and self.observed_phase == "Queued":
            waited = round(self._queue_wait())
            actions.append(EmitEvent("Normal", "Admitted", f"admitted after {waited}s Queued"))
        actions.extend(self.attempt_events)
        if (not self.job.deleting and JOB_FINALIZER not in self.job.finalizers
                and (self.creates or any(not pod.terminal for pod in self.pods))):
            # Only while there is a pod to drain: a job that is Queued, Waiting
            # or Suspended costs no metadata write (a suspended run of every
            # schedule would pay one each), nor one whose pods all ended
            # before a pass saw them (the shell's first pass leaves it out).
            actions.append(AddJobFinalizer())
        actions.extend(self.stops)
        actions.extend(self._releases())
        actions.extend(create for _, _, create in self.creates)
        actions.extend(self._failed_pod_cleanup())
        actions.extend(self._force_deletes())
        delete_job, ttl_due = self._ttl(phase)
        if delete_job:
            actions.append(DeleteJob())
        if self._may_remove_job_finalizer():
            actions.append(RemoveJobFinalizer())
        return Decision(
            status=status,
            actions=tuple(actions),
            requeue_after=self._requeue_after(phase, ttl_due),
            observations=self._observations(phase, reason, admitted),
            wants_slot=self.wants_slot,
        )

    def _progress_may_wait_until(self, status: Mapping[str, Any], reason: str) -> datetime | None:
        """Until when the new status may stay unwritten: while it differs from
        the observed one only by the progress of starting pods, more of them
        are on their way (none in trouble), and the window since the job's
        newest pod was created is open. None: write it now."""
        if self.job.deleting or (reason != "Running" and reason not in _ON_THE_WAY):
            return None
        live = self._live_pods()
        starting = [pod for pod in live if not pod.main_started]
        if not starting or any(
            pod.created is None or (pod.pending is not None and pod.pending[0] not in _ON_THE_WAY)
            for pod in starting
        ):
            return None
        until = progress_window_end([pod.created for pod in live if pod.created is not None])
        if until is None or until <= self.now or not only_progress(self.observed, status):
            return None
        return until

    def _record_ended_pods(self, ending: bool) -> None:
        """Record every pod that has ended, or is being deleted, and is not recorded yet."""
        spec = self.spec
        # In (index, attempt) order: the attempts of one index ended one after
        # the other, and recording one moves the index's watermark past it.
        for pod in self.pods:
            if pod.attempt < self.ledger.watermark(pod.index):
                continue
            if pod.phase == "Succeeded":
                self._record(pod, SUCCEEDED, _exit_message(pod))
            elif pod.phase == "Failed" and pod.disrupted:
                self._record(pod, DISRUPTED, _exit_message(pod))
            elif pod.deleting:
                # Nobody but the operator deletes pods for the job's sake; it
                # records those first. An unrecorded deletion was someone
                # else's (a disruption), unless the job's own state explains it
                # (its status write was lost or is not visible yet).
                self._record(pod, self._deletion_outcome(pod, ending), _exit_message(pod))
            elif pod.phase == "Failed":
                outcome = FAILED
                if spec is not None and not _retryable_exit(spec, pod.exit_code):
                    outcome = NON_RETRYABLE
                    self.non_retryable = (
                        NON_RETRYABLE,
                        f"pod {pod.name} (index {pod.index}, attempt {pod.attempt}) exited with "
                        f"code {pod.exit_code}, which spec.retry.onExitCodes does not retry",
                    )
                self._record(pod, outcome, _exit_message(pod))

    def _deletion_outcome(self, pod: ObservedPod, ending: bool) -> str:
        spec = self.spec
        if ending or spec is None:
            return STOPPED
        if spec.suspend:
            return SUSPENDED
        if self._deadline_passed():
            return DEADLINE
        attempt_deadline = self._attempt_deadline(pod)
        if attempt_deadline is not None and attempt_deadline <= self.now:
            return ATTEMPT_DEADLINE
        pending_deadline = self._pending_deadline(pod)
        if pending_deadline is not None and pending_deadline <= self.now:
            return PENDING_TIMEOUT
        if pod.index >= spec.completions:
            return STOPPED
        return DISRUPTED

    def _stop_overdue_attempts(self) -> None:
        """End attempts that outlived spec.timeouts.attemptDeadlineSeconds, or whose
        pod did not start within spec.timeouts.pendingSeconds (both retryable)."""
        assert self.spec is not None
        timeouts = self.spec.timeouts
        for pod in self._live_pods():
            deadline = self._attempt_deadline(pod)
            pending_deadline = self._pending_deadline(pod)
            if deadline is not None and deadline <= self.now:
                outcome = ATTEMPT_DEADLINE
                message = ("the attempt ran longer than spec.timeouts.attemptDeadlineSeconds "
                           f"({timeouts.attempt_deadline_seconds}s)")
            elif pending_deadline is not None and pending_deadline <= self.now:
                why, detail = pod.pending or (SCHEDULING, "not started")
                outcome = PENDING_TIMEOUT
                message = truncate_utf8(
                    "the pod did not start running within spec.timeouts.pendingSeconds "
                    f"({timeouts.pending_seconds}s): {why}: {detail}", _ATTEMPT_MESSAGE_MAX_BYTES)
            else:
                continue
            self._record(pod, outcome, message, finish=self.now)
            self.stops.append(DeletePod(pod.name, self.knobs.grace_seconds))

    def _running_or_pending(self, progress: str) -> tuple[str, str, str]:
        """Running once the main container of a live pod has started; until then
        Pending, with the reason of the pod that says most (trouble first).

        A job already Running stays Running while its next pods are on their
        way to start an index's first attempt: a parallel job between two
        waves is not back to waiting. Written as Pending each time, a fan-out
        of 100 completions posted 16 `Pending` and `Running` Events and flipped
        its phase at every wave (bench fan-out). A retry still makes it
        Pending until it starts (its pod's state is what the user waits on),
        and so does a pod in trouble (unschedulable, image not pulled).
        """
        live = self._live_pods()
        if any(pod.main_started for pod in live):
            return "Running", "Running", progress
        going_on = self.observed_phase == "Running" and (
            any(pod.attempt == 0 for pod in live)
            or any(attempt == 0 for _, attempt, _ in self.creates))
        waiting = sorted(
            (pod for pod in live if pod.pending is not None),
            key=lambda p: (p.pending is not None and p.pending[0] in _ON_THE_WAY,
                           p.index, p.attempt),
        )
        if waiting:
            pod = waiting[0]
            assert pod.pending is not None
            why, detail = pod.pending
            if going_on and why in _ON_THE_WAY:
                return "Running", "Running", progress
            return "Pending", why, f"pod {pod.name}: {detail}; {progress}"
        if self.creates and not going_on:
            name = self.creates[0][2].manifest["metadata"]["name"]
            return "Pending", CREATING, f"creating pod {name}; {progress}"
        return "Running", "Running", progress

    def _phase(self) -> tuple[str, str, str]:
        """The phase after recording: terminal, Suspended, Pending, or Running (refined later)."""
        if self.was_terminal:
            assert self.observed_phase is not None
            return (
                self.observed_phase,
                as_non_empty_str(self.observed.get("reason")) or self.observed_phase,
                as_non_empty_str(self.observed.get("message")) or "",
            )
        if self.invalid is not None:
            return "Failed", INVALID, self.invalid
        spec = self.spec
        assert spec is not None
        if all(i in self.ledger.completed for i in range(spec.completions)):
            return "Succeeded", "CompletionsReached", _completions_message(spec)
        if self.non_retryable is not None:
            return "Failed", *self.non_retryable
        exceeded = self._limit_exceeded_message(spec)
        if exceeded is not None:
            return "Failed", BACKOFF_LIMIT, exceeded
        if self._deadline_passed():
            seconds = spec.timeouts.active_deadline_seconds
            return (
                "Failed",
                DEADLINE,
                f"the job ran longer than spec.timeouts.activeDeadlineSeconds ({seconds}s)",
            )
        if self.job.deleting:
            phase = self.observed_phase or "Pending"
            reason = as_non_empty_str(self.observed.get("reason")) or phase
            return phase, reason, "the TaskJob is being deleted"
        if spec.suspend:
            return "Suspended", "Suspended", "spec.suspend is true: pods are stopped"
        if self.start_time is None:
            verdict = self.gate.dependencies
            if isinstance(verdict, Broken):
                return "Failed", verdict.reason, verdict.message
            if isinstance(verdict, Waiting):
                self.recheck_at = verdict.recheck_at
                return "Waiting", WAITING_FOR_DEPENDENCIES, verdict.message
            self.dependency_results = verdict.results
        if not self._holds():
            return self._unadmitted_phase(spec)
        return "Running", "Running", ""

    def _holds(self) -> bool:
        """Whether the job holds a slot: granted, or pods of it still run (which
        only a job that held one can have)."""
        return self.gate.admitted or bool(self._live_pods())

    def _unadmitted_phase(self, spec: TaskJobSpec) -> tuple[str, str, str]:
        """BackingOff while every remaining attempt waits out a retry delay (no
        slot needed yet), else Queued for a slot, or Failed past queueSeconds."""
        retries: list[datetime] = []
        for index in range(spec.completions):
            if index in self.ledger.completed:
                continue
            book = self.ledger.books.get(index)
            if book is None or book.retry_after is None or book.retry_after <= self.now:
                retries = []
                break
            retries.append(book.retry_after)
        if retries:
            self.waiting.extend(retries)
            return "BackingOff", "BackingOff", progress_message(
                "BackingOff", active=0, succeeded=len(self.ledger.completed),
                completions=spec.completions, waiting=retries,
            )
        queued_since = parse_time(self.observed.get("queuedSince"))
        if self.observed_phase != "Queued" or queued_since is None:
            queued_since = _floor_second(self.now)
        seconds = spec.timeouts.queue_seconds
        if seconds is not None:
            self.queue_deadline = queued_since + timedelta(seconds=seconds)
            if self.queue_deadline <= self.now:
                return (
                    "Failed",
                    QUEUE_TIMEOUT,
                    f"waited Queued longer than spec.timeouts.queueSeconds ({seconds}s)",
                )
        self.wants_slot = True
        self.queued_since = queued_since
        spot = self.gate.queue
        return "Queued", CONCURRENCY_CAP, (
            spot.message if spot is not None else "waiting for a slot under the concurrency caps"
        )

    def _admitted_condition(self, phase: str, reason: str, message: str) -> tuple[str, str, str]:
        """Admitted=True exactly while the job holds a slot (what the caps count)."""
        if phase in ("Pending", "Running") and (self._holds() or self.creates):
            return "True", "Admitted", "holds a slot under the concurrency caps"
        if any(not pod.terminal for pod in self.pods):
            # Pods of a job that held a slot are still stopping: the slot is
            # kept until they are gone, so the cap bounds running pods too.
            return "True", "Draining", "holds its slot until its pods have stopped"
        if phase == "BackingOff":
            return "False", "BackingOff", "gave its slot back until its next attempt"
        if phase in TERMINAL_PHASES:
            return "False", "Finished", f"the job {phase.lower()}: {reason}"
        return "False", reason, message or "not admitted"

    def _limit_exceeded_message(self, spec: TaskJobSpec) -> str | None:
        limit = spec.retry.limit
        if spec.indexed:
            for index in sorted(i for i in self.ledger.books if i < spec.completions):
                failures = self.ledger.books[index].failures
                if failures > limit:
                    return f"index {index} failed {failures} times; spec.retry.limit is {limit}"
            return None
        failures = self.ledger.total_failures()
        if failures > limit:
            return f"{failures} attempts failed; spec.retry.limit is {limit}"
        return None

    def _stop_live_pods(self, phase: str, reason: str) -> None:
        """Drain the live pods a job that is over, deleted or suspended must not keep."""
        if phase in TERMINAL_PHASES or self.job.deleting:
            outcome = DEADLINE if reason == DEADLINE else STOPPED
        elif phase == "Suspended":
            outcome = SUSPENDED
        else:
            outcome = None
        for pod in self._live_pods():
            pod_outcome = outcome
            if pod_outcome is None and self.spec is not None and pod.index >= self.spec.completions:
                pod_outcome = STOPPED  # completions was lowered under it
            if pod_outcome is None:
                continue
            self._record(pod, pod_outcome, _stop_message(pod_outcome, reason), finish=self.now)
            self.stops.append(DeletePod(pod.name, self.knobs.grace_seconds))
        # A recorded attempt whose pod still runs was stopped by an earlier
        # decision whose DeletePod did not happen (crash) or is not visible yet.
        stopping = {stop.name for stop in self.stops}
        for pod in self.pods:
            if (
                pod.attempt < self.ledger.watermark(pod.index)
                and not pod.terminal
                and not pod.deleting
                and pod.name not in stopping
            ):
                self.stops.append(DeletePod(pod.name, self.knobs.grace_seconds))

    def _plan_creates(self) -> None:
        """Start the next attempts, lowest index first, up to spec.parallelism.

        An attempt started earlier whose pod is not visible yet is asked for
        again (same name: AlreadyExists if it is there) and takes its slot.
        """
        spec = self.spec
        assert spec is not None
        live = self._live_pods()
        busy = {pod.index for pod in live}
        in_flight = []
        for index, book in sorted(self.ledger.books.items()):
            if not book.started or index in busy:
                continue
            if index >= spec.completions or index in self.ledger.completed:
                book.started = False
            else:
                in_flight.append(index)
        for index in in_flight:
            self._create(spec, index)
        slots = spec.parallelism - len(live) - len(in_flight)
        for index in range(spec.completions):
            if index in self.ledger.completed or index in busy or index in in_flight:
                continue
            book = self.ledger.books.get(index) or IndexBook()
            if book.retry_after is not None and book.retry_after > self.now:
                self.waiting.append(book.retry_after)
                continue
            if slots <= 0:
                continue
            slots -= 1
            self._create(spec, index)

    def _create(self, spec: TaskJobSpec, index: int) -> None:
        book = self.ledger.book(index)
        book.started = True
        manifest = pod_manifest(
            namespace=self.job.namespace,
            job_name=self.job.name,
            job_uid=self.job.uid,
            spec=spec,
            index=index,
            attempt=book.attempts,
            dependency_results=self.dependency_results,
        )
        self.creates.append((index, book.attempts, CreatePod(manifest)))

    def _releases(self) -> list[ReleasePod]:
        """Release the pods whose attempt the observed status already records."""
        return [
            ReleasePod(pod.name)
            for pod in self.pods
            if pod.has_finalizer and pod.attempt < self.recorded_before.get(pod.index, 0)
        ]

    def _failed_pod_cleanup(self) -> list[DeletePod]:
        """Delete the pods of failed attempts beyond spec.failedPodsLimit, oldest first."""
        failed_pods = [
            pod
            for pod in self.pods
            if pod.terminal
            and not pod.deleting
            and pod.attempt < self.ledger.watermark(pod.index)
            and not self._is_success_pod(pod)
        ]
        failed_pods.sort(key=lambda p: (p.finished or p.created or self.now, p.index, p.attempt))
        keep = self.knobs.failed_pods_limit
        excess = failed_pods[: max(len(failed_pods) - keep, 0)]
        # Only released pods: a pod still holding the finalizer has an outcome
        # the status may not have recorded yet.
        return [DeletePod(pod.name, None) for pod in excess if not pod.has_finalizer]

    def _is_success_pod(self, pod: ObservedPod) -> bool:
        return (
            pod.phase == "Succeeded"
            and pod.index in self.ledger.completed
            and pod.attempt == self.ledger.watermark(pod.index) - 1
        )

    def _ttl(self, phase: str) -> tuple[bool, datetime | None]:
        """(delete the job now, when it will be due) for ttlSecondsAfterFinished."""
        ttl = self.knobs.ttl_seconds
        if phase not in TERMINAL_PHASES or ttl is None or self.job.deleting:
            return False, None
        assert self.completion_time is not None
        due = self.completion_time + timedelta(seconds=ttl)
        return due <= self.now, due

    def _may_remove_job_finalizer(self) -> bool:
        # Hold the deleted job until the pods it stopped are gone (the contract:
        # deletion waits for the drain) and no pod holds an unrecorded outcome;
        # finished pods nobody deletes are left to the garbage collector
        # through their ownerReference. A pod whose
        # creation was decided but is not visible yet may still show up: the
        # status first forgets it, and the job goes one reconcile later, which
        # gives the cache that much time to catch up.
        return (
            self.job.deleting
            and JOB_FINALIZER in self.job.finalizers
            and not self.started_before
            and not any(
                pod.has_finalizer or ((not pod.terminal or pod.deleting) and not self._stuck(pod))
                for pod in self.pods
            )
        )

    def _stuck(self, pod: ObservedPod) -> bool:
        """A pod whose deletion is overdue by STUCK_DELETION_SECONDS: its node is
        gone or its kubelet cannot say so. A deleted job stops waiting for it
        (its outcome recorded, its finalizer released) and force-deletes it."""
        deadline = pod.deletion_deadline
        return (pod.deleting and deadline is not None
                and self.now >= deadline + timedelta(seconds=STUCK_DELETION_SECONDS))

    def _force_deletes(self) -> list[DeletePod]:
        """Grace 0 for the stuck pods of a deleted job, once released: the API server
        then drops the object without waiting for a kubelet that will not answer."""
        if not self.job.deleting:
            return []
        return [DeletePod(pod.name, 0) for pod in self.pods
                if self._stuck(pod) and not pod.has_finalizer]

    def _requeue_after(self, phase: str, ttl_due: datetime | None) -> float | None:
        moments: list[datetime] = []
        if ttl_due is not None:
            moments.append(ttl_due)
        if phase not in TERMINAL_PHASES and not self.job.deleting:
            moments.extend(self.waiting)
            for moment in (self.queue_deadline, self.recheck_at, self.progress_until):
                if moment is not None:
                    moments.append(moment)
            deadline = self._deadline()
            if deadline is not None:
                moments.append(deadline)
            for pod in self._live_pods():
                for moment in (self._attempt_deadline(pod), self._pending_deadline(pod)):
                    if moment is not None:
                        moments.append(moment)
        if self.job.deleting:
            # Nothing else wakes a deleted job whose pod never finishes terminating.
            moments.extend(pod.deletion_deadline + timedelta(seconds=STUCK_DELETION_SECONDS)
                           for pod in self.pods
                           if pod.deleting and pod.deletion_deadline is not None)
        future = [(m - self.now).total_seconds() for m in moments if m > self.now]
        return min(future) if future else None

    def _observations(
        self, phase: str, reason: str, admitted: tuple[str, str, str]
    ) -> tuple[Observation, ...]:
        continuing = phase not in TERMINAL_PHASES and not self.job.deleting
        result: list[Observation] = [
            AttemptEnded(index, attempt, outcome, retried=continuing and outcome in _RETRYABLE)
            for index, attempt, outcome in self.ended
        ]
        if phase in TERMINAL_PHASES and not self.was_terminal:
            assert self.completion_time is not None
            start = self.start_time or self.job.created
            duration = max((self.completion_time - start).total_seconds(), 0.0)
            result.append(Finished(phase, reason, duration))
        if self._takes_slot(admitted):
            result.append(SlotTaken(self._queue_wait()))
        return tuple(result)

    def _takes_slot(self, admitted: tuple[str, str, str]) -> bool:
        return admitted[1] == "Admitted" and not self.held_before

    def _queue_wait(self) -> float:
        since = parse_time(self.observed.get("queuedSince"))
        if self.observed_phase != "Queued" or since is None:
            return 0.0
        return max((self.now - since).total_seconds(), 0.0)

    # -- recording -----------------------------------------------------------

    def _record(
        self, pod: ObservedPod, outcome: str, message: str, finish: datetime | None = None
    ) -> None:
        """Count the attempt of `pod` as ended with `outcome`, exactly once."""
        book = self.ledger.book(pod.index)
        if pod.attempt < book.attempts:
            return
        book.attempts = pod.attempt + 1
        book.started = False
        finished_at = finish or pod.finished or self.now
        spec = self.spec
        # An index the spec no longer has (completions lowered) counts for nothing.
        in_range = spec is not None and pod.index < spec.completions
        counted = in_range and (
            outcome in (FAILED, NON_RETRYABLE, ATTEMPT_DEADLINE, PENDING_TIMEOUT)
            or (outcome == DISRUPTED and spec is not None and spec.retry.on_disruption == "Count")
        )
        if outcome == SUCCEEDED:
            book.retry_after = None
            if spec is not None and in_range:
                self.ledger.completed.add(pod.index)
                self._keep_result(pod, spec, finished_at)
        elif outcome != SUSPENDED:
            self.ledger.failed += 1
        if counted:
            book.failures += 1
            if spec is not None:
                retry = book.failures if spec.indexed else self.ledger.total_failures()
                seed = f"{self.job.uid}/{pod.index}/{pod.attempt + 1}"
                delay = retry_delay(spec.retry.backoff, retry, seed)
                book.retry_after = _ceil_second(finished_at + timedelta(seconds=delay))
        record: dict[str, Any] = {
            "attempt": pod.attempt,
            "index": pod.index,
            "pod": pod.name,
            "startTime": format_time(pod.started or pod.created or finished_at),
            "finishTime": format_time(finished_at),
        }
        if pod.exit_code is not None:
            record["exitCode"] = pod.exit_code
        record["reason"] = outcome
        record["message"] = message
        self.new_records.append(record)
        self.ended.append((pod.index, pod.attempt, outcome))
        if outcome not in (SUCCEEDED, SUSPENDED, STOPPED, DEADLINE):
            self.attempt_events.append(
                EmitEvent(
                    "Warning",
                    "AttemptFailed",
                    f"pod {pod.name} (index {pod.index}, attempt {pod.attempt}): {outcome}: "
                    f"{message}",
                )
            )

    def _keep_result(self, pod: ObservedPod, spec: TaskJobSpec, finished_at: datetime) -> None:
        if not spec.result.from_termination_message or pod.termination_message is None:
            return
        if spec.indexed:
            budget = min(spec.result.max_bytes, RESULTS_BUDGET_BYTES // spec.completions)
            self.ledger.results[str(pod.index)] = truncate_utf8(pod.termination_message, budget)
            return
        # NonIndexed: the result of the last attempt to succeed.
        key = (finished_at, pod.index, pod.attempt)
        if self.latest_success is None or key > self.latest_success:
            self.latest_success = key
            self.ledger.result = truncate_utf8(pod.termination_message, spec.result.max_bytes)

    # -- derived facts -------------------------------------------------------

    def _live_pods(self) -> list[ObservedPod]:
        """Pods of unrecorded attempts that still run: they count against parallelism."""
        return [
            pod
            for pod in self.pods
            if not pod.terminal
            and not pod.deleting
            and pod.attempt >= self.ledger.watermark(pod.index)
        ]

    def _deadline(self) -> datetime | None:
        if self.spec is None or self.start_time is None:
            return None
        seconds = self.spec.timeouts.active_deadline_seconds
        return None if seconds is None else self.start_time + timedelta(seconds=seconds)

    def _deadline_passed(self) -> bool:
        deadline = self._deadline()
        return deadline is not None and deadline <= self.now

    def _attempt_deadline(self, pod: ObservedPod) -> datetime | None:
        if self.spec is None:
            return None
        seconds = self.spec.timeouts.attempt_deadline_seconds
        begun = pod.created or pod.started
        if seconds is None or begun is None:
            return None
        return begun + timedelta(seconds=seconds)

    def _pending_deadline(self, pod: ObservedPod) -> datetime | None:
        """When a pod whose main container has not started runs out of
        spec.timeouts.pendingSeconds (counted from its creation)."""
        if self.spec is None or pod.main_started or pod.created is None:
            return None
        seconds = self.spec.timeouts.pending_seconds
        return None if seconds is None else pod.created + timedelta(seconds=seconds)


# --- helpers -----------------------------------------------------------------


def _parse_spec(raw: Mapping[str, Any]) -> tuple[TaskJobSpec | None, str | None]:
    try:
        spec = TaskJobSpec.model_validate(raw)
    except ValidationError as exc:
        return None, describe_validation_error(exc)
    return spec, _named_port_problem(spec)


def _named_port_problem(spec: TaskJobSpec) -> str | None:
    """A probe or drain hook aimed at a port name the main container does not declare.

    The schema and the API server both accept it; the kubelet would then fail
    every probe (killing each attempt) or skip the drain, so it is Invalid.
    """
    container = template_main_container(spec) or {}
    ports = container.get("ports")
    declared = {
        str(port.get("name"))
        for port in (ports if isinstance(ports, list) else [])
        if isinstance(port, Mapping) and port.get("name")
    }
    aimed: list[tuple[str, object]] = []
    if spec.probes is not None and spec.probes.http is not None:
        aimed.append(("spec.probes.http.port", spec.probes.http.port))
    drain = spec.shutdown.drain
    if drain is not None and drain.http_get is not None:
        aimed.append(("spec.shutdown.drain.httpGet.port", drain.http_get.get("port")))
    for path, port in aimed:
        if isinstance(port, str) and port not in declared:
            return (
                f"{path}: the main container declares no port named {port!r} "
                f"(its ports: {', '.join(sorted(declared)) or 'none'})"
            )
    return None


def _retryable_exit(spec: TaskJobSpec, exit_code: int | None) -> bool:
    rule = spec.retry.on_exit_codes
    if rule is None or exit_code is None or exit_code == 0:
        return True
    listed = exit_code in rule.values
    return listed if rule.operator == "In" else not listed


def _exit_message(pod: ObservedPod) -> str:
    parts = []
    if pod.exit_code is not None:
        parts.append(f"exit code {pod.exit_code}")
    if pod.termination_reason:
        parts.append(pod.termination_reason)
    text = ", ".join(parts) or f"pod {pod.phase}"
    if pod.termination_message and pod.phase != "Succeeded":
        text += ": " + truncate_utf8(pod.termination_message.strip(), _ATTEMPT_MESSAGE_MAX_BYTES)
    if pod.disruption and pod.phase != "Succeeded":
        # Why someone else stopped it (an eviction, a lost node): what the
        # user reads first, so it leads.
        text = truncate_utf8(f"disrupted ({pod.disruption}); {text}", _ATTEMPT_MESSAGE_MAX_BYTES)
    return text


def _stop_message(outcome: str, job_reason: str) -> str:
    if outcome == SUSPENDED:
        return "stopped: spec.suspend is true"
    if outcome == DEADLINE:
        return "stopped: the job exceeded spec.timeouts.activeDeadlineSeconds"
    return f"stopped: the job ended ({job_reason})"


def _completions_message(spec: TaskJobSpec) -> str:
    noun = "indexes" if spec.indexed else "completions"
    return f"{spec.completions}/{spec.completions} {noun} succeeded"


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ceil_second(moment: datetime) -> datetime:
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)
