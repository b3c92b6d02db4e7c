"""Who holds a slot and who waits: the operator's admission book.

A projection of the TaskJob store, updated whenever the store keeps a newer
copy of a job (a watch event or the answer to our own write), plus the slots
granted in this process whose `Admitted=True` status is not stored yet. The
rules are the core's (`taskops.core.admission`); this holds the sorted
queues they walk.

Every method is synchronous and the operator runs them on its one event loop,
so a grant is counted before any other worker can look: two workers cannot
both take the last slot. A grant lives only until the job's next status is
stored (then the status says Admitted=True, or the grant is returned); a
restart loses grants, never slots, since no pod is created before the status
that holds the slot is stored.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from taskops.core.admission import (
    EXACT_POSITIONS,
    Candidate,
    Caps,
    QueueSpot,
    Rank,
    SlotState,
    Usage,
    admit,
    queue_spot,
    rank,
    slot_state,
)
from taskops.core.observed import EPOCH, parse_time
from taskops.kube.store import Key

_Entry = tuple[Rank, Key]


@dataclass
class _Job:
    rank: Rank
    namespace: str
    state: SlotState
    written_position: int | None  # status.queuePosition as stored


class AdmissionBook:
    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self._jobs: dict[Key, _Job] = {}
        self._queue: list[_Entry] = []  # every candidate, in rank order
        self._by_namespace: dict[str, list[Candidate]] = {}  # per namespace, in rank order
        self._holding: Counter[str] = Counter()
        self._grants: set[Key] = set()
        #: The queues changed since positions were last refreshed.
        self.positions_changed = False

    # ------------------------------------------------------------------ observing
    def observe(self, body: Mapping[str, Any]) -> bool:
        """Take a stored TaskJob's current copy; True when a slot may have opened."""
        meta = body.get("metadata") or {}
        key: Key = (meta.get("namespace", ""), meta["name"])
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        priority = spec.get("priority")
        created = parse_time(meta.get("creationTimestamp")) or EPOCH
        job_rank = rank(priority if type(priority) is int else 0, created, key[0], key[1])
        state = slot_state(status, meta.get("deletionTimestamp") is not None)
        if state is SlotState.HOLDING:
            self._grants.discard(key)
        position = status.get("queuePosition")
        written = position if status.get("phase") == "Queued" and type(position) is int else None
        return self._put(key, _Job(job_rank, key[0], state, written))

    def forget(self, key: Key) -> bool:
        """The job is gone; True when it held (or was granted) a slot."""
        had_grant = key in self._grants
        self._grants.discard(key)
        old = self._jobs.pop(key, None)
        if old is not None:
            self._unplace(key, old)
        return had_grant or (old is not None and old.state is SlotState.HOLDING)

    def _put(self, key: Key, job: _Job) -> bool:
        old = self._jobs.get(key)
        if old is not None:
            self._unplace(key, old)
        self._jobs[key] = job
        self._place(key, job)
        if old is None:
            return False
        freed = old.state is SlotState.HOLDING and job.state is not SlotState.HOLDING
        # A candidate that leaves may have been ahead of one that now fits.
        left = old.state is SlotState.CANDIDATE and job.state is SlotState.IDLE
        return freed or left

    def _place(self, key: Key, job: _Job) -> None:
        if job.state is SlotState.HOLDING:
            self._holding[job.namespace] += 1
        elif job.state is SlotState.CANDIDATE and key not in self._grants:
            bisect.insort(self._queue, (job.rank, key))
            bisect.insort(self._by_namespace.setdefault(job.namespace, []),
                          Candidate(job.rank, key, job.namespace), key=_by_rank)
            self.positions_changed = True

    def _unplace(self, key: Key, job: _Job) -> None:
        if job.state is SlotState.HOLDING:
            self._holding[job.namespace] -= 1
            if self._holding[job.namespace] <= 0:
                del self._holding[job.namespace]
            return
        i = bisect.bisect_left(self._queue, (job.rank, key))
        if i < len(self._queue) and self._queue[i] == (job.rank, key):
            del self._queue[i]
            queue = self._by_namespace[job.namespace]
            del queue[bisect.bisect_left(queue, job.rank, key=_by_rank)]
            if not queue:
                del self._by_namespace[job.namespace]
            self.positions_changed = True

    # ------------------------------------------------------------------ deciding
    def holds(self, key: Key) -> bool:
        """Whether the job holds a slot (stored Admitted=True) or was granted one."""
        job = self._jobs.get(key)
        return key in self._grants or (job is not None and job.state is SlotState.HOLDING)

    def usage(self) -> Usage:
        by_namespace = Counter(self._holding)
        for key in self._grants:
            job = self._jobs.get(key)
            if job is not None and job.state is not SlotState.HOLDING:
                by_namespace[key[0]] += 1
        return Usage(sum(by_namespace.values()), by_namespace)

    def request(self, key: Key) -> QueueSpot | None:
        """A slot for the job, now, if the caps and the jobs ranked ahead allow:
        None when granted, else where it waits."""
        job = self._jobs[key]  # the reconciler observes a job before asking for it
        if self.holds(key):
            return None
        if self.caps.unlimited:
            self._grant(key, job)
            return None
        if job.state is not SlotState.CANDIDATE:
            # Back from a retry delay (or its dependencies done): it queues
            # again at its place by rank.
            self._put(key, _Job(job.rank, job.namespace, SlotState.CANDIDATE,
                                job.written_position))
        usage = self.usage()
        me = Candidate(job.rank, key, job.namespace)
        if key in admit(self._by_namespace, usage, self.caps, until=me):
            self._grant(key, job)
            return None
        return self._spot(key, job, usage)

    def release(self, key: Key) -> bool:
        """Drop a grant the job did not turn into Admitted=True; True if it had one."""
        if key not in self._grants:
            return False
        self._grants.discard(key)
        job = self._jobs.get(key)
        if job is not None:
            self._place(key, job)
        return True

    def wake(self) -> list[Key]:
        """The candidates the free slots would go to now (to be reconciled)."""
        if self.caps.unlimited:
            return []
        return cast(list[Key], admit(self._by_namespace, self.usage(), self.caps))

    def _grant(self, key: Key, job: _Job) -> None:
        self._unplace(key, job)
        self._grants.add(key)

    def _spot(self, key: Key, job: _Job, usage: Usage) -> QueueSpot:
        ahead_global = bisect.bisect_left(self._queue, (job.rank, key))
        queue = self._by_namespace.get(job.namespace, [])
        ahead_namespace = bisect.bisect_left(queue, job.rank, key=_by_rank)
        return queue_spot(usage, self.caps, job.namespace, ahead_global, ahead_namespace)

    # ------------------------------------------------------------------ reporting
    def stale_positions(self) -> list[Key]:
        """Queued jobs among the first EXACT_POSITIONS of a queue whose stored
        position is not their place now (to be reconciled, which rewrites it)."""
        self.positions_changed = False
        if self.caps.unlimited:
            return []
        usage = self.usage()
        stale: list[Key] = []
        heads: list[Key] = [key for _, key in self._queue[:EXACT_POSITIONS]]
        for queue in self._by_namespace.values():
            heads.extend(cast(Key, c.key) for c in queue[:EXACT_POSITIONS])
        for key in dict.fromkeys(heads):
            job = self._jobs[key]
            if self._spot(key, job, usage).position != job.written_position:
                stale.append(key)
        return stale

    def queue_depth(self) -> dict[str, int]:
        return {ns: len(queue) for ns, queue in self._by_namespace.items()}

    def holding(self) -> dict[str, int]:
        return dict(self.usage().by_namespace)


def _by_rank(candidate: Candidate) -> Rank:
    return candidate.rank
