"""Admission under caps, by priority: the pure rules and the operator's book."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskops.core.admission import (
    EXACT_POSITIONS,
    GLOBAL,
    NAMESPACE,
    Candidate,
    Caps,
    SlotState,
    Usage,
    admit,
    queue_spot,
    rank,
    slot_state,
)
from taskops.handlers.admission import AdmissionBook

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def candidate(name: str, ns: str = "a", priority: int = 0, age: int = 0) -> Candidate:
    return Candidate(rank(priority, T0 - timedelta(seconds=age), ns, name), (ns, name), ns)


def queues(*cands: Candidate) -> dict[str, list[Candidate]]:
    out: dict[str, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: c.rank):
        out.setdefault(c.namespace, []).append(c)
    return out


def names(keys: list[Any]) -> list[str]:
    return [k[1] for k in keys]


# --- rank and slot state -------------------------------------------------------


def test_rank_is_priority_then_age_then_name() -> None:
    ordered = sorted([candidate("old-low", age=100), candidate("new-high", priority=5),
                      candidate("b"), candidate("a"), candidate("old-high", priority=5, age=9)],
                     key=lambda c: c.rank)
    assert [c.key[1] for c in ordered] == ["old-high", "new-high", "old-low", "a", "b"]


@pytest.mark.parametrize(("status", "deleting", "state"), [
    ({}, False, SlotState.CANDIDATE),
    ({"phase": "Pending"}, False, SlotState.CANDIDATE),
    ({"phase": "Queued"}, False, SlotState.CANDIDATE),
    ({"phase": "Waiting"}, False, SlotState.IDLE),
    ({"phase": "BackingOff", "conditions": [{"type": "Admitted", "status": "False"}]}, False,
     SlotState.IDLE),
    ({"phase": "Succeeded"}, False, SlotState.IDLE),
    ({"phase": "Failed"}, False, SlotState.IDLE),
    ({"phase": "Suspended"}, False, SlotState.IDLE),
    ({}, True, SlotState.IDLE),
    ({"phase": "Running", "conditions": [{"type": "Admitted", "status": "True"}]}, False,
     SlotState.HOLDING),
    # A finished job whose pods still drain keeps its slot until they are gone.
    ({"phase": "Failed", "conditions": [{"type": "Admitted", "status": "True"}]}, True,
     SlotState.HOLDING),
])
def test_slot_state_is_read_from_the_status(status: dict[str, Any], deleting: bool,
                                            state: SlotState) -> None:
    assert slot_state(status, deleting) is state


# --- admit -------------------------------------------------------------------


def test_unlimited_admits_everyone_in_rank_order() -> None:
    got = admit(queues(candidate("x"), candidate("y", priority=1)), Usage(0, {}), Caps())
    assert names(got) == ["y", "x"]


def test_global_cap_admits_the_best_ranked_into_the_free_slots() -> None:
    cands = [candidate(f"j{i}", priority=i % 3, age=i) for i in range(10)]
    got = admit(queues(*cands), Usage(1, {"a": 1}), Caps(total=3))
    assert names(got) == ["j8", "j5"]  # priority 2, oldest first


def test_a_full_namespace_does_not_block_another() -> None:
    got = admit(queues(candidate("a1", "a", priority=9), candidate("b1", "b")),
                Usage(2, {"a": 2}), Caps(total=10, per_namespace=2))
    assert names(got) == ["b1"]


def test_until_stops_at_the_job_asked_about() -> None:
    q = queues(candidate("first", age=2), candidate("second", age=1), candidate("third"))
    assert names(admit(q, Usage(0, {}), Caps(total=5), until=q["a"][1])) == ["first", "second"]
    # Asked about one the room does not reach: it is not in the answer.
    assert names(admit(q, Usage(4, {"a": 4}), Caps(total=5), until=q["a"][2])) == ["first"]


def test_without_a_global_cap_only_the_jobs_namespace_is_walked() -> None:
    q = queues(candidate("a1", "a"), candidate("b1", "b", priority=1))
    assert names(admit(q, Usage(0, {}), Caps(per_namespace=1), until=q["a"][0])) == ["a1"]


@st.composite
def scenes(draw: st.DrawFn) -> tuple[dict[str, list[Candidate]], Usage, Caps]:
    spaces = ["a", "b", "c"]
    cands = [candidate(f"j{i}", draw(st.sampled_from(spaces)), draw(st.integers(-2, 2)),
                       draw(st.integers(0, 5)))
             for i in range(draw(st.integers(0, 25)))]
    held = {ns: draw(st.integers(0, 4)) for ns in spaces}
    caps = Caps(draw(st.none() | st.integers(1, 12)), draw(st.none() | st.integers(1, 5)))
    if caps.per_namespace is not None:
        held = {ns: min(n, caps.per_namespace) for ns, n in held.items()}
    total = sum(held.values())
    if caps.total is not None and total > caps.total:
        held, total = {ns: 0 for ns in spaces}, 0
    return queues(*cands), Usage(total, held), caps


@settings(max_examples=500, deadline=None)
@given(scenes())
def test_the_caps_are_never_exceeded(scene: tuple[dict[str, list[Candidate]], Usage, Caps]) -> None:
    """Whatever is held and queued, admitting never takes a cap past its limit."""
    q, usage, caps = scene
    got = admit(q, usage, caps)
    per_ns = Counter(k[0] for k in got)
    if caps.total is not None:
        assert usage.total + len(got) <= caps.total
    if caps.per_namespace is not None:
        for ns, n in per_ns.items():
            assert usage.by_namespace.get(ns, 0) + n <= caps.per_namespace


@settings(max_examples=500, deadline=None)
@given(scenes())
def test_a_higher_ranked_job_never_waits_for_a_slot_a_lower_one_takes(
        scene: tuple[dict[str, list[Candidate]], Usage, Caps]) -> None:
    """A lower-ranked job is admitted while a higher-ranked one waits only when
    the higher one's namespace is full: never for the same free slot. And no
    slot stays free while a job that fits waits."""
    q, usage, caps = scene
    got = set(admit(q, usage, caps))
    taken = Counter(k[0] for k in got)
    everyone = sorted((c for queue in q.values() for c in queue), key=lambda c: c.rank)
    for i, high in enumerate(everyone):
        if high.key in got:
            continue
        ns_full = caps.per_namespace is not None and (
            usage.by_namespace.get(high.namespace, 0) + taken[high.namespace]
            >= caps.per_namespace)
        for low in everyone[i + 1:]:
            if low.key in got:
                assert ns_full, f"{low.key} admitted ahead of {high.key}"
        if not ns_full:
            assert caps.total is not None and usage.total + len(got) >= caps.total


@settings(max_examples=300, deadline=None)
@given(scenes(), st.data())
def test_asking_about_one_job_agrees_with_the_whole_walk(
        scene: tuple[dict[str, list[Candidate]], Usage, Caps], data: st.DataObject) -> None:
    """`until` only shortens the walk: the job asked about is admitted exactly
    when the full walk admits it."""
    q, usage, caps = scene
    everyone = [c for queue in q.values() for c in queue]
    if not everyone:
        return
    me = data.draw(st.sampled_from(everyone))
    assert (me.key in admit(q, usage, caps, until=me)) == (me.key in admit(q, usage, caps))


# --- queue spots -------------------------------------------------------------


def test_spot_behind_the_global_cap() -> None:
    spot = queue_spot(Usage(3, {"a": 3}), Caps(total=3), "a", ahead_global=4, ahead_namespace=4)
    assert (spot.cap, spot.position, spot.limit, spot.in_use) == (GLOBAL, 5, 3, 3)
    assert spot.message == ("queued behind the global cap of 3 running TaskJobs (3 in use); "
                            "position 5, 4 TaskJobs ahead")


def test_spot_behind_a_full_namespace() -> None:
    spot = queue_spot(Usage(2, {"a": 2}), Caps(total=10, per_namespace=2), "a", 7, 1)
    assert (spot.cap, spot.position) == (NAMESPACE, 2)
    assert "the namespace cap of 2" in spot.message and "1 TaskJob ahead" in spot.message


def test_spot_beyond_the_exact_positions_has_none() -> None:
    spot = queue_spot(Usage(1, {}), Caps(total=1), "a", EXACT_POSITIONS, EXACT_POSITIONS)
    assert spot.position is None
    assert spot.message.endswith(f"more than {EXACT_POSITIONS - 1} TaskJobs ahead")


# --- the book ----------------------------------------------------------------


def body(name: str, ns: str = "a", priority: int = 0, age: int = 0,
         status: dict[str, Any] | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns,
                            "creationTimestamp": (T0 - timedelta(seconds=age)).isoformat()}
    if deleting:
        meta["deletionTimestamp"] = T0.isoformat()
    return {"metadata": meta, "spec": {"priority": priority}, "status": status or {}}


def holding(name: str, ns: str = "a", **kw: Any) -> dict[str, Any]:
    return body(name, ns, status={"phase": "Running", "conditions": [
        {"type": "Admitted", "status": "True"}]}, **kw)


def test_book_grants_up_to_the_cap_and_queues_the_rest_in_order() -> None:
    book = AdmissionBook(Caps(total=2))
    for i in range(5):
        book.observe(body(f"j{i}", age=10 - i))
    assert book.request(("a", "j3")) is not None  # j0, j1 rank ahead of it
    assert book.request(("a", "j0")) is None
    assert book.request(("a", "j1")) is None
    spot = book.request(("a", "j2"))
    assert spot is not None and spot.position == 1
    spot = book.request(("a", "j4"))
    assert spot is not None and spot.position == 3
    assert book.usage().total == 2


def test_a_grant_is_counted_until_the_status_holds_the_slot() -> None:
    book = AdmissionBook(Caps(total=1))
    book.observe(body("x"))
    book.observe(body("y", age=-1))
    assert book.request(("a", "x")) is None
    assert book.request(("a", "y")) is not None
    # The status write lands: still one in use, from the store now.
    book.observe(holding("x"))
    assert book.usage().total == 1 and book.holds(("a", "x"))
    assert book.request(("a", "y")) is not None


def test_a_finished_holder_frees_its_slot_and_wakes_the_next() -> None:
    book = AdmissionBook(Caps(total=1))
    book.observe(holding("x"))
    book.observe(body("y"))
    book.observe(body("z", age=5))
    assert book.wake() == []
    assert book.observe(body("x", status={"phase": "Succeeded"})) is True
    assert book.wake() == [("a", "z")]


def test_a_returned_grant_frees_the_slot() -> None:
    book = AdmissionBook(Caps(total=1))
    book.observe(body("x"))
    book.observe(body("y", age=-1))
    assert book.request(("a", "x")) is None
    assert book.release(("a", "x")) is True
    book.observe(body("x", status={"phase": "Waiting"}))
    assert book.request(("a", "y")) is None


def test_backing_off_job_requeues_at_its_original_place() -> None:
    book = AdmissionBook(Caps(total=1))
    book.observe(holding("busy"))
    book.observe(body("old", age=100, status={"phase": "BackingOff"}))
    book.observe(body("new", age=1, status={"phase": "Queued"}))
    spot = book.request(("a", "old"))  # its retry delay ended
    assert spot is not None and spot.position == 1
    spot = book.request(("a", "new"))
    assert spot is not None and spot.position == 2


def test_deleted_holder_frees_its_slot() -> None:
    book = AdmissionBook(Caps(total=1))
    book.observe(holding("x"))
    assert book.forget(("a", "x")) is True
    assert book.usage().total == 0


def test_per_namespace_caps_count_each_namespace_alone() -> None:
    book = AdmissionBook(Caps(per_namespace=1))
    for ns in ("a", "b"):
        book.observe(body("first", ns, age=2))
        book.observe(body("second", ns, age=1))
    assert book.request(("a", "first")) is None
    assert book.request(("b", "first")) is None
    spot = book.request(("a", "second"))
    assert spot is not None and spot.cap == NAMESPACE and spot.position == 1


def test_stale_positions_are_only_the_head_of_the_queue() -> None:
    book = AdmissionBook(Caps(total=1))
    book.observe(holding("busy"))
    for i in range(EXACT_POSITIONS + 50):
        written = {"queuePosition": i + 1} if i < EXACT_POSITIONS else {}
        book.observe(body(f"q{i:04}", status={"phase": "Queued", **written}))
    assert book.stale_positions() == []
    # One leaves the head: everyone behind it in the first EXACT_POSITIONS moves
    # up, and one more enters them; the 49 beyond are not touched.
    book.forget(("a", "q0000"))
    stale = book.stale_positions()
    assert stale == [("a", f"q{i:04}") for i in range(1, EXACT_POSITIONS + 1)]
    assert book.queue_depth() == {"a": EXACT_POSITIONS + 49}


def test_unlimited_book_grants_at_once_and_wakes_no_one() -> None:
    book = AdmissionBook(Caps())
    book.observe(body("x"))
    assert book.request(("a", "x")) is None
    assert book.wake() == [] and book.stale_positions() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["arrive", "ask", "hold", "finish", "release",
                                           "delete"]),
                          st.integers(0, 9), st.integers(0, 2), st.sampled_from("ab")),
                max_size=60),
       st.integers(1, 4), st.none() | st.integers(1, 3))
def test_book_never_grants_past_a_cap(ops: list[tuple[str, int, int, str]], total: int,
                                      per_ns: int | None) -> None:
    """Whatever the interleaving of arrivals, requests, status writes, finishes,
    returned grants and deletions, slots held plus granted stay within the caps."""
    book = AdmissionBook(Caps(total, per_ns))
    jobs: dict[tuple[str, str], dict[str, Any]] = {}
    for op, i, prio, ns in ops:
        key = (ns, f"j{i}")
        if op == "arrive" or key not in jobs:
            jobs[key] = body(key[1], ns, priority=prio, age=i)
            book.observe(jobs[key])
        elif op == "ask":
            book.request(key)
        elif op == "hold" and book.holds(key):
            jobs[key] = holding(key[1], ns, priority=prio, age=i)
            book.observe(jobs[key])
        elif op == "finish":
            jobs[key] = body(key[1], ns, priority=prio, age=i, status={"phase": "Succeeded"})
            book.observe(jobs[key])
        elif op == "release":
            book.release(key)
        elif op == "delete":
            book.forget(key)
            del jobs[key]
        usage = book.usage()
        assert usage.total <= total
        if per_ns is not None:
            assert all(n <= per_ns for n in usage.by_namespace.values())
