"""Admission under the operator's concurrency caps, end to end.

`--max-running N` caps the TaskJobs holding a slot (condition Admitted True)
across the operator, `--max-running-per-namespace N` in each namespace. Over
a cap a job is `Queued` (reason ConcurrencyCap, `queuePosition`, `queuedSince`)
and jobs are admitted by `spec.priority` (higher first), then age
(`metadata.creationTimestamp`), then name. A job BackingOff between attempts
gives its slot back and queues again at its old place when its delay ends.

What is asserted comes from the cluster's own records: the TaskJobs' status
and Events through kubectl, and every version of their pods as a
`kubectl get pods -w` stream delivers them, in the API server's order. The
cap is checked by replaying that stream: at no moment do more TaskJobs than
the cap have a pod that has not finished.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kube import Kubectl, PodWatch, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_taskjob import TERMINAL, conditions, events_for, pods_of, status, taskjob, ts, wait_phase

JOB_LABEL = "taskops.dev/taskjob"
# Runs until released (see `release`), so a test decides when a slot frees.
HOLD = ("trap 'exit 0' TERM; while [ ! -f /tmp/go ]; do sleep 0.2; done; "
        "echo -n released > /dev/termination-log")

OperatorFactory = Callable[..., OperatorProcess]


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def pod_watch(k: Kubectl) -> Iterator[Callable[..., PodWatch]]:
    """`pod_watch(namespace)` (None: every namespace): a PodWatch stopped after the test."""
    watches: list[PodWatch] = []

    def make(namespace: str | None) -> PodWatch:
        watch = PodWatch(k, namespace, selector=JOB_LABEL)
        watches.append(watch)
        return watch

    yield make
    for watch in watches:
        if watch.alive():
            watch.stop()


def job_list(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(bodies)}


def sec(value: str) -> int:
    """An RFC 3339 time as whole seconds: pod and job times are second-granular, so
    a < b in real time only guarantees sec(a) <= sec(b)."""
    return int(ts(value).timestamp())


def pod_done(pod: dict[str, Any]) -> bool:
    """The pod has finished: a terminal phase, or its main container terminated."""
    st = pod.get("status") or {}
    if st.get("phase") in TERMINAL:
        return True
    statuses = st.get("containerStatuses") or []
    main = [s for s in statuses if s.get("name") == "main"] or statuses
    return bool(main) and all("terminated" in (s.get("state") or {}) for s in main)


def replay(watch: PodWatch, namespaces: list[str]
           ) -> Iterator[tuple[str, dict[str, Any], dict[str, set[str]]]]:
    """Replay the watch: after each event, `(type, pod, active)` where `active`
    maps each namespace to the TaskJobs that then had a pod not yet finished."""
    live: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, pod in list(watch.events):
        meta = pod.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        if pod.get("kind", "Pod") != "Pod" or ns not in namespaces or not name:
            continue
        if kind == "DELETED":
            live.pop((ns, name), None)
        else:
            live[(ns, name)] = pod
        active: dict[str, set[str]] = {n: set() for n in namespaces}
        for (pod_ns, _), p in live.items():
            job = (p["metadata"].get("labels") or {}).get(JOB_LABEL)
            if job and not pod_done(p):
                active[pod_ns].add(job)
        yield kind, pod, active


def wait_watch_settled(k: Kubectl, watch: PodWatch, namespaces: list[str]) -> None:
    """Wait until the watch has streamed the finished state of every pod there is now."""
    def settled() -> bool:
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for _, pod in list(watch.events):
            meta = pod.get("metadata") or {}
            last[(meta.get("namespace", ""), meta.get("name", ""))] = pod
        for ns in namespaces:
            for pod in k.list("pods", ns, selector=JOB_LABEL):
                seen = last.get((ns, pod["metadata"]["name"]))
                if seen is None or not pod_done(seen):
                    return False
        return True

    wait_for("the pod watch to stream every pod's end", settled, timeout=30)
    assert watch.alive(), "the pod watch closed early: it may have missed changes"


def assert_cap_held(watch: PodWatch, namespaces: list[str], cap: int,
                    per_namespace: bool = False) -> dict[str, int]:
    """No moment of the stream had more than `cap` TaskJobs with an unfinished pod
    (in all `namespaces` together, or in each one). Returns the most seen per namespace."""
    most = dict.fromkeys(namespaces, 0)
    for kind, pod, active in replay(watch, namespaces):
        counts = [len(jobs) for jobs in active.values()] if per_namespace else [
            sum(len(jobs) for jobs in active.values())]
        assert max(counts) <= cap, (
            f"after {kind} of pod {pod['metadata']['namespace']}/{pod['metadata']['name']}: "
            f"TaskJobs with unfinished pods {active}, cap {cap}")
        for ns, jobs in active.items():
            most[ns] = max(most[ns], len(jobs))
    return most


def release(k: Kubectl, ns: str, name: str) -> None:
    """Let a HOLD job finish."""
    pod = wait_for(f"a running pod of {name}", lambda: [
        p for p in pods_of(k, ns, name) if p["status"].get("phase") == "Running"
        and not pod_done(p)], timeout=60, on_timeout=lambda: describe_namespace(k, ns))[0]
    k.run("exec", pod["metadata"]["name"], "-n", ns, "-c", "main", "--", "touch", "/tmp/go")


def pod_of(k: Kubectl, ns: str, name: str, attempt: int = 0) -> dict[str, Any]:
    pods = [p for p in pods_of(k, ns, name)
            if p["metadata"]["labels"].get("taskops.dev/attempt") == str(attempt)]
    assert len(pods) == 1, (name, attempt, [p["metadata"]["name"] for p in pods_of(k, ns, name)])
    return pods[0]


def main_terminated(pod: dict[str, Any]) -> dict[str, Any]:
    for s in pod["status"].get("containerStatuses") or []:
        if s["name"] == "main" and "terminated" in s.get("state", {}):
            return dict(s["state"]["terminated"])
    raise AssertionError(f"pod {pod['metadata']['name']} has no terminated main container")


def created(obj: dict[str, Any]) -> int:
    return sec(obj["metadata"]["creationTimestamp"])


def statuses(k: Kubectl, ns: str) -> dict[str, dict[str, Any]]:
    """Every TaskJob's status in `ns`, by name, from one `kubectl get`."""
    return {j["metadata"]["name"]: j.get("status") or {}
            for j in k.list("taskjobs.taskops.dev", ns)}


def event_reasons(k: Kubectl, ns: str) -> dict[str, set[str]]:
    """The reasons of the Events on each TaskJob in `ns`, by TaskJob name."""
    reasons: dict[str, set[str]] = {}
    for e in k.list("events", ns):
        if e["involvedObject"].get("kind") == "TaskJob":
            reasons.setdefault(e["involvedObject"]["name"], set()).add(e["reason"])
    return reasons


def without(text: str, *names: str) -> str:
    """`text` lower-cased, minus the names in it (a namespace name may hold any word)."""
    for name in names:
        text = text.replace(name, "")
    return text.lower()


# ----------------------------------------------------------------------------- global cap


def test_twenty_jobs_under_a_global_cap_of_three_are_admitted_by_priority_then_age(
        k: Kubectl, namespace: str, operator_factory: OperatorFactory,
        pod_watch: Callable[..., PodWatch]):
    cap = 3
    watch = pod_watch(namespace)
    operator_factory([namespace], ["--max-running", str(cap)])
    # Three blockers take every slot, so all twenty are queued before any is admitted.
    blockers = [f"blocker-{i}" for i in range(cap)]
    k.apply(job_list(*(taskjob(name, HOLD) for name in blockers)), namespace)
    for name in blockers:
        wait_phase(k, namespace, name, "Running", timeout=90)

    # Two batches, a second apart, with the same mix of priorities; the older
    # batch has the later names, so age must win over name within a priority.
    priorities = [3, 0, 1, 0, 3, 2, 1, 0, 2, 3]
    script = 'sleep 2; echo -n "done $TASK_ATTEMPT" > /dev/termination-log'
    older = {f"z-{i}": p for i, p in enumerate(priorities)}
    newer = {f"a-{i}": p for i, p in enumerate(priorities)}
    k.apply(job_list(*(taskjob(n, script, priority=p) for n, p in older.items())), namespace)
    time.sleep(1.1)
    k.apply(job_list(*(taskjob(n, script, priority=p) for n, p in newer.items())), namespace)
    priority = {**older, **newer}
    jobs = {j["metadata"]["name"]: j for j in k.list("taskjobs.taskops.dev", namespace)}
    born = {name: created(jobs[name]) for name in priority}
    assert max(born[n] for n in older) < min(born[n] for n in newer), born
    expected = sorted(priority, key=lambda n: (-priority[n], born[n], n))

    # While they wait: each Queued with its exact place, which cap, how many ahead.
    problems: list[str] = []

    def queue_as_expected() -> bool:
        problems.clear()
        current = statuses(k, namespace)
        for place, name in enumerate(expected, start=1):
            st = current.get(name, {})
            admitted = conditions(st).get("Admitted", {})
            message = without(admitted.get("message", ""), namespace, name)
            if (st.get("phase"), st.get("reason"), st.get("queuePosition")) != (
                    "Queued", "ConcurrencyCap", place):
                problems.append(f"{name}: want Queued/ConcurrencyCap/{place}, have "
                                f"{st.get('phase')}/{st.get('reason')}/{st.get('queuePosition')}")
            elif (admitted.get("status"), admitted.get("reason")) != ("False", "ConcurrencyCap"):
                problems.append(f"{name}: Admitted condition {admitted}")
            elif "global" not in message or (
                    place > 1 and not re.search(rf"\b{place - 1}\b", message)):
                problems.append(f"{name}: Admitted message should name the global cap and "
                                f"{place - 1} ahead: {admitted.get('message')!r}")
        return not problems

    wait_for("queuePosition 1..20 in priority-then-age order", queue_as_expected, timeout=25,
             on_timeout=lambda: "\n".join(problems))
    current = statuses(k, namespace)
    for name in expected:
        assert sec(current[name]["queuedSince"]) >= born[name], (name, current[name])
    queued_events = [e for e in k.list("events", namespace) if e["reason"] == "Queued"
                     and e["involvedObject"].get("kind") == "TaskJob"]
    for name in expected:
        messages = [e.get("message", "") for e in queued_events
                    if e["involvedObject"]["name"] == name]
        assert any(re.search(r"\d", without(m, namespace, name)) for m in messages), (
            f"{name}: a Queued event naming its position, have {messages}")
    with_pods = {p["metadata"]["labels"][JOB_LABEL]
                 for p in k.list("pods", namespace, selector=JOB_LABEL)}
    assert not with_pods & set(expected), f"queued jobs with pods: {with_pods & set(expected)}"
    row = k.run("get", "tj", expected[-1], "-n", namespace).stdout
    assert "Queued" in row, row

    for name in blockers:
        release(k, namespace, name)
    wait_for("all twenty Succeeded", lambda: all(
        st.get("phase") in TERMINAL for st in statuses(k, namespace).values()), timeout=240,
        on_timeout=lambda: describe_namespace(k, namespace))
    current = statuses(k, namespace)
    assert {n: current[n]["phase"] for n in expected} == dict.fromkeys(expected, "Succeeded")
    wait_watch_settled(k, watch, [namespace])

    assert_cap_held(watch, [namespace], cap)
    assert max(len(active[namespace] & set(expected))
               for _, _, active in replay(watch, [namespace])) == cap, "never ran 3 at once"
    # Admission follows `expected`: when a job's first pod appears, it holds a
    # slot, and so does every job before it whose pod has not appeared yet (it
    # was admitted first); with the jobs whose pods still run, that is <= cap.
    place = {name: i for i, name in enumerate(expected)}
    has_pod: set[str] = set()
    for _, pod, active in replay(watch, [namespace]):
        job = pod["metadata"]["labels"][JOB_LABEL]
        if job in has_pod or job not in place:
            continue
        has_pod.add(job)
        ahead_without_pod = {n for n in expected[:place[job]] if n not in has_pod}
        holders = active[namespace] | ahead_without_pod
        assert len(holders) <= cap, (
            f"{job} (place {place[job] + 1}) got a pod while {sorted(ahead_without_pod)}, ahead "
            f"of it, had none and {sorted(active[namespace])} ran: admission out of order")
    assert has_pod == set(expected)
    attempts: dict[str, list[str]] = {}
    for p in k.list("pods", namespace, selector=JOB_LABEL):
        labels = p["metadata"]["labels"]
        attempts.setdefault(labels[JOB_LABEL], []).append(labels["taskops.dev/attempt"])
    assert all(attempts[name] == ["0"] for name in expected), attempts
    reasons = event_reasons(k, namespace)
    assert all("Admitted" in reasons.get(name, ()) for name in expected), reasons


# ----------------------------------------------------------------------------- per namespace


def test_a_per_namespace_cap_holds_in_each_namespace_on_its_own(
        k: Kubectl, namespace: str, namespace_factory: Callable[[str], str],
        operator_factory: OperatorFactory, pod_watch: Callable[..., PodWatch]):
    cap = 2
    both = [namespace, namespace_factory("b")]
    watch = pod_watch(None)  # one stream for both namespaces: their moments are ordered
    operator_factory(both, ["--max-running-per-namespace", str(cap)])
    names = [f"job-{i}" for i in range(5)]
    script = "sleep 3; echo -n ok > /dev/termination-log"
    for ns in both:
        k.apply(job_list(*(taskjob(n, script) for n in names)), ns)

    # The last one waits two rounds in each namespace, queued by the namespace's cap.
    def queued_by_namespace_cap(ns: str) -> dict[str, Any] | None:
        st = status(k, ns, "job-4")
        admitted = conditions(st).get("Admitted", {})
        ok = (st.get("phase") == "Queued" and st.get("reason") == "ConcurrencyCap"
              and admitted.get("status") == "False"
              and "namespace" in without(admitted.get("message", ""), *both))
        return st if ok else None

    for ns in both:
        wait_for(f"{ns}/job-4 Queued by the per-namespace cap",
                 functools.partial(queued_by_namespace_cap, ns), timeout=15,
                 on_timeout=functools.partial(describe_namespace, k, ns))

    for ns in both:
        for name in names:
            st = wait_phase(k, ns, name, TERMINAL, timeout=180)
            assert st["phase"] == "Succeeded", (ns, name, st)
    wait_watch_settled(k, watch, both)
    most = assert_cap_held(watch, both, cap, per_namespace=True)
    assert most == dict.fromkeys(both, cap), most
    both_full = any(all(len(jobs) == cap for jobs in active.values())
                    for _, _, active in replay(watch, both))
    assert both_full, "the two namespaces never ran 2 each at the same time: a global cap?"


# ----------------------------------------------------------------------------- queue timeout


def test_a_job_queued_longer_than_queue_seconds_fails_with_queue_timeout(
        k: Kubectl, namespace: str, operator_factory: OperatorFactory):
    operator_factory([namespace], ["--max-running", "1"])
    k.apply(taskjob("hog", HOLD), namespace)
    wait_phase(k, namespace, "hog", "Running", timeout=90)
    k.apply(taskjob("impatient", "echo -n ran > /dev/termination-log",
                    timeouts={"queueSeconds": 3}), namespace)
    st = wait_phase(k, namespace, "impatient", TERMINAL, timeout=60)
    assert st["phase"] == "Failed" and st["reason"] == "QueueTimeout", st
    assert conditions(st)["Failed"]["reason"] == "QueueTimeout"
    job = k.get("taskjob", "impatient", namespace)
    assert job is not None
    waited = sec(st["completionTime"]) - created(job)
    assert 3 <= waited <= 3 + 15, waited
    assert not pods_of(k, namespace, "impatient"), "a job that timed out in the queue never runs"
    assert "Queued" in {e["reason"] for e in events_for(k, namespace, "impatient")}
    # The job holding the slot is untouched by the other's timeout.
    assert status(k, namespace, "hog")["phase"] == "Running"
    release(k, namespace, "hog")
    assert wait_phase(k, namespace, "hog", TERMINAL)["phase"] == "Succeeded"


# ----------------------------------------------------------------------------- backoff


def test_a_job_backing_off_gives_its_slot_to_a_queued_one_and_requeues_at_its_place(
        k: Kubectl, namespace: str, operator_factory: OperatorFactory):
    operator_factory([namespace], ["--max-running", "1"])
    # Long enough to be seen by polling: pod events reach the reconciler up to
    # 1 s late (gathered per job), and the delay counts from the pod's end.
    delay = 8
    k.apply(taskjob("first", 'if [ "$TASK_ATTEMPT" = 0 ]; then sleep 3; exit 1; fi; '
                             'echo -n "first $TASK_ATTEMPT" > /dev/termination-log',
                    retry={"limit": 1, "backoff": {"policy": "Fixed",
                                                   "initialDelaySeconds": delay}}), namespace)
    wait_for("first's pod", lambda: pods_of(k, namespace, "first"), timeout=60)
    # Behind it: `second` outlasts first's delay, `third` is younger than both.
    k.apply(job_list(taskjob("second", "sleep 12; echo -n second > /dev/termination-log"),
                     taskjob("third", "sleep 1; echo -n third > /dev/termination-log")),
            namespace)

    st = wait_phase(k, namespace, "first", "BackingOff", timeout=60)
    admitted = conditions(st)["Admitted"]
    assert (admitted["status"], admitted["reason"]) == ("False", "BackingOff"), admitted
    # Its delay ends while `second` holds the slot: queued again, by the cap.
    st = wait_phase(k, namespace, "first", "Queued", timeout=30)
    assert st["reason"] == "ConcurrencyCap", st

    for name in ("first", "second", "third"):
        assert wait_phase(k, namespace, name, TERMINAL, timeout=120)["phase"] == "Succeeded"
    assert [a["attempt"] for a in status(k, namespace, "first")["attempts"]] == [0, 1]
    assert status(k, namespace, "first")["result"] == "first 1"
    first0, first1 = pod_of(k, namespace, "first", 0), pod_of(k, namespace, "first", 1)
    second, third = pod_of(k, namespace, "second"), pod_of(k, namespace, "third")
    failed_at = sec(main_terminated(first0)["finishedAt"])
    # `second` got the slot when `first` failed, and ran during first's delay.
    assert failed_at <= created(second) < created(first1), (failed_at, created(second))
    # `first` retried only once `second` had finished (cap 1), after its delay ...
    assert created(first1) >= sec(main_terminated(second)["finishedAt"])
    assert created(first1) - failed_at >= delay
    # ... and before `third`: it queued again at its old place, ahead of younger jobs.
    assert created(third) >= sec(main_terminated(first1)["finishedAt"]), (
        "third ran before first's retry: first lost its place in the queue")
    for name in ("first", "second", "third"):
        assert "Queued" in {e["reason"] for e in events_for(k, namespace, name)}, name


# ----------------------------------------------------------------------------- restart


def test_the_cap_survives_an_operator_sigkill_and_every_queued_job_runs_once(
        k: Kubectl, namespace: str, operator_factory: OperatorFactory,
        pod_watch: Callable[..., PodWatch]):
    cap = 2
    watch = pod_watch(namespace)
    op = operator_factory([namespace], ["--max-running", str(cap)])
    names = [f"job-{i}" for i in range(10)]
    k.apply(job_list(*(taskjob(n, "sleep 2; echo -n ok > /dev/termination-log")
                       for n in names)), namespace)

    wait_for("most of them queued", lambda: [
        st.get("phase") for st in statuses(k, namespace).values()].count("Queued") >= 6,
        timeout=90, on_timeout=lambda: describe_namespace(k, namespace))
    op.kill()
    time.sleep(3)  # the running pods finish while nobody watches
    op.start()

    wait_for("every job finished", lambda: all(
        st.get("phase") in TERMINAL for st in statuses(k, namespace).values()), timeout=180,
        on_timeout=lambda: describe_namespace(k, namespace) + op.logs())
    wait_watch_settled(k, watch, [namespace])
    assert_cap_held(watch, [namespace], cap)
    for name in names:
        st = status(k, namespace, name)
        assert st["phase"] == "Succeeded", (name, st)
        pods = pods_of(k, namespace, name)
        assert [p["metadata"]["labels"]["taskops.dev/attempt"] for p in pods] == ["0"], (
            name, [p["metadata"]["name"] for p in pods])
        assert st["attemptCount"] == 1 and [a["attempt"] for a in st["attempts"]] == [0], st
        succeeded = [e for e in events_for(k, namespace, name) if e["reason"] == "Succeeded"]
        assert sum(e.get("count", 1) for e in succeeded) == 1, (name, succeeded)
