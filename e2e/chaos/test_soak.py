"""Soak: steady load for a long time, a TaskSchedule `@every 5s` plus a stream of
TaskJobs (one every 2 s, deleted 20 s after they finish by their TTL). The
operator's RSS must not grow after warm-up, no error may accumulate in its
log, and every run is accounted for.

The schedule's runs go too (a short history and TTL), so that the load is
steady: kept for the hour, 720 runs made the operator's memory grow with
them (about 15 KB of state each), which is the workload growing, not a leak.
They are counted as they come instead: the namespace is listed every few
seconds, well inside a run's lifetime, and each scheduled instant's runs are
told apart by uid, so a run made twice is seen even after both are gone.

One hour under `make chaos` (TASKOPS_CHAOS=full); 90 s in the short form,
which checks the accounting and reports the slope without judging it (90 s
is too short a line to fit).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from kube import Kubectl, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_taskjob import taskjob

pytestmark = pytest.mark.chaos

FULL = os.environ.get("TASKOPS_CHAOS") == "full"
SECONDS = 3600 if FULL else 90
EVERY = 5
JOB_EVERY = 2.0
#: Allowed growth after warm-up, in MiB per hour, when judged (full form).
MAX_SLOPE_MIB_PER_HOUR = 8.0
#: The schedule's runs kept: a few, and not for long (see the module's doc).
RUN_HISTORY = 5
RUN_TTL = 60
#: How often the runs are listed: far inside the shortest life of a run, the
#: history limit's RUN_HISTORY * EVERY seconds.
LOOK_EVERY = 5.0


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def record_runs(k: Kubectl, namespace: str, runs: dict[str, set[str]]) -> None:
    """Add the schedule's runs that exist now to `runs` (instant -> uids)."""
    for job in k.list("taskjobs.taskops.dev", namespace):
        meta = job["metadata"]
        if meta["name"].startswith("steady-"):
            runs.setdefault(meta["annotations"]["taskops.dev/scheduled-time"],
                            set()).add(meta["uid"])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), in MiB per hour."""
    xs, ys = [x for x, _ in samples], [y for _, y in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs)
    if denominator == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) \
        / denominator * 3600


@pytest.mark.timeout(SECONDS + 600)  # the hour itself, past the suite's 600 s
def test_an_hour_of_steady_load_leaks_nothing_and_accounts_for_every_run(
        k: Kubectl, namespace: str,
        operator_factory: Callable[..., OperatorProcess]) -> None:
    op = operator_factory([namespace])
    assert op.proc is not None
    job = taskjob("unused", "true")
    k.apply({"apiVersion": "taskops.dev/v1alpha1", "kind": "TaskSchedule",
             "metadata": {"name": "steady"},
             "spec": {"schedule": f"@every {EVERY}s",
                      "successfulHistoryLimit": RUN_HISTORY, "failedHistoryLimit": RUN_HISTORY,
                      "taskJobTemplate": {"spec": {**job["spec"],
                                                   "ttlSecondsAfterFinished": RUN_TTL}}}},
            namespace)
    started = time.monotonic()
    samples: list[tuple[float, float]] = []
    runs: dict[str, set[str]] = {}  # scheduled instant -> uids of its runs
    created = 0
    next_job = started
    last_look = 0.0
    while (now := time.monotonic()) - started < SECONDS:
        if now >= next_job:
            body = taskjob(f"stream-{created}", "true")
            body["spec"]["ttlSecondsAfterFinished"] = 20
            k.apply(body, namespace)
            created += 1
            next_job += JOB_EVERY
        if not samples or now - samples[-1][0] - started >= 10:
            samples.append((now - started, rss_mib(op.proc.pid)))
        if now - last_look >= LOOK_EVERY:
            record_runs(k, namespace, runs)
            last_look = now
        time.sleep(0.2)

    def all_finished() -> bool:
        return op.metric("taskops_taskjobs_finished_total", result="Succeeded") >= created
    wait_for("every streamed TaskJob finished", all_finished, timeout=120, interval=2,
             on_timeout=lambda: describe_namespace(k, namespace) + op.logs(100))

    # Every instant of the schedule has one run or is counted as missed.
    record_runs(k, namespace, runs)
    sched = k.get("taskschedule", "steady", namespace) or {}
    status = sched.get("status") or {}
    considered = parse(status["lastConsideredTime"])
    anchor = parse(sched["metadata"]["creationTimestamp"])
    due = int((considered - anchor).total_seconds()) // EVERY
    doubled = {at: uids for at, uids in runs.items() if len(uids) > 1}
    assert not doubled, f"instants run more than once: {doubled}"
    seen = [at for at in runs if parse(at) <= considered]
    missed = int(status.get("missedRuns", 0))
    assert len(seen) + missed == due, (due, len(seen), missed)

    log = op.logs(10**7)
    errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    assert not errors, errors[:20]
    warm = [s for s in samples if s[0] >= SECONDS * 0.2]
    slope = slope_per_hour(warm)
    peak = max(mib for _, mib in samples)
    print(f"\nsoak {SECONDS}s: {created} streamed TaskJobs, {len(seen)} schedule runs "
          f"(0 doubled), "
          f"{missed} missed; RSS {warm[0][1]:.1f} -> {warm[-1][1]:.1f} MiB after warm-up, "
          f"peak {peak:.1f}, slope {slope:+.2f} MiB/h")
    if FULL:
        assert slope <= MAX_SLOPE_MIB_PER_HOUR, f"RSS grows {slope:.1f} MiB/h after warm-up"
