"""The API server and etcd restarted under load: the operator reconnects its
watches, catches up, and nothing is lost or doubled; while the API server is
down its readiness says so.

Local cluster only (the test stops and starts the control plane's processes
through e2e/cluster/up, which starts whatever is not running).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable

import pytest

from kube import Kubectl, describe_namespace, wait_for
from local_cluster import bring_up, is_local_cluster, kill
from operator_process import OperatorProcess
from test_admission import job_list, statuses
from test_taskjob import TERMINAL, taskjob

pytestmark = pytest.mark.chaos

FULL = os.environ.get("TASKOPS_CHAOS") == "full"
JOBS = 60 if FULL else 16
ROUNDS = 3 if FULL else 1  # each round restarts the API server, then etcd


def test_api_server_and_etcd_restarts_lose_and_double_nothing(
        k: Kubectl, kubeconfig: str, namespace: str,
        operator_factory: Callable[..., OperatorProcess]) -> None:
    if not is_local_cluster(kubeconfig):
        pytest.skip("restarts the local cluster's processes")
    op = operator_factory([namespace])
    names = [f"steady-{i}" for i in range(JOBS)]
    k.apply(job_list(*(taskjob(name, "sleep 4; echo -n ok > /dev/termination-log",
                               retry={"limit": 2})
                       for name in names[: JOBS // 2])), namespace)
    figures: dict[str, float] = {}
    for round_ in range(ROUNDS):
        time.sleep(3)
        kill("kube-apiserver")
        down = time.monotonic()
        wait_for("readiness to say unreachable", lambda: op.health("/readyz")[0] == 503,
                 timeout=30, interval=0.5)
        figures[f"round {round_}: not ready after (s)"] = round(time.monotonic() - down, 1)
        figures[f"round {round_}: API server back after (s)"] = round(bring_up(), 1)
        wait_for("ready again", lambda: op.health("/readyz")[0] == 200, timeout=60,
                 interval=0.5)
        if round_ == 0:
            k.apply(job_list(*(taskjob(name, "sleep 4; echo -n ok > /dev/termination-log",
                                       retry={"limit": 2})
                               for name in names[JOBS // 2:])), namespace)
        time.sleep(3)
        # etcd under the running API server: requests fail until it is back.
        kill("etcd")
        figures[f"round {round_}: etcd back after (s)"] = round(bring_up(), 1)
    wait_for("every job finished", lambda: all(
        statuses(k, namespace).get(name, {}).get("phase") in TERMINAL for name in names),
        timeout=300, interval=2,
        on_timeout=lambda: describe_namespace(k, namespace) + op.logs(150))
    current = statuses(k, namespace)
    wrong = {name: current[name] for name in names
             if (current[name]["phase"], current[name].get("result")) != ("Succeeded", "ok")}
    assert not wrong, wrong
    # Every pod name is one attempt: one pod each, and no job more pods than attempts.
    pods = k.list("pods", namespace, selector="taskops.dev/taskjob")
    per_job = Counter(p["metadata"]["labels"]["taskops.dev/taskjob"] for p in pods)
    for name in names:
        assert per_job[name] <= current[name]["attemptCount"], (name, per_job[name],
                                                                  current[name])
    retried = {name: current[name]["attemptCount"] for name in names
               if current[name]["attemptCount"] != 1}
    figures["jobs"] = JOBS
    figures["jobs that needed a second attempt"] = len(retried)
    assert op.proc is not None and op.proc.poll() is None, "the operator exited"
    print(f"\ncontrol plane restarts: {figures}; retried: {retried}")
    # Leave the cluster as the next test expects it: kube-controller-manager's
    # controllers take a while to catch up after etcd restarts (measured: a new
    # namespace waited over 30 s for its default ServiceAccount after 3 rounds).
    probe = f"{namespace[:50]}-after"
    k.run("create", "namespace", probe)
    try:
        wait_for("the controllers to catch up (a new namespace's ServiceAccount)",
                 lambda: k.get("serviceaccount", "default", probe), timeout=180, interval=1)
    finally:
        k.run("delete", "namespace", probe, "--wait=false", check=False)
