"""The only code that writes to the API server.

Every write is idempotent, so a reconcile that is retried after a crash, a
conflict or a duplicate event converges instead of duplicating:
creating a pod that exists answers AlreadyExists (names are deterministic),
deleting or releasing a pod that is gone answers NotFound, and status is a
merge patch of exactly what changed, skipped when nothing did.

The official client is synchronous; callers run these methods in the
operator's thread pool (see `taskops.kube.executor`), never on the event loop.
The writes of a reconcile go out through `KubeClient._send`, not the
generated API methods: those check every argument against its model (a
whole pod against V1Pod) and walk the body again to serialise it, about a
tenth of the operator's CPU in the bench's fan-out (bench/findings.md); the
API server validates what it is sent anyway, and refuses it with the field's
name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from taskops import kopf_json
from taskops.api.taskjob import GROUP, VERSION
from taskops.core.conditions import status_patch
from taskops.kube.ratelimit import TokenBucket

log = logging.getLogger(__name__)

class Gone(Exception):
    """The object no longer exists."""


class Rejected(Exception):
    """The API server refused an object we create as invalid (a pod also
    against PodSecurity): a spec the user must fix, not a failure to retry."""


#: How the generated API methods authorise every request (a bearer token:
#: in-cluster, or a kubeconfig's token or exec plugin); client certificates
#: are on the connection pool and need nothing per request.
_AUTH_SETTINGS = ["BearerToken"]

#: Asked of a write whose answer nobody reads: the API server then encodes only
#: the object's metadata, not the whole pod.
_METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

#: Objects per list request: the warm-up holds one page of whole objects at a
#: time (`taskops.runtime.warm_caches`), not the whole list.
LIST_PAGE_SIZE = 500

#: Event posts refused with the same HTTP status are warned of once in this long.
EVENT_WARNING_SECONDS = 60.0

#: A wait for the rate limiter longer than this is logged (at DEBUG: it repeats per call).
_LONG_THROTTLE_SECONDS = 1.0


#: (connect, read) seconds of every request of the reconcilers that sets none.
#: Without it a half-open connection (an API server restarted behind a load
#: balancer, a network cut) holds a worker and its key for ever. The read
#: timeout bounds each wait for bytes, not the whole reply: a 500-object list
#: page arrives well inside it, and so does any write on a loaded API server.
REQUEST_TIMEOUT: tuple[float, float] = (5.0, 30.0)


class TimedApiClient(k8s.ApiClient):
    """An ApiClient whose requests time out (``request_timeout``) unless the caller
    sets its own ``_request_timeout``; the generated API methods pass None then."""

    def __init__(self, configuration: k8s.Configuration,
                 request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        super().__init__(configuration)
        self.request_timeout = request_timeout

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = self.request_timeout
        return super().call_api(*args, **kwargs)


class RateLimitedApiClient(TimedApiClient):
    """An ApiClient whose every request first takes a token from ``bucket``
    (``--kube-api-qps`` / ``--kube-api-burst``), blocking the calling thread.

    ``call_api`` is the one method every generated API method (``CoreV1Api``,
    ``CustomObjectsApi``, ...) sends its request through, so no call can bypass
    the limit. kopf's watches use their own aiohttp session, not this client:
    they are long-lived streams, opened once per resource, and stay unlimited.
    """

    def __init__(self, configuration: k8s.Configuration, bucket: TokenBucket,
                 request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        super().__init__(configuration, request_timeout)
        self.bucket = bucket
        #: Told the wait of every request (the operator's metrics set it).
        self.on_wait: Callable[[float], None] | None = None

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        waited = self.bucket.acquire()
        if self.on_wait is not None:
            self.on_wait(waited)
        if waited > _LONG_THROTTLE_SECONDS:
            log.debug("waited %.1fs for the client-side rate limit (%g qps, burst %d)",
                      waited, self.bucket.qps, self.bucket.burst)
        return super().call_api(*args, **kwargs)


def load_configuration(kubeconfig: str | None) -> k8s.Configuration:
    """The client configuration: in-cluster, else the kubeconfig (explicit or default).

    Read afresh on every call: an in-cluster token file is rotated.
    """
    configuration = k8s.Configuration()
    if kubeconfig is None:
        try:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
    else:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration)
    return configuration


def load_api_client(kubeconfig: str | None, pool_size: int,
                    rate_limit: TokenBucket | None = None,
                    request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> TimedApiClient:
    """An API client from :func:`load_configuration`, its requests bounded by
    ``request_timeout`` (see :class:`TimedApiClient`).

    With ``rate_limit``, every request the client makes waits for a token from
    it (see :class:`RateLimitedApiClient`); without, requests are unlimited.
    """
    configuration = load_configuration(kubeconfig)
    # One connection per worker thread, or threads queue on the pool.
    configuration.connection_pool_maxsize = pool_size
    if rate_limit is None:
        return TimedApiClient(configuration, request_timeout)
    return RateLimitedApiClient(configuration, rate_limit, request_timeout)


def _status(err: ApiException) -> int:
    return int(err.status or 0)


class KubeClient:
    """Idempotent writes for TaskJobs, TaskSchedules and their pods."""

    def __init__(self, api: k8s.ApiClient, component: str = "taskops") -> None:
        # The API server names a writer's field manager after its user agent:
        # the generator's default ("OpenAPI-Generator/37.0.3/python") told a
        # user reading managedFields nothing.
        api.user_agent = component
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)
        self.component = component
        self._event_seq = 0
        self._event_warned: dict[int, float] = {}  # HTTP status -> when last warned
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reads
    def pods_page(self, namespace: str | None, selector: str,
                  token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the pods matching `selector`, in one namespace or all, and
        the token of the next (None: the last page)."""
        return self._page(
            lambda **kw: self.core.list_namespaced_pod(namespace, **kw) if namespace
            else self.core.list_pod_for_all_namespaces(**kw),
            token, label_selector=selector,
        )

    def custom_page(self, plural: str, namespace: str | None,
                    token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the custom objects, in one namespace or all, and the token
        of the next (None: the last page)."""
        return self._page(
            lambda **kw: self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, **kw) if namespace
            else self.custom.list_cluster_custom_object(GROUP, VERSION, plural, **kw),
            token,
        )

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _preload_content=False))
        except ApiException as err:
            if _status(err) == 404:
                return None
            raise

    @staticmethod
    def _page(call: Any, token: str | None,
              **params: Any) -> tuple[list[dict[str, Any]], str | None]:
        page = _json(call(limit=LIST_PAGE_SIZE, _continue=token, _preload_content=False,
                          **params))
        return page.get("items") or [], page.get("metadata", {}).get("continue") or None


    # ------------------------------------------------------------------ pods
    def create_pod(self, namespace: str, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create the pod; None when it already exists (a retried or duplicate create)."""
        try:
            # Strict: a field the API server does not know (a typo in the
            # template) is refused naming it, not dropped without a word.
            created = self._send("POST", f"/api/v1/namespaces/{_seg(namespace)}/pods", manifest,
                                 query="fieldValidation=Strict")
        except ApiException as err:
            if _status(err) == 409:
                return None
            message = _message(err)
            if _status(err) in (400, 422) or (
                    _status(err) == 403 and "violates PodSecurity" in message):
                raise Rejected(message) from err
            raise
        return _json(created)

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None) -> None:
        """Delete the pod (its preStop hook and grace period apply); gone is fine."""
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        try:
            _discard(self._send("DELETE", _pod_path(namespace, name), options,
                                accept=_METADATA_ONLY))
        except ApiException as err:
            if _status(err) != 404:
                raise

    def remove_pod_finalizer(self, namespace: str, name: str, finalizer: str,
                             known: list[str] | None = None) -> None:
        """Drop one finalizer from a pod, leaving others; gone is fine.

        `known` is the finalizer list as last observed: when still current, the
        patch needs no read first.
        """
        self._remove_finalizer(
            lambda: _json(self.core.read_namespaced_pod(name, namespace, _preload_content=False)),
            lambda patch: _discard(self._send(
                "PATCH", _pod_path(namespace, name), patch,
                content_type="application/json-patch+json", accept=_METADATA_ONLY)),
            finalizer, known,
        )

    # ------------------------------------------------------------------ custom objects
    def patch_status(self, plural: str, namespace: str, name: str,
                     old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
        """Write the status change through the status subresource.

        Returns the updated object, or None when nothing changed (no write).
        A merge patch needs no resourceVersion: one reconcile at a time owns an
        object's status, so last-writer-wins is the intended semantics.
        """
        patch = status_patch(old, new)
        if patch is None:
            return None
        try:
            updated = self._send("PATCH", _custom_path(plural, namespace, name) + "/status",
                                 {"status": patch},
                                 content_type="application/merge-patch+json")
        except ApiException as err:
            if _status(err) == 404:
                raise Gone(f"{plural} {namespace}/{name}") from err
            raise
        body: dict[str, Any] = _json(updated)
        return body

    def add_finalizer(self, plural: str, namespace: str, name: str, finalizer: str,
                      current: list[str]) -> dict[str, Any] | None:
        """Add our finalizer, guarded so a concurrent change is not overwritten.

        Returns the updated object (keep it: a reconcile before the watch echo
        must not add the finalizer again), or None when it was not added (the
        object is gone, or its finalizers changed under us): the caller must
        not act as if it were there.
        """
        ops: list[dict[str, Any]]
        if current:
            ops = [{"op": "test", "path": "/metadata/finalizers", "value": current},
                   {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}]
        else:
            ops = [{"op": "add", "path": "/metadata/finalizers", "value": [finalizer]}]
        try:
            updated = self._send("PATCH", _custom_path(plural, namespace, name), ops,
                                 content_type="application/json-patch+json")
        except ApiException as err:
            # 422: the test failed (someone changed finalizers); the next
            # reconcile sees the new list and tries again.
            if _status(err) not in (404, 422):
                raise
            return None
        body: dict[str, Any] = _json(updated)
        return body

    def remove_finalizer(self, plural: str, namespace: str, name: str, finalizer: str) -> None:
        self._remove_finalizer(
            lambda: _json(self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _preload_content=False)),
            lambda patch: _discard(self._send(
                "PATCH", _custom_path(plural, namespace, name), patch,
                content_type="application/json-patch+json", accept=_METADATA_ONLY)),
            finalizer, None,
        )

    def create_custom(self, plural: str, namespace: str,
                      manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create the object; None when it already exists (names are deterministic)."""
        try:
            created = self._send("POST", _custom_path(plural, namespace), manifest)
        except ApiException as err:
            if _status(err) == 409:
                return None
            if _status(err) in (400, 422):
                raise Rejected(_message(err)) from err
            raise
        return _json(created)

    def delete_custom(self, plural: str, namespace: str, name: str, uid: str,
                      propagation: str = "Background") -> None:
        """Delete the object if it is still the one we decided about (uid precondition)."""
        try:
            _discard(self._send(
                "DELETE", _custom_path(plural, namespace, name),
                {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid},
                 "propagationPolicy": propagation},
                accept=_METADATA_ONLY))
        except ApiException as err:
            if _status(err) not in (404, 409):
                raise

    # ------------------------------------------------------------------ events
    def post_event(self, involved: Mapping[str, Any], kind: str, type_: str, reason: str,
                   message: str, now: datetime) -> None:
        """A core/v1 Event on the object, as `kubectl describe` shows them."""
        meta = involved["metadata"]
        with self._lock:
            self._event_seq += 1
            seq = self._event_seq
        stamp = now.astimezone(UTC)
        event = {
            "metadata": {
                "name": f"{meta['name']}.{int(stamp.timestamp() * 1e6):x}{seq % 4096:03x}",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "name": meta["name"],
                "namespace": meta["namespace"], "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.component,
            "firstTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            _discard(self._send("POST", f"/api/v1/namespaces/{_seg(meta['namespace'])}/events",
                                event, accept=_METADATA_ONLY))
        except ApiException as err:
            # Events are best effort, but a refusal must be seen: a 403 is
            # missing RBAC, and then every Event of every object is lost. A
            # terminating namespace refusing them is expected.
            message = _message(err)
            if "being terminated" in message:
                log.debug("event %s on %s/%s not posted: %s", reason, meta["namespace"],
                          meta["name"], message)
                return
            level = logging.WARNING if self._event_warning_due(_status(err)) else logging.DEBUG
            log.log(level, "event %s on %s/%s not posted (HTTP %d): %s%s", reason,
                    meta["namespace"], meta["name"], _status(err), message,
                    " (this is said once a minute per status code; the rest at debug)"
                    if level == logging.WARNING else "")

    def _event_warning_due(self, status: int) -> bool:
        """True at most once per EVENT_WARNING_SECONDS per HTTP status: a missing
        permission refuses every Event, and one line a minute says so."""
        now = time.monotonic()
        with self._lock:
            last = self._event_warned.get(status)
            if last is not None and now - last < EVENT_WARNING_SECONDS:
                return False
            self._event_warned[status] = now
            return True

    # ------------------------------------------------------------------ helpers
    def _send(self, method: str, path: str, body: Any, *,
              content_type: str = "application/json",
              accept: str = "application/json", query: str = "") -> Any:
        """One request through the ApiClient's `call_api` (so its rate limit and
        timeout apply), its body serialised once by the REST layer; the reply
        unread, as the generated methods give it with `_preload_content=False`.
        A refusal raises the ApiException they raise."""
        headers = {**self.api.default_headers, "Accept": accept, "Content-Type": content_type}
        self.api.update_params_for_auth(headers, [], _AUTH_SETTINGS, path, method, body)
        url = self.api.configuration.host + path + (f"?{query}" if query else "")
        reply: Any = self.api.call_api(method, url, header_params=headers, body=body)
        if not 200 <= reply.status <= 299:
            reply.read()
            raise ApiException.from_response(http_resp=reply, body=None, data=None)
        return reply.response

    @staticmethod
    def _remove_finalizer(read: Any, patch: Any, finalizer: str,
                          known: list[str] | None) -> None:
        # A JSON patch guarded by `test` removes exactly our entry; if the list
        # changed in between, read again (bounded: finalizer lists are short-lived).
        for _ in range(5):
            if known is not None:
                finalizers, known = known, None
            else:
                try:
                    current = read()
                except ApiException as err:
                    if _status(err) == 404:
                        return
                    raise
                finalizers = list(current.get("metadata", {}).get("finalizers") or [])
            if finalizer not in finalizers:
                return
            index = finalizers.index(finalizer)
            ops = [{"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
                   {"op": "remove", "path": f"/metadata/finalizers/{index}"}]
            try:
                patch(ops)
                return
            except ApiException as err:
                if _status(err) == 404:
                    return
                if _status(err) != 422:
                    raise
        raise RuntimeError(f"could not remove finalizer {finalizer}: the list kept changing")


def _seg(part: str) -> str:
    """One path segment, quoted (names are DNS labels; this keeps a bad one a 404)."""
    return quote(part, safe="")


def _pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{_seg(namespace)}/pods/{_seg(name)}"


def _custom_path(plural: str, namespace: str, name: str | None = None) -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{_seg(namespace)}/{plural}"
    return path if name is None else f"{path}/{_seg(name)}"


def _message(err: ApiException) -> str:
    """The API server's own message from an error response."""
    import json

    try:
        return str(json.loads(err.body or "{}").get("message") or err.reason)
    except ValueError:
        return str(err.body or err.reason)


def _discard(response: Any) -> None:
    """Read a reply nobody uses, so its connection goes back to the pool, without
    decoding it: the client would build model objects of the whole pod (a
    V1Pod per finalizer release, measured at 1,000 TaskJobs)."""
    response.read()


def _json(response: Any) -> dict[str, Any]:
    # orjson where exact, as for the watches: replies are whole objects too.
    data: dict[str, Any] = kopf_json.loads(response.data)
    return data
