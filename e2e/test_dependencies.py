"""Dependencies between TaskJobs (`spec.dependsOn`), end to end.

A job waits (phase Waiting, reason WaitingForDependencies) until every job it
depends on has Succeeded; its pods then get env TASK_DEPENDENCY_RESULTS, a
JSON object from dependency name to that job's `status.result` (an array of
the per-index results for an Indexed dependency). A failed dependency, one
missing for longer than `timeouts.dependencySeconds`, or a cycle fails it.

The jobs here report what their pods saw by writing it to their termination
log, so the test reads it back from the dependent's own `status.result`.
"""

from __future__ import annotations

import json
from typing import Any

from kube import Kubectl, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_admission import HOLD, created, job_list, release, sec
from test_taskjob import TERMINAL, conditions, pods_of, status, taskjob, wait_phase

SHOW_RESULTS = 'printf "%s" "$TASK_DEPENDENCY_RESULTS" > /dev/termination-log'


def result_script(text: str) -> str:
    return f"printf '%s' '{text}' > /dev/termination-log"


def wait_waiting(k: Kubectl, ns: str, name: str, *pending: str) -> dict[str, Any]:
    """Wait until `name` is Waiting for its dependencies, with its Admitted
    condition False for that reason and a message (the condition's or the
    phase's) naming every one of `pending`; returns its status."""
    def probe() -> dict[str, Any] | None:
        st = status(k, ns, name)
        admitted = conditions(st).get("Admitted", {})
        messages = (admitted.get("message", ""), st.get("message", ""))
        ok = (st.get("phase") == "Waiting" and st.get("reason") == "WaitingForDependencies"
              and admitted.get("status") == "False"
              and admitted.get("reason") == "WaitingForDependencies"
              and any(all(dep in m for dep in pending) for m in messages))
        return st if ok else None

    return wait_for(f"{name} Waiting for {pending}", probe, timeout=30,
                    on_timeout=lambda: describe_namespace(k, ns))


def finish(k: Kubectl, ns: str, name: str, timeout: float = 120) -> dict[str, Any]:
    st = wait_phase(k, ns, name, TERMINAL, timeout=timeout)
    assert st["phase"] == "Succeeded", (name, st)
    return st


def first_pod_created(k: Kubectl, ns: str, name: str) -> int:
    pods = pods_of(k, ns, name)
    assert pods, f"{name} has no pod"
    return min(created(p) for p in pods)


def assert_failed(st: dict[str, Any], reason: str, *named: str) -> None:
    assert st["phase"] == "Failed" and st["reason"] == reason, st
    assert all(name in st.get("message", "") for name in named), (named, st.get("message"))
    assert conditions(st)["Failed"]["reason"] == reason, st["conditions"]


# ----------------------------------------------------------------------------- order, results


def test_a_diamond_runs_in_dependency_order_and_the_join_sees_both_results(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    top, left, right, bottom = "dia-top", "dia-left", "dia-right", "dia-bottom"
    k.apply(job_list(
        taskjob(top, HOLD.replace("released", "top-result")),
        taskjob(left, result_script("left-result"), dependsOn=[top]),
        taskjob(right, SHOW_RESULTS, dependsOn=[top]),
        taskjob(bottom, SHOW_RESULTS, dependsOn=[left, right]),
    ), namespace)
    wait_phase(k, namespace, top, "Running", timeout=90)
    wait_waiting(k, namespace, left, top)
    wait_waiting(k, namespace, right, top)
    wait_waiting(k, namespace, bottom, left, right)
    row = k.run("get", "tj", bottom, "-n", namespace).stdout
    assert "Waiting" in row, row
    assert not [p for p in k.list("pods", namespace, selector="taskops.dev/taskjob")
                if p["metadata"]["labels"]["taskops.dev/taskjob"] != top]

    release(k, namespace, top)
    top_st = finish(k, namespace, top)
    left_st, right_st = finish(k, namespace, left), finish(k, namespace, right)
    bottom_st = finish(k, namespace, bottom)

    top_done = sec(top_st["completionTime"])
    assert first_pod_created(k, namespace, left) >= top_done
    assert first_pod_created(k, namespace, right) >= top_done
    assert first_pod_created(k, namespace, bottom) >= max(
        sec(left_st["completionTime"]), sec(right_st["completionTime"]))
    # right saw top's result; bottom saw left's and right's (right's is top's, as JSON).
    assert json.loads(right_st["result"]) == {top: "top-result"}, right_st["result"]
    seen = json.loads(bottom_st["result"])
    assert seen == {left: "left-result", right: right_st["result"]}, seen


def test_an_indexed_dependency_passes_its_results_as_an_array_in_index_order(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(job_list(
        taskjob("shards", 'sleep "$((2 - TASK_INDEX))"; '
                          'printf "shard-%s" "$TASK_INDEX" > /dev/termination-log',
                completionMode="Indexed", completions=3, parallelism=3),
        taskjob("merge", SHOW_RESULTS, dependsOn=["shards"]),
    ), namespace)
    shards = finish(k, namespace, "shards")
    assert shards["results"] == {str(i): f"shard-{i}" for i in range(3)}, shards
    merge = finish(k, namespace, "merge")
    assert json.loads(merge["result"]) == {"shards": ["shard-0", "shard-1", "shard-2"]}, merge


def test_a_dependency_created_after_its_dependent_is_waited_for(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("early", SHOW_RESULTS, dependsOn=["created-later"],
                    timeouts={"dependencySeconds": 60}), namespace)
    wait_waiting(k, namespace, "early", "created-later")
    row = k.run("get", "tj", "early", "-n", namespace).stdout
    assert "Waiting" in row, row
    assert not pods_of(k, namespace, "early")

    k.apply(taskjob("created-later", result_script("later-result")), namespace)
    later = finish(k, namespace, "created-later")
    early = finish(k, namespace, "early")
    assert json.loads(early["result"]) == {"created-later": "later-result"}, early
    assert first_pod_created(k, namespace, "early") >= sec(later["completionTime"])


# ----------------------------------------------------------------------------- failures


def test_a_failed_dependency_fails_the_dependent_while_the_other_still_runs(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(job_list(
        taskjob("dep-broken", "sleep 1; exit 1"),
        taskjob("dep-slow", HOLD.replace("released", "slow-result")),
        taskjob("dependent", SHOW_RESULTS, dependsOn=["dep-broken", "dep-slow"]),
    ), namespace)
    broken = wait_phase(k, namespace, "dep-broken", TERMINAL, timeout=90)
    assert broken["phase"] == "Failed", broken
    st = wait_phase(k, namespace, "dependent", TERMINAL, timeout=60)
    assert_failed(st, "DependencyFailed", "dep-broken")
    assert not pods_of(k, namespace, "dependent")
    # The other dependency is not the dependent's to stop: it runs on (it
    # cannot end before it is released) and succeeds.
    wait_phase(k, namespace, "dep-slow", "Running", timeout=60)
    release(k, namespace, "dep-slow")
    assert finish(k, namespace, "dep-slow")["result"] == "slow-result"
    assert status(k, namespace, "dependent")["phase"] == "Failed"


def test_a_dependency_missing_past_dependency_seconds_fails_the_dependent(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    grace = 8
    k.apply(taskjob("orphan", SHOW_RESULTS, dependsOn=["never-created"],
                    timeouts={"dependencySeconds": grace}), namespace)
    wait_waiting(k, namespace, "orphan", "never-created")
    st = wait_phase(k, namespace, "orphan", TERMINAL, timeout=60)
    assert_failed(st, "DependencyFailed", "never-created")
    job = k.get("taskjob", "orphan", namespace)
    assert job is not None
    waited = sec(st["completionTime"]) - created(job)
    assert grace <= waited <= grace + 15, waited
    assert not pods_of(k, namespace, "orphan")


def test_a_dependency_cycle_fails_every_member_with_dependency_cycle(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    ring = ["ring-a", "ring-b", "ring-c"]
    k.apply(job_list(
        *(taskjob(name, "echo -n ran > /dev/termination-log",
                  dependsOn=[ring[(i + 1) % len(ring)]]) for i, name in enumerate(ring)),
        taskjob("narcissus", "echo -n ran > /dev/termination-log", dependsOn=["narcissus"]),
    ), namespace)
    for name in ring:
        assert_failed(wait_phase(k, namespace, name, TERMINAL, timeout=60),
                      "DependencyCycle", *ring)
    assert_failed(wait_phase(k, namespace, "narcissus", TERMINAL, timeout=60),
                  "DependencyCycle", "narcissus")
    assert not k.list("pods", namespace, selector="taskops.dev/taskjob")
