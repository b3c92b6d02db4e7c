"""The real TaskJob reconciler under caps and dependencies, over a simulated cluster.

Many TaskJobs (mixed priorities, two namespaces, dependency graphs with
cycles, attempts that fail and retry) reconciled by several interleaved
workers against `FakeApi`: watch events arrive late, API calls fail before
or after taking effect, and the operator restarts at random moments with
nothing but what it lists. Invariants checked on every pod creation: the
caps bound the TaskJobs with running pods; a dependent's pod exists only
once every dependency Succeeded. At the end every job has the outcome its
task and graph dictate, and no attempt ever had two pods.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from fake_api import FakeApi, Injected
from taskops.core.admission import Caps
from taskops.core.conditions import find_condition
from taskops.core.labels import POD_FINALIZER
from taskops.handlers.taskjobs import TaskJobReconciler
from taskops.metrics import Metrics

T = TypeVar("T")


class InterleavedReconciler(TaskJobReconciler):
    """The real reconciler; its API calls run inline, yielding to the other
    workers before and after each one, as the thread pool would."""

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        await asyncio.sleep(0)
        result = fn(*args)
        await asyncio.sleep(0)
        return result


def spec(priority: int, fails: int, limit: int, depends_on: list[str]) -> dict[str, Any]:
    return {"priority": priority, "dependsOn": depends_on,
            "retry": {"limit": limit, "backoff": {"policy": "Fixed", "initialDelaySeconds": 2}},
            "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}


def start(api: FakeApi, caps: Caps) -> InterleavedReconciler:
    """A fresh operator process: empty memory, warmed from lists like warm_caches."""
    reconciler = InterleavedReconciler(api, None, Metrics(), clock=lambda: api.now,  # type: ignore[arg-type]
                                       caps=caps)
    api.pending.clear()  # a new watch starts from the list
    for pod in api.list_pods(None, ""):
        reconciler.on_pod_event(None, pod)
    for job in api.list_custom("taskjobs", None):
        reconciler.on_job_event(None, job)
    reconciler.warm = True
    return reconciler


async def run(seed: int, caps: Caps, fail_rate: float, restart_rate: float) -> FakeApi:
    rng = random.Random(seed)
    api = FakeApi(rng, fail_rate, (caps.total, caps.per_namespace))
    plans: dict[str, tuple[str, int, int, list[str]]] = {}
    names = [f"j{i:02}" for i in range(rng.randint(6, 18))]
    for i, name in enumerate(names):
        ns = rng.choice("ab")
        earlier = [n for n in names[:i] if plans[n][0] == ns]
        deps = rng.sample(earlier, k=min(len(earlier), rng.choice([0, 0, 1, 2])))
        fails, limit = rng.choice([(0, 0), (0, 0), (1, 1), (1, 0)])
        plans[name] = (ns, fails, limit, deps)
    if rng.random() < 0.5:  # a cycle among fresh jobs of namespace a
        ring = ["c0", "c1", "c2"][: rng.randint(1, 3)]
        for i, name in enumerate(ring):
            plans[name] = ("a", 0, 0, [ring[(i + 1) % len(ring)]])
    for name, (ns, fails, limit, deps) in plans.items():
        api.failures[name] = fails
        api.add_job(name, spec(rng.randint(-1, 1), fails, limit, deps), ns)

    reconciler = start(api, caps)
    keys = [(ns, name) for name, (ns, *_rest) in plans.items()]

    async def reconcile(key: tuple[str, str]) -> None:
        try:
            await reconciler.reconcile(key)
        except Injected:
            reconciler.queue.add(key)  # the worker retries it

    faulty = 400
    for step in range(1200):
        if step == faulty:
            api.fail_rate = 0.0
        api.deliver(reconciler.on_job_event, reconciler.on_pod_event,
                    count=None if step >= faulty else rng.randint(0, 6))
        batch: list[tuple[str, str]] = []
        while reconciler.queue._ready and len(batch) < 4:
            key = reconciler.queue._ready.popleft()
            reconciler.queue._queued.discard(key)
            if key not in batch:
                batch.append(key)
        for key in rng.sample(keys, k=2):  # time-based wake-ups, level-triggered
            if key not in batch:
                batch.append(key)
        await asyncio.gather(*(reconcile(k) for k in batch))
        api.tick()
        if step < faulty and rng.random() < restart_rate:
            reconciler = start(api, caps)
        if step > faulty and all((j.get("status") or {}).get("phase") in ("Succeeded", "Failed")
                                 for j in api.jobs.values()):
            break

    assert not api.violations, api.violations
    expected = outcomes(plans)
    got = {name: ((job.get("status") or {}).get("phase"), (job.get("status") or {}).get("reason"))
           for (_, name), job in api.jobs.items()}
    assert got == expected
    # No attempt ever had two pods; a job that failed to start has none.
    assert len(api.created_pods) == len(set(api.created_pods))
    # Slots are all given back once everything finished.
    for job in api.jobs.values():
        admitted = find_condition(job["status"], "Admitted")
        assert admitted is not None and admitted["status"] == "False"
    return api


def outcomes(plans: dict[str, tuple[str, int, int, list[str]]]) -> dict[str, tuple[str, str]]:
    """What each job's task and graph dictate, computed independently of the operator."""
    result: dict[str, tuple[str, str]] = {}

    def on_cycle(name: str) -> bool:
        seen, todo = set(), list(plans[name][3])
        while todo:
            node = todo.pop()
            if node == name:
                return True
            if node not in seen and node in plans:
                seen.add(node)
                todo.extend(plans[node][3])
        return False

    def outcome(name: str) -> tuple[str, str]:
        if name in result:
            return result[name]
        _, fails, limit, deps = plans[name]
        if on_cycle(name):
            result[name] = ("Failed", "DependencyCycle")
        elif any(outcome(d)[0] == "Failed" for d in deps):
            result[name] = ("Failed", "DependencyFailed")
        elif fails > limit:
            result[name] = ("Failed", "BackoffLimitExceeded")
        else:
            result[name] = ("Succeeded", "CompletionsReached")
        return result[name]

    for name in plans:
        outcome(name)
    return result


caps_strategy = st.builds(Caps, st.none() | st.integers(1, 4), st.none() | st.integers(1, 2))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), caps_strategy)
def test_caps_hold_and_graphs_finish_as_dictated_without_faults(seed: int, caps: Caps) -> None:
    """Under any caps, with a lagging cache and interleaved workers, the caps
    are never exceeded and every job ends as its task and graph dictate."""
    asyncio.run(run(seed, caps, fail_rate=0.0, restart_rate=0.0))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), caps_strategy)
def test_caps_hold_through_api_faults_and_restarts(seed: int, caps: Caps) -> None:
    """The same with API calls failing before or after they take effect, and
    the operator restarting at any moment with only what it lists."""
    asyncio.run(run(seed, caps, fail_rate=0.08, restart_rate=0.03))


def test_the_cap_is_filled_not_only_respected() -> None:
    """With more runnable jobs than slots, the cap is reached: admission does
    not stall below it."""
    api = asyncio.run(run(7, Caps(total=2), fail_rate=0.0, restart_rate=0.0))
    assert api.peak_running["cluster"] == 2
    counts = Counter(reason for _, reason, _ in api.events)
    assert counts["Queued"] >= 1 and counts["Admitted"] >= 1


def test_a_pod_is_released_by_the_pass_after_the_status_write_not_by_its_echo() -> None:
    # The watch's echo of our own status write is ignored (same version as the
    # reply already held), so the reconciler itself must ask for the next pass.
    async def scenario() -> None:
        api = FakeApi(random.Random(0))
        api.add_job("j", spec(0, 0, 0, []))
        reconciler = start(api, Caps(None, None))
        key = ("ns", "j")
        await reconciler.reconcile(key)
        (pod_key, pod), = api.pods.items()
        api._finish(pod, 0)
        for kind, event, body in list(api.pending):
            if kind == "Pod":  # the TaskJob echoes are never delivered
                reconciler.on_pod_event(event, body)
        api.pending.clear()
        reconciler.queue._ready.clear()
        reconciler.queue._queued.clear()
        await reconciler.reconcile(key)  # records the attempt: Succeeded
        assert api.jobs[key]["status"]["phase"] == "Succeeded"
        assert POD_FINALIZER in api.pods[pod_key]["metadata"]["finalizers"]
        assert list(reconciler.queue._ready) == [key]
        await reconciler.reconcile(key)
        assert POD_FINALIZER not in (api.pods[pod_key]["metadata"].get("finalizers") or [])

    asyncio.run(scenario())


def test_pod_events_of_one_job_are_gathered_into_one_pass() -> None:
    async def scenario() -> None:
        api = FakeApi(random.Random(0))
        api.add_job("j", spec(0, 0, 0, []))
        reconciler = start(api, Caps(None, None))
        await reconciler.reconcile(("ns", "j"))
        reconciler.queue._ready.clear()
        reconciler.queue._queued.clear()
        (_, pod), = api.pods.items()
        # Its start steps; its end, the only pod's, is not waited on
        # (test_pod_event_batching.py).
        for phase in ("Pending", "Running"):
            pod["status"] = {"phase": phase}
            reconciler.on_pod_event("MODIFIED", api._touch("Pod", pod, "MODIFIED"))
        assert len(reconciler.queue) == 0
        assert reconciler.queue.delayed == 1

    asyncio.run(scenario())


def test_a_queued_jobs_status_write_asks_for_no_pass_of_its_own() -> None:
    # Its message names the slots in use: a pass after every write would write
    # again whenever that changed, cycling through the whole queue for ever.
    async def scenario() -> None:
        api = FakeApi(random.Random(0))
        api.add_job("a-running", spec(0, 0, 0, []))
        api.add_job("b-queued", spec(0, 0, 0, []))
        reconciler = start(api, Caps(1, None))
        await reconciler.reconcile(("ns", "a-running"))
        reconciler.queue._ready.clear()
        reconciler.queue._queued.clear()
        await reconciler.reconcile(("ns", "b-queued"))
        assert api.jobs["ns", "b-queued"]["status"]["phase"] == "Queued"
        assert ("ns", "b-queued") not in reconciler.queue._ready

    asyncio.run(scenario())
