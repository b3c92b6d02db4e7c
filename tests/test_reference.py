"""The README's field reference is generated from the CRD schema and kept fresh."""

from __future__ import annotations

from taskops.api.crdgen import DESCRIPTORS, TASKJOB
from taskops.api.reference import README, render, table


def test_readme_reference_matches_the_models() -> None:
    current = README.read_text()
    assert render(current) == current, "README.md is stale: run `python -m taskops.api.reference`"


def test_every_kind_has_its_table_in_the_readme() -> None:
    text = README.read_text()
    for descriptor in DESCRIPTORS:
        kind = descriptor.names.kind
        start = f"<!-- reference:{kind}:start -->"
        assert start in text, kind
        assert text.split(start, 1)[1].lstrip().startswith("| field |"), kind


def test_the_taskjob_table_lists_nested_fields_with_defaults() -> None:
    rows = table(TASKJOB)
    assert "| `retry.backoff.initialDelaySeconds` | integer | `10` |" in rows
    assert "| `template` | object | required |" in rows
    assert "`Exponential` \\| `Fixed` \\| `None`" in rows
