"""How `wait` keeps up with one TaskJob: a watch of that one object, resumed from the
last resourceVersion each time the server ends it, listed again when that version is
too old, and polled (one GET a second) only when the watch itself is refused.

Pure: a watch event or the way a watch ended goes in, what to do next comes out. The
I/O is `wait_cmd.follow_one`; the requests are `Cluster.list_one` and `watch_one`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: The server ends each watch after this long (`timeoutSeconds`), and it is resumed
#: from the last resourceVersion: a quiet one-hour job costs 12 watch requests.
WATCH_SECONDS = 300

#: A watch that delivers nothing for this long is taken as a dead connection (an API
#: server restarted behind a load balancer) and resumed. The server sends a bookmark
#: about once a minute to a watch that asks for them, so a live one is never this quiet;
#: this bounds how late a finished job can be seen after such a cut.
QUIET_SECONDS = 90.0

#: Seconds between GETs when the watch is refused (RBAC allowing get but not list or
#: watch): the read rate of the polling `wait` had before it watched.
POLL_SECONDS = 1.0

#: Delays before listing again after consecutive failures to reach the API server:
#: short first (a blip), never longer than the last, so a server back up is seen soon.
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0)

#: HTTP statuses that mean "you may not list or watch this" while GET worked:
#: Forbidden (RBAC) and MethodNotAllowed (an aggregated API without watch).
REFUSED_STATUSES = frozenset({403, 405})


@dataclass(frozen=True)
class Seen:
    """The object as it is now (None: it was deleted), and the version it was seen at."""

    body: Mapping[str, Any] | None
    resource_version: str | None


@dataclass(frozen=True)
class Bookmark:
    """No change; the watch has progressed to this version."""

    resource_version: str


@dataclass(frozen=True)
class Expired:
    """The version watched from is older than the server keeps: list again."""


@dataclass(frozen=True)
class WatchFailed:
    """An ERROR event other than an expired version; `status` is its HTTP code."""

    status: int | None
    message: str


EventOutcome = Seen | Bookmark | Expired | WatchFailed


def _version(body: Mapping[str, Any]) -> str | None:
    version = (body.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None


def read_event(event: Mapping[str, Any]) -> EventOutcome:
    """What one watch event says about the watched object."""
    kind = event.get("type")
    body = event.get("object") or {}
    if kind in ("ADDED", "MODIFIED"):
        return Seen(body, _version(body))
    if kind == "DELETED":
        return Seen(None, _version(body))
    if kind == "BOOKMARK":
        return Bookmark(_version(body) or "")
    # ERROR: the object is a Status.
    code = body.get("code")
    status = int(code) if isinstance(code, int) else None
    if status == 410:
        return Expired()
    return WatchFailed(status, str(body.get("message") or body.get("reason") or event))


@dataclass(frozen=True)
class StreamEnd:
    """How one watch request (or the list or GET before it) ended.

    `closed`: the server ended it after WATCH_SECONDS, or it was quiet for QUIET_SECONDS;
    `expired`: the version was too old (410); `failed`: an error, `transient` when the
    API server was unreachable or answered 429/5xx, with its HTTP `status` if it answered.
    """

    how: Literal["closed", "expired", "failed"]
    resource_version: str | None = None
    transient: bool = False
    status: int | None = None
    message: str = ""


@dataclass(frozen=True)
class NextStep:
    """`watch` from `resource_version`, `list` then watch from the list's version,
    `poll` with GETs, or `fail` (the error will not pass: `wait` exits 4). After
    `delay` seconds."""

    action: Literal["watch", "list", "poll", "fail"]
    delay: float = 0.0
    resource_version: str | None = None


def retry_delay(failures: int) -> float:
    """The pause before the next list after `failures` (>= 1) consecutive failures."""
    return RETRY_DELAYS[min(max(failures, 1), len(RETRY_DELAYS)) - 1]


def next_step(end: StreamEnd, failures: int, polling: bool = False) -> NextStep:
    """What to do after a watch (or list) ended, or, `polling`, after a GET; `failures`
    counts the consecutive failed requests including this one (0 when it ended well)."""
    if polling:
        if end.how == "failed" and not end.transient:
            return NextStep("fail")
        return NextStep("poll", POLL_SECONDS)
    if end.how == "closed":
        if end.resource_version:
            return NextStep("watch", 0.0, end.resource_version)
        # Nothing to watch from (a list without a resourceVersion): list again, but no
        # faster than polling would, or such a server would get a request loop.
        return NextStep("list", POLL_SECONDS)
    if end.how == "expired":
        return NextStep("list")
    if end.status in REFUSED_STATUSES:
        # GET was allowed (wait read each job before it began): poll with it.
        return NextStep("poll")
    if end.transient:
        return NextStep("list", retry_delay(failures))
    return NextStep("fail")
