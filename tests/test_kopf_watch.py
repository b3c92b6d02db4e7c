"""Watch events of our resources go straight to our handlers, in order, through
kopf's own stream; anything else kopf watches keeps kopf's watcher."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kopf._cogs.clients import watching
from kopf._core.reactor import orchestration, queueing

from taskops import kopf_watch


class Resource:
    def __init__(self, plural: str) -> None:
        self.group, self.version, self.plural = "taskops.dev", "v1alpha1", plural


class Indexed:
    def __init__(self) -> None:
        self.dropped: list[object] = []

    async def drop_toggle(self, toggle: object) -> None:
        self.dropped.append(toggle)


def event(type_: str | None, name: str) -> dict[str, Any]:
    return {"type": type_, "object": {"metadata": {"name": name}}}


def test_kopfs_orchestrator_still_starts_each_watcher_through_the_queueing_module() -> None:
    # What install() replaces; a kopf release that moves it must fail here.
    assert "queueing.watcher(" in inspect.getsource(orchestration.spawn_missing_watchers)


def test_install_replaces_the_watcher_and_uninstall_restores_kopfs() -> None:
    original = queueing.watcher
    kopf_watch.install({})
    try:
        assert queueing.watcher is not original
    finally:
        kopf_watch.uninstall()
    assert queueing.watcher is original


def test_events_reach_the_handler_in_order_and_a_failing_one_ends_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stream = [event(None, "listed"), watching.Bookmark.LISTED,
              {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
              event("MODIFIED", "bad"), event("MODIFIED", "a"), event("DELETED", "a")]

    async def infinite_watch(**_: Any) -> AsyncIterator[Any]:
        for item in stream:
            yield item

    monkeypatch.setattr(watching, "infinite_watch", infinite_watch)
    seen: list[tuple[str | None, str]] = []

    async def handler(event: dict[str, Any]) -> None:
        name = event["object"]["metadata"]["name"]
        if name == "bad":
            raise ValueError("a handler's bug")
        seen.append((event["type"], name))

    indexed, toggle = Indexed(), object()
    heard: list[tuple[str, str, str]] = []
    asyncio.run(kopf_watch._watch(
        {("taskops.dev", "v1alpha1", "taskjobs"): handler}, heard.append,
        resource=Resource("taskjobs"), namespace="ns", settings=None,
        operator_indexed=indexed, resource_indexed=toggle))
    assert seen == [(None, "listed"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert indexed.dropped == [toggle]
    # The bookmark is not an event for the handler, but it proves the stream alive.
    assert heard == [("taskops.dev", "v1alpha1", "taskjobs")]


def test_a_resource_we_do_not_route_goes_through_kopfs_watcher(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def kopf_watcher(*, resource: Any, **_: Any) -> None:
        calls.append(resource.plural)

    monkeypatch.setattr(kopf_watch, "_KOPF_WATCHER", kopf_watcher)
    asyncio.run(kopf_watch._watch({}, None, resource=Resource("namespaces"), namespace=None,
                                  settings=None, processor=None))
    assert calls == ["namespaces"]
