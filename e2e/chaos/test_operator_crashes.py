"""Operator crashes: SIGKILLed at random moments under a mixed load, restarted,
and nothing is lost, nothing runs twice, the cap is never exceeded.

The load: TaskJobs that succeed at once, succeed on their second attempt, fail
every attempt, run Indexed, wait for a dependency, all queued behind
`--max-running`, plus a TaskSchedule firing every few seconds. Everything is
judged from the cluster's own records: pod names and uids (from a watch that
streams every pod version), TaskJob statuses and attempts, the schedule's runs
and its missedRuns.

Short form (in `make test`): 24 TaskJobs, 3 kills. Full form (`make chaos`,
TASKOPS_CHAOS=full): 300 TaskJobs, 10 kills.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kube import Kubectl, PodWatch, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_admission import assert_cap_held, job_list, statuses, wait_watch_settled
from test_taskjob import TERMINAL, taskjob

pytestmark = pytest.mark.chaos

FULL = os.environ.get("TASKOPS_CHAOS") == "full"
JOBS = 300 if FULL else 24
KILLS = 10 if FULL else 3
CAP = 10 if FULL else 4
JOB_LABEL = "taskops.dev/taskjob"
SCHEDULE_EVERY = 10
RESULTS: dict[str, float] = {}


@pytest.fixture
def pod_watch(k: Kubectl, namespace: str) -> Iterator[PodWatch]:
    watch = PodWatch(k, namespace, selector=JOB_LABEL)
    yield watch
    if watch.alive():
        watch.stop()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def kind_of(i: int) -> str:
    return ("plain", "retried", "failing", "indexed", "dependent")[i % 5]


def workload(count: int) -> tuple[list[dict[str, Any]], dict[str, tuple[str, int]]]:
    """The TaskJobs, and per name the (phase, attemptCount) its task dictates."""
    bodies: list[dict[str, Any]] = []
    expected: dict[str, tuple[str, int]] = {}
    quick = {"backoff": {"initialDelaySeconds": 1, "maxDelaySeconds": 2}}
    for i in range(count):
        name = f"{kind_of(i)}-{i}"
        match kind_of(i):
            case "plain":
                body = taskjob(name, "sleep 1")
                expected[name] = ("Succeeded", 1)
            case "retried":
                # The first attempt fails, the second succeeds.
                body = taskjob(name, 'sleep 1; [ "$TASK_ATTEMPT" -ge 1 ]',
                               retry={"limit": 3, **quick})
                expected[name] = ("Succeeded", 2)
            case "failing":
                body = taskjob(name, "sleep 1; exit 3", retry={"limit": 1, **quick})
                expected[name] = ("Failed", 2)
            case "indexed":
                body = taskjob(name, "sleep 1", completions=3, parallelism=2,
                               completionMode="Indexed")
                expected[name] = ("Succeeded", 3)
            case _:
                body = taskjob(name, "true", dependsOn=[f"plain-{i - 4}"])
                expected[name] = ("Succeeded", 1)
        body["spec"]["priority"] = i % 3
        bodies.append(body)
    return bodies, expected


def schedule(name: str) -> dict[str, Any]:
    job = taskjob("unused", "true")
    return {
        "apiVersion": "taskops.dev/v1alpha1",
        "kind": "TaskSchedule",
        "metadata": {"name": name},
        "spec": {"schedule": f"@every {SCHEDULE_EVERY}s", "startingDeadlineSeconds": 300,
                 "successfulHistoryLimit": 1000, "failedHistoryLimit": 1000,
                 "taskJobTemplate": {"spec": job["spec"]}},
    }


def kill_at_random(op: OperatorProcess, kills: int, rng: random.Random,
                   done: Callable[[], bool]) -> int:
    """SIGKILL and restart the operator `kills` times, 2 to 8 s apart; the kills made."""
    made = 0
    for _ in range(kills):
        time.sleep(rng.uniform(2, 8))
        if done():
            break
        op.kill()
        time.sleep(rng.uniform(0, 2))
        op.start()
        made += 1
    return made


def test_sigkills_under_load_lose_and_double_nothing(
        k: Kubectl, namespace: str, operator_factory: Callable[..., OperatorProcess],
        pod_watch: PodWatch) -> None:
    rng = random.Random(int(os.environ.get("TASKOPS_CHAOS_SEED", "10")))
    op = operator_factory([namespace], ["--max-running", str(CAP)])
    bodies, expected = workload(JOBS)
    started = datetime.now(UTC)
    k.apply(schedule("every"), namespace)
    for chunk in range(0, len(bodies), 50):
        k.apply(job_list(*bodies[chunk:chunk + 50]), namespace)

    def all_done() -> bool:
        current = statuses(k, namespace)
        return all(current.get(name, {}).get("phase") in TERMINAL for name in expected)

    kills = kill_at_random(op, KILLS, rng, all_done)
    wait_for("every TaskJob finished", all_done, timeout=900 if FULL else 300,
             interval=2, on_timeout=lambda: describe_namespace(k, namespace) + op.logs(100))
    RESULTS["kills"] = kills
    assert kills >= min(KILLS, 2), f"only {kills} kills happened before the load finished"

    # Each job ended as its task dictates, with exactly the attempts it needed.
    current = statuses(k, namespace)
    wrong = {name: (current[name].get("phase"), current[name].get("attemptCount"),
                    current[name].get("reason"))
             for name, (phase, attempts) in expected.items()
             if (current[name].get("phase"), current[name].get("attemptCount"))
             != (phase, attempts)}
    assert not wrong, f"jobs that did not end as their task dictates: {wrong}"

    # No attempt had two pods: every pod name (job, index, attempt) was only
    # ever one pod (one uid), and each job had as many pods as attempts.
    wait_watch_settled(k, pod_watch, [namespace])
    uids: dict[str, set[str]] = defaultdict(set)
    per_job: Counter[str] = Counter()
    for _, pod in pod_watch.events:
        meta = pod.get("metadata") or {}
        job = (meta.get("labels") or {}).get(JOB_LABEL)
        if job in expected and meta.get("uid") not in uids[meta["name"]]:
            uids[meta["name"]].add(meta["uid"])
            per_job[job] += 1
    doubled = {name: sorted(ids) for name, ids in uids.items() if len(ids) > 1}
    assert not doubled, f"attempts run by two pods: {doubled}"
    pods_wrong = {name: (per_job[name], attempts) for name, (_, attempts) in expected.items()
                  if per_job[name] != attempts}
    assert not pods_wrong, f"jobs whose pod count is not their attempt count: {pods_wrong}"
    # A schedule's run is a TaskJob too: the cap replay counts it with the rest.
    most = assert_cap_held(pod_watch, [namespace], CAP)
    RESULTS["most TaskJobs running at once"] = most[namespace]

    # The schedule: one run per instant at most, and every instant since the
    # first either has a run or is counted as missed.
    sched = k.get("taskschedule", "every", namespace) or {}
    runs = [job for job in k.list("taskjobs", namespace)
            if any(ref.get("kind") == "TaskSchedule"
                   for ref in job["metadata"].get("ownerReferences") or [])]
    instants = Counter(parse(job["metadata"]["annotations"]["taskops.dev/scheduled-time"])
                       for job in runs)
    assert all(count == 1 for count in instants.values()), f"doubled runs: {instants}"
    status = sched.get("status") or {}
    # Every instant up to the watermark is settled: run, or counted missed. (A
    # run created after it is not settled yet: left out.)
    considered = parse(status["lastConsideredTime"])
    anchor = parse(sched["metadata"]["creationTimestamp"])
    due = int((considered - anchor).total_seconds()) // SCHEDULE_EVERY
    instants = Counter({instant: n for instant, n in instants.items() if instant <= considered})
    missed = int(status.get("missedRuns", 0))
    RESULTS["schedule instants"] = due
    RESULTS["schedule runs"] = len(instants)
    RESULTS["schedule missed (counted)"] = missed
    assert len(instants) + missed == due, (
        f"{due} instants since creation, {len(instants)} runs and {missed} counted missed")
    RESULTS["seconds"] = round((datetime.now(UTC) - started).total_seconds())
    print(f"\nchaos (operator crashes, {JOBS} TaskJobs): {RESULTS}")
