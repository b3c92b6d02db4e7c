"""KubeClient's answers to the API server's refusals (the API is a stand-in
raising what the generated client raises; no logic of ours is faked)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from taskops.kube.client import KubeClient, Rejected

INVOLVED = {"metadata": {"name": "job", "namespace": "ns", "uid": "u1", "resourceVersion": "1"}}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def refusal(status: int, message: str) -> ApiException:
    err = ApiException(status=status, reason="Refused")
    err.body = json.dumps({"kind": "Status", "message": message})
    return err


class Refusing:
    """Every call raises the given refusal."""

    def __init__(self, err: ApiException) -> None:
        self.err = err
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        def call(*_: Any, **__: Any) -> Any:
            self.calls += 1
            raise self.err

        return call


def client(core: Any = None, custom: Any = None) -> KubeClient:
    kube = KubeClient(k8s.ApiClient(k8s.Configuration()))
    if core is not None:
        kube.core = core
    if custom is not None:
        kube.custom = custom
    return kube


def post_refused(caplog: pytest.LogCaptureFixture, message: str,
                 times: int) -> list[logging.LogRecord]:
    """Post `times` Events that the API server refuses with 403 `message`; the log."""
    kube = client(core=Refusing(refusal(403, message)))
    with caplog.at_level(logging.DEBUG, logger="taskops.kube.client"):
        for _ in range(times):
            kube.post_event(INVOLVED, "TaskJob", "Normal", "Running", "started", NOW)
    return caplog.records


def test_an_event_refused_by_rbac_is_a_warning_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    forbidden = 'events is forbidden: User "system:serviceaccount:x:taskops" cannot create'
    records = post_refused(caplog, forbidden, 5)
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in records]
    assert "HTTP 403" in warnings[0].getMessage()
    assert "cannot create" in warnings[0].getMessage()
    assert len([r for r in records if r.levelno == logging.DEBUG]) == 4


def test_an_event_refused_by_a_terminating_namespace_stays_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = "unable to create new content in namespace ns because it is being terminated"
    assert [r.levelno for r in post_refused(caplog, message, 1)] == [logging.DEBUG]


@pytest.mark.parametrize("status", [400, 422])
def test_a_custom_object_the_api_server_refuses_is_rejected_with_its_words(status: int) -> None:
    words = 'TaskJob.taskops.dev "s-1" is invalid: metadata.labels: Invalid value: "a b"'
    kube = client(custom=Refusing(refusal(status, words)))
    with pytest.raises(Rejected, match=r"metadata\.labels: Invalid value"):
        kube.create_custom("taskjobs", "ns", {"metadata": {"name": "s-1"}})


def test_other_failures_to_create_stay_errors_to_retry() -> None:
    kube = client(custom=Refusing(refusal(500, "etcdserver: request timed out")))
    with pytest.raises(ApiException):
        kube.create_custom("taskjobs", "ns", {"metadata": {"name": "s-1"}})


def test_a_pod_the_client_itself_refuses_is_rejected_naming_the_field() -> None:
    """The client validates the body against its V1Pod model before any request:
    a map where a list goes never reaches the API server, and must not crash."""
    kube = client()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "main", "image": "busybox"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": {"deep": {"deep": {}}}}}}}}
    with pytest.raises(Rejected, match=r"spec\.affinity\.nodeAffinity\..*nodeSelectorTerms"):
        kube.create_pod("ns", pod)
