"""Bad TaskJobs: rejected at `kubectl apply` naming the field, or, when only the
operator can tell, ended `Failed`/`Invalid` with the field named, while other
TaskJobs keep running."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kube import Kubectl
from operator_process import OperatorProcess
from test_taskjob import conditions, taskjob, wait_phase


def with_spec(**spec: Any) -> dict[str, Any]:
    body = taskjob("bad", "true")
    body["spec"].update(spec)
    return body


def without_template_containers() -> dict[str, Any]:
    body = taskjob("bad", "true")
    body["spec"]["template"]["spec"]["containers"] = []
    return body


def without_template() -> dict[str, Any]:
    body = taskjob("bad", "true")
    del body["spec"]["template"]
    return body


REJECTED_AT_APPLY = [
    ("missing template", without_template(), "spec.template"),
    ("no containers", without_template_containers(), "spec.template.spec.containers"),
    ("parallelism zero", with_spec(parallelism=0), "spec.parallelism"),
    ("completions zero", with_spec(completions=0), "spec.completions"),
    ("unknown completion mode", with_spec(completionMode="Sometimes"), "spec.completionMode"),
    ("negative retry limit", with_spec(retry={"limit": -1}), "spec.retry.limit"),
    ("unknown backoff policy", with_spec(retry={"backoff": {"policy": "Random"}}),
     "spec.retry.backoff.policy"),
    ("jitter above one", with_spec(retry={"backoff": {"jitter": 1.5}}),
     "spec.retry.backoff.jitter"),
    ("max delay below initial", with_spec(retry={"backoff": {
        "initialDelaySeconds": 60, "maxDelaySeconds": 10}}),
     "spec.retry.backoff.maxDelaySeconds"),
    ("exit code operator", with_spec(retry={"onExitCodes": {"operator": "Maybe", "values": [1]}}),
     "spec.retry.onExitCodes.operator"),
    ("exit code out of range", with_spec(retry={"onExitCodes": {"operator": "In",
                                                                "values": [300]}}),
     "spec.retry.onExitCodes.values"),
    ("unknown disruption policy", with_spec(retry={"onDisruption": "Sometimes"}),
     "spec.retry.onDisruption"),
    ("zero active deadline", with_spec(timeouts={"activeDeadlineSeconds": 0}),
     "spec.timeouts.activeDeadlineSeconds"),
    ("two drain hooks", with_spec(shutdown={"drain": {"sleepSeconds": 1,
                                                      "exec": {"command": ["true"]}}}),
     "spec.shutdown.drain"),
    ("negative grace period", with_spec(shutdown={"gracePeriodSeconds": -1}),
     "spec.shutdown.gracePeriodSeconds"),
    ("main container not in template", with_spec(mainContainer="sidecar"), "spec.mainContainer"),
    ("result maxBytes too large", with_spec(result={"maxBytes": 100000}),
     "spec.result.maxBytes"),
    ("string where integer", with_spec(parallelism="two"), "spec.parallelism"),
    ("negative ttl", with_spec(ttlSecondsAfterFinished=-5), "spec.ttlSecondsAfterFinished"),
    # Schema-valid once, these made the operator's date arithmetic overflow.
    ("huge active deadline", with_spec(timeouts={"activeDeadlineSeconds": 10**12}),
     "spec.timeouts.activeDeadlineSeconds"),
    ("huge attempt deadline", with_spec(timeouts={"attemptDeadlineSeconds": 10**12}),
     "spec.timeouts.attemptDeadlineSeconds"),
    ("huge ttl", with_spec(ttlSecondsAfterFinished=10**12), "spec.ttlSecondsAfterFinished"),
    ("huge backoff delay", with_spec(retry={"backoff": {
        "initialDelaySeconds": 10**12, "maxDelaySeconds": 10**12}}),
     "spec.retry.backoff.initialDelaySeconds"),
]


@pytest.mark.parametrize(("case", "manifest", "field"), REJECTED_AT_APPLY,
                         ids=[c[0] for c in REJECTED_AT_APPLY])
def test_bad_manifest_is_rejected_at_apply_naming_the_field(
        k: Kubectl, namespace: str, crds: None, case: str, manifest: dict[str, Any], field: str):
    proc = k.apply(copy.deepcopy(manifest), namespace, check=False)
    assert proc.returncode != 0, f"{case}: accepted"
    assert field in proc.stderr, f"{case}: {proc.stderr}"
    assert k.get("taskjob", "bad", namespace) is None


def test_a_template_the_api_server_rejects_ends_invalid_without_stalling_others(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    bad = taskjob("bad-pod", "true")
    bad["spec"]["template"]["spec"]["containers"][0]["name"] = "Not_A_DNS_Label"
    k.apply(bad, namespace)
    k.apply(taskjob("good", "true"), namespace)
    st = wait_phase(k, namespace, "bad-pod", ("Succeeded", "Failed"), timeout=60)
    assert st["phase"] == "Failed" and st["reason"] == "Invalid", st
    assert "spec.template" in st["message"], st["message"]
    assert conditions(st)["Invalid"]["status"] == "True"
    assert wait_phase(k, namespace, "good", ("Succeeded", "Failed"))["phase"] == "Succeeded"


def test_a_pod_security_violation_ends_invalid_naming_the_template(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    privileged = taskjob("privileged", "true",
                         container={"securityContext": {"privileged": True}})
    k.apply(privileged, namespace)
    st = wait_phase(k, namespace, "privileged", ("Succeeded", "Failed"), timeout=60)
    assert st["phase"] == "Failed" and st["reason"] == "Invalid", st
    assert "PodSecurity" in st["message"] and "spec.template" in st["message"], st["message"]


def test_a_probe_on_a_port_name_the_container_does_not_declare_ends_invalid(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("no-port", "sleep 1", probes={"http": {"port": "web"}}), namespace)
    st = wait_phase(k, namespace, "no-port", ("Succeeded", "Failed"), timeout=60)
    assert st["phase"] == "Failed" and st["reason"] == "Invalid", st
    assert st["message"].startswith("spec.probes.http.port"), st["message"]
    assert not k.list("pods", namespace), "no pod is created for an invalid spec"
