"""Hung connections: every reconciler call times out, and no amount of hung
reconcile work starves the Lease.

A real HTTP server on loopback stands in for a half-open API server: requests
to the reconcilers' paths are read and never answered; the Lease's path is
answered (an in-memory Lease, create then replace). The clients, their
connection pools and thread pools are the operator's own, built by
`runtime.api_clients` from a kubeconfig.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from taskops.kube.client import KubeClient, load_api_client
from taskops.leader import LeaderElector
from taskops.runtime import LEADER_THREADS, api_clients
from taskops.settings import Settings

LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/ops/leases"


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.renewals = 0
        self.hung = 0  # requests read and never answered
        self.release = threading.Event()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def log_message(self, *_: Any) -> None:
        pass

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")  # type: ignore[no-any-return]

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _lease(self) -> bool:
        if not self.path.startswith(LEASE_PATH):
            with self.server.lock:
                self.server.hung += 1
            self.server.release.wait()  # half-open: the reply never comes
            return True
        return False

    def do_GET(self) -> None:
        if self._lease():
            return
        with self.server.lock:
            lease = self.server.lease
        if lease is None:
            self._answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        else:
            self._answer(200, lease)

    def do_POST(self) -> None:
        if self._lease():
            return
        self._write(self._body(), 201)

    def do_PUT(self) -> None:
        if self._lease():
            return
        with self.server.lock:
            self.server.renewals += 1
        self._write(self._body(), 200)

    def _write(self, body: dict[str, Any], code: int) -> None:
        with self.server.lock:
            self.server.version += 1
            body["metadata"]["resourceVersion"] = str(self.server.version)
            self.server.lease = body
        self._answer(code, body)


@pytest.fixture
def server() -> Iterator[ApiServer]:
    api = ApiServer()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    yield api
    api.release.set()
    api.shutdown()
    api.server_close()


@pytest.fixture
def kubeconfig(server: ApiServer, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.server_port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    return str(path)


def test_a_reconciler_call_to_a_hung_api_server_times_out(kubeconfig: str) -> None:
    kube = KubeClient(load_api_client(kubeconfig, pool_size=1, request_timeout=(1.0, 0.5)))
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            kube.get_custom("taskjobs", "ns", "job")
            outcome.append(None)
        except BaseException as err:  # the test reports what it was
            outcome.append(err)

    thread = threading.Thread(target=call, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the call hung past 10 s: no request timeout"
    # urllib3 retries a read that timed out three times for GETs (not for
    # writes): four timeouts in all.
    assert time.monotonic() - started < 5
    assert outcome and isinstance(outcome[0], MaxRetryError), outcome
    assert isinstance(outcome[0].reason, ReadTimeoutError)


def test_the_default_timeout_applies_to_every_call_that_sets_none(kubeconfig: str) -> None:
    api = load_api_client(kubeconfig, pool_size=1)
    assert api.request_timeout == (5.0, 30.0)


def test_a_saturated_reconcile_pool_does_not_starve_the_lease(
    server: ApiServer, kubeconfig: str
) -> None:
    """Every reconcile worker stuck on a hung call; the leader keeps renewing."""
    settings = Settings(kubeconfig=kubeconfig, leader_election=True, lease_namespace="ops",
                        worker_limit=4, lease_duration=2.0, renew_deadline=1.0,
                        retry_period=0.2, identity="a")
    api, leader_api = api_clients(settings)
    assert leader_api is not None
    # The reconcilers' own pool, as runtime builds it, filled with hung calls
    # (twice over: queued ones wait behind them, as under a burst of events).
    workers = ThreadPoolExecutor(max_workers=settings.worker_limit)
    kube = KubeClient(api)
    for _ in range(settings.worker_limit * 2):
        workers.submit(kube.get_custom, "taskjobs", "ns", "job")
    deadline = time.monotonic() + 5
    while server.hung < settings.worker_limit and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.hung == settings.worker_limit, "the pool is not saturated"

    leader_pool = ThreadPoolExecutor(max_workers=LEADER_THREADS)
    elector = LeaderElector(dataclasses.replace(settings), leader_api, leader_pool)

    async def lead_for(seconds: float) -> bool:
        await asyncio.wait_for(elector.acquire(), 5)
        try:
            await asyncio.wait_for(elector.hold(), seconds)
        except TimeoutError:
            return True  # still leading when the time was up
        return False

    try:
        assert asyncio.run(lead_for(3.0)), "leadership lost while the reconcilers hung"
        assert server.renewals >= 8, server.renewals
    finally:
        server.release.set()
        workers.shutdown(wait=False, cancel_futures=True)
        leader_pool.shutdown(wait=False, cancel_futures=True)
