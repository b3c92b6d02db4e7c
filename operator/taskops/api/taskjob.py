"""Pydantic models of the TaskJob custom resource (taskops.dev/v1alpha1).

The models are the single source of the TaskJob API: field names (camelCase on
the wire), defaults, ranges and descriptions. `taskops.api.crdgen` turns them
into the CRD's structural schema, so every `description` here becomes
`kubectl explain taskjob.spec...` text, and the cross-field rules are written
twice on purpose: as CEL for the API server (rejected at `kubectl apply`) and
as pydantic validators for the operator, which re-checks every spec it runs
(an old CRD, or a rule the API server could not express, must not crash it).

Embedded Kubernetes objects (the pod template, probes, drain hooks) are kept
as plain dicts: the API server validates them when the operator creates the
pod, and a copy of the whole core/v1 schema here would only go stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

GROUP: Final = "taskops.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "TaskJob"

# Bounds that keep the status object and the CEL cost budget small. The status
# holds per-index bookkeeping and results, and etcd refuses objects above
# ~1.5 MiB; CEL rules may only iterate lists whose size the schema bounds.
MAX_COMPLETIONS: Final = 1000
MAX_CONTAINERS: Final = 100
MAX_RESULT_BYTES: Final = 4096  # the kubelet's own cap on a termination message
MAX_ATTEMPT_RECORDS: Final = 20
MAX_PRIORITY: Final = 1_000_000_000  # PriorityClass's range for user classes
MAX_WAIT_SECONDS: Final = 30 * 86400  # a queue or dependency wait longer than 30 days is a bug
# Bounds on the other numbers. Deadlines, delays and TTLs stop at ten years:
# far beyond any task, and far inside what date arithmetic can hold (10^12
# seconds from now is past year 9999). A drain or grace period over a day, a
# million retries, or more pods in flight or kept than a job can have
# completions, can only be typos.
MAX_DURATION_SECONDS: Final = 10 * 365 * 86400
MAX_GRACE_SECONDS: Final = 86400
MAX_RETRY_LIMIT: Final = 1_000_000
MAX_KEPT_PODS: Final = MAX_COMPLETIONS
RESULTS_BUDGET_BYTES: Final = 256 * 1024  # all of status.results of an Indexed job
PATH_MARK: Final = "{path}"
"""Placeholder in rule messages for the JSON path of the node the rule sits on.

crdgen substitutes it when it writes the CEL rule; `describe_validation_error`
substitutes it for errors raised by the pydantic validators. Either way the
user reads the full field path (`spec.retry.backoff.maxDelaySeconds ...`).
"""

Phase = Literal[
    "Pending", "Waiting", "Queued", "Running", "BackingOff", "Succeeded", "Failed", "Suspended"
]
TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed"})


class ApiModel(BaseModel):
    """Base of every taskops API model: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored rather than rejected: the API server already
    prunes them, and an operator older than its CRD must not call a spec with
    a newer field invalid.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


def cel_rule(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One `x-kubernetes-validations` entry; `message` may use `{path}`."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def _preserved(description: str) -> WithJsonSchema:
    """Schema of an embedded Kubernetes object kept as is (validated at pod creation)."""
    return WithJsonSchema(
        {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "description": description}
    )


# --- spec --------------------------------------------------------------------

BACKOFF_ORDER_MESSAGE: Final = (
    f"{PATH_MARK}.maxDelaySeconds must be >= {PATH_MARK}.initialDelaySeconds"
)


# Named apart: the CEL rule below must use them where a field is unset, since
# the API server no longer fills spec defaults in (crdgen, operator_defaulted).
DEFAULT_INITIAL_DELAY_SECONDS: Final = 10
DEFAULT_MAX_DELAY_SECONDS: Final = 300


class Backoff(ApiModel):
    """How long to wait before each retry.

    Delay before retry n (1-based) = min(initialDelaySeconds * factor^(n-1),
    maxDelaySeconds), then +/- jitter (a fraction of the delay).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "(has(self.maxDelaySeconds) ? self.maxDelaySeconds"
                    f" : {DEFAULT_MAX_DELAY_SECONDS}) >= (has(self.initialDelaySeconds)"
                    f" ? self.initialDelaySeconds : {DEFAULT_INITIAL_DELAY_SECONDS})",
                    BACKOFF_ORDER_MESSAGE,
                    ".maxDelaySeconds",
                )
            ]
        }
    )

    policy: Literal["Exponential", "Fixed", "None"] = Field(
        default="Exponential",
        description="Exponential: the delay grows by `factor` per retry; Fixed: always "
        "`initialDelaySeconds`; None: retry at once.",
    )
    initial_delay_seconds: int = Field(
        default=DEFAULT_INITIAL_DELAY_SECONDS,
        ge=0,
        le=MAX_DURATION_SECONDS,
        description="Delay before the first retry, in seconds.",
    )
    factor: float = Field(
        default=2.0,
        ge=1.0,
        le=100.0,
        description="Growth of the delay per retry (Exponential only).",
    )
    max_delay_seconds: int = Field(
        default=DEFAULT_MAX_DELAY_SECONDS,
        ge=0,
        le=MAX_DURATION_SECONDS,
        description="Upper bound of the delay before jitter, in seconds.",
    )
    jitter: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Fraction of the delay added or removed, derived from the attempt so "
        "that parallel retries spread out (0.0 to 1.0).",
    )

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> Backoff:
        if self.max_delay_seconds < self.initial_delay_seconds:
            raise ValueError(BACKOFF_ORDER_MESSAGE)
        return self


class OnExitCodes(ApiModel):
    """Which exit codes of the main container may be retried.

    A failed attempt whose non-zero exit code is not retryable fails the job at
    once with reason NonRetryableExitCode.
    """

    operator: Literal["In", "NotIn"] = Field(
        description="In: only the listed exit codes are retried; NotIn: every exit code "
        "but the listed ones is retried."
    )
    values: list[Annotated[int, Field(ge=0, le=255)]] = Field(
        min_length=1, max_length=255, description="Exit codes (0 to 255), at least one."
    )


class Retry(ApiModel):
    """Retries of failed attempts."""

    limit: int = Field(
        default=0,
        ge=0,
        le=MAX_RETRY_LIMIT,
        description="Retries after the first attempt: total attempts = limit + 1, per index "
        "when Indexed; NonIndexed jobs count every failed attempt against it, like a Job's "
        "backoffLimit.",
    )
    backoff: Backoff = Field(
        default_factory=Backoff,
        description="Delay before each retry: min(initialDelaySeconds * factor^(n-1), "
        "maxDelaySeconds) before retry n (1-based), then +/- jitter. Indexed jobs count n per "
        "index, NonIndexed jobs over the whole job.",
        json_schema_extra={"default": {}},
    )
    on_exit_codes: OnExitCodes | None = Field(
        default=None,
        description="Restrict retries to some exit codes of the main container; unset: "
        "every failure is retryable.",
    )
    on_disruption: Literal["Ignore", "Count"] = Field(
        default="Ignore",
        description="A pod lost to eviction, preemption, node drain or deletion by someone "
        "else: Ignore replaces it without counting against `limit`; Count counts it.",
    )


class Timeouts(ApiModel):
    """Wall-clock limits, in seconds."""

    active_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DURATION_SECONDS,
        description="Wall time from the first admission; exceeded: running pods are "
        "drained and the job fails with reason DeadlineExceeded.",
    )
    attempt_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DURATION_SECONDS,
        description="Wall time of one attempt from its pod's creation; exceeded: the pod is "
        "drained and the attempt fails with reason AttemptDeadlineExceeded (retryable).",
    )
    pending_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DURATION_SECONDS,
        description="Longest time an attempt's pod may take, from its creation, to start its "
        "main container (unschedulable, image not pulled); exceeded: the pod is stopped and the "
        "attempt fails with reason PendingTimeout, the message carrying the pod's own reason. "
        "It counts against retry.limit.",
    )
    queue_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WAIT_SECONDS,
        description="Longest time the job may wait Queued; exceeded: it fails with reason "
        "QueueTimeout.",
    )
    dependency_seconds: int = Field(
        default=300,
        ge=1,
        le=MAX_WAIT_SECONDS,
        description="Longest time, from this job's creation, a dependency in `dependsOn` may "
        "be missing before the job fails with reason DependencyFailed.",
    )


DRAIN_ONE_OF_MESSAGE: Final = f"{PATH_MARK} must set exactly one of exec, httpGet, sleepSeconds"


class Drain(ApiModel):
    """The main container's preStop hook; exactly one of exec, httpGet, sleepSeconds.

    A template whose main container already sets lifecycle.preStop keeps its own.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "(has(self.exec) ? 1 : 0) + (has(self.httpGet) ? 1 : 0)"
                    " + (has(self.sleepSeconds) ? 1 : 0) == 1",
                    DRAIN_ONE_OF_MESSAGE,
                )
            ]
        }
    )

    exec_: Annotated[
        dict[str, Any] | None, _preserved("An ExecAction: {command: [...]}, run in the container.")
    ] = Field(default=None, alias="exec", description="An ExecAction: {command: [...]}.")
    http_get: Annotated[dict[str, Any] | None, _preserved("An HTTPGetAction: {path, port}.")] = (
        Field(
            default=None, description="An HTTPGetAction: {path, port, ...} called on the container."
        )
    )
    sleep_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_GRACE_SECONDS,
        description="Sleep this long before the container gets SIGTERM.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Drain:
        chosen = [self.exec_ is not None, self.http_get is not None, self.sleep_seconds is not None]
        if sum(chosen) != 1:
            raise ValueError(DRAIN_ONE_OF_MESSAGE)
        return self


class Shutdown(ApiModel):
    """How the pods of the job stop: deadline, suspend, deletion, drains."""

    grace_period_seconds: int = Field(
        default=30,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="Becomes the pod's terminationGracePeriodSeconds.",
    )
    drain: Drain | None = Field(
        default=None,
        description="The main container's preStop hook. A drain longer than the grace "
        "period is reported in the DrainExceedsGracePeriod condition.",
    )


PORT_MESSAGE: Final = (
    f"{PATH_MARK} must be a port number from 1 to 65535 or a port name of 1 to 15 characters"
)


class HttpProbes(ApiModel):
    """Shorthand: liveness, readiness and startup httpGet probes on one port."""

    port: Annotated[int, Field(ge=1, le=65535)] | Annotated[str, Field(
        min_length=1, max_length=15)] = Field(
        description="Container port, by number (1-65535) or name (at most 15 characters).",
        json_schema_extra={"x-kubernetes-validations": [cel_rule(
            "type(self) == int ? (int(self) >= 1 && int(self) <= 65535)"
            " : (size(string(self)) >= 1 && size(string(self)) <= 15)",
            PORT_MESSAGE)]},
    )
    liveness_path: str = Field(
        default="/healthz", max_length=1024, description="Liveness probe path."
    )
    readiness_path: str = Field(
        default="/readyz", max_length=1024, description="Readiness probe path."
    )
    startup_path: str = Field(
        default="/healthz", max_length=1024, description="Startup probe path."
    )


class Probes(ApiModel):
    """Probes for the main container; a probe the template sets already wins."""

    liveness: Annotated[dict[str, Any] | None, _preserved("A core/v1 Probe.")] = Field(
        default=None, description="A core/v1 Probe used as the main container's livenessProbe."
    )
    readiness: Annotated[dict[str, Any] | None, _preserved("A core/v1 Probe.")] = Field(
        default=None, description="A core/v1 Probe used as the main container's readinessProbe."
    )
    startup: Annotated[dict[str, Any] | None, _preserved("A core/v1 Probe.")] = Field(
        default=None, description="A core/v1 Probe used as the main container's startupProbe."
    )
    http: HttpProbes | None = Field(
        default=None,
        description="Shorthand wiring all three as httpGet probes with default timings; "
        "an explicit liveness, readiness or startup probe wins over it.",
    )


class ResultSpec(ApiModel):
    """Where status.result comes from."""

    from_termination_message: bool = Field(
        default=True,
        description="Take the result from the main container's termination message of the "
        "successful attempt.",
    )
    max_bytes: int = Field(
        default=MAX_RESULT_BYTES,
        ge=1,
        le=MAX_RESULT_BYTES,
        description="Keep at most this many bytes of the result (cut on a UTF-8 boundary). "
        f"Indexed jobs share a status budget: each index keeps at most "
        f"min(maxBytes, {RESULTS_BUDGET_BYTES // 1024} KiB / completions).",
    )


TEMPLATE_CONTAINERS_MESSAGE: Final = f"{PATH_MARK}.spec.containers must list at least one container"
MAIN_CONTAINER_MESSAGE: Final = (
    f"{PATH_MARK}.mainContainer must name a container in {PATH_MARK}.template.spec.containers"
)

# The template is kept as an opaque PodTemplateSpec, except for the container
# names: CEL can only read fields the schema declares, and can only iterate a
# list whose size the schema bounds.
_TEMPLATE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "description": "A core/v1 PodTemplateSpec. The operator forces restartPolicy Never and "
    "owns the pod's name, its taskops.dev labels and its controller ownerReference.",
    "properties": {
        "metadata": {
            "type": "object",
            "description": "The pods' labels and annotations (the operator adds its own).",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                kind: {
                    "type": "object",
                    "description": f"{kind.capitalize()} of every pod: strings only.",
                    "additionalProperties": {"type": "string"},
                }
                for kind in ("labels", "annotations")
            },
        },
        "spec": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "description": "A core/v1 PodSpec.",
            "properties": {
                "containers": {
                    "type": "array",
                    "maxItems": MAX_CONTAINERS,
                    "description": "The pod's containers, at least one.",
                    "items": {
                        "type": "object",
                        "description": "A core/v1 Container.",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {
                            "name": {
                                "type": "string",
                                "maxLength": 63,
                                "description": "Container name.",
                            }
                        },
                    },
                }
            },
        }
    },
    "x-kubernetes-validations": [
        cel_rule(
            "has(self.spec) && has(self.spec.containers) && size(self.spec.containers) > 0",
            TEMPLATE_CONTAINERS_MESSAGE,
        )
    ],
}


class TaskJobSpec(ApiModel):
    """Run a task to completion: one pod per attempt, retried, fanned out."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "!has(self.mainContainer) || (has(self.template.spec)"
                    " && has(self.template.spec.containers)"
                    " && self.template.spec.containers.exists(c,"
                    " has(c.name) && c.name == self.mainContainer))",
                    MAIN_CONTAINER_MESSAGE,
                    ".mainContainer",
                )
            ]
        }
    )

    template: Annotated[dict[str, Any], WithJsonSchema(_TEMPLATE_SCHEMA)] = Field(
        description="A core/v1 PodTemplateSpec. The operator forces restartPolicy Never (it "
        "owns retries) and owns the pod's name, labels and controller ownerReference."
    )
    parallelism: int = Field(
        default=1, ge=1, le=MAX_COMPLETIONS, description="Most pods running at once."
    )
    completions: int = Field(
        default=1,
        ge=1,
        le=MAX_COMPLETIONS,
        description="Successful pods needed (NonIndexed), or number of indexes (Indexed).",
    )
    completion_mode: Literal["NonIndexed", "Indexed"] = Field(
        default="NonIndexed",
        description="NonIndexed: done when `completions` pods succeeded; Indexed: done when "
        "every index 0..completions-1 succeeded once. Pods get env TASK_INDEX, TASK_COUNT "
        "and TASK_ATTEMPT (0-based).",
    )
    priority: int = Field(
        default=0,
        ge=-MAX_PRIORITY,
        le=MAX_PRIORITY,
        description="Admission order when the operator's concurrency cap is reached: higher "
        "first, then oldest first, then by name.",
    )
    depends_on: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        max_length=64,
        description="TaskJobs in the same namespace that must have Succeeded first; their "
        "results reach the pods as env TASK_DEPENDENCY_RESULTS (a JSON object).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    retry: Retry = Field(
        default_factory=Retry,
        description="Retries of failed attempts.",
        json_schema_extra={"default": {}},
    )
    timeouts: Timeouts = Field(
        default_factory=Timeouts,
        description="Wall-clock limits.",
        json_schema_extra={"default": {}},
    )
    shutdown: Shutdown = Field(
        default_factory=Shutdown,
        description="Grace period and drain hook of the pods.",
        json_schema_extra={"default": {}},
    )
    probes: Probes | None = Field(default=None, description="Probes for the main container.")
    main_container: str | None = Field(
        default=None,
        max_length=63,
        description="The container whose exit code, termination message and probes count; "
        "default: the first container.",
    )
    result: ResultSpec = Field(
        default_factory=ResultSpec,
        description="Where status.result comes from.",
        json_schema_extra={"default": {}},
    )
    suspend: bool = Field(
        default=False,
        description="true: running pods are drained and deleted, phase Suspended; false "
        "again resumes. Attempts already used stay counted.",
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        le=MAX_DURATION_SECONDS,
        description="Delete the TaskJob (and its pods) this long after it finished.",
    )
    failed_pods_limit: int = Field(
        default=3,
        ge=0,
        le=MAX_KEPT_PODS,
        description="Pods of failed attempts kept for their logs while the job lives; older "
        "ones are deleted.",
    )

    @field_validator("template")
    @classmethod
    def _template_has_containers(cls, template: dict[str, Any]) -> dict[str, Any]:
        if not container_names(template):
            raise ValueError(TEMPLATE_CONTAINERS_MESSAGE)
        return template

    @field_validator("template")
    @classmethod
    def _template_labels_are_strings(cls, template: dict[str, Any]) -> dict[str, Any]:
        # The pods copy them; the API server takes only strings (the schema
        # refuses others at apply; this is for objects stored before it did).
        metadata = template.get("metadata")
        for kind in ("labels", "annotations"):
            entries = metadata.get(kind) if isinstance(metadata, dict) else None
            if entries is None:
                continue
            if not isinstance(entries, dict):
                raise ValueError(f"{PATH_MARK}.metadata.{kind} must be a map of strings")
            for key, value in entries.items():
                if not isinstance(value, str):
                    raise ValueError(f"{PATH_MARK}.metadata.{kind}.{key} must be a string, not "
                                     f"{type(value).__name__}")
        return template

    @model_validator(mode="after")
    def _main_container_exists(self) -> TaskJobSpec:
        if self.main_container is not None and self.main_container not in container_names(
            self.template
        ):
            raise ValueError(MAIN_CONTAINER_MESSAGE)
        return self

    @property
    def indexed(self) -> bool:
        """Whether completionMode is Indexed."""
        return self.completion_mode == "Indexed"

    @property
    def main_container_name(self) -> str:
        """The main container: `mainContainer`, else the template's first container."""
        if self.main_container is not None:
            return self.main_container
        return container_names(self.template)[0]


def container_names(template: Mapping[str, Any]) -> list[str]:
    """Names of the containers of a pod template; [] if it has none or is malformed."""
    pod_spec = template.get("spec")
    if not isinstance(pod_spec, Mapping):
        return []
    containers = pod_spec.get("containers")
    if not isinstance(containers, list):
        return []
    names = [c.get("name") for c in containers if isinstance(c, Mapping)]
    if len(names) != len(containers) or not all(isinstance(n, str) and n for n in names):
        return []
    return [str(n) for n in names]


def describe_validation_error(exc: ValidationError, root: str = "spec") -> str:
    """One line per error, each naming the field: `spec.retry.limit: Input should be ...`.

    Errors raised by the cross-field validators carry their own field path
    (`{path}` in the message); the others get `<path>: <pydantic message>`.
    """
    lines = []
    for error in exc.errors(include_url=False):
        path = ".".join([root, *(str(part) for part in error["loc"])])
        ctx = error.get("ctx") or {}
        if error["type"] == "value_error" and PATH_MARK in str(ctx.get("error", "")):
            lines.append(str(ctx["error"]).replace(PATH_MARK, path))
        else:
            lines.append(f"{path}: {error['msg']}")
    return "; ".join(lines)


# --- status ------------------------------------------------------------------


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str = Field(max_length=316, description="Condition type, e.g. Complete.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The spec generation the condition reflects."
    )
    last_transition_time: datetime = Field(description="When the status last changed (RFC 3339).")
    reason: str = Field(max_length=1024, description="CamelCase reason of the last transition.")
    message: str = Field(max_length=32768, description="Human readable details.")


class AttemptRecord(ApiModel):
    """One attempt (one pod) of the job."""

    attempt: int = Field(
        ge=0, description="0-based attempt number within its index (TASK_ATTEMPT)."
    )
    index: int = Field(ge=0, description="0-based completion index (TASK_INDEX).")
    pod: str = Field(description="Name of the attempt's pod.")
    start_time: datetime | None = Field(
        default=None, description="When the pod started (RFC 3339)."
    )
    finish_time: datetime | None = Field(
        default=None, description="When the attempt ended (RFC 3339); unset while it runs."
    )
    exit_code: int | None = Field(default=None, description="Exit code of the main container.")
    reason: str | None = Field(
        default=None,
        description="Outcome: Succeeded, Failed, NonRetryableExitCode, AttemptDeadlineExceeded, "
        "PendingTimeout, Disrupted, Suspended, DeadlineExceeded, Stopped; while the attempt "
        "runs, the pod phase (Pending until its main container starts).",
    )
    message: str | None = Field(default=None, description="Human readable details of the outcome.")


class IndexState(ApiModel):
    """Operator bookkeeping for one completion index."""

    attempts: int = Field(
        default=0,
        ge=0,
        description="Attempts of this index that have ended and are recorded; also the "
        "number of its next attempt.",
    )
    failures: int = Field(
        default=0, ge=0, description="Failed attempts counted against retry.limit."
    )
    retry_after: datetime | None = Field(
        default=None, description="Earliest start of the next attempt (backoff), RFC 3339."
    )
    started: bool = Field(
        default=False,
        description="The attempt numbered `attempts` has started: its pod exists or is being "
        "created.",
    )


class TaskJobStatus(ApiModel):
    """Observed state of a TaskJob, written by the operator only."""

    phase: Phase | None = Field(
        default=None,
        description="Pending (seen, not yet decided), Waiting (dependencies), Queued (over "
        "the concurrency cap), Running, BackingOff (between attempts), Succeeded, Failed, "
        "Suspended.",
    )
    reason: str | None = Field(default=None, description="Reason of the current phase (CamelCase).")
    message: str | None = Field(default=None, description="Human readable details of the phase.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Admitted, Ready, Complete, Failed, Suspended, Invalid, "
        "DrainExceedsGracePeriod.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    attempts: list[AttemptRecord] | None = Field(
        default=None,
        max_length=MAX_ATTEMPT_RECORDS,
        description=f"The last {MAX_ATTEMPT_RECORDS} attempts, newest last.",
    )
    attempt_count: int | None = Field(default=None, ge=0, description="Attempts started in total.")
    active: int | None = Field(default=None, ge=0, description="Pods running or about to.")
    succeeded: int | None = Field(default=None, ge=0, description="Attempts that succeeded.")
    failed: int | None = Field(
        default=None,
        ge=0,
        description="Attempts that ended without success (not counting suspends).",
    )
    start_time: datetime | None = Field(default=None, description="First admission (RFC 3339).")
    completion_time: datetime | None = Field(
        default=None, description="When the job succeeded or failed (RFC 3339)."
    )
    next_attempt_time: datetime | None = Field(
        default=None, description="When the next retry may start after backoff (RFC 3339)."
    )
    queued_since: datetime | None = Field(
        default=None, description="When the job was queued (RFC 3339)."
    )
    queue_position: int | None = Field(
        default=None,
        ge=1,
        description="1-based place in the admission order while Queued (written for the first "
        "20 of a queue; the message says when a job is further back).",
    )
    dependency_results: str | None = Field(
        default=None,
        description="TASK_DEPENDENCY_RESULTS as handed to the pods: the results of the "
        "TaskJobs in dependsOn when this job was admitted (JSON).",
    )
    duration: str | None = Field(
        default=None, description="Run time from start to completion, e.g. 42s or 3m12s."
    )
    result: str | None = Field(
        default=None,
        description="Termination message of the successful attempt (NonIndexed: the last "
        "one to succeed).",
    )
    results: dict[str, str] | None = Field(
        default=None, description="Indexed jobs: result of each index, keyed by index."
    )
    completed_indexes: str | None = Field(
        default=None,
        description="Indexes that have succeeded, as ranges (e.g. 0-3,7); for NonIndexed "
        "jobs these are completion slots.",
    )
    indexes: dict[str, IndexState] | None = Field(
        default=None,
        description="Per-index bookkeeping of the operator (attempts recorded, failures "
        "counted, next retry), keyed by index; an index that succeeded at its first attempt "
        "has none (completedIndexes records it).",
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The spec generation this status reflects."
    )
