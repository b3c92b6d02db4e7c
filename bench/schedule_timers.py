"""How the operator's one heap of due times holds up with 10,000 schedules.

    .venv/bin/python bench/schedule_timers.py [--schedules 10000] [--window 10]

Every schedule is due once inside a `--window`-second window (spread like
many schedules on the same minute with jitter). One asyncio loop with a few
workers takes the keys from `taskops.workqueue.WorkQueue`, as the operator
does, and runs the real pure decision (`decide_schedule`) for each. Reports:
how late each key came out of the heap after its due time (p50/p99/max), the
decision's cost per schedule, and the memory the heap and queue hold. No
cluster: this measures the timer structure and the core, not the API server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import tracemalloc
from datetime import UTC, datetime

from taskops.core.observed import observe_schedule
from taskops.core.schedule import decide_schedule
from taskops.workqueue import ShutDown, WorkQueue


def schedule_body(i: int, created: datetime) -> dict[str, object]:
    return {
        "metadata": {"name": f"s{i}", "namespace": "bench", "uid": f"uid-{i}",
                     "generation": 1, "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "spec": {"schedule": "*/5 * * * *", "jitterSeconds": 30, "taskJobTemplate": {"spec": {
            "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}},
        "status": {},
    }


async def run(schedules: int, window: float, workers: int) -> None:
    tracemalloc.start()
    queue: WorkQueue[int] = WorkQueue()
    loop = asyncio.get_running_loop()
    due: dict[int, float] = {}
    start = loop.time()
    rng = random.Random(7)
    for i in range(schedules):
        delay = rng.uniform(0.5, window)
        due[i] = start + delay
        queue.add_after(i, delay)
    heap_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()  # it would slow everything below tenfold
    # Created a minute ago: the steady state. A schedule created long ago with
    # no status yet first counts its missed instants (bounded, see core.schedule).
    created = datetime.now(UTC).replace(microsecond=0)
    bodies = {i: schedule_body(i, created) for i in range(schedules)}
    lateness: list[float] = []
    decide_seconds: list[float] = []

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            lateness.append(loop.time() - due[key])
            t0 = time.perf_counter()
            decide_schedule(observe_schedule(bodies[key]), [], datetime.now(UTC))
            decide_seconds.append(time.perf_counter() - t0)
            queue.done(key)
            if len(lateness) == schedules:
                queue.shut_down()

    await asyncio.gather(*(worker() for _ in range(workers)))
    lateness.sort()
    q = statistics.quantiles(lateness, n=100)
    print(f"schedules: {schedules} due within {window:.0f}s, {workers} workers")
    print(f"heap + queue memory after adding all: {heap_bytes / 1e6:.1f} MB")
    print(f"taken from the heap after due: p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
          f"max {lateness[-1] * 1000:.1f} ms")
    print(f"decide_schedule per schedule: mean {statistics.mean(decide_seconds) * 1e6:.0f} us, "
          f"total {sum(decide_seconds):.2f} s of CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.schedules, args.window, args.workers))


if __name__ == "__main__":
    main()
