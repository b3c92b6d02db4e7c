"""The operator killed with SIGKILL mid-run and started again: no duplicate
pods, no lost or double-counted attempt, every job finishes exactly once."""

from __future__ import annotations

import time
from collections import Counter

from kube import Kubectl, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_taskjob import events_for, pods_of, status, taskjob

SUCCEED_SLOWLY = 'sleep 4; echo -n "done-$TASK_INDEX" > /dev/termination-log'
FAIL_FIRST = 'sleep 2; [ "$TASK_ATTEMPT" != 0 ] || exit 1; echo -n ok > /dev/termination-log'


def test_sigkill_mid_run_then_restart_finishes_every_job_once(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    jobs = {
        **{f"slow-{i}": taskjob(f"slow-{i}", SUCCEED_SLOWLY) for i in range(3)},
        **{f"retry-{i}": taskjob(f"retry-{i}", FAIL_FIRST, retry={
            "limit": 2, "backoff": {"policy": "Fixed", "initialDelaySeconds": 2}})
           for i in range(3)},
        "fan": taskjob("fan", SUCCEED_SLOWLY, completionMode="Indexed", completions=3,
                       parallelism=3),
    }
    for body in jobs.values():
        k.apply(body, namespace)
    wait_for("pods running", lambda: sum(
        1 for p in k.list("pods", namespace) if p["status"].get("phase") == "Running") >= 3,
        timeout=90, on_timeout=lambda: describe_namespace(k, namespace))

    taskops.kill()
    time.sleep(3)  # pods finish and fail while nobody watches
    taskops.start()

    def all_done() -> bool:
        return all(status(k, namespace, name).get("phase") in ("Succeeded", "Failed")
                   for name in jobs)

    wait_for("every job finished", all_done, timeout=180,
             on_timeout=lambda: describe_namespace(k, namespace) + taskops.logs())
    for name in jobs:
        st = status(k, namespace, name)
        assert st["phase"] == "Succeeded", (name, st)
        pods = pods_of(k, namespace, name)
        keys = [(p["metadata"]["labels"]["taskops.dev/index"],
                 p["metadata"]["labels"]["taskops.dev/attempt"]) for p in pods]
        assert len(keys) == len(set(keys)), f"{name}: duplicate pods {keys}"
        recorded = [(a["index"], a["attempt"]) for a in st["attempts"]]
        assert len(recorded) == len(set(recorded)), f"{name}: attempt counted twice {recorded}"
        assert st["attemptCount"] == len(recorded) == len(pods), (name, st, keys)
        finished = Counter(e["reason"] for e in events_for(k, namespace, name))
        assert finished["Succeeded"] == 1, (name, finished)
    assert [a["attempt"] for a in status(k, namespace, "retry-0")["attempts"]] == [0, 1]
    assert status(k, namespace, "fan")["results"] == {"0": "done-0", "1": "done-1",
                                                      "2": "done-2"}
