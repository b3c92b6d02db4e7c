"""The probe contract: /healthz is 200 while the event loop's heartbeat is fresh and
500 with the reason when it is stale; /readyz is 503 while starting or stopping and
200 otherwise, whatever the leadership; both bodies are JSON and report leadership."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from taskops.health import HealthServer, HealthState, heartbeat, start_health_server
from taskops.settings import Settings


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> HealthState:
    return HealthState("replica-1", clock=clock)


def serve(state: HealthState) -> HealthServer:
    settings = dataclasses.replace(Settings(), health_port=0, bind_address="127.0.0.1")
    return start_health_server(settings, state)


@pytest.fixture
def server(state: HealthState) -> Iterator[HealthServer]:
    running = serve(state)
    yield running
    running.stop()


def get(server: HealthServer, path: str) -> tuple[int, dict[str, Any]]:
    """GET path; (status, JSON body) for successes and HTTP errors alike."""
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            assert error.headers["Content-Type"] == "application/json"
            return error.code, json.loads(error.read())


def test_readyz_is_503_starting_until_marked_ready(server: HealthServer) -> None:
    status, body = get(server, "/readyz")
    assert status == 503
    assert body["status"] == "starting"
    assert body["reason"]


def test_readyz_is_200_once_ready(server: HealthServer, state: HealthState) -> None:
    state.mark_ready()
    status, body = get(server, "/readyz")
    assert (status, body["status"], body["reason"]) == (200, "ok", None)


def test_readyz_is_503_stopping_after_shutdown_begins(
    server: HealthServer, state: HealthState
) -> None:
    state.mark_ready()
    state.mark_stopping()
    status, body = get(server, "/readyz")
    assert (status, body["status"], body["reason"]) == (503, "stopping", "shutting down")
    # Shutdown is not death: liveness must hold while in-flight work drains.
    assert get(server, "/healthz")[0] == 200


def test_readiness_does_not_depend_on_leadership(server: HealthServer, state: HealthState) -> None:
    state.mark_ready()
    status, body = get(server, "/readyz")
    assert (status, body["leader"], body["identity"]) == (200, False, "replica-1")

    state.set_leader(True)
    status, body = get(server, "/readyz")
    assert (status, body["leader"]) == (200, True)


def test_healthz_is_200_while_the_heartbeat_is_fresh(
    server: HealthServer, state: HealthState, clock: FakeClock
) -> None:
    clock.advance(29)
    status, body = get(server, "/healthz")
    assert (status, body["status"], body["reason"]) == (200, "ok", None)
    assert body["heartbeatAgeSeconds"] == 29


def test_healthz_is_500_with_the_reason_when_the_heartbeat_is_stale(
    server: HealthServer, state: HealthState, clock: FakeClock
) -> None:
    clock.advance(45)
    status, body = get(server, "/healthz")
    assert (status, body["status"]) == (500, "unresponsive")
    assert "45.0s" in body["reason"] and "30s" in body["reason"]

    state.beat()
    assert get(server, "/healthz")[0] == 200


def test_liveness_does_not_depend_on_readiness(server: HealthServer) -> None:
    # A starting operator is alive; failing liveness would restart it mid-start.
    assert get(server, "/healthz")[0] == 200


def test_body_reports_the_age_of_the_last_event_of_each_kind(
    server: HealthServer, state: HealthState, clock: FakeClock
) -> None:
    state.saw_event("TaskJob")
    clock.advance(2.5)
    state.saw_event("Pod")
    clock.advance(1)
    _, body = get(server, "/healthz")
    assert body["lastEventAgeSeconds"] == {"Pod": 1.0, "TaskJob": 3.5}
    assert set(body) == {
        "status",
        "leader",
        "identity",
        "lastEventAgeSeconds",
        "heartbeatAgeSeconds",
        "reason",
    }


def test_unknown_path_is_404(server: HealthServer) -> None:
    assert get(server, "/nope")[0] == 404


def test_heartbeat_keeps_liveness_fresh(clock: FakeClock) -> None:
    state = HealthState("replica-1", clock=clock)

    async def scenario() -> None:
        task = asyncio.create_task(heartbeat(state, interval=0.01))
        await asyncio.sleep(0)
        clock.advance(60)
        assert state.liveness().status_code == 500
        await asyncio.sleep(0.05)  # several intervals: the task must have beaten
        assert state.liveness().status_code == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


@pytest.mark.parametrize("interval", [0, -1, 30, 60])
def test_heartbeat_rejects_an_interval_that_could_flap_liveness(
    state: HealthState, interval: float
) -> None:
    with pytest.raises(ValueError, match="interval"):
        asyncio.run(heartbeat(state, interval=interval))


def test_liveness_fails_with_the_reason_while_the_loop_is_blocked() -> None:
    # The reason the server has its own thread: it answers while the loop is frozen.
    state = HealthState("replica-1", stale_after=0.3)
    blocked = threading.Event()

    async def operator_loop() -> None:
        task = asyncio.create_task(heartbeat(state, interval=0.02))
        await asyncio.sleep(0.05)
        blocked.set()
        time.sleep(0.8)  # a blocking call inside a coroutine: the bug liveness exists for
        await asyncio.sleep(0.05)
        task.cancel()

    loop_thread = threading.Thread(target=asyncio.run, args=(operator_loop(),))
    running = serve(state)
    try:
        loop_thread.start()
        assert blocked.wait(timeout=5)
        time.sleep(0.45)
        status, body = get(running, "/healthz")
        assert (status, body["status"]) == (500, "unresponsive")
        loop_thread.join(timeout=5)
        assert get(running, "/healthz")[0] == 200
    finally:
        running.stop()


def test_state_rejects_a_non_positive_staleness_limit() -> None:
    with pytest.raises(ValueError, match="stale_after"):
        HealthState("replica-1", stale_after=0)
