"""Admission under the operator's caps, by priority: pure rules.

A TaskJob needs a slot to run pods. Slots are capped cluster-wide
(`--max-running`) and per namespace (`--max-running-per-namespace`); a job
that wants one and cannot have it is Queued. What this module decides:

- `rank`: the admission order. Higher `spec.priority` first, then older
  `creationTimestamp`, then namespace and name (so the order is total and
  every replica computes the same).
- `slot_state`: whether a job holds a slot, wants one, or neither, read from
  its observed status alone. A job holds a slot exactly while its `Admitted`
  condition is True; the status that says so is written before its first pod
  is created, so after any crash the slots in use are counted from the
  stored statuses, never from memory.
- `admit`: the greedy walk that hands free slots to candidates in rank order.
  A candidate whose namespace is full is skipped (it does not block other
  namespaces), so a lower-ranked job is only ever admitted ahead of a
  higher-ranked one when the higher one's namespace has no room.
- `queue_spot`: where a job that was not admitted waits and behind which cap.

The shell keeps the candidates sorted by rank and calls these from one
synchronous section of the event loop, so two workers can never both take
the last slot.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final

from taskops.core.conditions import find_condition
from taskops.core.dag import NO_DEPENDENCIES, DependencyVerdict

CONCURRENCY_CAP: Final = "ConcurrencyCap"
QUEUE_TIMEOUT: Final = "QueueTimeout"
# Exact queue positions are written for the first EXACT_POSITIONS jobs of a
# queue only, and refreshed at most every POSITION_REFRESH_SECONDS: one
# admission must not cost a status write per queued job.
EXACT_POSITIONS: Final = 20
POSITION_REFRESH_SECONDS: Final = 5.0

GLOBAL: Final = "global"
NAMESPACE: Final = "namespace"


@dataclass(frozen=True, order=True)
class Rank:
    """Sorts in admission order: the first Rank is admitted first."""

    neg_priority: int
    created: datetime
    namespace: str
    name: str


def rank(priority: int, created: datetime, namespace: str, name: str) -> Rank:
    return Rank(-priority, created, namespace, name)


class SlotState(Enum):
    HOLDING = "holding"  # Admitted=True: counts against the caps
    CANDIDATE = "candidate"  # may want a slot (new, Pending, Queued)
    IDLE = "idle"  # neither: finished, waiting for dependencies or a retry, suspended


def slot_state(status: Mapping[str, object], deleting: bool) -> SlotState:
    """The slot state of a TaskJob from its observed status."""
    admitted = find_condition(status, "Admitted")
    if admitted is not None and admitted.get("status") == "True":
        return SlotState.HOLDING
    phase = status.get("phase")
    if deleting or phase in ("Succeeded", "Failed", "Waiting", "BackingOff", "Suspended"):
        return SlotState.IDLE
    return SlotState.CANDIDATE


@dataclass(frozen=True)
class Caps:
    """The caps in force; None is unlimited."""

    total: int | None = None
    per_namespace: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.total is None and self.per_namespace is None


@dataclass(frozen=True)
class Usage:
    """Slots in use: held (from statuses) plus granted and not yet written."""

    total: int
    by_namespace: Mapping[str, int]

    def room(self, caps: Caps, namespace: str) -> tuple[int | None, int | None]:
        """Free slots (global, namespace); None is unlimited."""
        total = None if caps.total is None else caps.total - self.total
        ns = (
            None
            if caps.per_namespace is None
            else caps.per_namespace - self.by_namespace.get(namespace, 0)
        )
        return total, ns


@dataclass(frozen=True)
class Candidate:
    """A job that wants a slot."""

    rank: Rank
    key: Hashable
    namespace: str


def admit(
    queues: Mapping[str, Sequence[Candidate]],
    usage: Usage,
    caps: Caps,
    until: Candidate | None = None,
) -> list[Hashable]:
    """The candidates to admit now, in rank order, from each namespace's queue
    (each sorted by rank).

    Greedy: the best-ranked candidate whose namespace has room takes the next
    free slot; a full namespace drops out of the walk instead of blocking the
    others. Stops at `until` when given (the shell asks about one job), or
    when no room is left. Never admits past a cap. The cost is the number
    admitted times the log of the number of namespaces, not the queue length.
    """
    if until is not None and caps.total is None:
        # Without a global cap, namespaces do not compete: only its own matters.
        queues = {until.namespace: queues.get(until.namespace, ())}
    total = None if caps.total is None else caps.total - usage.total
    room = {
        ns: None if caps.per_namespace is None
        else caps.per_namespace - usage.by_namespace.get(ns, 0)
        for ns in queues
    }
    heap = [
        (queue[0].rank, ns, 0)
        for ns, queue in queues.items()
        if queue and (room[ns] is None or (room[ns] or 0) > 0)
    ]
    heapq.heapify(heap)
    admitted: list[Hashable] = []
    while heap and (total is None or total > 0):
        _, ns, i = heapq.heappop(heap)
        candidate = queues[ns][i]
        admitted.append(candidate.key)
        if total is not None:
            total -= 1
        left = room[ns]
        if left is not None:
            room[ns] = left = left - 1
        if until is not None and candidate.key == until.key:
            break
        if (left is None or left > 0) and i + 1 < len(queues[ns]):
            heapq.heappush(heap, (queues[ns][i + 1].rank, ns, i + 1))
    return admitted


@dataclass(frozen=True)
class QueueSpot:
    """Where a job waits: behind which cap, its 1-based position in that queue."""

    cap: str  # GLOBAL or NAMESPACE
    limit: int
    in_use: int
    position: int | None  # None: beyond EXACT_POSITIONS

    @property
    def message(self) -> str:
        where = "the global cap" if self.cap == GLOBAL else "the namespace cap"
        head = f"queued behind {where} of {self.limit} running TaskJobs ({self.in_use} in use)"
        if self.position is None:
            return f"{head}; more than {EXACT_POSITIONS - 1} TaskJobs ahead"
        ahead = self.position - 1
        noun = "TaskJob" if ahead == 1 else "TaskJobs"
        return f"{head}; position {self.position}, {ahead} {noun} ahead"


def queue_spot(
    usage: Usage,
    caps: Caps,
    namespace: str,
    ahead_global: int,
    ahead_namespace: int,
) -> QueueSpot:
    """The spot of a job that was not admitted, given how many candidates rank ahead
    of it in all namespaces and in its own.

    It waits behind its namespace's cap when that namespace is full, else
    behind the global cap.
    """
    _, ns_room = usage.room(caps, namespace)
    if caps.per_namespace is not None and ((ns_room is not None and ns_room <= 0)
                                           or caps.total is None):
        ahead, cap, limit = ahead_namespace, NAMESPACE, caps.per_namespace
        in_use = usage.by_namespace.get(namespace, 0)
    else:
        assert caps.total is not None
        ahead, cap, limit, in_use = ahead_global, GLOBAL, caps.total, usage.total
    position = ahead + 1
    return QueueSpot(cap, limit, in_use, position if position <= EXACT_POSITIONS else None)


@dataclass(frozen=True)
class Gate:
    """What admission and dependencies say about one job, for `decide`."""

    admitted: bool = True  # it holds a slot, or was just granted one
    queue: QueueSpot | None = None  # where it waits, when not admitted
    dependencies: DependencyVerdict = NO_DEPENDENCIES


OPEN: Final = Gate()
