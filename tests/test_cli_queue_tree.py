"""`queue` and `tree` rendering with fixed objects: exact text out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskops.cli.queue_cmd import cap_of, queued_in_order, rows
from taskops.cli.tree_cmd import Graph, render

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
CAP_MESSAGE = ("queued behind the global cap of 2 running TaskJobs (2 in use); position 1, "
               "0 TaskJobs ahead")


def job(name: str, phase: str | None = None, *, ns: str = "a", priority: int = 0,
        created: str = "2026-12-01T09:00:00Z", depends_on: tuple[str, ...] = (),
        **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
        "spec": {"priority": priority, "dependsOn": list(depends_on)},
        "status": dict(status),
    }
    if phase:
        body["status"]["phase"] = phase
    return body


def test_queue_is_in_admission_order_priority_then_age_then_name() -> None:
    jobs = [job("old-low", "Queued", created="2026-12-01T08:00:00Z"),
            job("running", "Running", priority=100),
            job("new-high", "Queued", priority=5, created="2026-12-01T09:30:00Z",
                queuedSince="2026-12-01T09:30:00Z", message=CAP_MESSAGE),
            job("b-same", "Queued", ns="b", created="2026-12-01T08:00:00Z"),
            job("old-low-2", "Queued", created="2026-12-01T08:00:00Z")]
    queued = queued_in_order(jobs)
    assert [j["metadata"]["name"] for j in queued] == [
        "new-high", "old-low", "old-low-2", "b-same"]
    assert rows(queued, NOW, True, False) == "\n".join([
        "POSITION   NAMESPACE   NAME        PRIORITY   WAITED   CAP",
        "1          a           new-high    5          30m      global 2 (2 in use)",
        "2          a           old-low     0",
        "3          a           old-low-2   0",
        "4          b           b-same      0",
    ])


def test_cap_is_read_from_the_operator_message() -> None:
    assert cap_of("queued behind the namespace cap of 1 running TaskJobs (1 in use); "
                  "more than 19 TaskJobs ahead") == "namespace 1 (1 in use)"
    assert cap_of(None) == ""


def test_tree_shows_dependencies_and_dependents_with_phases_and_cycles() -> None:
    graph = Graph([
        job("extract", "Succeeded"),
        job("transform", "Running", depends_on=("extract", "lookup")),
        job("load", "Waiting", depends_on=("transform",)),
        job("report", "Failed", depends_on=("load",), reason="DependencyFailed"),
        job("audit", "Waiting", depends_on=("load",)),
    ])
    assert render(graph, "load") == "\n".join([
        "Depends on:",
        "  load (Waiting)",
        "  └── transform (Running)",
        "      ├── extract (Succeeded)",
        "      └── lookup (not found)",
        "Needed by:",
        "  load (Waiting)",
        "  ├── audit (Waiting)",
        "  └── report (Failed, DependencyFailed)",
    ])
    assert render(graph, "extract").splitlines()[0] == "Depends on: nothing"


def test_tree_marks_a_cycle_instead_of_looping() -> None:
    graph = Graph([job("a", depends_on=("b",)), job("b", depends_on=("a",))])
    assert render(graph, "a") == "\n".join([
        "Depends on:", "  a (Pending)", "  └── b (Pending)", "      └── a (cycle)",
        "Needed by:", "  a (Pending)", "  └── b (Pending)", "      └── a (cycle)",
    ])
