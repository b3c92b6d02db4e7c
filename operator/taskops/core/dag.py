"""Dependencies between TaskJobs: `dependency_verdict(...)`, pure.

A TaskJob with `spec.dependsOn` may start only once every named TaskJob in
its namespace has Succeeded. The verdict is a function of what is observed of
the dependencies (looked up by name) and the clock, so a missed event or a
restart changes nothing: the shell asks again on every reconcile of a job
that has not started yet, and wakes a dependent whenever one of its
dependencies changes (an index from dependency name to dependents, kept by
the shell).

Checked in this order, so the first thing a user must fix is named:
1. a cycle through the job (including the job naming itself): DependencyCycle;
2. a dependency that Failed: DependencyFailed;
3. a dependency missing for longer than `timeouts.dependencySeconds`, counted
   from the dependent's creation: DependencyFailed;
4. dependencies not yet Succeeded: Waiting, naming them;
5. all Succeeded: Satisfied, with the JSON handed to the pods as
   TASK_DEPENDENCY_RESULTS (too large: DependencyFailed, naming dependsOn).

Cycles are looked for only among jobs that have not started: a job that has
started had every dependency succeed before it, so it cannot be waiting in a
cycle, and the search stops there (which also bounds it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

# TASK_DEPENDENCY_RESULTS is an env var of every pod of the dependent (and a
# copy sits on its status): 64 KiB keeps both far below the API server's
# request and etcd object limits (~1.5 MiB) whatever else the template holds.
MAX_DEPENDENCY_RESULTS_BYTES: Final = 64 * 1024

DEPENDENCY_FAILED: Final = "DependencyFailed"
DEPENDENCY_CYCLE: Final = "DependencyCycle"
WAITING_FOR_DEPENDENCIES: Final = "WaitingForDependencies"


@dataclass(frozen=True)
class Dependency:
    """What the dependent needs to know of one TaskJob it depends on."""

    name: str
    phase: str | None
    depends_on: tuple[str, ...]  # its own spec.dependsOn, for finding cycles
    started: bool  # it has been admitted once (status.startTime): not in a cycle
    result: str | None = None
    results: Mapping[str, str] | None = None  # Indexed: per-index results
    indexed: bool = False
    completions: int = 1


@dataclass(frozen=True)
class Satisfied:
    """Every dependency Succeeded; `results` is the TASK_DEPENDENCY_RESULTS JSON."""

    results: str | None  # None: the job has no dependencies


@dataclass(frozen=True)
class Waiting:
    """Some dependency is not done yet."""

    message: str
    recheck_at: datetime | None  # when a missing dependency times out


@dataclass(frozen=True)
class Broken:
    """The job can never start: fail it with `reason`."""

    reason: str
    message: str


DependencyVerdict = Satisfied | Waiting | Broken
NO_DEPENDENCIES: Final = Satisfied(None)


def dependency_verdict(
    name: str,
    depends_on: Sequence[str],
    created: datetime,
    dependency_seconds: int,
    lookup: Callable[[str], Dependency | None],
    now: datetime,
) -> DependencyVerdict:
    """Whether the TaskJob `name` (created at `created`) may start, by its dependencies.

    `lookup(n)` returns what is observed of the TaskJob `n` of the same
    namespace, or None when there is none.
    """
    wanted = list(dict.fromkeys(depends_on))
    if not wanted:
        return NO_DEPENDENCIES
    cycle = find_cycle(name, wanted, lookup)
    if cycle is not None:
        return Broken(
            DEPENDENCY_CYCLE,
            f"spec.dependsOn forms a cycle: {' -> '.join(cycle)}",
        )
    found = {dep: lookup(dep) for dep in wanted}
    failed = [dep for dep, seen in found.items() if seen is not None and seen.phase == "Failed"]
    if failed:
        return Broken(
            DEPENDENCY_FAILED,
            f"spec.dependsOn: {_names(failed)} failed",
        )
    missing = [dep for dep, seen in found.items() if seen is None]
    deadline = created + timedelta(seconds=dependency_seconds)
    if missing and now >= deadline:
        return Broken(
            DEPENDENCY_FAILED,
            f"spec.dependsOn: {_names(missing)} not found within "
            f"spec.timeouts.dependencySeconds ({dependency_seconds}s)",
        )
    pending = [
        dep for dep, seen in found.items() if seen is not None and seen.phase != "Succeeded"
    ]
    if missing or pending:
        parts = []
        if pending:
            parts.append(f"waiting for {_names(pending)} to succeed")
        if missing:
            parts.append(f"{_names(missing)} not found yet")
        return Waiting("; ".join(parts), deadline if missing else None)
    succeeded = {dep: seen for dep, seen in found.items() if seen is not None}
    results = dependency_results(succeeded)
    size = len(results.encode("utf-8"))
    if size > MAX_DEPENDENCY_RESULTS_BYTES:
        return Broken(
            DEPENDENCY_FAILED,
            f"spec.dependsOn: the results of {_names(wanted)} are {size} bytes as JSON, "
            f"over the {MAX_DEPENDENCY_RESULTS_BYTES}-byte limit of TASK_DEPENDENCY_RESULTS",
        )
    return Satisfied(results)


def dependency_results(dependencies: Mapping[str, Dependency]) -> str:
    """TASK_DEPENDENCY_RESULTS: name -> status.result; Indexed: the per-index results
    in index order (null where an index has none)."""
    payload: dict[str, object] = {}
    for name in sorted(dependencies):
        dep = dependencies[name]
        if dep.indexed:
            per_index = dep.results or {}
            payload[name] = [per_index.get(str(i)) for i in range(dep.completions)]
        else:
            payload[name] = dep.result
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def find_cycle(
    name: str, depends_on: Sequence[str], lookup: Callable[[str], Dependency | None]
) -> list[str] | None:
    """A path `name -> ... -> name` along dependsOn, through jobs not yet started.

    Depth-first from `name`; each job is visited once, so the cost is the
    size of the part of the graph reachable from `name` before any job that
    has started.
    """
    if name in depends_on:
        return [name, name]
    parent: dict[str, str] = {}
    stack = [(name, dep) for dep in reversed(depends_on)]
    visited = {name}
    while stack:
        via, current = stack.pop()
        if current in visited:
            continue
        visited.add(current)
        parent[current] = via
        seen = lookup(current)
        if seen is None or seen.started:
            continue
        for nxt in reversed(seen.depends_on):
            if nxt == name:
                path = [current]
                while path[-1] != name:
                    path.append(parent[path[-1]])
                return [name, *reversed(path[:-1]), name]
            if nxt not in visited:
                stack.append((current, nxt))
    return None


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)
