"""The API server as the command line sees it: the kubeconfig, the context, the
namespace, and the few reads and writes the verbs need.

Built on the operator's own client (`taskops.kube.client`): the same request
timeouts and the same JSON decoding of whole objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError, ReadTimeoutError

from taskops import kopf_json
from taskops.api.taskjob import GROUP, VERSION
from taskops.cli.errors import CliError
from taskops.cli.watching import QUIET_SECONDS, WATCH_SECONDS
from taskops.kube.client import KubeClient, Rejected, TimedApiClient

TASKJOBS = "taskjobs"
TASKSCHEDULES = "taskschedules"

#: (connect, read) seconds of a followed log stream: a task may be quiet for long
#: (the client refuses an unbounded read timeout).
_FOLLOW_TIMEOUT = (5.0, 86400.0)


@dataclass(frozen=True)
class Target:
    """kubectl's connection flags as given on the command line."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def kube_options(*, all_namespaces: bool = False) -> Decorator:
    """-n/--namespace, --context, --kubeconfig (and -A/--all-namespaces when the verb
    lists), gathered into one `target: Target` parameter."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("-n", "--namespace", "namespace", default=None,
                         help="The namespace (default: the context's, else 'default')."),
            click.option("--context", "context", default=None,
                         help="The kubeconfig context to use (default: the current one)."),
            click.option("--kubeconfig", "kubeconfig", default=None, type=click.Path(),
                         help="Path to the kubeconfig file (default: $KUBECONFIG, "
                              "else ~/.kube/config)."),
        ]
        if all_namespaces:
            options.append(click.option("-A", "--all-namespaces", "all_namespaces",
                                        is_flag=True, help="List across all namespaces."))

        def wrapper(**kwargs: Any) -> Any:
            target = Target(kwargs.pop("kubeconfig"), kwargs.pop("context"),
                            kwargs.pop("namespace"), kwargs.pop("all_namespaces", False))
            return func(target=target, **kwargs)

        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        decorated: Callable[..., Any] = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


def default_namespace(target: Target) -> str:
    """-n, else the namespace of the kubeconfig context, else `default`, as kubectl.

    Reads only the kubeconfig file (no request), so a dry run works offline;
    without a kubeconfig it is `default`.
    """
    if target.namespace:
        return target.namespace
    try:
        contexts, active = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=target.kubeconfig)
    except (ConfigException, OSError, TypeError):
        return "default"
    chosen = active
    if target.context is not None:
        chosen = next((c for c in contexts if c.get("name") == target.context), active)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


class Cluster:
    """The reads and writes of the verbs; API errors become CliErrors worded as kubectl's."""

    def __init__(self, target: Target) -> None:
        configuration = k8s.Configuration()
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=target.kubeconfig, context=target.context,
                client_configuration=configuration)
        except (ConfigException, OSError, TypeError) as err:
            raise CliError(f"cannot load the kubeconfig: {err}") from err
        self.api = TimedApiClient(configuration)
        self.kube = KubeClient(self.api, component="kubectl-taskops")
        self.namespace = default_namespace(target)
        self.all_namespaces = target.all_namespaces

    # -- custom objects -------------------------------------------------------------
    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        body: dict[str, Any] | None = self._call(
            lambda: self.kube.get_custom(plural, namespace or self.namespace, name))
        return body

    def require(self, plural: str, name: str) -> dict[str, Any]:
        """The object; a CliError worded as kubectl's NotFound when it does not exist."""
        body = self.get(plural, name)
        if body is None:
            raise CliError(f'{plural}.{GROUP} "{name}" not found in namespace "{self.namespace}"')
        return body

    def list_one(self, plural: str, name: str) -> tuple[dict[str, Any] | None, str | None]:
        """The named object (None: not there) and the list's resourceVersion, to
        watch from: a list of one, so that "gone" has a version too."""
        response: Any = self._call(lambda: self.kube.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, field_selector=f"metadata.name={name}",
            _preload_content=False))
        page: dict[str, Any] = kopf_json.loads(response.data)
        items = page.get("items") or []
        version = (page.get("metadata") or {}).get("resourceVersion")
        return (items[0] if items else None), (str(version) if version else None)

    def watch_one(self, plural: str, name: str,
                  resource_version: str) -> Iterator[dict[str, Any]]:
        """The watch events (`{type, object}`) of the named object after
        `resource_version`, with bookmarks, until the server ends the watch (after
        WATCH_SECONDS) or nothing came for QUIET_SECONDS; errors as CliErrors."""
        response: Any = self._call(lambda: self.kube.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, field_selector=f"metadata.name={name}",
            watch=True, allow_watch_bookmarks=True, resource_version=resource_version,
            timeout_seconds=WATCH_SECONDS, _preload_content=False,
            _request_timeout=(5.0, QUIET_SECONDS)))
        pending = b""
        try:
            # One JSON event per line; a chunk may hold several or part of one.
            for chunk in response.stream(None, decode_content=False):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield kopf_json.loads(line)
        except ReadTimeoutError:
            return  # quiet for QUIET_SECONDS: the caller resumes from the last version
        except HTTPError as err:
            raise CliError(f"cannot reach the API server: {err}", transient=True) from err
        finally:
            response.release_conn()

    def list_objects(self, plural: str) -> list[dict[str, Any]]:
        """Every object of the kind in the namespace (all namespaces with -A)."""
        namespace = None if self.all_namespaces else self.namespace
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page, token = self._call(
                lambda token=token: self.kube.custom_page(plural, namespace, token))
            items.extend(page)
            if token is None:
                return items

    def create(self, plural: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create in the namespace; None when the name exists already."""
        def call() -> dict[str, Any] | None:
            try:
                return self.kube.create_custom(plural, self.namespace, manifest)
            except Rejected as err:
                raise CliError(f"the API server refused {plural} "
                               f"{manifest['metadata']['name']!r}: {err}") from err
        created: dict[str, Any] | None = self._call(call)
        return created

    def annotate(self, plural: str, name: str, annotations: dict[str, str]) -> dict[str, Any]:
        """Merge-patch the object's annotations."""
        patch = {"metadata": {"annotations": annotations}}
        body: dict[str, Any] = self._call(lambda: self.kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name, patch,
            _content_type="application/merge-patch+json"))
        return body

    # -- pods -----------------------------------------------------------------------
    def pods(self, selector: str, namespace: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page, token = self._call(
                lambda token=token: self.kube.pods_page(namespace or self.namespace, selector,
                                                        token))
            items.extend(page)
            if token is None:
                return items

    def pod_log(self, pod: str, container: str | None, namespace: str | None = None) -> str:
        """The whole log of the pod's container; empty when there is none yet."""
        try:
            response: Any = self.kube.core.read_namespaced_pod_log(
                pod, namespace or self.namespace, container=container, _preload_content=False)
        except ApiException as err:
            if err.status in (400, 404):  # not started yet, or gone
                return ""
            raise _api_error(err) from err
        except HTTPError as err:
            raise CliError(f"cannot reach the API server: {err}", transient=True) from err
        return bytes(response.data).decode("utf-8", errors="replace")

    def follow_log(self, pod: str, container: str | None,
                   namespace: str | None = None) -> Iterator[str]:
        """The log's lines as they come, until the container ends."""
        try:
            response: Any = self.kube.core.read_namespaced_pod_log(
                pod, namespace or self.namespace, container=container, follow=True,
                _preload_content=False, _request_timeout=_FOLLOW_TIMEOUT)
        except ApiException as err:
            if err.status in (400, 404):
                return
            raise _api_error(err) from err
        pending = b""
        try:
            for chunk in response.stream(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", errors="replace")
        finally:
            response.release_conn()
        if pending:
            yield pending.decode("utf-8", errors="replace")

    @staticmethod
    def _call(call: Any) -> Any:
        try:
            return call()
        except ApiException as err:
            raise _api_error(err) from err
        except HTTPError as err:
            raise CliError(f"cannot reach the API server: {err}", transient=True) from err


def _api_error(err: ApiException) -> CliError:
    import json

    try:
        body = json.loads(err.body or "{}")
    except ValueError:
        body = {}
    message = body.get("message") or err.reason or str(err)
    reason = body.get("reason") or err.reason or "Error"
    transient = err.status is not None and (err.status == 429 or err.status >= 500)
    return CliError(f"from server ({reason}): {message}", transient=transient,
                    status=err.status)
