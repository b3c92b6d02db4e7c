"""TaskJob spec -> Pod manifest: names, labels, owner, env, probes, drain, grace."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from factories import job_spec
from taskops.api.taskjob import TaskJobSpec, describe_validation_error
from taskops.core.labels import (
    ANNOTATION_MAIN_CONTAINER,
    LABEL_ATTEMPT,
    LABEL_INDEX,
    LABEL_TASKJOB,
    LABEL_TASKJOB_UID,
    POD_FINALIZER,
)
from taskops.core.pods import drain_hook, job_label_value, pod_manifest, pod_name, probes_for

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_SUBDOMAIN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-."


def manifest(index: int = 0, attempt: int = 0, name: str = "job", **spec: Any) -> dict[str, Any]:
    return pod_manifest(
        namespace="ns",
        job_name=name,
        job_uid="uid-1",
        spec=TaskJobSpec.model_validate(job_spec(**spec)),
        index=index,
        attempt=attempt,
    )


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod["spec"]["containers"]}


TWO_CONTAINERS = {
    "spec": {
        "containers": [
            {"name": "sidecar", "image": "proxy"},
            {"name": "worker", "image": "busybox"},
        ]
    }
}

# --- names and labels --------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "index", "attempt", "expected"),
    [
        ("job", 0, 0, "job-0-0"),
        ("report", 3, 2, "report-3-2"),
        ("a", 999, 12345, "a-999-12345"),
        ("x" * 59, 0, 0, "x" * 59 + "-0-0"),
    ],
)
def test_pod_name_is_job_index_attempt_when_it_fits(
    job: str, index: int, attempt: int, expected: str
) -> None:
    assert pod_name(job, index, attempt) == expected


@pytest.mark.parametrize("length", [60, 61, 63, 64, 100, 200, 253])
@pytest.mark.parametrize(("index", "attempt"), [(0, 0), (7, 3), (999, 99999)])
def test_long_job_names_are_cut_and_hashed_into_a_dns_label(
    length: int, index: int, attempt: int
) -> None:
    job = ("long-job-name-" * 30)[:length].strip("-")
    name = pod_name(job, index, attempt)
    assert len(name) <= 63
    assert DNS_LABEL.match(name)
    assert name.endswith(f"-{index}-{attempt}")
    assert name == pod_name(job, index, attempt)


@pytest.mark.parametrize("job", ["a.b", "my.job.v1", "x" * 40 + ".y"])
def test_dotted_job_names_give_dns_labels(job: str) -> None:
    assert DNS_LABEL.match(pod_name(job, 1, 2))


@pytest.mark.parametrize(
    ("first", "second"),
    [("a.b", "a-b"), ("x" * 70 + "a", "x" * 70 + "b"), ("x" * 63, "x" * 64)],
)
def test_different_jobs_never_share_pod_names(first: str, second: str) -> None:
    assert pod_name(first, 0, 0) != pod_name(second, 0, 0)


@pytest.mark.parametrize("length", [1, 50, 63, 64, 100, 253])
def test_job_label_value_is_a_valid_label_value(length: int) -> None:
    job = ("job.name-" * 40)[:length].strip("-.")
    value = job_label_value(job)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value)
    if len(job) <= 63:
        assert value == job


def test_pod_carries_the_taskops_labels_and_keeps_the_template_labels() -> None:
    pod = manifest(
        2,
        1,
        template={"metadata": {"labels": {"app": "etl", LABEL_INDEX: "forged"}}},
        completions=3,
        completionMode="Indexed",
    )
    assert pod["metadata"]["labels"] == {
        "app": "etl",
        LABEL_TASKJOB: "job",
        LABEL_TASKJOB_UID: "uid-1",
        LABEL_INDEX: "2",
        LABEL_ATTEMPT: "1",
    }


def test_long_job_name_label_is_truncated_but_uid_label_is_exact() -> None:
    job = "j" * 200
    pod = manifest(name=job)
    assert len(pod["metadata"]["labels"][LABEL_TASKJOB]) <= 63
    assert pod["metadata"]["labels"][LABEL_TASKJOB_UID] == "uid-1"


def test_pod_has_a_controller_owner_reference_to_the_taskjob() -> None:
    assert manifest()["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "taskops.dev/v1alpha1",
            "kind": "TaskJob",
            "name": "job",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_pod_gets_the_attempt_record_finalizer_and_keeps_template_finalizers() -> None:
    pod = manifest(template={"metadata": {"finalizers": ["example.com/keep"]}})
    assert pod["metadata"]["finalizers"] == ["example.com/keep", POD_FINALIZER]


def test_template_metadata_name_and_namespace_do_not_leak() -> None:
    pod = manifest(template={"metadata": {"name": "x", "namespace": "other", "generateName": "g"}})
    assert pod["metadata"]["name"] == "job-0-0"
    assert pod["metadata"]["namespace"] == "ns"
    assert "generateName" not in pod["metadata"]


def test_pod_is_annotated_with_its_main_container() -> None:
    pod = manifest(template=TWO_CONTAINERS, mainContainer="worker")
    assert pod["metadata"]["annotations"][ANNOTATION_MAIN_CONTAINER] == "worker"
    assert manifest()["metadata"]["annotations"][ANNOTATION_MAIN_CONTAINER] == "main"


# --- pod spec ----------------------------------------------------------------


@pytest.mark.parametrize("policy", [None, "Always", "OnFailure", "Never"])
def test_restart_policy_is_forced_to_never(policy: str | None) -> None:
    template: dict[str, Any] = {"spec": {}}
    if policy:
        template["spec"]["restartPolicy"] = policy
    assert manifest(template=template)["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("grace", [0, 1, 30, 600])
def test_grace_period_comes_from_shutdown(grace: int) -> None:
    pod = manifest(shutdown={"gracePeriodSeconds": grace})
    assert pod["spec"]["terminationGracePeriodSeconds"] == grace


@pytest.mark.parametrize(
    ("index", "attempt", "completions", "mode"),
    [(0, 0, 1, "NonIndexed"), (4, 2, 5, "Indexed"), (1, 9, 3, "NonIndexed")],
)
def test_every_container_gets_task_env_first(
    index: int, attempt: int, completions: int, mode: str
) -> None:
    template = {
        "spec": {
            "initContainers": [{"name": "fetch", "image": "curl"}],
            "containers": [
                {
                    "name": "main",
                    "env": [
                        {"name": "SHARD", "value": "part-$(TASK_INDEX)"},
                        {"name": "TASK_INDEX", "value": "forged"},
                    ],
                },
                {"name": "sidecar"},
            ],
        }
    }
    pod = manifest(index, attempt, template=template, completions=completions, completionMode=mode)
    expected = [
        {"name": "TASK_INDEX", "value": str(index)},
        {"name": "TASK_COUNT", "value": str(completions)},
        {"name": "TASK_ATTEMPT", "value": str(attempt)},
    ]
    for container in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        assert container["env"][:3] == expected
    assert containers(pod)["main"]["env"][3:] == [{"name": "SHARD", "value": "part-$(TASK_INDEX)"}]


def test_main_container_gets_fallback_to_logs_termination_messages() -> None:
    pod = manifest(template=TWO_CONTAINERS, mainContainer="worker")
    assert containers(pod)["worker"]["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert "terminationMessagePolicy" not in containers(pod)["sidecar"]


def test_template_termination_message_policy_wins() -> None:
    template = {"spec": {"containers": [{"name": "main", "terminationMessagePolicy": "File"}]}}
    assert containers(manifest(template=template))["main"]["terminationMessagePolicy"] == "File"


PROBE = {"exec": {"command": ["true"]}, "periodSeconds": 3}


@pytest.mark.parametrize(
    ("kind", "field"),
    [("liveness", "livenessProbe"), ("readiness", "readinessProbe"), ("startup", "startupProbe")],
)
def test_explicit_probes_go_to_the_main_container_only(kind: str, field: str) -> None:
    pod = manifest(template=TWO_CONTAINERS, mainContainer="worker", probes={kind: PROBE})
    assert containers(pod)["worker"][field] == PROBE
    assert field not in containers(pod)["sidecar"]


@pytest.mark.parametrize("field", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_template_probes_win_over_spec_probes(field: str) -> None:
    own = {"tcpSocket": {"port": 1}}
    template = {"spec": {"containers": [{"name": "main", field: own}]}}
    pod = manifest(template=template, probes={"http": {"port": 8080}})
    assert containers(pod)["main"][field] == own


@pytest.mark.parametrize("port", [8080, "http"])
def test_http_shorthand_wires_three_probes_with_defaults(port: int | str) -> None:
    main = containers(manifest(probes={"http": {"port": port}}))["main"]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    for field in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert main[field]["periodSeconds"] > 0
        assert main[field]["failureThreshold"] > 0
    assert main["startupProbe"]["failureThreshold"] * main["startupProbe"]["periodSeconds"] >= 60


def test_http_shorthand_paths_are_configurable_and_explicit_probes_win() -> None:
    spec = TaskJobSpec.model_validate(
        job_spec(
            probes={
                "http": {"port": 80, "livenessPath": "/live", "startupPath": "/start"},
                "readiness": PROBE,
            }
        )
    )
    probes = probes_for(spec)
    assert probes["livenessProbe"]["httpGet"]["path"] == "/live"
    assert probes["startupProbe"]["httpGet"]["path"] == "/start"
    assert probes["readinessProbe"] == PROBE


@pytest.mark.parametrize(
    ("drain", "hook"),
    [
        ({"exec": {"command": ["/drain"]}}, {"exec": {"command": ["/drain"]}}),
        (
            {"httpGet": {"path": "/drain", "port": 8080}},
            {"httpGet": {"path": "/drain", "port": 8080}},
        ),
        ({"sleepSeconds": 5}, {"sleep": {"seconds": 5}}),
    ],
)
def test_drain_becomes_the_main_container_prestop(
    drain: dict[str, Any], hook: dict[str, Any]
) -> None:
    pod = manifest(template=TWO_CONTAINERS, mainContainer="worker", shutdown={"drain": drain})
    assert containers(pod)["worker"]["lifecycle"] == {"preStop": hook}
    assert "lifecycle" not in containers(pod)["sidecar"]


def test_template_prestop_wins_over_drain_and_poststart_is_kept() -> None:
    own = {"exec": {"command": ["own"]}}
    template = {"spec": {"containers": [{"name": "main", "lifecycle": {"preStop": own}}]}}
    pod = manifest(template=template, shutdown={"drain": {"sleepSeconds": 3}})
    assert containers(pod)["main"]["lifecycle"] == {"preStop": own}
    template = {"spec": {"containers": [{"name": "main", "lifecycle": {"postStart": own}}]}}
    pod = manifest(template=template, shutdown={"drain": {"sleepSeconds": 3}})
    assert containers(pod)["main"]["lifecycle"] == {
        "postStart": own,
        "preStop": {"sleep": {"seconds": 3}},
    }


def test_no_drain_no_hook() -> None:
    assert drain_hook(TaskJobSpec.model_validate(job_spec())) is None
    assert "lifecycle" not in containers(manifest())["main"]


def test_template_pod_spec_fields_are_kept() -> None:
    template = {
        "spec": {
            "containers": [{"name": "main", "image": "busybox", "args": ["run"]}],
            "nodeSelector": {"disk": "ssd"},
            "serviceAccountName": "runner",
        }
    }
    pod = manifest(template=template)
    assert pod["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert pod["spec"]["serviceAccountName"] == "runner"
    assert containers(pod)["main"]["args"] == ["run"]


def test_building_a_pod_does_not_modify_the_spec() -> None:
    raw = job_spec(
        template={"metadata": {"labels": {"a": "b"}}, "spec": {"restartPolicy": "Always"}},
        probes={"http": {"port": 80}, "liveness": PROBE},
        shutdown={"drain": {"exec": {"command": ["x"]}}},
    )
    spec = TaskJobSpec.model_validate(raw)
    before = copy.deepcopy(spec.model_dump())
    first = pod_manifest(namespace="ns", job_name="j", job_uid="u", spec=spec, index=0, attempt=0)
    first["spec"]["containers"][0]["livenessProbe"]["periodSeconds"] = 999
    first["metadata"]["labels"]["a"] = "changed"
    pod_manifest(namespace="ns", job_name="j", job_uid="u", spec=spec, index=1, attempt=0)
    assert spec.model_dump() == before


# --- properties --------------------------------------------------------------

job_names = st.text(DNS_SUBDOMAIN_CHARS, min_size=1, max_size=253).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum()
)


@settings(max_examples=200, deadline=None)
@given(job_names, st.integers(0, 999), st.integers(0, 10**6))
def test_property_pod_names_are_dns_labels(job: str, index: int, attempt: int) -> None:
    """Every pod name is a DNS label of at most 63 characters, the same on every call."""
    name = pod_name(job, index, attempt)
    assert len(name) <= 63
    assert DNS_LABEL.match(name)
    assert name == pod_name(job, index, attempt)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(job_names, st.integers(0, 20), st.integers(0, 20)), min_size=2, max_size=8)
)
def test_property_distinct_attempts_get_distinct_pod_names(
    keys: list[tuple[str, int, int]],
) -> None:
    """Two different (job, index, attempt) never share a pod name."""
    names = {key: pod_name(*key) for key in set(keys)}
    assert len(set(names.values())) == len(names)


@settings(max_examples=200, deadline=None)
@given(job_names)
def test_property_job_label_values_are_valid(job: str) -> None:
    """The taskjob label value is always a valid Kubernetes label value."""
    value = job_label_value(job)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value)


junk = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["name", "env", "labels", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    metadata=junk,
    init_containers=junk,
    env=junk,
    lifecycle=junk,
    extra=st.dictionaries(st.sampled_from(["livenessProbe", "ports", "env"]), junk, max_size=2),
)
def test_property_malformed_templates_never_raise(
    metadata: Any, init_containers: Any, env: Any, lifecycle: Any, extra: dict[str, Any]
) -> None:
    """Any template that passes the spec validation builds a pod without raising.

    Whatever is malformed inside is passed on for the API server to reject.
    """
    main: dict[str, Any] = {"name": "main", "env": env, "lifecycle": lifecycle, **extra}
    template = {
        "metadata": metadata,
        "spec": {"initContainers": init_containers, "containers": [main]},
    }
    try:
        pod = manifest(
            template=template,
            probes={"http": {"port": 80}},
            shutdown={"drain": {"sleepSeconds": 2}},
        )
    except ValidationError as err:
        # Labels or annotations that are not strings fail the spec validation
        # (the job is Invalid, naming them): no pod is built from them.
        assert "spec.template.metadata." in describe_validation_error(err), err
        return
    assert pod["metadata"]["name"] == "job-0-0"
    assert pod["spec"]["restartPolicy"] == "Never"
