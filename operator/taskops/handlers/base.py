"""What every reconciler shares: the API client, its thread pool, metrics,
the clock, and one work queue of object keys."""

from __future__ import annotations

import asyncio
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

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking API call in the pool: never on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args))
