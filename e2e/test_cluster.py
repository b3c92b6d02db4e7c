"""The test cluster is real: what the API server, scheduler and kubelet do.

Each test asserts what a user would see with kubectl. They cover exactly the
machinery taskops relies on: termination messages, probes, preStop hooks and
grace periods, garbage collection, CEL validation and PodSecurity admission.
"""

from __future__ import annotations

import json
import time
from typing import Any

from kube import BUSYBOX_IMAGE, Kubectl, describe_namespace, wait_for


def pod(name: str, script: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", script],
                    **container,
                }
            ],
        },
    }


def main_state(p: dict[str, Any]) -> dict[str, Any]:
    statuses = p.get("status", {}).get("containerStatuses") or [{}]
    state: dict[str, Any] = statuses[0].get("state", {})
    return state


def test_pod_runs_to_completion_and_reports_its_termination_message(k: Kubectl, namespace: str):
    k.apply(pod("done", "echo -n 'result=42' > /dev/termination-log; exit 0"), namespace)
    done = wait_for(
        "pod Succeeded",
        lambda: (
            (p := k.get("pod", "done", namespace)) and p["status"].get("phase") == "Succeeded" and p
        ),
        timeout=90,
        on_timeout=lambda: describe_namespace(k, namespace),
    )
    terminated = main_state(done)["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["message"] == "result=42"


def test_failing_readiness_probe_keeps_a_running_pod_unready(k: Kubectl, namespace: str):
    manifest = pod(
        "unready",
        "sleep 300",
        readinessProbe={
            "exec": {"command": ["test", "-f", "/tmp/ready"]},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    )
    manifest["spec"]["terminationGracePeriodSeconds"] = 0
    k.apply(manifest, namespace)
    running = wait_for(
        "pod Running",
        lambda: (p := k.get("pod", "unready", namespace)) and "running" in main_state(p) and p,
        timeout=90,
        on_timeout=lambda: describe_namespace(k, namespace),
    )
    time.sleep(3)  # several probe periods
    now = k.get("pod", "unready", namespace)
    assert now is not None and running
    assert now["status"]["containerStatuses"][0]["ready"] is False
    ready = {c["type"]: c["status"] for c in now["status"]["conditions"]}
    assert ready["Ready"] == "False"
    # And it becomes ready once the probe passes: the probe really runs.
    k.run("exec", "unready", "-n", namespace, "--", "touch", "/tmp/ready")
    wait_for(
        "pod ready after the probe passes",
        lambda: k.get("pod", "unready", namespace)["status"]["containerStatuses"][0]["ready"],
        timeout=30,
    )


def test_prestop_hook_runs_before_sigterm_within_the_grace_period(k: Kubectl, namespace: str):
    # The main process writes "sigterm" when it gets SIGTERM; the preStop hook
    # writes "prestop" first. A finalizer keeps the pod object readable after
    # its containers have stopped, as taskops does with its attempt pods.
    script = (
        "trap 'echo sigterm >> /dev/termination-log; exit 0' TERM; while true; do sleep 0.2; done"
    )
    manifest = pod(
        "drain",
        script,
        lifecycle={
            "preStop": {
                "exec": {"command": ["sh", "-c", "echo prestop >> /dev/termination-log; sleep 1"]}
            }
        },
    )
    manifest["metadata"]["finalizers"] = ["e2e.taskops.dev/hold"]
    manifest["spec"]["terminationGracePeriodSeconds"] = 20
    k.apply(manifest, namespace)
    wait_for(
        "pod Running",
        lambda: (p := k.get("pod", "drain", namespace)) and "running" in main_state(p),
        timeout=90,
        on_timeout=lambda: describe_namespace(k, namespace),
    )
    started = time.monotonic()
    k.run("delete", "pod", "drain", "-n", namespace, "--grace-period=20", "--wait=false")
    stopped = wait_for(
        "container terminated",
        lambda: (p := k.get("pod", "drain", namespace)) and "terminated" in main_state(p) and p,
        timeout=60,
        on_timeout=lambda: describe_namespace(k, namespace),
    )
    elapsed = time.monotonic() - started
    terminated = main_state(stopped)["terminated"]
    assert terminated["message"].split() == ["prestop", "sigterm"]
    assert terminated["exitCode"] == 0
    assert elapsed < 20, (
        f"the pod stopped after {elapsed:.1f}s: SIGTERM should end it well inside its grace"
    )
    k.run(
        "patch",
        "pod",
        "drain",
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )
    wait_for("pod gone", lambda: k.get("pod", "drain", namespace) is None, timeout=30)


def test_deleting_the_owner_garbage_collects_its_pod(k: Kubectl, namespace: str):
    k.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace)
    owner = k.get("configmap", "owner", namespace)
    assert owner is not None
    child = pod("child", "sleep 300")
    child["spec"]["terminationGracePeriodSeconds"] = 0
    child["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    k.apply(child, namespace)
    assert k.get("pod", "child", namespace) is not None
    k.run("delete", "configmap", "owner", "-n", namespace)
    wait_for(
        "owned pod garbage-collected",
        lambda: k.get("pod", "child", namespace) is None,
        timeout=60,
        on_timeout=lambda: describe_namespace(k, namespace),
    )


CEL_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.e2e.taskops.dev"},
    "spec": {
        "group": "e2e.taskops.dev",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "min": {"type": "integer"},
                                    "max": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.min <= self.max",
                                        "message": "spec.max must be >= spec.min",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_crd_cel_rule_rejects_a_bad_object_with_the_rules_message(k: Kubectl, namespace: str):
    k.apply(CEL_CRD)
    k.run("wait", "--for=condition=Established", "crd/widgets.e2e.taskops.dev", "--timeout=30s")

    def widget(lo: int, hi: int) -> dict[str, Any]:
        return {
            "apiVersion": "e2e.taskops.dev/v1",
            "kind": "Widget",
            "metadata": {"name": f"w-{lo}-{hi}"},
            "spec": {"min": lo, "max": hi},
        }

    good = wait_for(
        "a valid Widget accepted",
        lambda: k.apply(widget(1, 2), namespace, check=False).returncode == 0,
        timeout=30,
    )
    assert good
    bad = k.apply(widget(5, 1), namespace, check=False)
    assert bad.returncode != 0
    assert "spec.max must be >= spec.min" in bad.stderr
    assert k.get("widgets.e2e.taskops.dev", "w-5-1", namespace) is None


def test_restricted_pod_security_rejects_a_privileged_pod(k: Kubectl, namespace: str):
    k.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    rejected = k.apply(
        pod("root", "true", securityContext={"privileged": True}), namespace, check=False
    )
    assert rejected.returncode != 0
    assert "violates PodSecurity" in rejected.stderr and "restricted" in rejected.stderr
    compliant = pod(
        "compliant",
        "true",
        securityContext={
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    )
    k.apply(compliant, namespace)
    wait_for(
        "restricted pod Succeeded",
        lambda: (
            (p := k.get("pod", "compliant", namespace)) and p["status"].get("phase") == "Succeeded"
        ),
        timeout=90,
        on_timeout=lambda: describe_namespace(k, namespace),
    )


def test_an_image_that_is_not_on_the_node_fails_fast_with_a_pull_error(k: Kubectl, namespace: str):
    manifest = pod("nopull", "true")
    manifest["spec"]["containers"][0]["image"] = "example.invalid/taskops/missing:1"
    k.apply(manifest, namespace)

    def pull_failed() -> str | None:
        p = k.get("pod", "nopull", namespace)
        waiting = main_state(p or {}).get("waiting", {})
        return (
            waiting.get("reason")
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff")
            else None
        )

    assert wait_for(
        "image pull error",
        pull_failed,
        timeout=60,
        on_timeout=lambda: describe_namespace(k, namespace),
    )
    events = json.loads(k.run("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    assert any(e["reason"] in ("Failed", "BackOff") and "missing" in e["message"] for e in events)
