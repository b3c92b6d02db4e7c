"""KubeClient's requests and its answers to the API server's refusals (the API
server is a stand-in ApiClient answering with real urllib3 replies; no logic of
ours is faked)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTResponse

from taskops.kube.client import KubeClient, Rejected

INVOLVED = {"metadata": {"name": "job", "namespace": "ns", "uid": "u1", "resourceVersion": "1"}}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Answering(k8s.ApiClient):
    """An ApiClient that sends nothing: it records each request and answers every
    one with `status` and `body`, as urllib3 would hand them over."""

    def __init__(self, status: int, body: dict[str, Any], token: str | None = None) -> None:
        configuration = k8s.Configuration(host="https://api.test:6443")
        if token is not None:
            # As the kubeconfig and in-cluster loaders set it.
            configuration.api_key = {"BearerToken": f"Bearer {token}"}
        super().__init__(configuration)
        self.status = status
        self.body = body
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []

    def call_api(self, method: str, url: str, header_params: Any = None, body: Any = None,
                 post_params: Any = None, _request_timeout: Any = None) -> RESTResponse:
        self.requests.append((method, url, dict(header_params or {}), body))
        reply = urllib3.HTTPResponse(body=json.dumps(self.body).encode(), status=self.status,
                                     reason="Refused" if self.status >= 400 else "OK",
                                     preload_content=False)
        return RESTResponse(reply)


def refusing(status: int, message: str) -> Answering:
    return Answering(status, {"kind": "Status", "status": "Failure", "message": message})


def post_refused(caplog: pytest.LogCaptureFixture, message: str,
                 times: int) -> list[logging.LogRecord]:
    """Post `times` Events that the API server refuses with 403 `message`; the log."""
    kube = KubeClient(refusing(403, message))
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
    kube = KubeClient(refusing(status, words))
    with pytest.raises(Rejected, match=r"metadata\.labels: Invalid value"):
        kube.create_custom("taskjobs", "ns", {"metadata": {"name": "s-1"}})


def test_other_failures_to_create_stay_errors_to_retry() -> None:
    kube = KubeClient(refusing(500, "etcdserver: request timed out"))
    with pytest.raises(ApiException):
        kube.create_custom("taskjobs", "ns", {"metadata": {"name": "s-1"}})


@pytest.mark.parametrize("status", [400, 422])
def test_a_pod_the_api_server_refuses_is_rejected_naming_the_field(status: int) -> None:
    """The body is not checked against the client's V1Pod model (a tenth of the
    operator's CPU): the API server's refusal, which names the field, is what
    the job's Invalid status says."""
    words = ('Pod "p" is invalid: spec.affinity.nodeAffinity.requiredDuringScheduling'
             'IgnoredDuringExecution.nodeSelectorTerms: Invalid value: "object"')
    kube = KubeClient(refusing(status, words))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "main", "image": "busybox"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": {"deep": {"deep": {}}}}}}}}
    with pytest.raises(Rejected, match=r"spec\.affinity\.nodeAffinity\..*nodeSelectorTerms"):
        kube.create_pod("ns", pod)


def test_a_pod_that_exists_already_is_no_error() -> None:
    kube = KubeClient(refusing(409, 'pods "p" already exists'))
    assert kube.create_pod("ns", {"metadata": {"name": "p"}}) is None


def test_a_write_is_sent_as_is_to_its_path_with_the_clients_auth_and_name() -> None:
    api = Answering(200, {"metadata": {"name": "p", "resourceVersion": "7"}}, token="secret")
    kube = KubeClient(api)
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    created = kube.create_pod("ns-1", manifest)
    kube.patch_status("taskjobs", "ns-1", "j", {"phase": "Pending"}, {"phase": "Running"})
    kube.remove_pod_finalizer("ns-1", "p", "taskops.dev/attempt-record",
                              ["taskops.dev/attempt-record"])
    assert created == {"metadata": {"name": "p", "resourceVersion": "7"}}
    (m1, url1, h1, b1), (m2, url2, h2, b2), (m3, url3, h3, b3) = api.requests
    # Strict: an unknown field in the template is refused, naming it.
    assert (m1, url1, b1) == (
        "POST", "https://api.test:6443/api/v1/namespaces/ns-1/pods?fieldValidation=Strict",
        manifest)
    assert (m2, url2, h2["Content-Type"], b2) == (
        "PATCH", "https://api.test:6443/apis/taskops.dev/v1alpha1/namespaces/ns-1/taskjobs/j/status",
        "application/merge-patch+json", {"status": {"phase": "Running"}})
    assert (m3, url3, h3["Content-Type"]) == (
        "PATCH", "https://api.test:6443/api/v1/namespaces/ns-1/pods/p",
        "application/json-patch+json")
    assert b3 == [{"op": "test", "path": "/metadata/finalizers/0",
                   "value": "taskops.dev/attempt-record"},
                  {"op": "remove", "path": "/metadata/finalizers/0"}]
    # Its answer is not read: only its metadata is asked for.
    assert h3["Accept"].startswith("application/json;as=PartialObjectMetadata")
    for headers in (h1, h2, h3):
        assert headers["authorization"] == "Bearer secret"
        # The API server names the field manager after the user agent.
        assert headers["User-Agent"] == "taskops"


def test_the_cli_writes_under_its_own_name() -> None:
    api = Answering(201, {"metadata": {"name": "s-1"}})
    KubeClient(api, component="kubectl-taskops").create_custom(
        "taskjobs", "ns", {"metadata": {"name": "s-1"}})
    assert api.requests[0][2]["User-Agent"] == "kubectl-taskops"
