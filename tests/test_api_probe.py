"""The API server probe behind readiness: its verdict, and readiness reporting it."""

from __future__ import annotations

from http import HTTPStatus

from taskops.api_probe import Reachability
from taskops.health import HealthState


def test_one_failed_probe_is_not_yet_unreachable_two_in_a_row_are() -> None:
    verdict = Reachability(failures=2)
    assert verdict.observe("timed out") is None
    assert verdict.observe("timed out again") == "timed out again"
    assert verdict.observe("still") == "still"
    assert verdict.observe(None) is None
    assert verdict.observe("once") is None, "a success starts the count again"


def test_readiness_fails_while_the_api_server_is_unreachable_and_recovers() -> None:
    health = HealthState("r")
    health.mark_ready()
    assert health.readiness().status_code == HTTPStatus.OK
    health.set_api_problem("cannot reach the API server at https://x: timed out")
    result = health.readiness()
    assert result.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert result.body["status"] == "unreachable"
    assert "timed out" in result.body["reason"]
    assert health.liveness().status_code == HTTPStatus.OK, "unreachable is not dead"
    health.set_api_problem(None)
    assert health.readiness().status_code == HTTPStatus.OK
