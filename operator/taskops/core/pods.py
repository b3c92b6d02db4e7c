"""TaskJob spec -> Pod manifest, and the names the operator gives pods.

The pod of attempt `a` of index `i` has a name that depends only on the job's
name, `i` and `a`. That determinism is what makes pod creation idempotent: a
reconcile that repeats itself (crash, stale cache, a second replica) asks for
the same name and gets AlreadyExists instead of a second pod.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

from taskops.api.taskjob import API_VERSION, KIND, HttpProbes, TaskJobSpec
from taskops.core.coerce import as_list, as_mapping
from taskops.core.labels import (
    ANNOTATION_MAIN_CONTAINER,
    LABEL_ATTEMPT,
    LABEL_INDEX,
    LABEL_TASKJOB,
    LABEL_TASKJOB_UID,
    POD_FINALIZER,
)

DNS_LABEL_MAX: Final = 63
LABEL_VALUE_MAX: Final = 63
HASH_LENGTH: Final = 8
ENV_INDEX: Final = "TASK_INDEX"
ENV_COUNT: Final = "TASK_COUNT"
ENV_ATTEMPT: Final = "TASK_ATTEMPT"
ENV_DEPENDENCY_RESULTS: Final = "TASK_DEPENDENCY_RESULTS"

_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Timings of the `probes.http` shorthand. The startup probe allows five
# minutes (60 x 5 s) before liveness takes over. With restartPolicy Never a
# failed liveness probe ends the attempt, so liveness checks less often than
# readiness, which only takes the pod out of Ready.
_HTTP_PROBE_TIMINGS: Final[dict[str, dict[str, int]]] = {
    "startupProbe": {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 60},
    "livenessProbe": {"periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
    "readinessProbe": {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3},
}


def short_hash(text: str) -> str:
    """A short stable hex digest of `text` (same on every replica and version)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def pod_name(job_name: str, index: int, attempt: int) -> str:
    """The pod name of attempt `attempt` of index `index`: `<job>-<index>-<attempt>`.

    The result is a valid DNS label (<= 63 chars, so it is also a valid
    hostname). When the job name does not fit, or is not itself a DNS label
    (it may contain dots), the job part is cut and a hash of the full job name
    keeps names of different jobs apart: `<job-prefix>-<hash>-<index>-<attempt>`.
    """
    suffix = f"-{index}-{attempt}"
    if _DNS_LABEL.match(job_name) and len(job_name) + len(suffix) <= DNS_LABEL_MAX:
        return job_name + suffix
    budget = DNS_LABEL_MAX - len(suffix) - HASH_LENGTH - 1
    prefix = re.sub(r"[^a-z0-9-]", "-", job_name.lower())[: max(budget, 0)].strip("-")
    digest = short_hash(job_name)
    return f"{prefix}-{digest}{suffix}" if prefix else digest + suffix


def job_label_value(job_name: str) -> str:
    """The value of the `taskops.dev/taskjob` label: the name, or a cut name plus hash.

    Label values are limited to 63 characters while object names may have 253;
    the `taskops.dev/taskjob-uid` label stays the exact key to select on.
    """
    if len(job_name) <= LABEL_VALUE_MAX:
        return job_name
    prefix = job_name[: LABEL_VALUE_MAX - HASH_LENGTH - 1].rstrip("-.")
    return f"{prefix}-{short_hash(job_name)}"


def pod_manifest(
    *,
    namespace: str,
    job_name: str,
    job_uid: str,
    spec: TaskJobSpec,
    index: int,
    attempt: int,
    dependency_results: str | None = None,
) -> dict[str, Any]:
    """The Pod (a plain dict, API camelCase) for one attempt of a TaskJob.

    From `spec.template`, with what the operator owns forced on top: the
    deterministic name, restartPolicy Never, the taskops labels, a controller
    ownerReference to the TaskJob, the attempt-record finalizer, env
    TASK_INDEX/TASK_COUNT/TASK_ATTEMPT on every container (first, so the
    template's own env can refer to them with $(TASK_INDEX)), plus
    TASK_DEPENDENCY_RESULTS when `dependency_results` is given, and
    terminationGracePeriodSeconds from spec.shutdown. The main container also
    gets, unless the template sets them: the probes of spec.probes, the preStop
    drain hook of spec.shutdown.drain and terminationMessagePolicy
    FallbackToLogsOnError. `spec` is not modified.
    """
    # The template is a preserved, unvalidated object: anything malformed is
    # left for the API server to reject when the pod is created.
    template = copy.deepcopy(spec.template)
    template_meta = as_mapping(template.get("metadata"))
    labels = {str(k): str(v) for k, v in as_mapping(template_meta.get("labels")).items()}
    labels.update(
        {
            LABEL_TASKJOB: job_label_value(job_name),
            LABEL_TASKJOB_UID: job_uid,
            LABEL_INDEX: str(index),
            LABEL_ATTEMPT: str(attempt),
        }
    )
    main_name = spec.main_container_name
    annotations = {str(k): str(v) for k, v in as_mapping(template_meta.get("annotations")).items()}
    annotations[ANNOTATION_MAIN_CONTAINER] = main_name
    finalizers = [f for f in as_list(template_meta.get("finalizers")) if f != POD_FINALIZER]

    pod_spec: dict[str, Any] = template["spec"]  # a mapping: TaskJobSpec checked it
    pod_spec["restartPolicy"] = "Never"
    pod_spec["terminationGracePeriodSeconds"] = spec.shutdown.grace_period_seconds
    env = [
        {"name": ENV_INDEX, "value": str(index)},
        {"name": ENV_COUNT, "value": str(spec.completions)},
        {"name": ENV_ATTEMPT, "value": str(attempt)},
    ]
    if dependency_results is not None:
        env.append({"name": ENV_DEPENDENCY_RESULTS, "value": dependency_results})
    for key in ("initContainers", "containers"):
        for container in as_list(pod_spec.get(key)):
            if isinstance(container, dict):
                _set_env(container, env)
    for container in as_list(pod_spec.get("containers")):
        if isinstance(container, dict) and container.get("name") == main_name:
            _dress_main_container(container, spec)

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(job_name, index, attempt),
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "finalizers": [*finalizers, POD_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": job_name,
                    "uid": job_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": pod_spec,
    }


def _set_env(container: dict[str, Any], env: list[dict[str, str]]) -> None:
    owned = [e["name"] for e in env]  # a list: user names may be unhashable junk
    own_env = [
        e
        for e in as_list(container.get("env"))
        if not (isinstance(e, Mapping) and e.get("name") in owned)
    ]
    container["env"] = [dict(e) for e in env] + own_env


def _dress_main_container(container: dict[str, Any], spec: TaskJobSpec) -> None:
    for field, probe in probes_for(spec).items():
        container.setdefault(field, probe)
    container.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
    hook = drain_hook(spec)
    lifecycle = container.get("lifecycle")
    if hook is None or (lifecycle is not None and not isinstance(lifecycle, Mapping)):
        return
    if "preStop" not in (lifecycle or {}):
        container["lifecycle"] = {**(lifecycle or {}), "preStop": hook}


def probes_for(spec: TaskJobSpec) -> dict[str, dict[str, Any]]:
    """Container probe fields (livenessProbe, ...) from spec.probes; explicit ones win."""
    probes = spec.probes
    if probes is None:
        return {}
    result: dict[str, dict[str, Any]] = {}
    if probes.http is not None:
        result = _http_probes(probes.http)
    explicit = {
        "livenessProbe": probes.liveness,
        "readinessProbe": probes.readiness,
        "startupProbe": probes.startup,
    }
    for field, probe in explicit.items():
        if probe is not None:
            result[field] = copy.deepcopy(probe)
    return result


def _http_probes(http: HttpProbes) -> dict[str, dict[str, Any]]:
    paths = {
        "startupProbe": http.startup_path,
        "livenessProbe": http.liveness_path,
        "readinessProbe": http.readiness_path,
    }
    return {
        field: {"httpGet": {"path": paths[field], "port": http.port}, **timings}
        for field, timings in _HTTP_PROBE_TIMINGS.items()
    }


def drain_hook(spec: TaskJobSpec) -> dict[str, Any] | None:
    """The preStop LifecycleHandler for spec.shutdown.drain, or None without a drain.

    sleepSeconds uses the `sleep` action (GA in Kubernetes 1.34), which needs
    no shell or sleep binary in the image.
    """
    drain = spec.shutdown.drain
    if drain is None:
        return None
    if drain.exec_ is not None:
        return {"exec": copy.deepcopy(drain.exec_)}
    if drain.http_get is not None:
        return {"httpGet": copy.deepcopy(drain.http_get)}
    if drain.sleep_seconds is not None:
        return {"sleep": {"seconds": drain.sleep_seconds}}
    return None


def template_main_container(spec: TaskJobSpec) -> Mapping[str, Any] | None:
    """The main container of the template as written (before the operator's additions)."""
    for container in as_list(as_mapping(spec.template.get("spec")).get("containers")):
        if isinstance(container, Mapping) and container.get("name") == spec.main_container_name:
            return container
    return None
