"""The generated CRDs: fresh, structural, documented, and saying what the contract says."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, Field, ValidationError

from crd_schema import nodes
from factories import job_spec
from taskops.api import crdgen
from taskops.api.crdgen import (
    DESCRIPTORS,
    OUTPUT_DIRS,
    REPO_ROOT,
    TASKJOB,
    CrdDescriptor,
    PrinterColumn,
    ResourceNames,
    SchemaError,
    structural,
)
from taskops.api.taskjob import ApiModel, TaskJobSpec, TaskJobStatus, describe_validation_error

REGENERATE = "run `python -m taskops.api.crdgen` and commit the result"


@functools.cache
def committed(directory: Path, descriptor: CrdDescriptor = TASKJOB) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / directory / descriptor.filename).read_text())


def schema() -> dict[str, Any]:
    crd = committed(OUTPUT_DIRS[0])
    root: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def node_at(path: str) -> dict[str, Any]:
    node = schema()
    for part in path.split("."):
        node = node["properties"][part]
    return node


# --- freshness ---------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(crdgen.outputs()), ids=str)
def test_committed_crd_is_what_the_generator_produces(path: Path) -> None:
    expected = crdgen.outputs()[path]
    assert path.exists(), f"{path.relative_to(REPO_ROOT)} is missing: {REGENERATE}"
    assert path.read_text() == expected, f"{path.relative_to(REPO_ROOT)} is stale: {REGENERATE}"


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda d: d.names.kind)
def test_chart_copy_is_identical(descriptor: CrdDescriptor) -> None:
    first, second = (REPO_ROOT / d / descriptor.filename for d in OUTPUT_DIRS)
    assert first.read_text() == second.read_text()


def test_check_mode_reports_stale_files(tmp_path: Path) -> None:
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 1
    assert crdgen.main(["--root", str(tmp_path)]) == 0
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 0
    target = tmp_path / OUTPUT_DIRS[1] / TASKJOB.filename
    target.write_text(target.read_text() + "# edited\n")
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 1


def test_generation_is_deterministic() -> None:
    assert crdgen.render(TASKJOB) == crdgen.render(TASKJOB)


# --- the CRD object ----------------------------------------------------------


def test_names_scope_and_subresources() -> None:
    crd = committed(OUTPUT_DIRS[0])
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "taskjobs.taskops.dev"
    spec = crd["spec"]
    assert spec["group"] == "taskops.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "TaskJob",
        "listKind": "TaskJobList",
        "plural": "taskjobs",
        "singular": "taskjob",
        "shortNames": ["tj"],
        "categories": ["taskops"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("name", "kind", "json_path"),
    [
        ("Phase", "string", ".status.phase"),
        ("Attempts", "integer", ".status.attemptCount"),
        ("Duration", "string", ".status.duration"),
        ("Result", "string", ".status.result"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ],
)
def test_printer_columns(name: str, kind: str, json_path: str) -> None:
    columns = committed(OUTPUT_DIRS[0])["spec"]["versions"][0]["additionalPrinterColumns"]
    by_name = {c["name"]: c for c in columns}
    assert by_name[name]["type"] == kind
    assert by_name[name]["jsonPath"] == json_path
    if json_path.startswith(".status."):
        assert node_at(json_path[1:])["type"] == kind


# --- structural --------------------------------------------------------------

ALL_NODES = list(nodes(schema()))
FORBIDDEN = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "const", "discriminator"}


@pytest.mark.parametrize(("path", "node"), ALL_NODES, ids=[p or "<root>" for p, _ in ALL_NODES])
def test_every_node_is_structural(path: str, node: dict[str, Any]) -> None:
    assert (
        "type" in node
        or node.get("x-kubernetes-int-or-string") is True
        or node.get("x-kubernetes-preserve-unknown-fields") is True
    ), f"{path}: no type"
    assert not FORBIDDEN & set(node), f"{path}: {FORBIDDEN & set(node)}"
    assert node.get("additionalProperties") is not False
    assert node.get("uniqueItems") in (None, False)
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        assert isinstance(node.get(key, False), bool), f"{path}: numeric {key}"
    if node.get("x-kubernetes-int-or-string"):
        assert "type" not in node
    if "default" in node:
        assert node["default"] is not None
        expected = {
            "integer": int,
            "number": (int, float),
            "string": str,
            "boolean": bool,
            "object": dict,
            "array": list,
        }[node["type"]]
        assert isinstance(node["default"], expected), f"{path}: default of the wrong type"


SPEC_AND_STATUS = [(p, n) for p, n in ALL_NODES if p.startswith(("spec", "status"))]


@pytest.mark.parametrize(("path", "node"), SPEC_AND_STATUS, ids=[p for p, _ in SPEC_AND_STATUS])
def test_every_field_is_documented_for_kubectl_explain(path: str, node: dict[str, Any]) -> None:
    if path.endswith("[*]") and node.get("type") not in ("object", None):
        return  # list items and map values of scalars are described by their field
    assert node.get("description"), f"{path} has no description"


# --- defaults as in the contract ---------------------------------------------

CONTRACT_DEFAULTS = [
    ("spec.parallelism", 1),
    ("spec.completions", 1),
    ("spec.completionMode", "NonIndexed"),
    ("spec.priority", 0),
    ("spec.retry.limit", 0),
    ("spec.retry.backoff.policy", "Exponential"),
    ("spec.retry.backoff.initialDelaySeconds", 10),
    ("spec.retry.backoff.factor", 2.0),
    ("spec.retry.backoff.maxDelaySeconds", 300),
    ("spec.retry.backoff.jitter", 0.0),
    ("spec.retry.onDisruption", "Ignore"),
    ("spec.timeouts.dependencySeconds", 300),
    ("spec.shutdown.gracePeriodSeconds", 30),
    ("spec.result.fromTerminationMessage", True),
    ("spec.result.maxBytes", 4096),
    ("spec.suspend", False),
    ("spec.failedPodsLimit", 3),
]


@pytest.mark.parametrize(("path", "default"), CONTRACT_DEFAULTS)
def test_defaults_are_the_contract_defaults(path: str, default: object) -> None:
    # The operator applies them (the model's defaults); the schema says them.
    shown = str(default).lower() if isinstance(default, bool) else default
    assert node_at(path)["description"].endswith(f" Default: {shown}.")
    parsed: Any = TaskJobSpec.model_validate(job_spec())
    for part in path.split(".")[1:]:
        field = next(name for name, info in type(parsed).model_fields.items() if info.alias == part)
        parsed = getattr(parsed, field)
    assert parsed == default


SPEC_NODES = [(p, n) for p, n in ALL_NODES if p.startswith("spec")]


@pytest.mark.parametrize(("path", "node"), SPEC_NODES, ids=[p for p, _ in SPEC_NODES])
def test_the_api_server_stores_no_spec_defaults(path: str, node: dict[str, Any]) -> None:
    # A stored default costs the API server on every write and read of every
    # TaskJob (bench/findings.md, item 16): the operator applies them instead.
    assert "default" not in node


@pytest.mark.parametrize(
    ("path", "bounds"),
    [
        ("spec.parallelism", {"minimum": 1}),
        ("spec.completions", {"minimum": 1, "maximum": 1000}),
        ("spec.retry.backoff.jitter", {"minimum": 0.0, "maximum": 1.0}),
        ("spec.retry.backoff.factor", {"minimum": 1.0}),
        ("spec.retry.onExitCodes.values", {"minItems": 1}),
        ("spec.result.maxBytes", {"minimum": 1, "maximum": 4096}),
        ("spec.timeouts.activeDeadlineSeconds", {"minimum": 1}),
        ("spec.shutdown.drain.sleepSeconds", {"minimum": 1}),
    ],
)
def test_ranges_are_rejected_at_apply(path: str, bounds: dict[str, Any]) -> None:
    node = node_at(path)
    for key, value in bounds.items():
        assert node[key] == value


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("spec.completionMode", ["NonIndexed", "Indexed"]),
        ("spec.retry.backoff.policy", ["Exponential", "Fixed", "None"]),
        ("spec.retry.onExitCodes.operator", ["In", "NotIn"]),
        ("spec.retry.onDisruption", ["Ignore", "Count"]),
    ],
)
def test_enums(path: str, values: list[str]) -> None:
    assert node_at(path)["enum"] == values


@pytest.mark.parametrize(
    "path",
    ["spec.template", "spec.probes.liveness", "spec.shutdown.drain.exec"],
)
def test_embedded_kubernetes_objects_are_preserved(path: str) -> None:
    node = node_at(path)
    assert node["type"] == "object"
    assert node["x-kubernetes-preserve-unknown-fields"] is True


def test_named_ports_are_int_or_string() -> None:
    assert node_at("spec.probes.http.port")["x-kubernetes-int-or-string"] is True


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    node = node_at("status.conditions")
    assert node["x-kubernetes-list-type"] == "map"
    assert node["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in node["items"]["required"]


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda d: d.names.kind)
def test_the_status_is_one_field_to_the_field_manager(descriptor: CrdDescriptor) -> None:
    # Only the operator writes a status: a tree of its fields in
    # managedFields bought nothing and cost the API server on every write.
    crd = committed(OUTPUT_DIRS[0], descriptor)
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert root["properties"]["status"]["x-kubernetes-map-type"] == "atomic"
    assert "x-kubernetes-map-type" not in root["properties"]["spec"]


STATUS_NODES = [(p, n) for p, n in ALL_NODES if p.startswith("status")]


@pytest.mark.parametrize(("path", "node"), STATUS_NODES, ids=[p for p, _ in STATUS_NODES])
def test_status_has_no_defaults(path: str, node: dict[str, Any]) -> None:
    # A default the API server fills in would differ from what the operator
    # wrote, and the operator would patch it away again on every reconcile.
    assert "default" not in node


def test_attempts_are_bounded() -> None:
    assert node_at("status.attempts")["maxItems"] == 20


@pytest.mark.parametrize(
    "path",
    [
        "phase",
        "conditions",
        "attempts",
        "attemptCount",
        "active",
        "succeeded",
        "failed",
        "startTime",
        "completionTime",
        "nextAttemptTime",
        "queuedSince",
        "queuePosition",
        "result",
        "results",
        "observedGeneration",
        "reason",
        "message",
        "duration",
    ],
)
def test_status_has_the_contract_fields(path: str) -> None:
    assert path in node_at("status")["properties"]


# --- CEL ---------------------------------------------------------------------

RULES = [
    (path, rule) for path, node in ALL_NODES for rule in node.get("x-kubernetes-validations", [])
]


@pytest.mark.parametrize(("path", "rule"), RULES, ids=[r["message"] for _, r in RULES])
def test_cel_rules_name_the_field_in_their_message(path: str, rule: dict[str, str]) -> None:
    assert rule["message"].startswith(path + ".") or rule["message"].startswith(path + " ")
    assert "{path}" not in rule["message"]
    assert "\n" not in rule["rule"]


def test_cel_rules_only_iterate_bounded_lists() -> None:
    containers = node_at("spec.template")["properties"]["spec"]["properties"]["containers"]
    assert containers["maxItems"] <= 100
    assert containers["items"]["properties"]["name"]["maxLength"] == 63


# Each CEL rule has a pydantic twin in the models, with the same message: the
# operator re-checks what the API server may not have (an old CRD).
TWIN_CASES = [
    (
        {"retry": {"backoff": {"initialDelaySeconds": 60, "maxDelaySeconds": 10}}},
        "spec.retry.backoff.maxDelaySeconds must be >= spec.retry.backoff.initialDelaySeconds",
    ),
    (
        {"shutdown": {"drain": {"sleepSeconds": 3, "exec": {"command": ["x"]}}}},
        "spec.shutdown.drain must set exactly one of exec, httpGet, sleepSeconds",
    ),
    (
        {"shutdown": {"drain": {}}},
        "spec.shutdown.drain must set exactly one of exec, httpGet, sleepSeconds",
    ),
    (
        {"template": {"spec": {"containers": []}}},
        "spec.template.spec.containers must list at least one container",
    ),
    (
        {"mainContainer": "nope"},
        "spec.mainContainer must name a container in spec.template.spec.containers",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), TWIN_CASES)
def test_cel_rules_and_pydantic_validators_agree(overrides: dict[str, Any], message: str) -> None:
    assert message in {rule["message"] for _, rule in RULES}
    with pytest.raises(ValidationError) as caught:
        TaskJobSpec.model_validate(job_spec(**overrides))
    assert describe_validation_error(caught.value) == message


# --- the rewrite rules -------------------------------------------------------


class Inner(ApiModel):
    """Inner doc."""

    value: int = Field(default=1, description="A value.")


class Sample(ApiModel):
    maybe: int | None = Field(default=None, gt=0, description="Optional, exclusive bound.")
    ratio: float = Field(default=0.5, gt=0.0, lt=1.0, description="Exclusive floats.")
    port: int | str = Field(description="Int or string.")
    free: dict[str, Any] = Field(description="Free form.")
    mode: Literal["A", "B"] = Field(default="A", description="Enum.")
    only: Literal["X"] = Field(default="X", description="Const.")
    inner: Inner = Field(default_factory=Inner, description="Nested.")
    maybe_inner: Inner | None = Field(default=None, description="Nested, optional.")
    tags: dict[str, Inner] = Field(default_factory=dict, description="Map of objects.")


def test_rewrite_rules_produce_structural_nodes() -> None:
    props = structural(Sample.model_json_schema(by_alias=True), "spec")["properties"]
    assert props["maybe"] == {
        "description": "Optional, exclusive bound.",
        "type": "integer",
        "nullable": True,
        "minimum": 1,
    }
    assert props["ratio"]["minimum"] == 0.0 and props["ratio"]["exclusiveMinimum"] is True
    assert props["ratio"]["maximum"] == 1.0 and props["ratio"]["exclusiveMaximum"] is True
    assert props["port"] == {"description": "Int or string.", "x-kubernetes-int-or-string": True}
    assert props["free"] == {
        "description": "Free form.",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert props["mode"]["enum"] == ["A", "B"] and props["mode"]["default"] == "A"
    assert props["only"]["enum"] == ["X"]
    assert props["inner"]["description"] == "Nested."
    assert props["inner"]["properties"]["value"]["default"] == 1
    assert props["maybeInner"]["nullable"] is True
    assert props["maybeInner"]["type"] == "object"
    assert props["tags"]["additionalProperties"]["properties"]["value"]["type"] == "integer"


def test_defaults_under_an_operator_defaulted_path_move_to_the_description() -> None:
    schema = Sample.model_json_schema(by_alias=True)
    props = structural(schema, "spec", operator_defaulted=("spec.inner",))["properties"]
    assert props["mode"]["default"] == "A"  # outside the path: stored
    assert "default" not in props["inner"]  # {} said nowhere: it only let fields default
    assert props["inner"]["description"] == "Nested."
    value = props["inner"]["properties"]["value"]
    assert "default" not in value and value["description"] == "A value. Default: 1."
    everywhere = structural(schema, "spec", operator_defaulted=("spec",))["properties"]
    assert everywhere["ratio"]["description"] == "Exclusive floats. Default: 0.5."
    assert everywhere["mode"]["description"] == "Enum. Default: A."
    assert everywhere["tags"]["additionalProperties"]["properties"]["value"][
        "description"] == "A value. Default: 1."


class Unsupported(BaseModel):
    choice: int | list[int] = Field(description="No structural form.")


def test_unions_without_a_structural_form_are_refused() -> None:
    with pytest.raises(SchemaError, match="choice"):
        structural(Unsupported.model_json_schema(by_alias=True), "spec")


def test_a_new_kind_is_one_descriptor() -> None:
    other = CrdDescriptor(
        names=ResourceNames(kind="Other", plural="others", singular="other", short_names=("ot",)),
        spec_model=Sample,
        status_model=TaskJobStatus,
        description="Another kind.",
        printer_columns=(PrinterColumn("Phase", "string", ".status.phase", "Phase."),),
    )
    crd = yaml.safe_load(crdgen.render(other))
    assert crd["metadata"]["name"] == "others.taskops.dev"
    assert crd["spec"]["names"]["shortNames"] == ["ot"]
    assert other.filename == "other.yaml"
