"""Dependencies between TaskJobs: the verdict, cycles, results, by the hundred."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskops.core.dag import (
    DEPENDENCY_CYCLE,
    DEPENDENCY_FAILED,
    MAX_DEPENDENCY_RESULTS_BYTES,
    NO_DEPENDENCIES,
    Broken,
    Dependency,
    Satisfied,
    Waiting,
    dependency_verdict,
    find_cycle,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def dep(name: str, phase: str | None = "Succeeded", *depends_on: str, started: bool | None = None,
        result: str | None = None, **kw: object) -> Dependency:
    if started is None:
        started = phase in ("Running", "Succeeded")
    return Dependency(name, phase, tuple(depends_on), started, result, **kw)  # type: ignore[arg-type]


def verdict(name: str, depends_on: list[str], jobs: list[Dependency], now: datetime = T0,
            seconds: int = 300) -> object:
    known = {j.name: j for j in jobs}
    return dependency_verdict(name, depends_on, T0, seconds, known.get, now)


def test_no_dependencies_is_satisfied_without_results() -> None:
    assert verdict("a", [], []) == NO_DEPENDENCIES


def test_all_succeeded_passes_results_by_name() -> None:
    v = verdict("d", ["b", "c"], [dep("b", result="B!"), dep("c", result=None)])
    assert isinstance(v, Satisfied)
    assert v.results is not None
    assert json.loads(v.results) == {"b": "B!", "c": None}


def test_indexed_dependency_gives_an_array_in_index_order() -> None:
    indexed = dep("fan", indexed=True, completions=3, results={"2": "z", "0": "x"})
    v = verdict("d", ["fan"], [indexed])
    assert isinstance(v, Satisfied) and v.results is not None
    assert json.loads(v.results) == {"fan": ["x", None, "z"]}


@pytest.mark.parametrize("phase", [None, "Pending", "Queued", "Running", "BackingOff", "Waiting"])
def test_dependency_not_done_waits_naming_it(phase: str | None) -> None:
    v = verdict("d", ["build", "check"], [dep("build", phase, started=False), dep("check")])
    assert isinstance(v, Waiting)
    assert v.message == "waiting for build to succeed"
    assert v.recheck_at is None


def test_failed_dependency_fails_the_dependent_naming_it() -> None:
    v = verdict("d", ["b", "c"], [dep("b", "Failed"), dep("c", "Running")])
    assert v == Broken(DEPENDENCY_FAILED, "spec.dependsOn: b failed")


def test_missing_dependency_waits_until_dependency_seconds_then_fails() -> None:
    v = verdict("d", ["late"], [], now=T0 + timedelta(seconds=299))
    assert isinstance(v, Waiting)
    assert "late not found yet" in v.message
    assert v.recheck_at == T0 + timedelta(seconds=300)
    v = verdict("d", ["late"], [], now=T0 + timedelta(seconds=300))
    assert isinstance(v, Broken) and v.reason == DEPENDENCY_FAILED
    assert "late" in v.message and "dependencySeconds (300s)" in v.message


def test_dependency_created_within_the_time_is_waited_for() -> None:
    v = verdict("d", ["late"], [dep("late", "Running")], now=T0 + timedelta(seconds=400))
    assert isinstance(v, Waiting)


def test_self_dependency_is_a_cycle() -> None:
    v = verdict("a", ["a"], [dep("a", "Pending", "a", started=False)])
    assert v == Broken(DEPENDENCY_CYCLE, "spec.dependsOn forms a cycle: a -> a")


def test_three_job_cycle_names_the_cycle_for_each_member() -> None:
    jobs = [dep("a", None, "b", started=False), dep("b", None, "c", started=False),
            dep("c", None, "a", started=False)]
    assert verdict("a", ["b"], jobs) == Broken(DEPENDENCY_CYCLE,
                                               "spec.dependsOn forms a cycle: a -> b -> c -> a")
    assert verdict("b", ["c"], jobs) == Broken(DEPENDENCY_CYCLE,
                                               "spec.dependsOn forms a cycle: b -> c -> a -> b")


def test_a_failed_cycle_member_still_reports_the_cycle_to_the_others() -> None:
    jobs = [dep("a", "Failed", "b", started=False), dep("b", None, "a", started=False)]
    v = verdict("b", ["a"], jobs)
    assert isinstance(v, Broken) and v.reason == DEPENDENCY_CYCLE


def test_a_started_job_cuts_the_cycle_search() -> None:
    jobs = [dep("a", "Running", "b", started=True), dep("b", None, "a", started=False)]
    assert isinstance(verdict("b", ["a"], jobs), Waiting)


def test_results_over_the_limit_fail_naming_depends_on() -> None:
    big = "x" * (MAX_DEPENDENCY_RESULTS_BYTES // 2)
    v = verdict("d", ["b", "c"], [dep("b", result=big), dep("c", result=big)])
    assert isinstance(v, Broken) and v.reason == DEPENDENCY_FAILED
    assert v.message.startswith("spec.dependsOn:") and "TASK_DEPENDENCY_RESULTS" in v.message


def test_duplicate_names_count_once() -> None:
    v = verdict("d", ["b", "b"], [dep("b", result="1")])
    assert isinstance(v, Satisfied) and v.results == '{"b":"1"}'


# --- properties over random graphs ------------------------------------------

NAMES = [f"j{i}" for i in range(7)]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, tuple[str, ...]]:
    present = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1))
    return {n: tuple(draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3)))
            for n in present}


def _on_cycle(graph: dict[str, tuple[str, ...]], start: str) -> bool:
    """Reference: is `start` reachable from itself (through present jobs)?"""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node == start:
            return True
        if node in seen or node not in graph:
            continue
        seen.add(node)
        todo.extend(graph[node])
    return False


@settings(max_examples=400, deadline=None)
@given(graphs())
def test_every_member_of_a_cycle_and_only_they_are_reported(
        graph: dict[str, tuple[str, ...]]) -> None:
    """A job is reported in a cycle exactly when it can reach itself, and the
    reported path is a real path of the graph from it back to it."""
    jobs = {n: dep(n, None, *deps, started=False) for n, deps in graph.items()}
    for name, deps in graph.items():
        cycle = find_cycle(name, deps, jobs.get)
        assert (cycle is not None) == _on_cycle(graph, name)
        if cycle is not None:
            assert cycle[0] == cycle[-1] == name
            for a, b in itertools.pairwise(cycle):
                assert b in graph[a]


@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_a_job_is_satisfied_only_when_every_dependency_succeeded(
        graph: dict[str, tuple[str, ...]], data: st.DataObject) -> None:
    """Satisfied means every named dependency exists and Succeeded; Broken by a
    failure names a failed one; Waiting never hides a failure."""
    phases = {n: data.draw(st.sampled_from([None, "Running", "Succeeded", "Failed"]))
              for n in graph}
    jobs = {n: dep(n, phases[n], *graph[n], started=phases[n] in ("Running", "Succeeded"))
            for n in graph}
    for name, deps in graph.items():
        v = dependency_verdict(name, deps, T0, 300, jobs.get, T0)
        done = all(d in jobs and jobs[d].phase == "Succeeded" for d in deps)
        if isinstance(v, Satisfied):
            assert done
        elif isinstance(v, Waiting):
            assert not done
            assert not any(jobs[d].phase == "Failed" for d in deps if d in jobs)
        else:
            assert v.reason in (DEPENDENCY_CYCLE, DEPENDENCY_FAILED)
            if v.reason == DEPENDENCY_FAILED:
                assert any(d in v.message for d in deps if d in jobs
                           and jobs[d].phase == "Failed")
