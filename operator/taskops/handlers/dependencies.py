"""The operator's index of dependencies between stored TaskJobs.

From a dependency's (namespace, name) to the TaskJobs that name it in
`spec.dependsOn`, kept current from the store, so a dependency's change wakes
its dependents at once without a scan of all jobs; and the lookups the core's
`dependency_verdict` makes, answered from the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from taskops.api.taskjob import Timeouts
from taskops.core.coerce import as_list, as_mapping
from taskops.core.dag import NO_DEPENDENCIES, Dependency, DependencyVerdict, dependency_verdict
from taskops.core.observed import ObservedJob
from taskops.kube.store import Key, ObjectStore

_DEFAULT_DEPENDENCY_SECONDS: int = Timeouts.model_fields["dependency_seconds"].default


def depends_on(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The names in a TaskJob's spec.dependsOn (junk ignored: the spec check in
    the core reports it)."""
    names = as_list(spec.get("dependsOn"))
    return tuple(dict.fromkeys(n for n in names if isinstance(n, str) and n))


class DependencyIndex:
    def __init__(self, jobs: ObjectStore) -> None:
        self.jobs = jobs
        self._dependents: dict[Key, set[str]] = {}
        self._depends_on: dict[Key, tuple[str, ...]] = {}

    def update(self, key: Key, body: Mapping[str, Any] | None) -> None:
        """Index the stored copy of a job (None: it is gone)."""
        new = depends_on(as_mapping(body.get("spec"))) if body is not None else ()
        old = self._depends_on.get(key, ())
        if new == old:
            return
        for name in old:
            dependents = self._dependents.get((key[0], name))
            if dependents is not None:
                dependents.discard(key[1])
                if not dependents:
                    del self._dependents[(key[0], name)]
        for name in new:
            self._dependents.setdefault((key[0], name), set()).add(key[1])
        if new:
            self._depends_on[key] = new
        else:
            self._depends_on.pop(key, None)

    def dependents_of(self, key: Key) -> list[Key]:
        return [(key[0], name) for name in sorted(self._dependents.get(key, ()))]

    def verdict(self, job: ObservedJob, now: datetime) -> DependencyVerdict:
        """What the job's dependencies say, while it has not started."""
        names = depends_on(job.spec)
        if not names or job.status.get("startTime"):
            return NO_DEPENDENCIES
        seconds = as_mapping(job.spec.get("timeouts")).get("dependencySeconds")
        if type(seconds) is not int or seconds < 1:
            seconds = _DEFAULT_DEPENDENCY_SECONDS
        return dependency_verdict(job.name, names, job.created, seconds,
                                  lambda name: self.lookup(job.namespace, name), now)

    def lookup(self, namespace: str, name: str) -> Dependency | None:
        body = self.jobs.get((namespace, name))
        if body is None:
            return None
        spec = as_mapping(body.get("spec"))
        status = as_mapping(body.get("status"))
        phase = status.get("phase")
        result = status.get("result")
        results = as_mapping(status.get("results"))
        completions = spec.get("completions")
        return Dependency(
            name=name,
            phase=phase if isinstance(phase, str) else None,
            depends_on=depends_on(spec),
            started=bool(status.get("startTime")),
            result=result if isinstance(result, str) else None,
            results={str(k): v for k, v in results.items() if isinstance(v, str)},
            indexed=spec.get("completionMode") == "Indexed",
            completions=completions if type(completions) is int and completions > 0 else 1,
        )
