"""The work queue's guarantees, which level-triggered reconciling relies on."""

from __future__ import annotations

import asyncio

import pytest

from taskops.workqueue import ShutDown, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_key_added_many_times_is_queued_once() -> None:
    async def scenario() -> list[str]:
        q: WorkQueue[str] = WorkQueue()
        for _ in range(5):
            q.add("a")
        q.add("b")
        got = [await q.get(), await q.get()]
        assert len(q) == 0
        return got

    assert run(scenario()) == ["a", "b"]


def test_a_key_added_while_processing_runs_again_after_done_not_concurrently() -> None:
    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        key = await q.get()
        q.add("a")  # an event during the reconcile
        assert len(q) == 0, "never handed to a second worker while processing"
        q.done(key)
        assert len(q) == 1
        assert await q.get() == "a"

    run(scenario())


def test_delayed_key_waits_until_due() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        q: WorkQueue[str] = WorkQueue(clock=clock)
        q.add_after("a", 30)
        assert q.delayed == 1
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.get(), 0.05)
        clock.now += 30
        q.add("wake")  # any add wakes the waiter, which then promotes due keys
        got = {await q.get(), await q.get()}
        assert got == {"a", "wake"}

    run(scenario())


def test_only_the_earliest_due_time_per_key_is_kept() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        q: WorkQueue[str] = WorkQueue(clock=clock)
        q.add_after("a", 60)
        q.add_after("a", 10)
        q.add_after("a", 30)
        assert q.delayed == 1
        clock.now += 10
        assert await asyncio.wait_for(q.get(), 1) == "a"
        q.done("a")
        clock.now += 100
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.get(), 0.05)

    run(scenario())


def test_rate_limited_retries_back_off_exponentially_and_forget_resets() -> None:
    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue(clock=FakeClock())
        delays = [q.add_rate_limited("a", base=1, cap=8) for _ in range(6)]
        assert delays == [1, 2, 4, 8, 8, 8]
        q.forget("a")
        assert q.add_rate_limited("a", base=1, cap=8) == 1

    run(scenario())


def test_shut_down_releases_waiting_workers() -> None:
    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue()
        waiter = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        q.shut_down()
        with pytest.raises(ShutDown):
            await asyncio.wait_for(waiter, 1)
        q.add("late")
        assert len(q) == 0

    run(scenario())


def test_batched_events_wait_for_the_period_and_make_one_pass() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        q: WorkQueue[str] = WorkQueue(clock=clock)
        for _ in range(3):
            q.add_batched("a", 1.0)
            clock.now += 0.2
        assert len(q) == 0 and q.delayed == 1
        clock.now += 0.4
        assert await asyncio.wait_for(q.get(), 1) == "a"
        q.done("a")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.get(), 0.05)

    run(scenario())


def test_a_batched_event_for_a_key_already_waiting_to_run_adds_nothing() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add("a")
    q.add_batched("a", 1.0)
    assert len(q) == 1 and q.delayed == 0


class CountingClock(FakeClock):
    """A fake clock that counts its readings: a worker reads it each time it wakes."""

    def __init__(self) -> None:
        super().__init__()
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        return self.now


def test_an_added_key_wakes_one_idle_worker_not_all() -> None:
    async def scenario() -> None:
        clock = CountingClock()
        q: WorkQueue[str] = WorkQueue(clock=clock)
        workers = [asyncio.create_task(q.get()) for _ in range(16)]
        await asyncio.sleep(0.01)
        clock.readings = 0
        q.add("a")
        for _ in range(5):
            await asyncio.sleep(0)
        done = [w for w in workers if w.done()]
        assert [w.result() for w in done] == ["a"]
        # The one worker that took the key read the clock; the 15 others slept.
        assert clock.readings <= 2, clock.readings
        q.shut_down()
        await asyncio.gather(*workers, return_exceptions=True)

    run(scenario())


def test_a_delayed_key_wakes_an_idle_worker_when_due_with_nothing_else_added() -> None:
    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue()
        workers = [asyncio.create_task(q.get()) for _ in range(3)]
        await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        start = loop.time()
        q.add_after("late", 0.2)
        q.add_after("soon", 0.05)  # an earlier due time re-arms the timer
        first = await asyncio.wait_for(asyncio.shield(next(iter(asyncio.as_completed(workers)))),
                                       2)
        assert first == "soon" and loop.time() - start >= 0.05
        await asyncio.sleep(0.4)
        assert sorted(w.result() for w in workers if w.done()) == ["late", "soon"]
        q.shut_down()
        await asyncio.gather(*workers, return_exceptions=True)

    run(scenario())


def test_a_worker_woken_then_cancelled_hands_the_key_to_another() -> None:
    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue()
        first = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        second = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        q.add("a")  # wakes `first`, which is cancelled before it runs
        first.cancel()
        assert await asyncio.wait_for(second, 1) == "a"

    run(scenario())


def test_shut_down_releases_every_waiting_worker() -> None:
    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue()
        q.add_after("never", 60)
        workers = [asyncio.create_task(q.get()) for _ in range(5)]
        await asyncio.sleep(0.01)
        q.shut_down()
        outcomes = await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 1)
        assert all(isinstance(o, ShutDown) for o in outcomes)

    run(scenario())
