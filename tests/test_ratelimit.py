"""The client-side rate limit: a token bucket as client-go's, starting full with
`burst` tokens and refilling at `qps`; every request of the reconcilers' ApiClient
takes a token first."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from taskops.kube.client import RateLimitedApiClient, load_api_client
from taskops.kube.ratelimit import TokenBucket
from taskops.metrics import Metrics
from taskops.runtime import api_clients
from taskops.settings import Settings


class FakeClock:
    """A clock that moves only when told; `sleep` blocks the calling thread until
    the clock has moved past its end, so blocking is observable."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeping = 0
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self.now += seconds
            self._changed.notify_all()

    def sleep(self, seconds: float) -> None:
        with self._changed:
            until = self.now + seconds
            self.sleeping += 1
            self._changed.notify_all()
            try:
                assert self._changed.wait_for(lambda: self.now >= until, timeout=5)
            finally:
                self.sleeping -= 1
                self._changed.notify_all()

    def wait_for_sleepers(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.sleeping == count, timeout=5)


def bucket(qps: float, burst: int, clock: FakeClock) -> TokenBucket:
    return TokenBucket(qps, burst, clock=clock, sleep=clock.sleep)


def test_a_full_bucket_serves_burst_calls_at_once_then_one_per_qps_interval() -> None:
    clock = FakeClock()
    limiter = bucket(4, 3, clock)
    # Reserving does not sleep: each answer is how long that caller would wait.
    assert [limiter.reserve() for _ in range(6)] == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75]


def test_tokens_refill_at_qps_up_to_burst() -> None:
    clock = FakeClock()
    limiter = bucket(4, 3, clock)
    for _ in range(3):
        limiter.reserve()
    clock.advance(0.5)  # two tokens back
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.25]
    clock.advance(3600)  # an idle hour refills to burst, no further
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]


def test_sustained_rate_is_qps_after_the_burst() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = TokenBucket(10, 5, clock=lambda: now[0], sleep=sleep)
    for _ in range(105):
        limiter.acquire()
    assert now[0] == pytest.approx(10.0)  # 5 at once, then 100 at 10 per second


def test_a_clock_stepping_back_does_not_drain_or_fill_the_bucket() -> None:
    now = [100.0]
    limiter = TokenBucket(1, 1, clock=lambda: now[0], sleep=lambda _: None)
    assert limiter.reserve() == 0.0
    now[0] = 50.0
    assert limiter.reserve() == 1.0


def test_acquire_blocks_the_thread_until_its_token_is_due() -> None:
    clock = FakeClock()
    limiter = bucket(4, 1, clock)
    assert limiter.acquire() == 0.0
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (limiter.acquire(), done.set()))
    waiter.start()
    clock.wait_for_sleepers(1)
    clock.advance(0.125)
    assert not done.wait(0.05)
    clock.advance(0.125)
    assert done.wait(5)
    waiter.join(5)


def test_blocked_callers_get_their_tokens_in_arrival_order() -> None:
    clock = FakeClock()
    limiter = bucket(4, 1, clock)
    limiter.acquire()
    finished: list[str] = []
    threads = []
    for name in ("a", "b", "c"):
        thread = threading.Thread(
            target=lambda name=name: (limiter.acquire(), finished.append(name)))
        thread.start()
        threads.append(thread)
        clock.wait_for_sleepers(len(threads))  # `name` has reserved before the next starts
    for expected in (["a"], ["a", "b"], ["a", "b", "c"]):
        clock.advance(0.25)
        clock.wait_for_sleepers(3 - len(expected))
        assert finished == expected
    for thread in threads:
        thread.join(5)


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Preempt threads every microsecond, so that an unguarded read-modify-write
    of the bucket interleaves (without the lock the next test fails every time)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_callers_never_share_a_token() -> None:
    """However threads interleave, n reservations owe exactly tokens 1..n: the
    waits are burst zeros, then 1/qps, 2/qps, ... with none repeated or skipped."""
    limiter = TokenBucket(8, 4, clock=lambda: 0.0, sleep=lambda _: None)
    waits: list[float] = []
    start = threading.Barrier(8)

    def caller() -> None:
        start.wait()
        for _ in range(200):
            waits.append(limiter.reserve())

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(waits) == [0.0] * 4 + [owed / 8 for owed in range(1, 8 * 200 - 4 + 1)]


@pytest.mark.parametrize(("qps", "burst"), [(0, 1), (-1, 1), (float("nan"), 1),
                                             (float("inf"), 1), (1, 0)])
def test_a_bucket_that_could_never_serve_is_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(qps, burst)


# --------------------------------------------------------------------------- the ApiClient


class Response:
    status = 200
    response = "raw"


def test_every_request_takes_a_token_before_it_is_sent() -> None:
    events: list[str] = []

    class Bucket(TokenBucket):
        def acquire(self) -> float:
            events.append("token")
            return 0.0

    def request(method: str, url: str, **_: Any) -> Response:
        events.append(f"{method} {url.removeprefix('http://api.invalid')}")
        return Response()

    api = RateLimitedApiClient(k8s.Configuration(host="http://api.invalid"), Bucket(1, 1))
    api.rest_client.request = request  # type: ignore[method-assign]
    k8s.CoreV1Api(api).list_namespaced_pod("ns", _preload_content=False)
    k8s.CustomObjectsApi(api).delete_namespaced_custom_object(
        "g", "v1", "ns", "things", "x", _preload_content=False)
    assert events == ["token", "GET /api/v1/namespaces/ns/pods",
                      "token", "DELETE /apis/g/v1/namespaces/ns/things/x"]


def test_every_request_reports_its_wait_to_the_metrics() -> None:
    class Bucket(TokenBucket):
        waits = iter([0.0, 0.25])

        def acquire(self) -> float:
            return next(self.waits)

    metrics = Metrics()
    api = RateLimitedApiClient(k8s.Configuration(host="http://api.invalid"), Bucket(1, 1))
    api.on_wait = metrics.rate_limit_wait.observe
    api.rest_client.request = lambda *_, **__: Response()  # type: ignore[method-assign]
    for _ in range(2):
        k8s.CoreV1Api(api).list_namespaced_pod("ns", _preload_content=False)
    count = metrics.registry.get_sample_value("taskops_client_rate_limit_wait_seconds_count")
    total = metrics.registry.get_sample_value("taskops_client_rate_limit_wait_seconds_sum")
    assert (count, total) == (2.0, 0.25)


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://api.invalid:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


def test_load_api_client_limits_only_when_given_a_bucket(kubeconfig: str) -> None:
    limiter = TokenBucket(5, 10)
    limited = load_api_client(kubeconfig, pool_size=2, rate_limit=limiter)
    assert isinstance(limited, RateLimitedApiClient) and limited.bucket is limiter
    assert not isinstance(load_api_client(kubeconfig, pool_size=2), RateLimitedApiClient)


def test_reconcilers_share_the_configured_bucket_and_the_leader_elector_is_outside_it(
        kubeconfig: str) -> None:
    settings = Settings(kubeconfig=kubeconfig, kube_api_qps=7.5, kube_api_burst=9,
                        leader_election=True)
    api, leader_api = api_clients(settings)
    assert isinstance(api, RateLimitedApiClient)
    assert (api.bucket.qps, api.bucket.burst) == (7.5, 9)
    # A saturated bucket must not delay a Lease renewal past its deadline.
    assert leader_api is not None and not isinstance(leader_api, RateLimitedApiClient)
    _, no_leader_api = api_clients(Settings(kubeconfig=kubeconfig))
    assert no_leader_api is None
