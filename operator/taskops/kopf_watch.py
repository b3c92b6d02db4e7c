"""kopf's watch streams delivered straight to our handlers.

kopf hands every watch event of every object to a worker task of its own for
that object, which builds kopf's memory of the object, its loggers and the
causes of the event, invokes the handler with a keyword view of the body and
applies the (empty) patch. Our handlers take no part in any of that: they
only feed the stores and enqueue keys (`taskops.runtime`). Profiled at 1,000
TaskJobs, that machinery was 28% of the operator's CPU for handlers whose own
work was 3%, and a task per object changed: thousands at once in a burst.

`install` replaces the per-resource watcher kopf's orchestrator starts
(`kopf._core.reactor.queueing.watcher`) for the resources we route: the
stream is still kopf's (`infinite_watch`: the list, then the watch from its
resourceVersion, bookmarks, relists, the inactivity timeout, the login), and
each event goes to the handler at once, in order. Any other resource kopf
watches goes through kopf's own watcher. tests/test_kopf_watch.py fails when
a kopf release stops calling the watcher this way.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

Route: TypeAlias = tuple[str, str, str]  # group, version, plural
Handler: TypeAlias = Callable[..., Awaitable[None]]  # called as handler(event=raw_event)

_KOPF_WATCHER = queueing.watcher  # kopf's own, for what we do not route
log = logging.getLogger(__name__)


async def _watch(routes: Mapping[Route, Handler], heard: Callable[[Route], None] | None, *,
                 resource: Any, namespace: Any, settings: Any, operator_paused: Any = None,
                 operator_indexed: Any = None, resource_indexed: Any = None,
                 **kopf_kwargs: Any) -> None:
    route = (resource.group, resource.version, resource.plural)
    handler = routes.get(route)
    if handler is None:
        await _KOPF_WATCHER(resource=resource, namespace=namespace, settings=settings,
                            operator_paused=operator_paused, operator_indexed=operator_indexed,
                            resource_indexed=resource_indexed, **kopf_kwargs)
        return
    stream = watching.infinite_watch(settings=settings, resource=resource,
                                     namespace=namespace, operator_paused=operator_paused)
    async for raw_event in stream:
        if isinstance(raw_event, watching.Bookmark):
            # The first listing is over: let kopf's readiness go on (we index nothing).
            if (raw_event is watching.Bookmark.LISTED and operator_indexed is not None
                    and resource_indexed is not None):
                await operator_indexed.drop_toggle(resource_indexed)
            continue
        if raw_event.get("type") == "BOOKMARK":
            # A resourceVersion only, kept by the stream itself; but the stream
            # is alive, which the watch's silence metric must know.
            if heard is not None:
                heard(route)
            continue
        try:
            await handler(event=raw_event)
        except Exception:
            # As kopf does for an event handler: one bad event must not end the stream.
            log.exception("handling a %s event of %s failed", raw_event.get("type"),
                          resource.plural)


def install(routes: Mapping[Route, Handler],
            heard: Callable[[Route], None] | None = None) -> None:
    """Deliver the events of each routed resource to its handler; idempotent
    (the last routes installed are the ones used). `heard(route)` is told of
    each bookmark of a routed stream (the handler sees every other event)."""
    queueing.watcher = functools.partial(_watch, dict(routes), heard)


def uninstall() -> None:
    """kopf's own watcher again (for tests)."""
    queueing.watcher = _KOPF_WATCHER
