"""What every reconciler shares: the API client, its thread pool, metrics,
the clock, and one work queue of object keys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from taskops.kube.client import KubeClient
from taskops.kube.store import Key
from taskops.metrics import Metrics
from taskops.workqueue import WorkQueue

T = TypeVar("T")
log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(self, kube: KubeClient, executor: Executor, metrics: Metrics,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.kube = kube
        self.executor = executor
        self.metrics = metrics
        self.clock = clock
        self.queue: WorkQueue[Key] = WorkQueue()
        # Calls sent without waiting for their answer (Events): held here so
        # that they are not collected mid-flight, and so that `settle` can
        # wait for them at shutdown.
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking API call in the pool: never on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args))

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Send a best-effort call (an Event) without waiting for its answer: the
        worker goes on to its next object instead of spending a round trip on
        something nothing after it depends on."""
        task = asyncio.get_running_loop().create_task(self._call(fn, *args))
        self._in_flight.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a call sent without waiting failed: %r", task.exception())

    async def settle(self) -> None:
        """Wait for the calls sent without waiting (shutdown, tests)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
