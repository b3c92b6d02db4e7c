"""Liveness and readiness endpoints for the kubelet's probes.

``/healthz`` (liveness) answers 200 while the operator's event loop is
responsive: an asyncio task in that loop (:func:`heartbeat`) stamps
:class:`HealthState` every few seconds, and a stamp older than ``stale_after``
(30 s) means the loop is frozen (a blocking call in a coroutine, a deadlock),
which only a restart cures: 500 with the reason.

``/readyz`` (readiness) answers 200 once the shell calls
:meth:`HealthState.mark_ready` and 503 before that ("starting"), after
:meth:`HealthState.mark_stopping` ("stopping"), and while the API server
cannot be reached ("unreachable", :mod:`taskops.api_probe`). It does not depend on
leadership: a standby replica is ready, otherwise a rolling update of a
leader-elected Deployment waits forever for the new pods. Leadership is
reported in the body instead.

The server is stdlib ``http.server`` in a daemon thread rather than aiohttp in
the operator's loop on purpose: a server inside the loop cannot answer while
the loop is frozen, so it could only time out, never say why; from its own
thread it reports the heartbeat's age, and it keeps answering readiness during
a shutdown that keeps the loop busy.

Both endpoints return JSON::

    {"status": "ok" | "starting" | "stopping" | "unreachable" | "unresponsive",
     "leader": bool, "identity": str,
     "lastEventAgeSeconds": {kind: seconds}, "heartbeatAgeSeconds": seconds,
     "reason": str | null}
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from taskops.settings import Settings

#: A heartbeat older than this (seconds) fails liveness.
DEFAULT_STALE_AFTER = 30.0
#: Seconds between heartbeats: several beats fit in DEFAULT_STALE_AFTER, so one
#: slow iteration of the loop does not fail the probe.
DEFAULT_HEARTBEAT_INTERVAL = 5.0


@dataclass(frozen=True)
class ProbeResult:
    """An endpoint's answer: the HTTP status and the JSON body."""

    status_code: int
    body: dict[str, Any]


class HealthState:
    """What the probes report; the shell mutates it, the health server reads it.

    Thread-safe: the shell writes from the event loop and from kopf's handler
    threads, the server reads from its own threads. Times are taken from
    ``clock`` (monotonic seconds), injectable for tests.

    A new state counts as having just beaten, so liveness holds for
    ``stale_after`` seconds while the operator starts its loop.
    """

    def __init__(
        self,
        identity: str,
        *,
        stale_after: float = DEFAULT_STALE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not stale_after > 0:
            raise ValueError(f"stale_after must be positive, got {stale_after!r}")
        self.identity = identity
        self.stale_after = stale_after
        self._clock = clock
        self._lock = threading.Lock()
        self._ready = False
        self._stopping = False
        self._leader = False
        self._last_beat = clock()
        self._last_event: dict[str, float] = {}
        self._api_problem: str | None = None

    def mark_ready(self) -> None:
        """The replica can do its job: caches are warm, or it stands by for the Lease."""
        with self._lock:
            self._ready = True

    def mark_stopping(self) -> None:
        """Shutdown began (SIGTERM): readiness fails from now on; liveness is unaffected."""
        with self._lock:
            self._stopping = True

    def set_leader(self, leading: bool) -> None:
        """Record whether this replica holds the Lease (reported, never probed)."""
        with self._lock:
            self._leader = leading

    def beat(self) -> None:
        """Stamp the heartbeat: the event loop ran just now."""
        now = self._clock()
        with self._lock:
            self._last_beat = now

    def set_api_problem(self, problem: str | None) -> None:
        """Why the API server cannot be reached (readiness fails), or None: it answers."""
        with self._lock:
            self._api_problem = problem

    def last_event_ages(self) -> dict[str, float]:
        """Seconds since each watch last delivered anything (an event or a bookmark)."""
        now = self._clock()
        with self._lock:
            return {kind: now - seen for kind, seen in self._last_event.items()}

    def saw_event(self, kind: str) -> None:
        """Record that a watch event of ``kind`` (e.g. ``TaskJob``) arrived just now."""
        now = self._clock()
        with self._lock:
            self._last_event[kind] = now

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._ready

    @property
    def stopping(self) -> bool:
        with self._lock:
            return self._stopping

    @property
    def leader(self) -> bool:
        with self._lock:
            return self._leader

    def liveness(self) -> ProbeResult:
        """200 while the heartbeat is younger than ``stale_after``, else 500 with the reason."""
        body = self._body()
        age: float = body["heartbeatAgeSeconds"]
        if age < self.stale_after:
            return ProbeResult(HTTPStatus.OK, body | {"status": "ok"})
        reason = (
            f"event loop unresponsive: last heartbeat {age:.1f}s ago (limit {self.stale_after:g}s)"
        )
        return ProbeResult(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            body | {"status": "unresponsive", "reason": reason},
        )

    def readiness(self) -> ProbeResult:
        """200 once ready and not stopping; 503 ``starting`` or ``stopping`` otherwise."""
        body = self._body()
        with self._lock:
            ready, stopping, api_problem = self._ready, self._stopping, self._api_problem
        if stopping:
            return ProbeResult(
                HTTPStatus.SERVICE_UNAVAILABLE,
                body | {"status": "stopping", "reason": "shutting down"},
            )
        if not ready:
            return ProbeResult(
                HTTPStatus.SERVICE_UNAVAILABLE,
                body | {"status": "starting", "reason": "operator has not started its watches"},
            )
        if api_problem is not None:
            return ProbeResult(
                HTTPStatus.SERVICE_UNAVAILABLE,
                body | {"status": "unreachable", "reason": api_problem},
            )
        return ProbeResult(HTTPStatus.OK, body | {"status": "ok"})

    def _body(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            return {
                "status": "ok",
                "leader": self._leader,
                "identity": self.identity,
                "lastEventAgeSeconds": {
                    kind: round(now - seen, 3) for kind, seen in sorted(self._last_event.items())
                },
                "heartbeatAgeSeconds": round(now - self._last_beat, 3),
                "reason": None,
            }


async def heartbeat(state: HealthState, interval: float = DEFAULT_HEARTBEAT_INTERVAL) -> None:
    """Beat ``state`` every ``interval`` seconds until cancelled.

    Run it as a task in the operator's event loop: it proves the loop runs, so
    it must not run anywhere else. ``interval`` must be below the state's
    ``stale_after``, or liveness would fail between two healthy beats.
    """
    if not 0 < interval < state.stale_after:
        raise ValueError(
            f"interval must be positive and below stale_after ({state.stale_after:g}s), "
            f"got {interval!r}"
        )
    while True:
        state.beat()
        await asyncio.sleep(interval)


class _HealthHandler(BaseHTTPRequestHandler):
    server: _HealthHTTPServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._reply(self.server.state.liveness())
        elif path == "/readyz":
            self._reply(self.server.state.readiness())
        else:
            self._reply(ProbeResult(HTTPStatus.NOT_FOUND, {"status": "not found", "reason": path}))

    def _reply(self, result: ProbeResult) -> None:
        payload = json.dumps(result.body).encode("utf-8")
        self.send_response(result.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes arrive every few seconds per replica; an access log line each is noise.
        pass


class _HealthHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: HealthState) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        super().__init__(address, _HealthHandler)


class HealthServer:
    """A running health server; :meth:`stop` shuts it down."""

    def __init__(self, server: _HealthHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop serving and close the socket; waits for the serving thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_health_server(settings: Settings, state: HealthState) -> HealthServer:
    """Serve ``/healthz`` and ``/readyz`` for ``state`` on the health port, in a daemon thread.

    Listens on ``settings.bind_address:settings.health_port`` (port 0 picks a
    free one; see :attr:`HealthServer.port`). Raises ``OSError`` if the port is
    taken. Start it before the operator's loop work begins, so that the probes
    see "starting" rather than a refused connection.
    """
    server = _HealthHTTPServer((settings.bind_address, settings.health_port), state)
    thread = threading.Thread(
        target=server.serve_forever,
        # The poll interval bounds how long stop() waits; the default 0.5 s is felt
        # in every SIGTERM and every test, 0.1 s of idle wake-ups is not.
        kwargs={"poll_interval": 0.1},
        name="taskops-health",
        daemon=True,
    )
    thread.start()
    return HealthServer(server, thread)
