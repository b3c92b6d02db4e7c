"""What admission costs with 10,000 TaskJobs queued behind a cap.

    .venv/bin/python bench/admission_queue.py [--jobs 10000] [--cap 100]

Runs the operator's real TaskJob reconciler (admission book, decisions,
status rendering) against the in-memory API of the unit tests
(`tests/fake_api.py`), with every job queued behind `--max-running`, and
drains the queue: pods start and succeed one simulated second after
creation, and queue positions are refreshed every 5 simulated seconds as
the operator does. Reports:
- the time of one admission decision (`AdmissionBook.request`) for the job
  at the head of the queue and for one at the back, and of one whole
  reconcile of a queued job, with the queue full;
- status writes per admission while draining, split into the admitted job's
  own lifecycle and the queue-position writes to other jobs;
- the wall time of the drain.
No API server: this measures the operator's side of admission.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import random

from fake_api import FakeApi
from taskops.core.admission import POSITION_REFRESH_SECONDS, Caps
from taskops.handlers.taskjobs import TaskJobReconciler
from taskops.metrics import Metrics

T = TypeVar("T")
SPEC: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "main",
                                                              "image": "busybox"}]}}}


class InlineReconciler(TaskJobReconciler):
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)


def micro(fn: Callable[[], object], repeat: int = 200) -> float:
    """Median seconds of one call."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


async def drain(jobs: int, cap: int) -> dict[str, Any]:
    api = FakeApi(random.Random(1), caps=(cap, None))
    for i in range(jobs):
        api.add_job(f"j{i:05}", {**SPEC, "priority": i % 3})
    reconciler = InlineReconciler(api, None, Metrics(), clock=lambda: api.now,  # type: ignore[arg-type]
                                  caps=Caps(total=cap))
    api.deliver(reconciler.on_job_event, reconciler.on_pod_event)
    reconciler.warm = True

    async def run_ready() -> None:
        api.deliver(reconciler.on_job_event, reconciler.on_pod_event)
        while reconciler.queue._ready:
            key = reconciler.queue._ready.popleft()
            reconciler.queue._queued.discard(key)
            await reconciler.reconcile(key)
            api.deliver(reconciler.on_job_event, reconciler.on_pod_event)

    t0 = time.perf_counter()
    await run_ready()  # every job seen once: cap admitted, the rest Queued
    first_pass = time.perf_counter() - t0
    writes_first_pass = api.status_writes

    # With the queue full: one admission decision, and one reconcile of a queued job.
    book = reconciler.admission
    queued = [key for key in reconciler.jobs.keys()  # noqa: SIM118 (a store, not a dict)
              if (reconciler.jobs.get(key) or {}).get("status", {}).get("phase") == "Queued"]
    request_head = request_back = reconcile_queued = float("nan")  # nothing queued
    if queued:
        head = min(queued, key=lambda k: book._jobs[k].rank)
        back = max(queued, key=lambda k: book._jobs[k].rank)
        request_head = micro(lambda: book.request(head))
        request_back = micro(lambda: book.request(back))
        samples = []
        for _ in range(50):
            s0 = time.perf_counter()
            await reconciler.reconcile(back)
            samples.append(time.perf_counter() - s0)
        reconcile_queued = statistics.median(samples)

    writes_before = api.status_writes
    start = api.now
    next_refresh = api.now.timestamp() + POSITION_REFRESH_SECONDS
    positions_written = 0
    t1 = time.perf_counter()
    while True:
        api.tick()  # a simulated second: pods start and finish by chance
        await run_ready()
        if api.now.timestamp() >= next_refresh:
            next_refresh += POSITION_REFRESH_SECONDS
            if book.positions_changed:
                for key in book.stale_positions():
                    reconciler.queue.add(key)
                before = api.status_writes
                await run_ready()
                positions_written += api.status_writes - before
        phases = [(j.get("status") or {}).get("phase") for j in api.jobs.values()]
        if all(p == "Succeeded" for p in phases):
            break
    drain_wall = time.perf_counter() - t1
    admissions = jobs
    drained_writes = api.status_writes - writes_before
    return {
        "jobs": jobs,
        "cap": cap,
        "first_pass_seconds": round(first_pass, 2),
        "first_pass_status_writes": writes_first_pass,
        "request_head_us": round(request_head * 1e6, 1),
        "request_back_us": round(request_back * 1e6, 1),
        "reconcile_queued_job_us": round(reconcile_queued * 1e6, 1),
        "drain_seconds": round(drain_wall, 2),
        "status_writes_while_draining": drained_writes,
        "status_writes_per_admission": round(drained_writes / admissions, 2),
        "status_writes_per_job": round(api.status_writes / jobs, 2),
        "events_per_job": round(len(api.events) / jobs, 2),
        "position_writes_per_admission": round(positions_written / admissions, 3),
        "simulated_seconds": round((api.now - start).total_seconds()),
        "peak_running": api.peak_running["cluster"],
        "violations": len(api.violations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(drain(args.jobs, args.cap)), indent=2))


if __name__ == "__main__":
    main()
