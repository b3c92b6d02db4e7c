"""Node loss: the kubelet stopped while pods run.

The control plane finds the node unreachable (no status for
node-monitor-grace-period, 50 s by default), taints it `unreachable:NoExecute`
and the taint manager deletes the pods that do not tolerate that for long
(the first job tolerates it 5 s; Kubernetes' default is 300 s). Those pods
stay Running and terminating: no kubelet is left to stop them. The operator
records the attempt as `Disrupted`, saying why from the pod's own
DisruptionTarget condition, and creates its replacement without counting it
against `retry.limit` (`retry.onDisruption: Ignore`); the replacement runs
once the kubelet is back. A second job is deleted while its pod sits on the
dead node: its drain cannot finish, and the operator stops waiting 60 s past
the pod's deletion deadline (STUCK_DELETION_SECONDS), force-deletes the pod
and lets the TaskJob go, kubelet still down.

A second node keeps the control plane out of its "master disruption mode":
when every node is unready it assumes its own network failed and evicts
nothing, so a one-node cluster never shows a node loss. The second node is a
kwok fake node (kwok built by e2e/cluster/build, like the bench's), tainted so
that no pod lands on it; it only keeps posting a Ready status.

Local cluster only (it stops and starts the kubelet through e2e/cluster/up).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube import CLUSTER_DIR, Kubectl, describe_namespace, wait_for
from local_cluster import CACHE, bring_up, is_local_cluster, kill
from operator_process import OperatorProcess
from taskops.core.taskjob import STUCK_DELETION_SECONDS
from test_taskjob import status, taskjob, wait_phase

pytestmark = pytest.mark.chaos

GRACE = 5
# Attempt 0 outlives the outage; the replacement ends at once with a result.
SCRIPT = ('if [ "$TASK_ATTEMPT" = 0 ]; then sleep 900; fi; '
          'echo -n "attempt $TASK_ATTEMPT" > /dev/termination-log')
TOLERATE_UNREACHABLE_5S = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                            "effect": "NoExecute", "tolerationSeconds": 5}]


FAKE_NODE = "taskops-chaos-fake-node"


def kwok_version() -> str:
    for line in (CLUSTER_DIR / "versions.env").read_text().splitlines():
        if line.startswith("KWOK_VERSION="):
            return line.split("=", 1)[1]
    raise AssertionError("KWOK_VERSION missing from e2e/cluster/versions.env")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def second_node(k: Kubectl, kubeconfig: str, tmp_path: Path) -> Iterator[str]:
    """A Ready fake node no pod can land on, for as long as the test runs."""
    binary = CACHE / "bin/current/kwok"
    if not binary.exists():
        subprocess.run([str(CLUSTER_DIR / "build"), "kwok"], check=True, timeout=1800)
    gomod = Path(os.environ.get("GOMODCACHE", CACHE / "gomod"))
    stages = gomod / f"sigs.k8s.io/kwok@{kwok_version()}/kustomize/stage/node"
    config: list[dict[str, Any]] = [{
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
        "options": {"manageAllNodes": False,
                    "manageNodesWithAnnotationSelector": "kwok.x-k8s.io/node=fake",
                    "nodeLeaseDurationSeconds": 40, "nodeLeaseParallelism": 1,
                    "nodePlayStageParallelism": 1, "podPlayStageParallelism": 1,
                    "nodePort": free_port()},
    }]
    for stage in ("fast/node-initialize", "heartbeat-with-lease/node-heartbeat-with-lease"):
        config.append(yaml.safe_load((stages / f"{stage}.yaml").read_text()))
    (tmp_path / "kwok.yaml").write_text(yaml.safe_dump_all(config))
    log = (tmp_path / "kwok.log").open("w")
    kwok = subprocess.Popen([str(binary), "--kubeconfig", kubeconfig,
                             "--config", str(tmp_path / "kwok.yaml")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        k.apply({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": FAKE_NODE,
                         "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"type": "kwok"}},
            "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake",
                                 "effect": "NoSchedule"}]},
        })
        wait_for("the fake node Ready", lambda: node_ready(k, FAKE_NODE) == "True",
                 timeout=60, interval=1,
                 on_timeout=lambda: (tmp_path / "kwok.log").read_text()[-3000:])
        yield FAKE_NODE
    finally:
        kwok.terminate()
        kwok.wait(timeout=30)
        log.close()
        k.run("delete", "node", FAKE_NODE, "--ignore-not-found", check=False)


def node_ready(k: Kubectl, node: str) -> str:
    conditions = (k.get("node", node) or {}).get("status", {}).get("conditions", [])
    return next((c["status"] for c in conditions if c["type"] == "Ready"), "Unknown")


def pods_of(k: Kubectl, namespace: str, job: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p
            for p in k.list("pods", namespace, selector=f"taskops.dev/taskjob={job}")}


def test_a_lost_node_disrupts_and_replaces_pods_and_does_not_hold_a_deleted_job(
        k: Kubectl, kubeconfig: str, namespace: str,
        operator_factory: Callable[..., OperatorProcess], request: pytest.FixtureRequest,
) -> None:
    if not is_local_cluster(kubeconfig):
        pytest.skip("stops the local cluster's kubelet")
    nodes = [n["metadata"]["name"] for n in k.list("nodes")]
    assert len(nodes) == 1, f"the test stops the only kubelet, and finds {nodes}"
    node = nodes[0]
    request.getfixturevalue("second_node")
    op = operator_factory([namespace])
    lost = taskjob("lost", SCRIPT, retry={"limit": 0, "onDisruption": "Ignore"},
                   shutdown={"gracePeriodSeconds": GRACE})
    lost["spec"]["template"]["spec"]["tolerations"] = TOLERATE_UNREACHABLE_5S
    held = taskjob("held", "sleep 900", shutdown={"gracePeriodSeconds": GRACE})
    k.apply(lost, namespace)
    k.apply(held, namespace)
    for name in ("lost", "held"):
        # The container itself started, not only the pod created (the phase
        # says Running sooner).
        wait_for(f"{name}'s container running", lambda name=name: any(
            "running" in (c.get("state") or {})
            for p in pods_of(k, namespace, name).values()
            for c in p.get("status", {}).get("containerStatuses", [])), timeout=120)
    figures: dict[str, float] = {}
    kill("kubelet")
    stopped = time.monotonic()
    try:
        k.run("delete", "taskjob", "held", "-n", namespace, "--wait=false")
        deleted = time.monotonic()
        wait_for("the node marked unreachable", lambda: node_ready(k, node) == "Unknown",
                 timeout=120, interval=1)
        figures["node unreachable after (s)"] = round(time.monotonic() - stopped, 1)

        def replaced() -> dict[str, Any] | None:
            pods = pods_of(k, namespace, "lost")
            return pods if "lost-0-1" in pods else None

        pods = wait_for("the lost pod's replacement", replaced, timeout=120, interval=1,
                        on_timeout=lambda: describe_namespace(k, namespace) + op.logs(80))
        figures["replacement created after (s)"] = round(time.monotonic() - stopped, 1)
        first = pods["lost-0-0"]
        assert first["metadata"].get("deletionTimestamp"), "the lost pod is terminating"
        assert first["status"]["phase"] == "Running", "no kubelet is left to stop it"
        st = status(k, namespace, "lost")
        attempt = st["attempts"][0]
        assert attempt["reason"] == "Disrupted", st
        assert "DeletionByTaintManager" in attempt["message"], attempt
        assert st["indexes"]["0"].get("failures", 0) == 0, "a disruption is not a failure"
        assert st["phase"] not in ("Failed", "Succeeded"), st

        # The deleted job: held while its pod's deletion is not overdue, gone after.
        def held_gone() -> bool:
            return k.get("taskjob", "held", namespace) is None

        wait_for("the deleted TaskJob to go", held_gone,
                 timeout=GRACE + STUCK_DELETION_SECONDS + 60, interval=1,
                 on_timeout=lambda: describe_namespace(k, namespace) + op.logs(80))
        held_for = time.monotonic() - deleted
        figures["deleted TaskJob held for (s)"] = round(held_for, 1)
        assert held_for >= STUCK_DELETION_SECONDS, "it waited for the drain first"
        assert not pods_of(k, namespace, "held"), "its stuck pod was force-deleted"
        assert node_ready(k, node) == "Unknown", "all of it while the node was lost"
    finally:
        figures["kubelet back after (s)"] = round(bring_up(), 1)
        wait_for("the node Ready again", lambda: node_ready(k, node) == "True",
                 timeout=120, interval=1)

    st = wait_phase(k, namespace, "lost", ("Succeeded", "Failed"), timeout=180)
    assert st["phase"] == "Succeeded", st
    assert st["result"] == "attempt 1"
    assert [a["reason"] for a in st["attempts"]] == ["Disrupted", "Succeeded"], st
    wait_for("the lost pod gone once its kubelet is back",
             lambda: "lost-0-0" not in pods_of(k, namespace, "lost"), timeout=120, interval=1)
    assert op.proc is not None and op.proc.poll() is None, "the operator exited"
    print(f"\nnode loss: {figures}")
