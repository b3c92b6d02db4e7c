"""A rate-limited work queue of object keys, in the manner of client-go's.

Watch events only add keys; workers take keys and reconcile. The queue gives
the guarantees level-triggered reconciling relies on:
- a key is queued at most once however many events arrive (deduplicated);
- a key is never processed by two workers at once; one added while it is
  being processed runs again right after;
- due work ("reconcile this again in 30 s": backoff, deadlines, TTLs,
  schedules) waits in one heap for the whole operator, never in a task or
  thread per object; only the earliest due time per key is kept;
- a key wakes one idle worker, not all of them, and one timer (the heap's
  earliest due time) wakes them for delayed keys: with every worker waiting
  on one Event with a timeout, each added key woke all 16 of them, each
  building a timeout and a task to wait again (5% of the operator's CPU in
  the bench's fan-out, bench/findings.md).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# Retry delays after a failed reconcile (mostly API errors), doubling per key.
# client-go's default limiter starts at 5 ms and caps at 1000 s; we start at a
# second, because most failures here are a conflict, throttling or a brief API
# server outage that a millisecond retry would only repeat, and cap at a
# minute, so that a job stuck on a lasting error still moves on within a
# minute of the error clearing, at one request per key per minute meanwhile.
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 60.0


class ShutDown(Exception):
    """The queue was shut down: workers should return."""


class WorkQueue(Generic[K]):
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock: Callable[[], float] = clock or (lambda: asyncio.get_running_loop().time())
        self._ready: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = itertools.count()
        # Idle workers, each waiting on its own future, oldest first.
        self._waiters: deque[asyncio.Future[None]] = deque()
        # The one timer for the heap: when it fires, and its handle.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._failures: dict[K, int] = {}
        self._shutdown = False

    def __len__(self) -> int:
        """Keys waiting to be processed now (not the delayed ones)."""
        return len(self._ready)

    @property
    def delayed(self) -> int:
        return len(self._due)

    def add(self, key: K) -> None:
        """Process `key` as soon as a worker is free."""
        if self._shutdown:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._ready.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Process `key` after `delay` seconds, unless an earlier time is already set."""
        if delay <= 0:
            self.add(key)
            return
        due = self._clock() + delay
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._arm(due)

    def add_batched(self, key: K, period: float) -> None:
        """Process `key` within `period` seconds, with whatever else arrives for it
        meanwhile: one pass instead of one per event when events come in bursts
        (a job's pods). Already waiting to run now, it runs now."""
        if key in self._queued:
            return
        self.add_after(key, period)

    def add_rate_limited(
        self, key: K, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_CAP_SECONDS
    ) -> float:
        """Retry after a failure: exponential per key, reset by `forget`."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = float(min(cap, base * 2.0**failures))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def _promote_due(self) -> float | None:
        """Move due keys to the ready queue; return seconds until the next one."""
        now = self._clock()
        while self._heap:
            due, _, key = self._heap[0]
            if self._due.get(key) != due:
                heapq.heappop(self._heap)  # superseded by an earlier time
                continue
            if due > now:
                return due - now
            heapq.heappop(self._heap)
            del self._due[key]
            self.add(key)
        return None

    async def get(self) -> K:
        """The next key to process; call `done(key)` when finished with it."""
        while True:
            if self._shutdown:
                raise ShutDown
            wait = self._promote_due()
            if self._ready:
                key = self._ready.popleft()
                self._queued.discard(key)
                self._processing.add(key)
                return key
            if wait is not None:
                self._arm(self._clock() + wait)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Woken, then cancelled before taking the key: wake another.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def shut_down(self) -> None:
        """Stop handing out keys; keys being processed finish normally."""
        self._shutdown = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters:
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _arm(self, due: float) -> None:
        """Have the timer fire by `due` (it promotes due keys, waking a worker each)."""
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._timer = None
            return  # no loop yet: the first `get` arms it
        self._timer_due = due
        self._timer = loop.call_later(max(due - self._clock(), 0.0), self._fire)

    def _fire(self) -> None:
        self._timer = None
        wait = self._promote_due()
        if wait is not None:
            self._arm(self._clock() + wait)

    @property
    def in_flight(self) -> int:
        return len(self._processing)


async def work(queue: WorkQueue[K], reconcile: Callable[[K], Awaitable[None]],
               log: logging.Logger) -> None:
    """One worker: take keys and reconcile them until the queue shuts down.

    A failed reconcile is retried with per-key exponential backoff; a
    successful one resets it.
    """
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            await reconcile(key)
            queue.forget(key)
        except Exception:
            delay = queue.add_rate_limited(key)
            log.exception("%s: reconcile failed; retrying in %.0fs", key, delay)
        finally:
            queue.done(key)
