"""Pending until the main container runs, and spec.timeouts.pendingSeconds, end to end.

The image that cannot be pulled is a name no registry serves (the test cluster
has no registry at all; on kind the pull fails the same way, with another
message); the pod that waits for a node asks for a label no node has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kube import BUSYBOX_IMAGE, Kubectl, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_taskjob import TERMINAL, events_for, pods_of, status, taskjob, ts, wait_phase

MISSING_IMAGE = "registry.taskops.invalid/no-such-image:1"
PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")
#: What `kubectl describe` showed, for the README's recorded output.
TRANSCRIPT = Path("/tmp/taskops-describe-transcript.txt")


def describe(k: Kubectl, ns: str, name: str) -> str:
    out = k.run("describe", "tj", name, "-n", ns).stdout
    with TRANSCRIPT.open("a") as transcript:
        transcript.write(f"$ kubectl describe tj {name}\n{out}\n")
    return out


def pending_reason(k: Kubectl, ns: str, name: str, reasons: tuple[str, ...]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        st = status(k, ns, name)
        return st if st.get("phase") == "Pending" and st.get("reason") in reasons else None

    return wait_for(f"TaskJob {name} Pending with a reason in {reasons}", probe, timeout=90,
                    on_timeout=lambda: describe_namespace(k, ns))


def test_an_image_that_cannot_be_pulled_is_pending_then_a_pending_timeout(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("unpullable", "true", container={"image": MISSING_IMAGE},
                    timeouts={"pendingSeconds": 25}), namespace)
    st = pending_reason(k, namespace, "unpullable", PULL_REASONS)
    assert st["message"].startswith("pod unpullable-0-0: "), st["message"]
    wide = k.run("get", "tj", "unpullable", "-n", namespace, "-o", "wide").stdout
    assert "Pending" in wide and st["reason"] in wide and "pod unpullable-0-0" in wide, wide
    warnings = [e for e in events_for(k, namespace, "unpullable")
                if e["reason"] == "Pending" and e["type"] == "Warning"]
    assert any(e["message"].startswith(PULL_REASONS) for e in warnings), warnings
    [pod] = pods_of(k, namespace, "unpullable")
    created = ts(pod["metadata"]["creationTimestamp"])
    described = describe(k, namespace, "unpullable")
    assert "Phase:" in described and "Pending" in described and MISSING_IMAGE in described

    st = wait_phase(k, namespace, "unpullable", TERMINAL, timeout=120)
    assert (st["phase"], st["reason"]) == ("Failed", "BackoffLimitExceeded"), st
    [attempt] = st["attempts"]
    assert attempt["reason"] == "PendingTimeout", attempt
    assert "spec.timeouts.pendingSeconds (25s)" in attempt["message"], attempt
    assert any(reason in attempt["message"] for reason in PULL_REASONS), attempt
    # Stopped at the deadline, counted from the pod's creation.
    waited = (ts(attempt["finishTime"]) - created).total_seconds()
    assert 25 <= waited <= 40, attempt
    wait_for("the stuck pod deleted", lambda: not pods_of(k, namespace, "unpullable"),
             timeout=60, on_timeout=lambda: describe_namespace(k, namespace))


def test_a_pod_that_waits_for_a_node_says_unschedulable_and_is_retried(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    body = taskjob("nowhere", "true", timeouts={"pendingSeconds": 10},
                   retry={"limit": 1, "backoff": {"policy": "None"}})
    body["spec"]["template"]["spec"]["nodeSelector"] = {"taskops.dev/no-such-node": "anywhere"}
    k.apply(body, namespace)
    st = pending_reason(k, namespace, "nowhere", ("Unschedulable",))
    assert "nodes are available" in st["message"], st["message"]
    st = wait_phase(k, namespace, "nowhere", TERMINAL, timeout=120)
    assert (st["phase"], st["reason"]) == ("Failed", "BackoffLimitExceeded"), st
    assert [a["reason"] for a in st["attempts"]] == ["PendingTimeout", "PendingTimeout"]
    assert all("Unschedulable" in a["message"] for a in st["attempts"]), st["attempts"]
    assert st["failed"] == 2


def test_the_job_is_pending_while_init_containers_run_then_running(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    body = taskjob("initialised", "sleep 5")
    # Longer than the 20 s that progress on its way may wait to be written
    # (docs/taskjob.md): a shorter init is written straight as Running.
    body["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "init", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
         "command": ["sleep", "30"]}]
    k.apply(body, namespace)
    pending_reason(k, namespace, "initialised", ("PodInitializing",))
    st = wait_phase(k, namespace, "initialised", "Running", timeout=60)
    # Running only once the main container has started: the pod says when.
    [pod] = pods_of(k, namespace, "initialised")
    main = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "main")
    started = (main["state"].get("running") or main["state"].get("terminated"))["startedAt"]
    running_events = [e for e in events_for(k, namespace, "initialised")
                      if e["reason"] == "Running"]
    assert running_events, describe_namespace(k, namespace)
    first = min(ts(e.get("eventTime") or e["firstTimestamp"]) for e in running_events)
    assert first >= ts(started).replace(microsecond=0), (first, started)
    assert st["attempts"][-1]["reason"] == "Running"
    assert wait_phase(k, namespace, "initialised", TERMINAL)["phase"] == "Succeeded"


def test_kubectl_describe_shows_a_failed_attempts_log_tail(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    script = "echo 'migrating: step 1 of 2'; echo 'error: relation \"users\" exists' >&2; exit 3"
    k.apply(taskjob("migrate", script), namespace)
    st = wait_phase(k, namespace, "migrate", TERMINAL)
    assert (st["phase"], st["reason"]) == ("Failed", "BackoffLimitExceeded"), st
    # The pod's log, kept on the status by FallbackToLogsOnError, in describe.
    assert 'error: relation "users" exists' in st["attempts"][0]["message"], st["attempts"]
    described = describe(k, namespace, "migrate")
    assert 'error: relation "users" exists' in described, described
    assert "AttemptFailed" in described, described
