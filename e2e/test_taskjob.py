"""TaskJob end to end: a real API server, scheduler, kubelet and operator process.

Every test asserts what a user sees: the TaskJob's status through kubectl,
its pods, its Events, the operator's /metrics.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from typing import Any

from kube import BUSYBOX_IMAGE, Kubectl, PodWatch, describe_namespace, wait_for
from operator_process import OperatorProcess

TERMINAL = ("Succeeded", "Failed")


def taskjob(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": BUSYBOX_IMAGE,
                                 "imagePullPolicy": "IfNotPresent",
                                 "command": ["sh", "-c", script]}
    container.update(spec.pop("container", {}))
    body: dict[str, Any] = {
        "apiVersion": "taskops.dev/v1alpha1",
        "kind": "TaskJob",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [container]}},
                 "shutdown": {"gracePeriodSeconds": 5}, **spec},
    }
    return body


def status(k: Kubectl, ns: str, name: str) -> dict[str, Any]:
    job = k.get("taskjob", name, ns)
    return (job or {}).get("status") or {}


def wait_phase(k: Kubectl, ns: str, name: str, phases: tuple[str, ...] | str,
               timeout: float = 120) -> dict[str, Any]:
    wanted = (phases,) if isinstance(phases, str) else phases

    def probe() -> dict[str, Any] | None:
        st = status(k, ns, name)
        return st if st.get("phase") in wanted else None

    return wait_for(f"TaskJob {name} phase in {wanted}", probe, timeout=timeout,
                    on_timeout=lambda: describe_namespace(k, ns))


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def conditions(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in st.get("conditions") or []}


def pods_of(k: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    return k.list("pods", ns, selector=f"taskops.dev/taskjob={name}")


def events_for(k: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    items = json.loads(k.run("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    return [e for e in items if e["involvedObject"].get("name") == name
            and e["involvedObject"].get("kind") == "TaskJob"]


# ----------------------------------------------------------------------------- success


def test_success_records_the_result_and_shows_in_kubectl(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("hello", "echo -n \"hello from $TASK_INDEX/$TASK_COUNT/$TASK_ATTEMPT\" "
                             "> /dev/termination-log"), namespace)
    st = wait_phase(k, namespace, "hello", TERMINAL)
    assert st["phase"] == "Succeeded", st
    assert st["result"] == "hello from 0/1/0"
    assert st["attemptCount"] == 1 and st["succeeded"] == 1
    assert st["attempts"][0]["exitCode"] == 0
    assert conditions(st)["Complete"]["status"] == "True"
    assert st["startTime"] and st["completionTime"]
    table = k.run("get", "tj", "hello", "-n", namespace).stdout
    assert "Succeeded" in table and "hello from 0/1/0" in table
    # The pod carries the contract's labels and ownerReference, and its
    # finalizer is released once the outcome is on the status.
    pod = wait_for("pod released", lambda: [p for p in pods_of(k, namespace, "hello")
                                            if not p["metadata"].get("finalizers")], timeout=30)[0]
    assert pod["metadata"]["labels"]["taskops.dev/attempt"] == "0"
    assert pod["metadata"]["labels"]["taskops.dev/index"] == "0"
    owner = pod["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "TaskJob" and owner["controller"] is True
    assert pod["spec"]["restartPolicy"] == "Never"


# ----------------------------------------------------------------------------- retries


def test_failing_task_is_retried_with_gaps_that_follow_the_backoff(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("flaky", "exit 1", retry={
        "limit": 2,
        "backoff": {"policy": "Exponential", "initialDelaySeconds": 2, "factor": 3,
                    "maxDelaySeconds": 60},
    }), namespace)
    st = wait_phase(k, namespace, "flaky", TERMINAL, timeout=180)
    assert st["phase"] == "Failed" and st["reason"] == "BackoffLimitExceeded", st
    attempts = st["attempts"]
    assert [a["attempt"] for a in attempts] == [0, 1, 2]
    assert all(a["exitCode"] == 1 for a in attempts)
    gaps = [(ts(b["startTime"]) - ts(a["finishTime"])).total_seconds()
            for a, b in itertools.pairwise(attempts)]
    # Delays 2 s then 6 s. A delay is a floor, and startTime/finishTime are
    # second-granular, so each gap is at least its delay less one second; pod
    # start latency on a loaded machine only adds. The second floor (5 s) is
    # what shows the growth: comparing the two gaps to each other is not, as
    # latency can pad the first (CI saw [4.0, 4.0] with factor 2).
    assert 1 <= gaps[0] <= 2 + 6, gaps
    assert 5 <= gaps[1] <= 6 + 6, gaps
    assert taskops.metric("taskops_attempts_total", outcome="Failed") == 3
    assert taskops.metric("taskops_retries_total") == 2


def test_a_non_retryable_exit_code_fails_the_job_at_once(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("fatal", "exit 3", retry={
        "limit": 5, "backoff": {"policy": "None"},
        "onExitCodes": {"operator": "In", "values": [1, 2]},
    }), namespace)
    st = wait_phase(k, namespace, "fatal", TERMINAL)
    assert st["phase"] == "Failed" and st["reason"] == "NonRetryableExitCode", st
    assert st["attemptCount"] == 1
    assert "3" in st["message"]


def test_attempt_deadline_stops_a_hung_attempt_and_the_retry_succeeds(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    script = 'if [ "$TASK_ATTEMPT" = 0 ]; then sleep 300; fi; echo -n ok > /dev/termination-log'
    k.apply(taskjob("hung", script, retry={"limit": 1, "backoff": {"policy": "None"}},
                    timeouts={"attemptDeadlineSeconds": 4},
                    shutdown={"gracePeriodSeconds": 1}), namespace)
    st = wait_phase(k, namespace, "hung", TERMINAL, timeout=120)
    assert st["phase"] == "Succeeded", st
    first, second = st["attempts"]
    assert first["reason"] == "AttemptDeadlineExceeded"
    assert second["exitCode"] == 0
    assert st["result"] == "ok"


def test_active_deadline_drains_the_pod_and_fails_the_job(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    script = ("trap 'echo sigterm >> /dev/termination-log; exit 143' TERM; "
              "while true; do sleep 0.2; done")
    watch = PodWatch(k, namespace)
    k.apply(taskjob("slow", script, timeouts={"activeDeadlineSeconds": 5},
                    shutdown={"gracePeriodSeconds": 10,
                              "drain": {"exec": {"command": [
                                  "sh", "-c", "echo drained >> /dev/termination-log"]}}},
                    retry={"limit": 3}), namespace)
    st = wait_phase(k, namespace, "slow", TERMINAL, timeout=90)
    assert st["phase"] == "Failed" and st["reason"] == "DeadlineExceeded", st
    assert st["attemptCount"] == 1, "a deadline is not retried"
    assert st["attempts"][0]["reason"] == "DeadlineExceeded"
    # The pod was drained: its preStop hook ran, then SIGTERM, as the pod's
    # last status (held by the operator's finalizer until recorded) shows.
    pod = st["attempts"][0]["pod"]
    terminated = wait_for("the drained pod's final state", lambda: watch.terminated(pod),
                          timeout=30)
    watch.stop()
    assert terminated["message"].split() == ["drained", "sigterm"], terminated
    elapsed = (ts(st["completionTime"]) - ts(st["startTime"])).total_seconds()
    assert 5 <= elapsed < 20, elapsed


# ----------------------------------------------------------------------------- suspend, delete


def test_suspend_stops_the_pod_and_resume_runs_it_again(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    script = ('if [ ! "$TASK_ATTEMPT" = 0 ]; then echo -n resumed > /dev/termination-log; '
              'exit 0; fi; sleep 300')
    k.apply(taskjob("pausable", script, shutdown={"gracePeriodSeconds": 1}), namespace)
    wait_for("pod running", lambda: any(p["status"].get("phase") == "Running"
                                        for p in pods_of(k, namespace, "pausable")), timeout=60)
    k.run("patch", "tj", "pausable", "-n", namespace, "--type=merge", "-p",
          '{"spec": {"suspend": true}}')
    st = wait_phase(k, namespace, "pausable", "Suspended")
    assert conditions(st)["Suspended"]["status"] == "True"
    wait_for("pods gone while suspended",
             lambda: not [p for p in pods_of(k, namespace, "pausable")
                          if p["status"].get("phase") in ("Pending", "Running")
                          and not p["metadata"].get("deletionTimestamp")], timeout=30)
    k.run("patch", "tj", "pausable", "-n", namespace, "--type=merge", "-p",
          '{"spec": {"suspend": false}}')
    st = wait_phase(k, namespace, "pausable", TERMINAL)
    assert st["phase"] == "Succeeded" and st["result"] == "resumed", st
    assert conditions(st)["Suspended"]["status"] == "False"


def test_deleting_a_running_job_drains_its_pod_before_the_job_disappears(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    script = "trap 'sleep 2; exit 0' TERM; while true; do sleep 0.2; done"
    k.apply(taskjob("doomed", script, shutdown={"gracePeriodSeconds": 10,
                                                "drain": {"sleepSeconds": 1}}), namespace)
    wait_for("pod running", lambda: any(p["status"].get("phase") == "Running"
                                        for p in pods_of(k, namespace, "doomed")), timeout=60)
    k.run("delete", "tj", "doomed", "-n", namespace, "--wait=false")
    seen_job_with_terminating_pod = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = k.get("taskjob", "doomed", namespace)
        pods = pods_of(k, namespace, "doomed")
        if job is None:
            assert not pods, "the TaskJob went before its pod was drained"
            break
        if pods and pods[0]["metadata"].get("deletionTimestamp"):
            seen_job_with_terminating_pod = True
        time.sleep(0.2)
    else:
        raise AssertionError(describe_namespace(k, namespace))
    assert seen_job_with_terminating_pod, "the finalizer should hold the TaskJob during the drain"


# ----------------------------------------------------------------------------- fan-out


def test_indexed_fan_out_of_four_records_a_result_per_index(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("fan", 'echo -n "part-$TASK_INDEX-of-$TASK_COUNT" > /dev/termination-log',
                    completionMode="Indexed", completions=4, parallelism=2), namespace)
    st = wait_phase(k, namespace, "fan", TERMINAL, timeout=180)
    assert st["phase"] == "Succeeded", st
    assert st["results"] == {str(i): f"part-{i}-of-4" for i in range(4)}
    assert st["succeeded"] == 4
    indexes = sorted(int(p["metadata"]["labels"]["taskops.dev/index"])
                     for p in pods_of(k, namespace, "fan"))
    assert indexes == [0, 1, 2, 3]


def test_a_parallel_job_stays_running_between_waves_and_its_pods_are_taskops_own(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    # Three waves of two: between them no pod of the job runs for a moment,
    # which is not the job waiting again (no Pending, no second Running).
    k.apply(taskjob("waves", "sleep 2", completionMode="Indexed", completions=6,
                    parallelism=2), namespace)
    st = wait_phase(k, namespace, "waves", TERMINAL, timeout=180)
    assert st["phase"] == "Succeeded", st
    reasons = [e["reason"] for e in sorted(events_for(k, namespace, "waves"),
                                           key=lambda e: e["metadata"]["name"])]
    assert reasons.count("Running") == 1, reasons
    assert "Pending" not in reasons[reasons.index("Running"):], reasons
    # The operator writes as `taskops`: its field manager in managedFields.
    pods = json.loads(k.run("get", "pods", "-n", namespace, "-l", "taskops.dev/taskjob=waves",
                            "--show-managed-fields", "-o", "json").stdout)["items"]
    assert len(pods) == 6
    for pod in pods:
        creators = [m["manager"] for m in pod["metadata"]["managedFields"]
                    if m["operation"] == "Update" and not m.get("subresource")]
        assert creators and set(creators) == {"taskops"}, pod["metadata"]["managedFields"]
    # Its status is one field to the field manager (an atomic map: cheaper writes).
    job = json.loads(k.run("get", "taskjob", "-n", namespace, "waves", "--show-managed-fields",
                           "-o", "json").stdout)
    status_owners = [m for m in job["metadata"]["managedFields"]
                     if m.get("subresource") == "status"]
    assert [(m["manager"], m["fieldsV1"]) for m in status_owners] == [
        ("taskops", {"f:status": {}})], status_owners


# ----------------------------------------------------------------------------- probes


def test_a_liveness_probe_failure_counts_as_a_failed_attempt(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("unlively", "sleep 300", probes={"liveness": {
        "exec": {"command": ["test", "-f", "/tmp/alive"]},
        "periodSeconds": 1, "failureThreshold": 1, "initialDelaySeconds": 1,
    }}, shutdown={"gracePeriodSeconds": 1}), namespace)
    st = wait_phase(k, namespace, "unlively", TERMINAL, timeout=120)
    assert st["phase"] == "Failed" and st["reason"] == "BackoffLimitExceeded", st
    assert st["attempts"][0]["exitCode"] in (137, 143), st["attempts"]


def test_readiness_of_the_main_container_shows_in_the_ready_condition(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("ready", "while [ ! -f /tmp/done ]; do sleep 0.2; done", probes={
        "readiness": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1},
    }, shutdown={"gracePeriodSeconds": 1}), namespace)
    pod = wait_for("pod running", lambda: [p for p in pods_of(k, namespace, "ready")
                                           if p["status"].get("phase") == "Running"],
                   timeout=60)[0]["metadata"]["name"]
    st = wait_phase(k, namespace, "ready", "Running")
    assert conditions(st).get("Ready", {}).get("status", "False") == "False"
    k.run("exec", pod, "-n", namespace, "--", "touch", "/tmp/ready")
    wait_for("Ready condition True",
             lambda: conditions(status(k, namespace, "ready")).get("Ready", {}).get("status")
             == "True", timeout=30, on_timeout=lambda: describe_namespace(k, namespace))
    k.run("exec", pod, "-n", namespace, "--", "touch", "/tmp/done")
    assert wait_phase(k, namespace, "ready", TERMINAL)["phase"] == "Succeeded"


# ----------------------------------------------------------------------------- events, metrics


def test_phase_changes_are_events_in_kubectl_describe_and_metrics_count_them(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("observed", "exit 0"), namespace)
    k.apply(taskjob("observed-fail", "exit 1"), namespace)
    wait_phase(k, namespace, "observed", TERMINAL)
    wait_phase(k, namespace, "observed-fail", TERMINAL)
    described = k.run("describe", "tj", "observed", "-n", namespace).stdout
    assert "Events:" in described and "Succeeded" in described.split("Events:")[1]
    reasons = [e["reason"] for e in events_for(k, namespace, "observed-fail")]
    assert "BackoffLimitExceeded" in reasons or "Failed" in reasons, reasons
    wait_for("finished counters", lambda: taskops.metric(
        "taskops_taskjobs_finished_total", result="Succeeded") == 1, timeout=10)
    assert taskops.metric("taskops_taskjobs_finished_total", result="Failed") == 1
    assert taskops.metric("taskops_taskjobs", phase="Succeeded", namespace=namespace) == 1
    assert taskops.metric("taskops_run_duration_seconds_count") == 2
    assert taskops.metric("taskops_reconcile_duration_seconds_count", kind="TaskJob") > 0
    code, body = taskops.health("/healthz")
    assert code == 200 and json.loads(body)["leader"] is True


def test_sigterm_stops_the_operator_cleanly_and_work_resumes_after_restart(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("survivor", "sleep 3; echo -n survived > /dev/termination-log"), namespace)
    wait_phase(k, namespace, "survivor", "Running")
    started = time.monotonic()
    code = taskops.stop()  # SIGTERM
    assert code == 0, taskops.logs()
    assert time.monotonic() - started < 25, "exit within the pod's default grace period"
    assert "taskops stopped" in taskops.logs()
    taskops.start()
    st = wait_phase(k, namespace, "survivor", TERMINAL)
    assert st["phase"] == "Succeeded" and st["result"] == "survived"
    assert st["attemptCount"] == 1
