"""The TaskJob reconciler: read what is observed, let the core decide, apply.

Nothing here decides anything about a TaskJob: `taskops.core.taskjob.decide`
does, from the job, its pods and the clock. This module only
- keeps the observed TaskJobs and pods (fed by the watches),
- runs `decide` for one job at a time (the work queue guarantees that),
- writes status first, then applies the actions in order, then schedules the
  next time-based change (the core's `requeue_after`).
Status first: the pod finalizer is only released once the status that
records the attempt is stored (see the core), so no attempt is ever lost.
The one exception is a new job's first pass (`creates_first`): it creates
the pods and leaves the status and the drain finalizer to the pass after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime
from typing import Any

from taskops.api.taskjob import KIND
from taskops.core.actions import (
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
from taskops.core.admission import POSITION_REFRESH_SECONDS, Caps, Gate
from taskops.core.conditions import find_condition
from taskops.core.labels import JOB_FINALIZER, POD_FINALIZER
from taskops.core.observed import FINAL_POD_PHASES, ObservedPod, observe_job, observe_pod
from taskops.core.taskjob import decide
from taskops.handlers.admission import AdmissionBook
from taskops.handlers.base import Reconciler, utc_now
from taskops.handlers.dependencies import DependencyIndex
from taskops.kube.client import Gone, KubeClient, Rejected
from taskops.kube.store import Key, ObjectStore, OwnedStore, key_of, project_pod
from taskops.metrics import Metrics

log = logging.getLogger(__name__)
PLURAL = "taskjobs"
# A job's pods change in bursts (created, bound, started, ended, released):
# their events are gathered for this long into one pass, as the Job
# controller's syncJobBatchPeriod does (1 s there). 2 s because a wave of a
# parallel job's pods ends over a second or two: with 1 s its completions
# took two or three writes and the next wave frayed (bench fan-out: 32
# status writes a TaskJob with 1 s, 23 with 2 s; docs/taskjob.md). The batch
# ends early when the last of a job's running pods ends (`on_pod_event`).
POD_EVENT_BATCH_SECONDS = 2.0


def ended(pod: Mapping[str, Any]) -> bool:
    """The pod has ended (its phase is final)."""
    return (pod.get("status") or {}).get("phase") in FINAL_POD_PHASES


def creates_first(body: Mapping[str, Any], decision: Decision, caps: Caps) -> bool:
    """Whether this pass creates the pods of a new job and leaves its status to
    the next.

    When many jobs are created at once, each one's first status write before
    its pod put one custom-resource write (about 10 ms of the API server's
    CPU) ahead of every pod but the first (bench burst), and so did its
    drain finalizer's. Only a job with no status yet whose pass asks for
    pods and nothing else that needs its status stored first (a pod's
    release, a stop): its next pass sees those pods and writes the same.
    Not under concurrency caps: there the written `Admitted` condition is
    what holds the slot across a restart.
    """
    if body.get("status") or not caps.unlimited or body["metadata"].get("deletionTimestamp"):
        return False
    kinds = {type(action) for action in decision.actions}
    return CreatePod in kinds and kinds <= {CreatePod, AddJobFinalizer, EmitEvent}


class TaskJobReconciler(Reconciler):
    """Holds the observed TaskJobs and pods and reconciles one job at a time."""

    def __init__(self, kube: KubeClient, executor: Executor, metrics: Metrics,
                 clock: Callable[[], datetime] = utc_now, caps: Caps | None = None) -> None:
        super().__init__(kube, executor, metrics, clock)
        self.jobs = ObjectStore()
        self.pods = OwnedStore(project_pod, live=lambda pod: not ended(pod))
        # Both are projections of `jobs`, updated with it (`_keep`, `_drop`).
        self.admission = AdmissionBook(caps or Caps())
        self.dependencies = DependencyIndex(self.jobs)
        # Pod templates the API server refused, by job uid, until the job's
        # status says Invalid (terminal, so the entry is then dropped).
        self.rejections: dict[str, str] = {}
        # Jobs whose last status write failed: its outcome is unknown, so the
        # next reconcile reads the job again instead of trusting the store.
        self.stale: set[Key] = set()
        # Pods whose finalizer this process removed, by (namespace, name), with
        # the resourceVersion it was removed from: until the watch brings a
        # newer copy, a pass that still sees the finalizer must not remove it
        # again (measured in the fan-out: 8% of pod patches were such repeats,
        # each a refused patch and a read).
        self.released: dict[tuple[str, str], str] = {}
        self.warm = False

    # ------------------------------------------------------------------ watch events
    def on_job_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.metrics.saw_event(KIND)
        if event_type == "DELETED":
            self._drop(body)
            self.metrics.phases.forget(body["metadata"]["uid"])
            self.rejections.pop(body["metadata"]["uid"], None)
            self.queue.add(key_of(body))  # pods left behind get released
            return
        if self._keep(dict(body)):
            self.queue.add(key_of(body))

    def _keep(self, body: Mapping[str, Any]) -> bool:
        """Store a copy of a job unless a newer one is held; keep the admission
        book and the dependency index in step; wake who its change concerns."""
        key = key_of(body)
        old = self.jobs.get(key)
        if not self.jobs.upsert(body):
            return False
        if self.admission.observe(body):
            self._wake()
        self.dependencies.update(key, body)
        if old is None or (old.get("status") or {}).get("phase") != (
                body.get("status") or {}).get("phase"):
            for dependent in self.dependencies.dependents_of(key):
                self.queue.add(dependent)
        return True

    def _drop(self, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        before = self.jobs.uid_of(key)
        self.jobs.delete(body)
        if self.jobs.uid_of(key) is not None or before is None:
            return  # another object under that name is stored, or none was
        if self.admission.forget(key):
            self._wake()
        self.dependencies.update(key, None)
        for dependent in self.dependencies.dependents_of(key):
            self.queue.add(dependent)

    def _wake(self) -> None:
        """Reconcile the jobs the free slots would go to."""
        for key in self.admission.wake():
            self.queue.add(key)

    async def refresh_admission(self) -> None:
        """Forever: every few seconds, rewrite queue positions that moved (the
        first of each queue only) and recount the admission metrics."""
        book = self.admission
        while True:
            await asyncio.sleep(POSITION_REFRESH_SECONDS)
            try:
                if book.positions_changed:
                    for key in book.stale_positions():
                        self.queue.add(key)
                self.metrics.set_admission(book.queue_depth(), book.holding(), book.caps.total,
                                           book.caps.per_namespace)
            except Exception:
                # Positions and gauges are reports: a failure must not end the loop.
                log.exception("refreshing queue positions failed")

    def on_pod_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.metrics.saw_event("Pod")
        owner = OwnedStore.controller_of(body)
        if owner is None or owner.get("kind") != KIND:
            return
        if self.released:
            self.released.pop((body["metadata"]["namespace"], body["metadata"]["name"]), None)
        key = (body["metadata"]["namespace"], owner["name"])
        # False: held as ended already (this event is a later change, such as
        # the release of its finalizer).
        was_live = self.pods.is_live(owner["uid"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.pods.delete(body)
        elif not self.pods.upsert(dict(body)):
            return
        elif ended(body) and (self.pods.count(owner["uid"]) == 1 or (
                was_live is not False and self.pods.live_count(owner["uid"]) == 0)):
            # The job's only pod, or the last of its pods still running,
            # ended: no other can end with it, so the pass comes now rather
            # than after the batch. A one-pod job's completion waited 2 s for
            # nothing (bench burst), and so did each wave of a parallel job's
            # next pods, where the Job controller waits 1 s (bench fan-out:
            # 7.1 s a wave of 5 s pods against 6.1 s). Of a parallel job, only
            # the end itself: the echoes of the pass's own writes to ended
            # pods arrive while its next pods are being created, and a pass
            # for each of them cost more writes (bench fan-out: 23.9 status
            # writes a TaskJob against 21). A one-pod job passes on every
            # change of its ended pod, as before: passing less on those moved
            # its second pass earlier in a burst of 10,000, while its pod was
            # still running, and the writes that cost made it slower
            # (bench/findings.md, item 23).
            self.queue.add(key)
            return
        self.queue.add_batched(key, POD_EVENT_BATCH_SECONDS)

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, key: Key) -> None:
        """One pass for one TaskJob; raises on API errors (the worker retries)."""
        namespace, name = key
        if key in self.stale:
            fresh = await self._call(self.kube.get_custom, PLURAL, namespace, name)
            self.stale.discard(key)
            if fresh is None:
                self._drop(self.jobs.get(key) or {"metadata": {"name": name,
                                                               "namespace": namespace}})
            else:
                self._keep(fresh)
        body = self.jobs.get(key)
        if body is None:
            await self._release_orphans(namespace, name)
            return
        with self.metrics.reconcile(KIND):
            job = observe_job(body)
            observed = [p for p in self.pods.owned_views(job.uid, observe_pod) if p]
            now = self.clock()
            rejected = self.rejections.get(job.uid)
            gate = Gate(admitted=self.admission.holds(key),
                        dependencies=self.dependencies.verdict(job, now))
            decision = decide(job, observed, now, gate, rejected)
            if decision.wants_slot:
                # One synchronous step on the event loop: no other worker can
                # take the slot between the count and the grant.
                spot = self.admission.request(key)
                gate = replace(gate, admitted=True) if spot is None else replace(gate, queue=spot)
                decision = decide(job, observed, now, gate, rejected)
            if decision.status.get("phase") in ("Succeeded", "Failed"):
                self.rejections.pop(job.uid, None)
            if creates_first(body, decision, self.admission.caps):
                await self._create_first(key, body, decision)
                return
            await self._apply(key, body, decision, observed)
            admitted = find_condition(decision.status, "Admitted")
            if (admitted is None or admitted.get("status") != "True") and \
                    self.admission.release(key):
                self._wake()
        phase = decision.status.get("phase")
        # Not once the job is gone: its DELETED event may have been handled
        # while this pass awaited its last write (the finalizer's removal),
        # and a phase recorded after `forget` would be counted for ever.
        if phase and self.jobs.uid_of(key) == job.uid:
            self.metrics.phases.set_phase(job.uid, namespace, phase)
        if decision.requeue_after is not None:
            self.queue.add_after(key, max(decision.requeue_after, 0.05))
        log.debug("reconciled %s/%s: phase=%s actions=%d requeue=%s", namespace, name, phase,
                  len(decision.actions), decision.requeue_after)

    async def _create_first(self, key: Key, body: Mapping[str, Any],
                            decision: Decision) -> None:
        """A new job's first pass: its pods only. The status write, the drain
        finalizer, the Event and the metrics go to the next pass, queued
        behind every job already waiting, which sees the pods (their create
        answers are in the store) and writes what this pass would have, or
        already what they have become since: a pod that ended by then has
        nothing to drain, so that job never pays the finalizer's write."""
        creates = [a for a in decision.actions if isinstance(a, CreatePod)]
        if await self._create_pods(key, body["metadata"]["uid"], creates):
            self.queue.add(key)

    async def _apply(self, key: Key, body: Mapping[str, Any], decision: Decision,
                     observed: Sequence[ObservedPod]) -> None:
        namespace, name = key
        meta = body["metadata"]
        old_status = body.get("status") or {}
        if decision.status != old_status:
            try:
                updated = await self._call(self.kube.patch_status, PLURAL, namespace, name,
                                           old_status, decision.status)
            except Gone:
                return
            except Exception:
                self.stale.add(key)
                raise
            if updated is not None:
                self._keep(updated)
                body = updated
                if any(pod.terminal and pod.has_finalizer for pod in observed):
                    # A pod is released only once a stored status records its
                    # end (see the core): the pass that does it runs next, not
                    # on the watch's echo, which is ignored. Only then: a pass
                    # after every write would loop a queued job for as long as
                    # its message changes (the slots in use, its position).
                    self.queue.add(key)
        actions = list(decision.actions)
        while actions:
            action = actions.pop(0)
            match action:
                case CreatePod():
                    creates = [action]
                    while actions and isinstance(following := actions[0], CreatePod):
                        creates.append(following)
                        actions.pop(0)
                    if not await self._create_pods(key, meta["uid"], creates):
                        break
                case DeletePod(name=pod, grace_seconds=grace):
                    await self._call(self.kube.delete_pod, namespace, pod, grace)
                    log.info("%s/%s: deleting pod %s (grace %ss)", namespace, name, pod, grace)
                case ReleasePod(name=pod):
                    stored = self.pods.owned(meta["uid"], pod)
                    version = None if stored is None else stored["metadata"].get(
                        "resourceVersion")
                    if version is not None and self.released.get((namespace, pod)) == version:
                        continue  # removed already; the watch has not said so yet
                    known = None if stored is None else list(
                        stored["metadata"].get("finalizers") or [])
                    await self._call(self.kube.remove_pod_finalizer, namespace, pod,
                                     POD_FINALIZER, known)
                    if version is not None:
                        self.released[(namespace, pod)] = version
                case EmitEvent(type=type_, reason=reason, message=message):
                    # Not waited for: on a job's first pass the Event comes
                    # before its pod's creation, which needs nothing from it.
                    self._call_soon(self.kube.post_event, body, KIND, type_, reason, message,
                                    self.clock())
                    log.info("%s/%s: %s: %s", namespace, name, reason, message)
                case AddJobFinalizer():
                    finalized = await self._call(self.kube.add_finalizer, PLURAL, namespace,
                                                 name, JOB_FINALIZER,
                                                 list(meta.get("finalizers") or []))
                    if finalized is None:
                        # This pass's pods only after the drain finalizer:
                        # the watch event of the changed object brings it back.
                        break
                    self._keep(finalized)
                case RemoveJobFinalizer():
                    await self._call(self.kube.remove_finalizer, PLURAL, namespace, name,
                                     JOB_FINALIZER)
                case DeleteJob():
                    await self._call(self.kube.delete_custom, PLURAL, namespace, name,
                                     meta["uid"])
                    log.info("%s/%s: deleted after ttlSecondsAfterFinished", namespace, name)
        for observation in decision.observations:
            self._record(observation)

    async def _create_pods(self, key: Key, job_uid: str, creates: Sequence[CreatePod]) -> bool:
        """Create the pods, several at a time: a wave of them then starts (and
        ends) together, which is what lets one status write record a wave.
        In batches of 1, 2, 4 and so on, as the Job controller's slow start
        does, so a template the API server refuses costs one request, not
        `parallelism`. False when a create failed: the actions after it wait
        for the next pass (the core's contract)."""
        namespace, name = key
        done, size = 0, 1
        while done < len(creates):
            batch = creates[done:done + size]
            outcomes = await asyncio.gather(
                *(self._call(self.kube.create_pod, namespace, create.manifest)
                  for create in batch), return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Rejected):
                    # The next pass turns this into Failed/Invalid.
                    self.rejections[job_uid] = f"spec.template: {outcome}"
                    self.queue.add(key)
                    log.warning("%s/%s: pod template refused: %s", namespace, name, outcome)
                    return False
            failure = None
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                elif outcome is not None:
                    self.pods.upsert(outcome)
                    log.info("%s/%s: created pod %s", namespace, name,
                             outcome["metadata"]["name"])
            if failure is not None:
                raise failure
            done += len(batch)
            size *= 2
        return True

    async def _release_orphans(self, namespace: str, job_name: str) -> None:
        """Release pods of a TaskJob that is gone (a pod created while its job
        was being deleted); the garbage collector then removes them."""
        if not self.warm:
            return
        for body in self.pods.owned_by_name(namespace, KIND, job_name):
            finalizers = list(body["metadata"].get("finalizers") or [])
            if POD_FINALIZER in finalizers:
                await self._call(self.kube.remove_pod_finalizer, namespace,
                                 body["metadata"]["name"], POD_FINALIZER, finalizers)

    def _record(self, observation: Observation) -> None:
        match observation:
            case Finished(result=result, reason=reason, duration_seconds=duration):
                self.metrics.taskjobs_finished.labels(result=result, reason=reason).inc()
                self.metrics.run_duration.observe(duration)
            case AttemptEnded(outcome=outcome, retried=retried):
                self.metrics.attempts.labels(outcome=outcome).inc()
                if retried:
                    self.metrics.retries.inc()
            case SlotTaken(wait_seconds=wait):
                self.metrics.queue_wait.observe(wait)
