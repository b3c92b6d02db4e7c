"""The operator refuses, in one line, an API server older than it supports."""

from __future__ import annotations

from typing import Any

import pytest

from taskops.startup import version_error


@pytest.mark.parametrize("version", [
    {"major": "1", "minor": "30", "gitVersion": "v1.30.0"},
    {"major": "1", "minor": "34", "gitVersion": "v1.34.4"},
    {"major": "1", "minor": "31+", "gitVersion": "v1.31.2-gke.100"},
    {"major": "2", "minor": "0", "gitVersion": "v2.0.0"},
    {"major": "", "minor": "", "gitVersion": "v0.0.0-master+$Format:%H$"},
    {},
])
def test_a_supported_or_unreadable_version_is_let_through(version: dict[str, Any]) -> None:
    assert version_error(version) is None


@pytest.mark.parametrize(("version", "named"), [
    ({"major": "1", "minor": "29", "gitVersion": "v1.29.3"}, "v1.29.3"),
    ({"major": "1", "minor": "28+", "gitVersion": "v1.28.9-eks-1"}, "v1.28.9-eks-1"),
    ({"major": "1", "minor": "29"}, "1.29"),
])
def test_an_older_server_is_refused_naming_both_versions(
        version: dict[str, Any], named: str) -> None:
    message = version_error(version)
    assert message is not None
    assert f"Kubernetes {named};" in message
    assert "needs 1.30 or later" in message
    assert "sleepSeconds" in message
