"""The operator's own mistakes at startup, said in one line.

A port already in use, a kubeconfig that does not exist, a namespace that does
not exist, the CRDs not installed, no permission to list what the operator
watches: each is a `StartupError` whose message names the flag or the object,
which `taskops.__main__` prints as `taskops: <message>` with exit status 2,
instead of a traceback from deep inside a library (and, for a namespace that
does not exist, instead of running for ever watching nothing).
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from urllib3.exceptions import HTTPError

from taskops.api.taskjob import GROUP, VERSION
from taskops.settings import Settings

T = TypeVar("T")

#: The oldest Kubernetes the operator runs against: spec.shutdown.drain.sleepSeconds
#: becomes the `sleep` preStop action, on by default from 1.30 (1.29 refuses the pod).
MINIMUM_KUBERNETES = (1, 30)

#: What the operator lists at startup, as `kubectl auth can-i` names it.
WATCHED_PLURALS = ("taskjobs", "taskschedules")
EXIT_STATUS = 2


class StartupError(Exception):
    """A mistake in how the operator was started; the message is the whole story."""


def load_clients(settings: Settings, load: Callable[[Settings], T]) -> T:
    """`load(settings)`, with a missing or broken kubeconfig said in one line."""
    where = settings.kubeconfig or "(unset: the in-cluster account, else ~/.kube/config)"
    if settings.kubeconfig is not None and not os.path.isfile(settings.kubeconfig):
        raise StartupError(f"--kubeconfig {where}: no such file")
    try:
        return load(settings)
    except FileNotFoundError as err:
        raise StartupError(f"--kubeconfig {where}: no such file ({err.filename})") from err
    # The client's loader fails on junk with whatever the YAML makes it trip on.
    except (ConfigException, yaml.YAMLError, TypeError, KeyError, ValueError,
            AttributeError) as err:
        raise StartupError(f"--kubeconfig {where}: not a usable kubeconfig: {err}") from err


def serve(flag: str, address: str, port: int, start: Callable[[], T]) -> T:
    """`start()` a server bound to `address:port`, with a taken port said in one line."""
    try:
        return start()
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise StartupError(f"{flag} {port}: {address}:{port} is already in use "
                               "(another taskops, or another program)") from err
        raise StartupError(f"{flag} {port}: cannot listen on {address}:{port}: "
                           f"{err.strerror}") from err


def check_access(api: k8s.ApiClient, settings: Settings) -> None:
    """What the operator needs before it may run: the API server answers, its
    namespaces exist, the CRDs are installed, and it may list what it watches.
    Blocking (the executor's).

    A namespace the operator may not read (403) is not judged: the chart's
    namespaced Role does not grant it, and listing TaskJobs there says enough.
    """
    try:
        _check_access(api, settings)
    except (HTTPError, OSError) as err:
        raise StartupError(f"cannot reach the API server at {api.configuration.host}: "
                           f"{getattr(err, 'reason', None) or err}") from err


def version_error(version: dict[str, Any]) -> str | None:
    """Why the API server's /version is too old for the operator, or None.

    Providers append to the minor version ("29+" on GKE and EKS); a version
    that cannot be read is let through rather than refused on a guess.
    """
    major = re.match(r"\d+", str(version.get("major", "")))
    minor = re.match(r"\d+", str(version.get("minor", "")))
    if major is None or minor is None:
        return None
    found = (int(major.group()), int(minor.group()))
    if found >= MINIMUM_KUBERNETES:
        return None
    want = ".".join(map(str, MINIMUM_KUBERNETES))
    return (f"the API server is Kubernetes {version.get('gitVersion') or '.'.join(map(str, found))}"
            f"; taskops needs {want} or later (spec.shutdown.drain.sleepSeconds is the sleep "
            "preStop action, on by default from 1.30)")


def _check_access(api: k8s.ApiClient, settings: Settings) -> None:
    core: Any = k8s.CoreV1Api(api)
    custom: Any = k8s.CustomObjectsApi(api)
    version: Any = k8s.VersionApi(api).get_code(_preload_content=False)
    too_old = version_error(json.loads(version.data))
    if too_old is not None:
        raise StartupError(too_old)
    for namespace in settings.namespaces:
        try:
            core.read_namespace(namespace, _preload_content=False).read()
        except ApiException as err:
            if err.status == 404:
                raise StartupError(
                    f"--namespaces: namespace {namespace!r} does not exist") from err
            if err.status != 403:
                raise
    scopes: list[str | None] = list(settings.namespaces) or [None]
    for scope in scopes:
        for plural in (*WATCHED_PLURALS, "pods"):
            try:
                _list_one(core, custom, plural, scope).read()
            except ApiException as err:
                raise _access_error(err, plural, scope) from err


def _list_one(core: Any, custom: Any, plural: str, namespace: str | None) -> Any:
    """One object of `plural` (a page of one), in `namespace` or all, unread."""
    page = {"limit": 1, "_preload_content": False}
    if plural == "pods":
        if namespace is None:
            return core.list_pod_for_all_namespaces(**page)
        return core.list_namespaced_pod(namespace, **page)
    if namespace is None:
        return custom.list_cluster_custom_object(GROUP, VERSION, plural, **page)
    return custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural, **page)


def _access_error(err: ApiException, plural: str, namespace: str | None) -> Exception:
    scope = f"in namespace {namespace}" if namespace else "in all namespaces"
    resource = plural if plural == "pods" else f"{plural}.{GROUP}"
    if err.status == 403:
        return StartupError(f"no permission to list {resource} {scope} (HTTP 403): grant "
                            "the operator's account list and watch on it (the chart's RBAC "
                            "does)")
    if err.status == 404 and plural != "pods":
        return StartupError(f"{resource} is not served by the API server: install the CRDs "
                            "first (kubectl apply -f crds/)")
    if err.status == 401:
        return StartupError("the API server refused the kubeconfig's credentials (HTTP 401)")
    return err
