"""Leader election: at most one replica leads; a standby takes over when the leader's
Lease expires by the standby's own clock (never by comparing clocks), or at once when
the leader releases it; a leader that cannot renew within its deadline stops.

The decisions are pure functions tested with a fixed clock; the elector's loops run
for real (short timings) against an in-memory Lease with the API server's
optimistic concurrency (resourceVersion, 409 on a stale write).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskops.leader import (
    Attempt,
    LeaderElector,
    LeaseRecord,
    Observation,
    claim,
    format_micro_time,
    held_by_another,
    lease_duration_seconds,
    observe,
    parse_micro_time,
    release_record,
    replica_of,
)
from taskops.settings import Settings

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record(holder: str = "a", *, duration: int = 10, acquired: float = 0, renewed: float = 0,
           transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder=holder, duration_seconds=duration, acquire_time=at(acquired),
                       renew_time=at(renewed), transitions=transitions)


# ----------------------------------------------------------------------------- MicroTime


def test_micro_time_always_has_six_fraction_digits_in_utc() -> None:
    # The API server parses MicroTime with a fixed ".000000" layout.
    assert format_micro_time(T0) == "2026-11-23T12:00:00.000000Z"
    plus_two = datetime(2026, 11, 23, 14, 0, 0, 1500, tzinfo=UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=2)))
    assert format_micro_time(plus_two) == "2026-11-23T14:00:00.001500Z"


def test_micro_time_round_trips_and_tolerates_absent_values() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert parse_micro_time(format_micro_time(moment)) == moment
    assert parse_micro_time("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_micro_time(None) is None
    assert parse_micro_time("") is None


def test_record_reads_a_lease_and_writes_back_the_same_spec() -> None:
    original = record("replica-1", duration=10, acquired=1, renewed=5, transitions=3)
    lease = {"metadata": {"name": "x"}, "spec": original.to_spec()}
    assert LeaseRecord.from_lease(lease) == original
    assert original.to_spec() == {
        "holderIdentity": "replica-1", "leaseDurationSeconds": 10, "leaseTransitions": 3,
        "acquireTime": "2026-11-23T12:00:01.000000Z", "renewTime": "2026-11-23T12:00:05.000000Z",
    }


def test_a_lease_with_an_empty_spec_is_free() -> None:
    # The chart creates the Lease with `spec: {}` so that `helm uninstall` removes it.
    empty = LeaseRecord.from_lease({"metadata": {"name": "x"}, "spec": {}})
    assert empty == LeaseRecord("", 0, None, None, 0)
    assert not held_by_another(observe(None, empty, T0), "b", T0)


# ----------------------------------------------------------------------------- expiry


def test_a_held_lease_expires_lease_duration_after_we_first_saw_it_unchanged() -> None:
    seen = observe(None, record("a", duration=10), at(3))
    assert held_by_another(seen, "b", at(3))
    assert held_by_another(seen, "b", at(12.999))
    assert not held_by_another(seen, "b", at(13))
    # Seeing the same record again does not restart the count.
    again = observe(seen, record("a", duration=10), at(8))
    assert again is seen
    assert not held_by_another(again, "b", at(13))


def test_each_renewal_seen_restarts_the_count() -> None:
    seen = observe(None, record("a", renewed=0), at(0))
    renewed = observe(seen, record("a", renewed=2), at(9))
    assert renewed.observed_at == at(9)
    assert held_by_another(renewed, "b", at(18))
    assert not held_by_another(renewed, "b", at(19))


def test_the_holders_clock_is_never_trusted() -> None:
    # A renewTime an hour in the past (a slow clock on the leader's node) does not
    # make a live leader look expired; one an hour ahead does not extend it.
    slow = observe(None, record("a", renewed=-3600), at(0))
    assert held_by_another(slow, "b", at(5))
    fast = observe(None, record("a", renewed=3600), at(0))
    assert not held_by_another(fast, "b", at(10))


def test_a_released_lease_is_free_at_once() -> None:
    released = release_record(record("a", transitions=4), at(5))
    assert released.holder == "" and released.duration_seconds == 1
    assert released.transitions == 4
    assert not held_by_another(observe(None, released, at(5)), "b", at(5))


def test_our_own_lease_is_never_held_by_another() -> None:
    assert not held_by_another(observe(None, record("me"), at(0)), "me", at(1))


# ----------------------------------------------------------------------------- what to write


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    mine = record("me", acquired=0, renewed=4, transitions=2)
    renewed = claim(mine, "me", 10, at(6))
    assert renewed == dataclasses.replace(mine, renew_time=at(6))


def test_taking_over_counts_one_transition() -> None:
    taken = claim(record("a", transitions=2), "b", 10, at(20))
    assert taken == LeaseRecord("b", 10, at(20), at(20), 3)
    after_release = claim(release_record(record("a", transitions=3), at(1)), "b", 10, at(2))
    assert after_release.transitions == 4


def test_the_first_holder_starts_at_zero_transitions() -> None:
    assert claim(None, "a", 10, T0) == LeaseRecord("a", 10, T0, T0, 0)
    never_held = LeaseRecord("", 0, None, None, 0)
    assert claim(never_held, "a", 10, T0).transitions == 0


def test_lease_duration_is_rounded_up_to_whole_seconds() -> None:
    assert lease_duration_seconds(Settings(lease_duration=10.0)) == 10
    assert lease_duration_seconds(Settings(lease_duration=7.2)) == 8
    assert lease_duration_seconds(Settings(lease_duration=0.3)) == 1


# ----------------------------------------------------------------------------- the elector


class FakeLeases:
    """One Lease with the API server's optimistic concurrency, shared by electors.

    ``failing`` makes every call raise (an unreachable API server); ``hang``
    makes every call block that long (a stuck connection).
    """

    def __init__(self, namespace: str = "ops", name: str = "taskops-leader") -> None:
        self.namespace = namespace
        self.name = name
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.failing: set[str] = set()  # identities whose calls fail
        self.hang = 0.0
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def client(self, identity: str) -> FakeLeaseClient:
        return FakeLeaseClient(self, identity)

    def holder(self) -> str | None:
        with self._lock:
            if self.lease is None:
                return None
            holder = self.lease["spec"].get("holderIdentity")
            return replica_of(holder) if holder else holder


@dataclasses.dataclass
class FakeLeaseClient:
    store: FakeLeases
    identity: str

    @property
    def namespace(self) -> str:
        return self.store.namespace

    @property
    def name(self) -> str:
        return self.store.name

    def _enter(self) -> None:
        if self.store.hang:
            time.sleep(self.store.hang)
        if self.identity in self.store.failing:
            raise ConnectionError("API server unreachable")

    def get(self, timeout: float) -> dict[str, Any] | None:
        self._enter()
        with self.store._lock:
            return None if self.store.lease is None else _copy(self.store.lease)

    def create(self, spec: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        self._enter()
        with self.store._lock:
            if self.store.lease is not None:
                return None
            return self._write(spec)

    def replace(self, lease: dict[str, Any], spec: dict[str, Any],
                timeout: float) -> dict[str, Any] | None:
        self._enter()
        with self.store._lock:
            current = self.store.lease
            if current is None or (current["metadata"]["resourceVersion"]
                                   != lease["metadata"]["resourceVersion"]):
                return None
            return self._write({**current["spec"], **spec})

    def _write(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.store.version += 1
        self.store.lease = {"metadata": {"name": self.name,
                                         "resourceVersion": str(self.store.version)},
                            "spec": dict(spec)}
        self.store.writes.append((self.identity, dict(spec)))
        return _copy(self.store.lease)


def _copy(lease: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": dict(lease["metadata"]), "spec": dict(lease["spec"])}


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in its own event loop (no pytest-asyncio here), bounded in time."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 30))

    return wrapper


# Short real timings: a 1 s Lease (the shortest a Lease can record), renewal every 0.1 s.
FAST = Settings(lease_duration=1.0, renew_deadline=0.5, retry_period=0.1)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=8)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def elector(leases: FakeLeases, identity: str, executor: ThreadPoolExecutor,
            settings: Settings = FAST) -> LeaderElector:
    return LeaderElector(dataclasses.replace(settings, identity=identity), None,  # type: ignore[arg-type]
                         executor, leases=leases.client(identity))  # type: ignore[arg-type]


@run_async
async def test_the_first_replica_creates_the_lease_and_leads(
        executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    a = elector(leases, "a", executor)
    await asyncio.wait_for(a.acquire(), 2)
    assert a.is_leader and leases.holder() == "a"
    spec = leases.lease["spec"] if leases.lease else {}
    assert spec["leaseDurationSeconds"] == 1 and spec["leaseTransitions"] == 0
    assert spec["renewTime"].endswith("Z") and "." in spec["renewTime"]


@run_async
async def test_a_standby_waits_while_the_leader_renews(executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    a, b = elector(leases, "a", executor), elector(leases, "b", executor)
    await a.acquire()
    holding = asyncio.create_task(a.hold())
    standby = asyncio.create_task(b.acquire())
    await asyncio.sleep(2.5)  # well past the 1 s lease duration: renewals keep it
    assert not standby.done() and not holding.done()
    assert leases.holder() == "a" and replica_of(b.holder or "") == "a" and not b.is_leader
    holding.cancel()
    standby.cancel()


@run_async
async def test_a_dead_leader_is_replaced_after_the_lease_expires_by_the_standbys_clock(
        executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    a, b = elector(leases, "a", executor), elector(leases, "b", executor)
    await a.acquire()
    holding = asyncio.create_task(a.hold())
    standby = asyncio.create_task(b.acquire())
    await asyncio.sleep(0.5)
    holding.cancel()  # the leader dies: no more renewals, no release
    died = time.monotonic()
    await asyncio.wait_for(standby, 3)
    took = time.monotonic() - died
    # lease_duration + 2 * retry_period at worst, and never before the lease expired.
    assert 0.8 <= took <= 1.0 + 2 * 0.1 + 0.5, took  # + scheduling slack
    assert b.is_leader and leases.holder() == "b"
    assert leases.lease is not None and leases.lease["spec"]["leaseTransitions"] == 1


@run_async
async def test_a_released_lease_is_taken_at_the_standbys_next_poll(
        executor: ThreadPoolExecutor) -> None:
    slow = dataclasses.replace(FAST, lease_duration=30.0, renew_deadline=20.0)
    leases = FakeLeases()
    a, b = elector(leases, "a", executor, slow), elector(leases, "b", executor, slow)
    await a.acquire()
    standby = asyncio.create_task(b.acquire())
    await asyncio.sleep(0.3)
    released = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(executor, a.release)
    assert not a.is_leader
    await asyncio.wait_for(standby, 2)
    assert time.monotonic() - released < 0.1 + 0.5  # one retry period, not 30 s
    assert leases.holder() == "b"


@run_async
async def test_a_leader_that_cannot_renew_stops_before_anyone_may_take_over(
        executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    a = elector(leases, "a", executor)
    await a.acquire()
    last_write = time.monotonic()
    leases.failing.add("a")
    await asyncio.wait_for(a.hold(), 2)
    stopped = time.monotonic() - last_write
    # At most renew_deadline after the last renewal (0.5 s), so strictly before the
    # 1 s lease could look expired to a standby.
    assert stopped < 0.5 + 0.3, stopped
    assert not a.is_leader


@run_async
async def test_a_hung_api_call_does_not_keep_a_leader_past_its_deadline(
        executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    a = elector(leases, "a", executor)
    await a.acquire()
    leases.hang = 5.0
    started = time.monotonic()
    beats = 0

    async def loop_stays_responsive() -> None:
        nonlocal beats
        while True:
            await asyncio.sleep(0.05)
            beats += 1

    beat = asyncio.create_task(loop_stays_responsive())
    await asyncio.wait_for(a.hold(), 2)
    beat.cancel()
    assert time.monotonic() - started < 0.5 + 0.1 + 0.3
    assert beats >= 8  # the event loop kept running while the call hung
    leases.hang = 0


@run_async
async def test_a_leader_that_finds_another_holder_stops_at_once(
        executor: ThreadPoolExecutor) -> None:
    slow = dataclasses.replace(FAST, lease_duration=30.0, renew_deadline=20.0)
    leases = FakeLeases()
    a = elector(leases, "a", executor, slow)
    await a.acquire()
    # Somebody else wrote the Lease (an operator with the same Lease and a
    # different identity, or a human): the leader must not wait 20 s to notice.
    assert leases.lease is not None
    leases.lease["spec"]["holderIdentity"] = "intruder"
    leases.lease["metadata"]["resourceVersion"] = "999"
    await asyncio.wait_for(a.hold(), 1)
    assert not a.is_leader


@run_async
async def test_two_replicas_racing_for_a_free_lease_never_both_lead(
        executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    replicas = [elector(leases, name, executor) for name in ("a", "b", "c")]
    tasks = [asyncio.create_task(r.acquire()) for r in replicas]
    done, pending = await asyncio.wait(tasks, timeout=0.8, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.sleep(0.3)
    assert len(done) == 1
    assert sum(r.is_leader for r in replicas) == 1
    for task in pending:
        task.cancel()


@run_async
async def test_at_most_one_leader_at_any_time_through_failures_and_takeovers(
        executor: ThreadPoolExecutor) -> None:
    """Invariant: whatever fails, no two replicas consider themselves leader at once
    (each leader stops before its Lease can look expired to the others)."""
    leases = FakeLeases()
    replicas = [elector(leases, name, executor) for name in ("a", "b")]
    overlaps = 0

    async def run(replica: LeaderElector) -> None:
        while True:
            await replica.acquire()
            await replica.hold()

    async def watch() -> None:
        nonlocal overlaps
        while True:
            overlaps += sum(r.is_leader for r in replicas) > 1
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(run(r)) for r in replicas] + [asyncio.create_task(watch())]
    for victim in ("a", "b"):
        await asyncio.sleep(0.4)
        leader = leases.holder()
        leases.failing.add(leader or victim)  # the leader's network breaks
        await asyncio.sleep(1.5)
        leases.failing.clear()
    for task in tasks:
        task.cancel()
    assert overlaps == 0
    assert len({identity for identity, spec in leases.writes if spec["holderIdentity"]}) == 2


@run_async
async def test_release_is_a_no_op_for_a_replica_that_does_not_lead(
        executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    a, b = elector(leases, "a", executor), elector(leases, "b", executor)
    await a.acquire()
    writes = len(leases.writes)
    b.release()
    assert len(leases.writes) == writes and leases.holder() == "a"


def test_release_never_raises(executor: ThreadPoolExecutor) -> None:
    leases = FakeLeases()
    a = elector(leases, "a", executor)
    asyncio.run(a.acquire())
    leases.failing.add("a")
    a.release()  # logged, not raised: the Lease will expire instead
    assert not a.is_leader


def test_hold_before_acquire_is_a_programming_error(executor: ThreadPoolExecutor) -> None:
    with pytest.raises(RuntimeError):
        asyncio.run(elector(FakeLeases(), "a", executor).hold())


def test_observation_expiry_uses_the_records_duration() -> None:
    seen = Observation(record("a", duration=7), at(0))
    assert seen.expires_at == at(7)
    assert Attempt.HELD.value == "held"


def test_each_process_holds_the_lease_under_its_own_identity() -> None:
    one, two = (LeaderElector(dataclasses.replace(FAST, identity="pod-a"), None,  # type: ignore[arg-type]
                              ThreadPoolExecutor(1), leases=FakeLeases().client("x"))
                for _ in range(2))
    assert one.identity != two.identity
    assert replica_of(one.identity) == replica_of(two.identity) == "pod-a"
    assert replica_of("pod-a") == "pod-a"


@run_async
async def test_a_restarted_leader_waits_for_expiry_and_the_watching_standby_wins(
        executor: ThreadPoolExecutor) -> None:
    """SIGKILL, then the container restarts under the same pod name: a new
    process, a new holder. It must not take the Lease back as its own at once;
    the standby, which saw the last renewal first, takes over at expiry."""
    leases = FakeLeases()
    a = elector(leases, "a", executor)
    await asyncio.wait_for(a.acquire(), 2)
    holding = asyncio.create_task(a.hold())
    b = elector(leases, "b", executor)
    standby = asyncio.create_task(b.acquire())
    await asyncio.sleep(0.5)
    holding.cancel()  # killed: no release, no more renewals
    restarted = elector(leases, "a", executor)
    assert restarted.identity != a.identity
    comeback = asyncio.create_task(restarted.acquire())
    await asyncio.sleep(0.3)
    assert not comeback.done(), "the restarted process took a Lease that had not expired"
    await asyncio.wait_for(standby, 5)
    assert leases.holder() == "b"
    comeback.cancel()
