"""The watch table: a kopf event and the warm-up list reach the same consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from taskops.api.taskjob import GROUP, VERSION
from taskops.core.labels import LABEL_TASKJOB_UID
from taskops.runtime import Watch, build_registry, event_routes, warm_caches, watches
from taskops.settings import Settings


class Recorder:
    """Stands in for both reconcilers: records which callback saw which object."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str]] = []
        self.jobs: list[object] = []
        self.pods: list[object] = []
        self.schedules: list[object] = []
        self.warm = False

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("on_"):
            raise AttributeError(name)

        def consume(event_type: str | None, body: Mapping[str, Any]) -> None:
            self.seen.append((name, event_type, body["metadata"]["name"]))

        return consume


class Health:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def saw_event(self, kind: str) -> None:
        self.kinds.append(kind)


class Kube:
    """Lists in two pages: the first, then the one its token names."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, ...]] = []

    @staticmethod
    def _page(name: str, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        if token is None:
            return [{"metadata": {"name": name}}], "page-2"
        return [{"metadata": {"name": f"{name}-2"}}], None

    def pods_page(self, namespace: str | None, selector: str,
                  token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        self.calls.append(("pods", str(namespace), selector, token))
        return self._page(f"pod-in-{namespace}", token)

    def custom_page(self, plural: str, namespace: str | None,
                    token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        self.calls.append((plural, str(namespace), token))
        return self._page(f"{plural}-in-{namespace}", token)


def table(recorder: Recorder) -> tuple[Watch, ...]:
    return watches(recorder, recorder)


def test_every_watch_is_registered_once_with_its_selector() -> None:
    registry = build_registry(table(Recorder()), event_routes(table(Recorder()), Health()))
    handlers = registry._watching.get_all_handlers()
    registered = {
        (h.selector.group, h.selector.version, h.selector.any_name): h.labels for h in handlers
    }
    assert registered == {
        ("", "v1", "pods"): {LABEL_TASKJOB_UID: kopf.PRESENT},
        (GROUP, VERSION, "taskjobs"): None,
        (GROUP, VERSION, "taskschedules"): None,
    }


def test_a_taskjob_event_reaches_the_job_and_the_schedule_reconcilers() -> None:
    recorder, health = Recorder(), Health()
    registry = build_registry(table(recorder), event_routes(table(recorder), health))
    (handler,) = [
        h for h in registry._watching.get_all_handlers() if h.selector.any_name == "taskjobs"
    ]
    event = {"type": "MODIFIED", "object": {"metadata": {"name": "j"}}}
    asyncio.run(handler.fn(event=event))
    assert health.kinds == ["TaskJob"]
    assert recorder.seen == [("on_job_event", "MODIFIED", "j"), ("on_run_event", "MODIFIED", "j")]


def test_warming_lists_pods_first_in_every_namespace_and_delivers_like_the_watch() -> None:
    recorder, kube = Recorder(), Kube()
    settings = Settings(namespaces=("a", "b"))
    with ThreadPoolExecutor(max_workers=1) as executor:
        asyncio.run(
            warm_caches(table(recorder), recorder, recorder, kube, settings, executor)
        )
    assert kube.calls == [
        (*call, token) for namespace in "ab"
        for call in (("pods", namespace, LABEL_TASKJOB_UID), ("taskjobs", namespace),
                     ("taskschedules", namespace))
        for token in (None, "page-2")
    ]
    assert recorder.seen[:6] == [
        ("on_pod_event", None, "pod-in-a"),
        ("on_pod_event", None, "pod-in-a-2"),
        ("on_job_event", None, "taskjobs-in-a"),
        ("on_run_event", None, "taskjobs-in-a"),
        ("on_job_event", None, "taskjobs-in-a-2"),
        ("on_run_event", None, "taskjobs-in-a-2"),
    ]
    assert recorder.warm


def test_kopf_builds_and_keeps_no_diff_base_for_our_event_only_handlers() -> None:
    registry = build_registry(table(Recorder()), event_routes(table(Recorder()), Health()))
    settings = kopf.OperatorSettings()
    (configure,) = [h for h in registry._activities.get_all_handlers()
                    if h.activity == "startup"]
    asyncio.run(configure.fn(settings=settings))
    storage = settings.persistence.diffbase_storage
    body = kopf.Body({"metadata": {"name": "x", "annotations": {"a": "b"}},
                      "spec": {"items": list(range(1000))}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
