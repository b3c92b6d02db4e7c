"""Invariants of decide_schedule(), checked on generated specs and simulated histories.

The histories come from `ScheduleCluster` (schedule_factories.py): time moves
in small steps and in outages, runs start, finish and drain, the schedule is
suspended and resumed and triggered, the shell applies the actions before or
after the status patch, crashes part way, and reads a run list that lags.

SCHEDULE_PROPERTY_EXAMPLES=500 runs the simulated histories that many times
each (default 30, to keep the suite fast).
"""

from __future__ import annotations

import os
import random
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedule_factories import (
    T0,
    UID,
    ScheduleCluster,
    Story,
    created_from,
    make_schedule,
    schedule_spec,
    scheduled_instant,
)
from taskops.api.taskschedule import TaskScheduleStatus
from taskops.core.cron import fire_times, jitter_offset, next_fire_after, parse_schedule
from taskops.core.observed import parse_time
from taskops.core.schedule import (
    RUN_NAME_MAX,
    CreateRun,
    DeleteRun,
    ScheduleDecision,
    decide_schedule,
    manual_run_name,
    observe_run,
    run_name,
)

SETTINGS = settings(
    max_examples=int(os.environ.get("SCHEDULE_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CHEAP = settings(max_examples=100, deadline=None)

# Periods between 30 s and 7 min, so a simulated hour holds tens of instants.
SCHEDULES = ("*/30 * * * * *", "@every 45s", "*/2 * * * *", "0,20,40 * * * * *", "@every 7m")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """Varied TaskSchedule specs whose jitter stays below the schedule's period."""
    return schedule_spec(
        schedule=draw(st.sampled_from(SCHEDULES)),
        timeZone=draw(st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"])),
        concurrencyPolicy=draw(st.sampled_from(["Allow", "Forbid", "Replace"])),
        jitterSeconds=draw(st.sampled_from([0, 0, 5, 25])),
        startingDeadlineSeconds=draw(st.sampled_from([None, None, 0, 10, 120])),
        successfulHistoryLimit=draw(st.integers(0, 2)),
        failedHistoryLimit=draw(st.integers(0, 2)),
    )


def simulate(
    spec: dict[str, Any],
    seed: int,
    *,
    actions_first: bool = True,
    crash_rate: float = 0.0,
    lag: int = 0,
    steps: int = 40,
    outage_rate: float = 0.08,
    triggers: bool = True,
    suspends: bool = True,
    finish_rate: float = 0.6,
) -> tuple[ScheduleCluster, list[tuple[datetime, datetime]]]:
    """Drive a ScheduleCluster; returns it and the outages (last reconcile, next one).

    Checked on every decision, whatever the configuration: at most one
    scheduled run is asked for, no run starts before its instant plus jitter,
    requeue_after is in [0, next fire + its jitter], the status validates, and
    the bookkeeping (missedRuns, lastConsideredTime) never goes back.
    """
    rng = random.Random(seed)
    cluster = ScheduleCluster(
        spec=spec, rng=rng, actions_first=actions_first, crash_rate=crash_rate, lag=lag
    )
    outages: list[tuple[datetime, datetime]] = []
    values = iter(f"value-{n}" for n in range(1000))
    last_reconcile = cluster.now
    for _ in range(steps):
        if rng.random() < outage_rate:
            cluster.now += timedelta(seconds=rng.randint(300, 3000))
            outages.append((last_reconcile, cluster.now))
        else:
            cluster.now += timedelta(seconds=rng.randint(1, 40))
        if triggers and rng.random() < 0.05:
            cluster.trigger = next(values)
        if suspends and rng.random() < 0.04:
            cluster.spec = {**cluster.spec, "suspend": not cluster.spec.get("suspend", False)}
        for _ in range(rng.randint(1, 3)):
            before = dict(cluster.status)
            decision = cluster.reconcile()
            check_decision(cluster, decision, before)
            cluster.step_runs(finish_rate=finish_rate)
        last_reconcile = cluster.now
    return cluster, outages


def check_decision(
    cluster: ScheduleCluster, decision: ScheduleDecision, before: dict[str, Any]
) -> None:
    now, spec = cluster.now, cluster.spec
    scheduled = [c for c in decision.actions if isinstance(c, CreateRun) and scheduled_instant(c)]
    assert len(scheduled) <= 1, "one decision asks for at most one scheduled run"
    jitter = spec.get("jitterSeconds", 0)
    for create in scheduled:
        instant = scheduled_instant(create)
        assert instant is not None
        assert now >= instant + timedelta(seconds=jitter_offset(UID, instant, jitter))
    if decision.requeue_after is None:
        assert spec.get("suspend")
    else:
        cron = parse_schedule(spec["schedule"])
        upcoming = next_fire_after(cron, ZoneInfo(spec["timeZone"]), now, anchor=T0)
        latest = (upcoming - now).total_seconds() + jitter_offset(UID, upcoming, jitter)
        assert 0 <= decision.requeue_after <= latest + 1e-6
    status = decision.status
    TaskScheduleStatus.model_validate(status)
    assert status["missedRuns"] >= before.get("missedRuns", 0)
    previous = parse_time(before.get("lastConsideredTime"))
    current = parse_time(status.get("lastConsideredTime"))
    assert previous is None or (current is not None and current >= previous)


# --- safety -----------------------------------------------------------------------------


@SETTINGS
@given(
    specs(),
    st.integers(0, 2**32),
    st.booleans(),
    st.sampled_from([0.0, 0.4]),
    st.sampled_from([0, 3]),
)
def test_property_never_two_runs_for_one_scheduled_instant(
    spec: dict[str, Any], seed: int, actions_first: bool, crash_rate: float, lag: int
) -> None:
    """No scheduled instant ever gets a second run, whatever the crashes, the shell's
    order of status and actions, the lag of the run list, and the runs deleted by
    history and Replace in between.

    The simulator raises on the second create of an instant (after the first was
    deleted: while it exists, the deterministic name makes it AlreadyExists).
    """
    # Runs that end quickly and small history limits make deletions frequent.
    spec = {**spec, "successfulHistoryLimit": spec["successfulHistoryLimit"] // 2}
    cluster, _ = simulate(
        spec,
        seed,
        actions_first=actions_first,
        crash_rate=crash_rate,
        lag=lag,
        finish_rate=0.9,
    )
    names = [name for _, name in cluster.created_log]
    assert len(names) == len(set(names))


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.booleans(), st.sampled_from([0.0, 0.25]))
def test_property_after_any_outage_at_most_one_catch_up_run(
    spec: dict[str, Any], seed: int, actions_first: bool, crash_rate: float
) -> None:
    """Of the instants whose start time passed while nothing was decided, at most one
    ever gets a run."""
    cluster, outages = simulate(
        spec,
        seed,
        actions_first=actions_first,
        crash_rate=crash_rate,
        outage_rate=0.2,
        suspends=False,
    )
    jitter = spec["jitterSeconds"]
    for last_seen, back in outages:
        started_in_outage = [
            instant
            for instant in cluster.scheduled_runs_created_between(
                last_seen - timedelta(minutes=1), back
            )
            if last_seen < instant + timedelta(seconds=jitter_offset(UID, instant, jitter)) <= back
        ]
        assert len(started_in_outage) <= 1


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.sampled_from([0.0, 0.25]))
def test_property_every_instant_is_run_or_counted_missed(
    spec: dict[str, Any], seed: int, crash_rate: float
) -> None:
    """Every settled instant either got its run or is counted in missedRuns, exactly
    once: no run is lost to a crash and nothing is counted twice.

    (With actions applied before the status patch and a fresh run list.)
    """
    cluster, _ = simulate(spec, seed, actions_first=True, crash_rate=crash_rate)
    watermark = parse_time(cluster.status.get("lastConsideredTime"))
    if watermark is None:
        return
    cron = parse_schedule(spec["schedule"])
    zone = ZoneInfo(spec["timeZone"])
    due = 0
    for instant in fire_times(cron, zone, T0, anchor=T0):
        if instant > watermark:
            break
        due += 1
    run = sum(1 for instant in cluster.created_instants if instant <= watermark)
    assert run + cluster.status["missedRuns"] == due


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.sampled_from([0.0, 0.25]), st.sampled_from([0, 3]))
def test_property_a_trigger_value_starts_at_most_one_run_and_a_held_one_starts_one(
    spec: dict[str, Any], seed: int, crash_rate: float, lag: int
) -> None:
    """Each trigger value starts at most one run, and a value left in place starts one."""
    spec = {**spec, "suspend": False}
    cluster, _ = simulate(spec, seed, crash_rate=crash_rate, lag=lag, suspends=False)
    assert len(cluster.created_triggers) == len(set(cluster.created_triggers))
    cluster.trigger = "held"
    cluster.crash_rate = 0.0
    for _ in range(6):
        cluster.reconcile()
        cluster.step_runs()
    assert cluster.created_triggers.count("held") == 1


# --- determinism and convergence -----------------------------------------------------------


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.integers(0, 2**32))
def test_property_same_input_same_output(spec: dict[str, Any], seed: int, order: int) -> None:
    """Deciding twice on the same schedule, runs (in any order) and time gives equal decisions."""
    cluster, _ = simulate(spec, seed, steps=25)
    schedule = make_schedule(cluster.spec, status=cluster.status, trigger=cluster.trigger)
    runs = [observe_run(body) for body in cluster.runs.values()]
    shuffled = list(runs)
    random.Random(order).shuffle(shuffled)
    now = cluster.now + timedelta(seconds=random.Random(order).randint(0, 900))
    assert decide_schedule(schedule, runs, now) == decide_schedule(schedule, shuffled, now)


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.integers(0, 900))
def test_property_applying_decisions_at_one_instant_converges(
    spec: dict[str, Any], seed: int, later: int
) -> None:
    """Applying decisions (fresh run list) and deciding again at the same time reaches,
    within five rounds, a decision with no action, no observation and the same status.

    Five: settle what the status lacks, delete what it now settles, (Replace) create
    once the replaced runs are gone, settle the new run, and find nothing to do.
    """
    cluster, _ = simulate(spec, seed, steps=25)
    story = Story(spec=cluster.spec, status=dict(cluster.status), trigger=cluster.trigger)
    story.runs = {name: dict(body) for name, body in cluster.runs.items()}
    now = cluster.now + timedelta(seconds=later)
    for _ in range(5):
        decision = story.decide(now)
        if not decision.actions and decision.status == story.status:
            break
        story.step(now)
    final = story.decide(now)
    assert final.actions == ()
    assert final.observations == ()
    assert final.status == story.status


# --- bounds ----------------------------------------------------------------------------------


@CHEAP
@given(
    st.sampled_from(SCHEDULES),
    st.sampled_from(["UTC", "Europe/Berlin", "Australia/Lord_Howe"]),
    st.integers(0, 600),
    st.integers(0, 10**7),
    st.text(alphabet="0123456789abcdef-", min_size=1, max_size=36),
)
def test_property_requeue_after_is_never_negative_nor_later_than_the_next_start(
    expression: str, zone: str, jitter: int, offset: int, uid: str
) -> None:
    """requeue_after is in [0, seconds until the next fire time plus its jitter]."""
    spec = schedule_spec(schedule=expression, timeZone=zone, jitterSeconds=jitter)
    now = T0 + timedelta(seconds=offset, microseconds=offset % 997)
    schedule = make_schedule(spec, uid=uid)
    decision = decide_schedule(schedule, [], now)
    upcoming = next_fire_after(parse_schedule(expression), ZoneInfo(zone), now, anchor=T0)
    latest = (upcoming - now).total_seconds() + jitter_offset(uid, upcoming, jitter)
    assert decision.requeue_after is not None
    assert 0 <= decision.requeue_after <= latest + 1e-6


@CHEAP
@given(
    st.from_regex(
        r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?){0,8}",
        fullmatch=True,
    ),
    st.integers(0, 2**33),
    st.text(min_size=1, max_size=64),
)
def test_property_run_names_are_short_dns_names_and_deterministic(
    schedule: str, unix_seconds: int, trigger: str
) -> None:
    """Run names are DNS subdomains of at most 52 characters, the same on every call,
    and different for different instants of one schedule."""
    schedule = schedule[:253].rstrip("-.")
    instant = T0.replace(year=1970, month=1, day=1) + timedelta(seconds=unix_seconds)
    for name in (run_name(schedule, instant), manual_run_name(schedule, trigger)):
        assert len(name) <= RUN_NAME_MAX
        assert DNS_SUBDOMAIN.match(name), name
    assert run_name(schedule, instant) == run_name(schedule, instant)
    assert run_name(schedule, instant) != run_name(schedule, instant + timedelta(seconds=1))


@CHEAP
@given(st.text(min_size=1, max_size=20), st.integers(1, 3600), st.integers(0, 10**8))
def test_property_jitter_starts_runs_within_the_window(
    uid: str, jitter: int, unix_seconds: int
) -> None:
    """A run starts in [instant, instant + jitterSeconds), as every replica computes it."""
    instant = T0 + timedelta(seconds=unix_seconds)
    # The first fire of `@every 2h` is `instant`; the jitter stays below the period.
    spec = schedule_spec(schedule="@every 2h", jitterSeconds=jitter)
    schedule = make_schedule(spec, uid=uid, created=instant - timedelta(hours=2))
    offset = jitter_offset(uid, instant, jitter)
    assert 0 <= offset < jitter
    before = decide_schedule(schedule, [], instant + timedelta(seconds=offset - 0.001))
    started = decide_schedule(schedule, [], instant + timedelta(seconds=offset))
    assert not any(
        isinstance(a, CreateRun) and scheduled_instant(a) == instant for a in before.actions
    )
    assert [scheduled_instant(a) for a in started.actions if isinstance(a, CreateRun)] == [instant]


@SETTINGS
@given(specs(), st.integers(0, 2**32), st.sampled_from([0.0, 0.4]), st.sampled_from([0, 3]))
def test_property_deletions_only_name_runs_the_observed_status_settles(
    spec: dict[str, Any], seed: int, crash_rate: float, lag: int
) -> None:
    """Every DeleteRun names a run of the schedule (by name and uid) that the status the
    decision observed already settles, so that its disappearance can never make it
    due again: a scheduled run at or before lastConsideredTime, or a manual run whose
    value is handled or no longer asked for."""
    cluster, _ = simulate(spec, seed, crash_rate=crash_rate, lag=lag, finish_rate=0.9)
    for _, schedule, runs, decision in cluster.decisions:
        by_name = {run.name: run for run in runs}
        watermark = parse_time(schedule.status.get("lastConsideredTime"))
        for action in decision.actions:
            if not isinstance(action, DeleteRun):
                continue
            run = by_name[action.name]
            assert (action.uid, action.propagation) == (run.uid, "Background")
            if run.scheduled_time is not None:
                assert watermark is not None and run.scheduled_time <= watermark
            if run.trigger is not None:
                handled = schedule.status.get("lastTrigger") == run.trigger
                assert handled or schedule.trigger != run.trigger


def test_created_from_keeps_the_manifest() -> None:
    create = CreateRun({"metadata": {"name": "x", "annotations": {}}, "spec": {}})
    assert created_from(create, T0)["metadata"]["uid"] == "uid-x"
