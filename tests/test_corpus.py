"""The hostile-input corpus (e2e/chaos/corpus) is well formed, without a cluster.

Every file holds TaskJobs or TaskSchedules and says, on a `# expect:` line,
what the cluster must do with them; a field path it names exists in the CRD
schema (or in the pod template, which the CRD keeps opaque), so a renamed field
cannot leave a case that passes for the wrong reason.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "e2e" / "chaos" / "corpus"
KINDS = {"TaskJob": "taskjob.yaml", "TaskSchedule": "taskschedule.yaml"}
REASONS = {"DependencyFailed", "DependencyCycle", "BackoffLimitExceeded",
           "NonRetryableExitCode", "DeadlineExceeded", "QueueTimeout", "Invalid"}
EXPECT = re.compile(r"^# expect: (rejected|invalid|failed|succeeded)(?: (\S+))?$")
# The object metadata the API server itself validates.
METADATA_PATHS = {"metadata.name", "metadata.labels", "metadata.annotations"}
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


@functools.cache
def load(path: Path) -> tuple[str, list[dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    return text, [doc for doc in yaml.load_all(text, Loader=Loader) if doc is not None]


@functools.cache
def openapi(kind: str) -> dict[str, Any]:
    crd = yaml.load((ROOT / "crds" / KINDS[kind]).read_text(), Loader=Loader)
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def expectation(text: str) -> tuple[str, str | None]:
    first = text.splitlines()[0]
    match = EXPECT.match(first)
    assert match, f"first line is not '# expect: <kind> [field or reason]': {first!r}"
    return match.group(1), match.group(2)


def schema_has_path(schema: dict[str, Any], path: str) -> bool:
    """Whether `path` (dots, optional `[n]` indexes) is a field of `schema`, or lies
    inside an embedded object the schema keeps as is (the pod template)."""
    node = schema
    for part in re.sub(r"\[\d+\]", "", path).split("."):
        properties = node.get("properties") or {}
        if part not in properties:
            return bool(node.get("x-kubernetes-preserve-unknown-fields"))
        node = properties[part]
        while isinstance(node.get("items"), dict):
            node = node["items"]
    return True


def test_the_corpus_holds_at_least_80_objects() -> None:
    objects = [obj for path in corpus_files() for obj in load(path)[1]]
    assert len(objects) >= 80, len(objects)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_file_says_what_to_expect_of_its_objects(path: Path) -> None:
    text, objects = load(path)
    kind, argument = expectation(text)
    assert objects, f"{path.name}: no object"
    for obj in objects:
        assert obj["apiVersion"] == "taskops.dev/v1alpha1", path.name
        assert obj["kind"] in KINDS, path.name
        assert "namespace" not in obj["metadata"], f"{path.name}: sets a namespace"
    if kind == "failed":
        assert argument in REASONS, f"{path.name}: unknown reason {argument!r}"
    elif kind == "succeeded":
        assert argument is None, path.name
    else:
        assert argument, f"{path.name}: '{kind}' needs the field path the message names"
        if argument in METADATA_PATHS:
            return
        for obj in objects:
            assert schema_has_path(openapi(obj["kind"]), argument), (
                f"{path.name}: {argument} is not a field of {obj['kind']}")


def test_object_names_are_unique_across_the_corpus() -> None:
    names = [(obj["kind"], obj["metadata"]["name"])
             for path in corpus_files() for obj in load(path)[1]]
    assert len(names) == len(set(names))


def test_every_integer_field_of_both_specs_has_huge_and_negative_cases() -> None:
    rejected: dict[str, int] = {}
    for path in corpus_files():
        kind, argument = expectation(load(path)[0])
        if kind == "rejected" and argument:
            rejected[argument] = rejected.get(argument, 0) + 1
    for kind in KINDS:
        spec = openapi(kind)["properties"]["spec"]
        for field in _integer_fields(spec, "spec"):
            assert rejected.get(field, 0) >= 3, f"{kind} {field}: no 10**12, 2**63, negative"


def _integer_fields(node: dict[str, Any], path: str) -> list[str]:
    """Paths of the integer (and int-or-string) fields below `node`, lists of them included."""
    found = []
    if node.get("type") == "integer" or node.get("x-kubernetes-int-or-string"):
        found.append(path)
    for name, sub in (node.get("properties") or {}).items():
        found += _integer_fields(sub, f"{path}.{name}")
    items = node.get("items")
    if isinstance(items, dict) and items.get("type") == "integer":
        found.append(path)
    return found
