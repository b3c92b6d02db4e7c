"""Invariants of decide(), checked on generated specs, pods and whole simulated runs."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import T0, FakeCluster, job_spec, make_job
from taskops.api.taskjob import TaskJobStatus
from taskops.core.actions import CreatePod, Decision, EmitEvent
from taskops.core.admission import Gate
from taskops.core.observed import ObservedPod, observe_pod
from taskops.core.taskjob import decide

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The simulated runs are the strongest checks: more of them.
RUNS = settings(SETTINGS, max_examples=150)
# Several simulated runs inside each example: fewer examples.
HEAVY = settings(SETTINGS, max_examples=40)


@st.composite
def specs(draw: st.DrawFn, suspendable: bool = False) -> dict[str, Any]:
    """Small but varied TaskJob specs (camelCase)."""
    timeouts: dict[str, Any] = {}
    if draw(st.booleans()):
        timeouts["attemptDeadlineSeconds"] = draw(st.integers(20, 90))
    if draw(st.integers(0, 3)) == 0:
        timeouts["activeDeadlineSeconds"] = draw(st.integers(60, 600))
    retry: dict[str, Any] = {
        "limit": draw(st.integers(0, 3)),
        "onDisruption": draw(st.sampled_from(["Ignore", "Count"])),
        "backoff": {
            "policy": draw(st.sampled_from(["Exponential", "Fixed", "None"])),
            "initialDelaySeconds": draw(st.integers(0, 5)),
            "maxDelaySeconds": 20,
            "jitter": draw(st.sampled_from([0.0, 0.5, 1.0])),
        },
    }
    if draw(st.booleans()):
        retry["onExitCodes"] = {
            "operator": draw(st.sampled_from(["In", "NotIn"])),
            "values": draw(st.lists(st.sampled_from([1, 2, 137]), min_size=1, max_size=2)),
        }
    return job_spec(
        completions=draw(st.integers(1, 4)),
        parallelism=draw(st.integers(1, 3)),
        completionMode=draw(st.sampled_from(["Indexed", "NonIndexed"])),
        retry=retry,
        timeouts=timeouts,
        failedPodsLimit=draw(st.integers(0, 3)),
    )


def run_cluster(
    spec: dict[str, Any], seed: int, stale: bool, crash_rate: float, lost_writes: float = 0.0
) -> FakeCluster:
    cluster = FakeCluster(
        spec=spec,
        rng=random.Random(seed),
        stale=stale,
        crash_rate=crash_rate,
        lost_writes=lost_writes,
    )
    cluster.run(max_steps=600)
    return cluster


@RUNS
@given(
    specs(),
    st.integers(0, 2**32),
    st.booleans(),
    st.sampled_from([0.0, 0.2, 0.5]),
    st.sampled_from([0.0, 0.0, 0.3]),
)
def test_property_simulated_runs_end_terminal_without_duplicate_attempts(
    spec: dict[str, Any], seed: int, stale: bool, crash_rate: float, lost_writes: float
) -> None:
    """Every run ends Succeeded or Failed with all pods released, each attempt created once.

    The FakeCluster also checks, on every action, that no (index, attempt) is
    created twice, that a terminal phase is never left and, unless status
    writes are lost, that never more pods run than spec.parallelism; whatever
    the crashes and however late the pod cache.
    """
    cluster = run_cluster(spec, seed, stale, crash_rate, lost_writes)
    assert cluster.status["phase"] in ("Succeeded", "Failed"), cluster.status.get("message")
    assert cluster.quiet()
    assert cluster.status["attemptCount"] == len(cluster.created)
    TaskJobStatus.model_validate(cluster.status)


@RUNS
@given(specs(), st.integers(0, 2**32), st.booleans())
def test_property_never_more_attempts_than_the_retry_limit_allows(
    spec: dict[str, Any], seed: int, stale: bool
) -> None:
    """Per index (Indexed), attempts that count number at most retry.limit + 1.

    NonIndexed jobs share the limit: at most completions + limit + parallelism
    counting attempts (failures that happen together all count).
    """
    cluster = run_cluster(spec, seed, stale, crash_rate=0.2)
    ignored = cluster.disrupted if spec["retry"]["onDisruption"] == "Ignore" else set()
    counting = Counter(index for key in cluster.created if key not in ignored for index, _ in [key])
    limit = spec["retry"]["limit"]
    if spec["completionMode"] == "Indexed":
        assert all(n <= limit + 1 for n in counting.values()), counting
    else:
        assert sum(counting.values()) <= spec["completions"] + limit + spec["parallelism"]


@HEAVY
@given(specs(), st.integers(0, 2**32), st.integers(5, 60), st.booleans(), st.booleans())
def test_property_suspend_and_delete_at_any_time_converge(
    spec: dict[str, Any], seed: int, steps: int, delete: bool, stale: bool
) -> None:
    """Suspending, resuming and deleting at random moments still converges.

    A deleted job lets go of its finalizer once no pod runs or holds an
    unrecorded outcome; a resumed job ends terminal as usual. With a lagging
    pod cache a pod created just before the deletion can be missed (the
    shell's safety net releases it); with an up-to-date cache, never.
    """
    rng = random.Random(seed)
    cluster = FakeCluster(spec=spec, rng=rng, stale=stale, crash_rate=0.2)
    for _ in range(steps):
        if rng.random() < 0.15:
            cluster.spec = {**cluster.spec, "suspend": not cluster.spec.get("suspend", False)}
        cluster.reconcile()
        cluster.step_pods()
        cluster.advance(rng.choice([1.0, 5.0, 20.0]))
    cluster.spec = {**cluster.spec, "suspend": False}
    if delete:
        cluster.delete_job()
    cluster.run(max_steps=600)
    if delete:
        assert cluster.gone
        assert stale or cluster.orphans == 0
    else:
        assert cluster.status["phase"] in ("Succeeded", "Failed")
        assert cluster.quiet()


# --- single decisions on realistic states ------------------------------------


def state_after(
    spec: dict[str, Any], seed: int, steps: int
) -> tuple[FakeCluster, list[ObservedPod]]:
    """A cluster part way through a run, and the pods as the shell would see them."""
    rng = random.Random(seed)
    cluster = FakeCluster(spec=spec, rng=rng)
    for _ in range(steps):
        cluster.reconcile()
        cluster.step_pods()
        cluster.advance(rng.choice([1.0, 5.0]))
    pods = [observe_pod(p) for p in cluster.pods.values()]
    return cluster, [p for p in pods if p is not None]


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.integers(0, 30), st.randoms(use_true_random=False))
def test_property_same_input_same_output(
    spec: dict[str, Any], seed: int, steps: int, shuffler: random.Random
) -> None:
    """decide is a function of its inputs: repeated or with the pods reordered, same Decision."""
    cluster, pods = state_after(spec, seed, steps)
    job = cluster.job_view(cluster.status)
    first = decide(job, pods, cluster.now)
    shuffled = list(pods)
    shuffler.shuffle(shuffled)
    assert decide(job, pods, cluster.now) == first
    assert decide(job, shuffled, cluster.now) == first


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.integers(0, 30), st.integers(0, 3))
def test_property_a_written_status_is_a_fixed_point(
    spec: dict[str, Any], seed: int, steps: int, later: int
) -> None:
    """Deciding again on the status just written, same pods, changes nothing and repeats nothing.

    Same status (lastTransitionTimes included), no event, no observation for
    metrics, and the same pod creations (which the API answers AlreadyExists).
    """
    cluster, pods = state_after(spec, seed, steps)
    first = decide(cluster.job_view(cluster.status), pods, cluster.now)
    # `later` seconds on, unless a time-based change is due by then.
    wait = first.requeue_after
    moment = cluster.now + timedelta(seconds=later if wait is None else min(later, wait / 2))
    second = decide(cluster.job_view(first.status), pods, moment)
    assert second.status == first.status
    assert not [a for a in second.actions if isinstance(a, EmitEvent)]
    assert not second.observations
    assert creations(second) == creations(first)


def creations(decision: Decision) -> list[str]:
    return [a.manifest["metadata"]["name"] for a in decision.actions if isinstance(a, CreatePod)]


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.integers(0, 30))
def test_property_never_more_active_pods_than_parallelism(
    spec: dict[str, Any], seed: int, steps: int
) -> None:
    """Pods running (not being deleted) plus pods created now never exceed parallelism."""
    cluster, pods = state_after(spec, seed, steps)
    decision = decide(cluster.job_view(cluster.status), pods, cluster.now)
    running = [p for p in pods if not p.terminal and not p.deleting]
    stopped = {a.name for a in decision.actions if type(a).__name__ == "DeletePod"}
    still_running = [p for p in running if p.name not in stopped]
    assert len(still_running) + len(creations(decision)) <= max(
        spec["parallelism"], len(still_running)
    )
    assert decision.status["active"] <= spec["parallelism"]


@HEAVY
@given(specs(), st.integers(0, 2**32), st.integers(1, 40), specs())
def test_property_terminal_phases_stay_terminal(
    spec: dict[str, Any], seed: int, steps: int, other_spec: dict[str, Any]
) -> None:
    """Once Succeeded or Failed, no new spec, pods or time changes the phase or creates pods."""
    cluster = run_cluster(spec, seed, stale=False, crash_rate=0.0)
    status = cluster.status
    assert status["phase"] in ("Succeeded", "Failed")
    _, pods = state_after(other_spec, seed, steps)
    for candidate in (spec, other_spec, {**other_spec, "suspend": True}, {"template": 1}):
        decision = decide(
            make_job(candidate, status=status), pods, cluster.now + timedelta(hours=1)
        )
        assert decision.status["phase"] == status["phase"]
        assert decision.status["reason"] == status["reason"]
        assert decision.status["completionTime"] == status["completionTime"]
        assert not creations(decision)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
status_keys = st.sampled_from(
    [
        "phase",
        "indexes",
        "attempts",
        "completedIndexes",
        "startTime",
        "conditions",
        "failed",
        "result",
        "results",
        "completionTime",
        "reason",
    ]
)
pods_strategy = st.lists(
    st.builds(
        ObservedPod,
        name=st.sampled_from(["p0", "p1", "p2", "job-0-0"]),
        index=st.integers(0, 5),
        attempt=st.integers(0, 5),
        phase=st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown"]),
        created=st.none() | st.just(T0),
        started=st.none() | st.just(T0),
        finished=st.none() | st.just(T0 + timedelta(seconds=5)),
        exit_code=st.none() | st.integers(0, 255),
        termination_reason=st.none() | st.text(max_size=5),
        termination_message=st.none() | st.text(max_size=10),
        ready=st.booleans(),
        deleting=st.booleans(),
        disrupted=st.booleans(),
        has_finalizer=st.booleans(),
    ),
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(specs(), st.dictionaries(st.text(max_size=10), json_values, max_size=5)),
    st.dictionaries(status_keys, json_values, max_size=6),
    pods_strategy,
    st.booleans(),
    st.booleans(),
)
def test_property_decide_never_raises(
    spec: dict[str, Any],
    status: dict[str, Any],
    pods: list[ObservedPod],
    deleting: bool,
    admitted: bool,
) -> None:
    """Any spec, any (even corrupt) status and any pods give a Decision with a valid status."""
    decision = decide(
        make_job(spec, status=status, deleting=deleting), pods, T0 + timedelta(seconds=30),
        Gate(admitted=admitted),
    )
    TaskJobStatus.model_validate(decision.status)
    assert decision.requeue_after is None or decision.requeue_after > 0
