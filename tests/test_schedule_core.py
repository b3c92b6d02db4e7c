"""decide_schedule(): the TaskSchedule contract, one behaviour per test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedule_factories import (
    NAME,
    NAMESPACE,
    T0,
    UID,
    Story,
    at,
    condition,
    created_from,
    creates,
    deletes,
    events,
    make_run,
    make_schedule,
    outcomes,
    reasons,
    run_body,
    schedule_body,
    schedule_spec,
    scheduled_instant,
)
from taskops.api.taskschedule import TaskScheduleStatus
from taskops.core.actions import EmitEvent
from taskops.core.cron import jitter_offset
from taskops.core.observed import format_time, observe_schedule
from taskops.core.pods import pod_name
from taskops.core.schedule import (
    ANNOTATION_SCHEDULED_TIME,
    ANNOTATION_TRIGGER,
    LABEL_SCHEDULE,
    LABEL_SCHEDULE_UID,
    MAX_COUNTED_INSTANTS,
    RUN_NAME_MAX,
    SETTLE_POLL_SECONDS,
    CreateRun,
    DeleteRun,
    ObservedRun,
    RunOutcome,
    ScheduleDecision,
    decide_schedule,
    manual_run_name,
    observe_run,
    run_name,
)

HOUR = 3600
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def decide(
    spec: dict[str, Any] | None = None,
    runs: list[ObservedRun] | tuple[ObservedRun, ...] = (),
    now: datetime = T0,
    **kwargs: Any,
) -> ScheduleDecision:
    return decide_schedule(make_schedule(spec, **kwargs), list(runs), now)


def settled(instant: datetime) -> dict[str, Any]:
    """A status in which every instant up to `instant` is settled."""
    return {"lastConsideredTime": format_time(instant), "lastScheduleTime": format_time(instant)}


def names(decision: ScheduleDecision) -> list[str]:
    return [create.name for create in creates(decision)]


# --- observing ------------------------------------------------------------------


def test_observe_schedule_reads_the_body() -> None:
    body = schedule_body(
        schedule_spec(suspend=True), status={"missedRuns": 2}, trigger="go", generation=4
    )
    observed = observe_schedule(body)
    assert (observed.namespace, observed.name, observed.uid) == (NAMESPACE, NAME, UID)
    assert observed.generation == 4
    assert observed.created == T0
    assert not observed.deleting
    assert observed.trigger == "go"
    assert observed.spec["suspend"] is True
    assert observed.status == {"missedRuns": 2}


def test_observe_schedule_never_raises_on_a_malformed_body() -> None:
    observed = observe_schedule({"metadata": {"generation": "x", "annotations": "no"}, "spec": 3})
    assert observed.generation == 0
    assert observed.spec == {}
    assert observed.trigger is None


def test_an_empty_trigger_annotation_is_no_trigger() -> None:
    assert make_schedule(trigger="").trigger is None


def test_observe_schedule_copies_so_the_core_cannot_reach_back() -> None:
    body = schedule_body(status={"active": [{"name": "a", "namespace": NAMESPACE}]})
    observed = observe_schedule(body)
    observed.status["active"].append("x")
    assert body["status"]["active"] == [{"name": "a", "namespace": NAMESPACE}]


def test_observe_run_reads_annotations_owner_and_phase() -> None:
    run = make_run(at(HOUR), phase="Succeeded", finished=at(HOUR + 30), deleting=True)
    assert run.name == f"{NAME}-{int(at(HOUR).timestamp())}"
    assert run.scheduled_time == at(HOUR)
    assert run.trigger is None
    assert run.controller_uid == UID
    assert run.phase == "Succeeded" and run.terminal
    assert run.finished == at(HOUR + 30)
    assert run.deleting


def test_observe_run_of_a_manual_run() -> None:
    run = make_run(trigger="v1")
    assert run.trigger == "v1"
    assert run.scheduled_time is None
    assert run.name == manual_run_name(NAME, "v1")


def test_observe_run_never_raises_on_a_malformed_body() -> None:
    run = observe_run({"metadata": {"ownerReferences": "x", "annotations": {}}, "status": []})
    assert run.controller_uid is None
    assert run.phase is None and not run.terminal


# --- names ------------------------------------------------------------------------


def test_run_name_is_the_schedule_name_and_the_unix_second() -> None:
    assert run_name("nightly", utc("2025-01-01T01:00:00Z")) == "nightly-1735693200"


def test_run_name_does_not_depend_on_the_zone_of_the_instant() -> None:
    instant = utc("2025-01-01T01:00:00Z")
    berlin = instant.astimezone(ZoneInfo("Europe/Berlin"))
    assert run_name("a", berlin) == run_name("a", instant)


@pytest.mark.parametrize("length", [1, 30, 41, 42, 52, 63, 100, 253])
def test_run_names_fit_52_characters_and_are_dns_names(length: int) -> None:
    schedule = ("a" * length)[:length]
    name = run_name(schedule, T0)
    assert len(name) <= RUN_NAME_MAX
    assert DNS_SUBDOMAIN.match(name), name
    assert name.endswith(f"-{int(T0.timestamp())}")
    if length + 11 <= RUN_NAME_MAX:
        assert name == f"{schedule}-{int(T0.timestamp())}"


def test_long_schedule_names_sharing_a_prefix_get_different_runs() -> None:
    first, second = "x" * 60 + "-one", "x" * 60 + "-two"
    assert run_name(first, T0) != run_name(second, T0)
    assert manual_run_name(first, "v") != manual_run_name(second, "v")


def test_cut_names_do_not_end_a_segment_with_a_dash_or_dot() -> None:
    schedule = "a" * 30 + "-" * 5 + ".b" * 20
    for name in (run_name(schedule, T0), manual_run_name(schedule, "v")):
        assert DNS_SUBDOMAIN.match(name), name


def test_run_names_are_deterministic() -> None:
    assert run_name("s", T0) == run_name("s", T0)
    assert manual_run_name("s", "v1") == manual_run_name("s", "v1")


def test_pod_names_of_the_longest_run_still_fit_a_dns_label() -> None:
    longest = run_name("z" * 253, T0)
    assert pod_name(longest, 999, 99) == f"{longest}-999-99"
    assert len(pod_name(longest, 999, 99)) <= 63


def test_manual_run_name_hashes_the_value() -> None:
    name = manual_run_name("nightly", "2025-01-01 deploy")
    assert re.fullmatch(r"nightly-manual-[0-9a-f]{8}", name)
    assert name != manual_run_name("nightly", "2025-01-02 deploy")
    assert len(manual_run_name("n" * 200, "v")) <= RUN_NAME_MAX


# --- the run manifest -----------------------------------------------------------


def first_run(spec: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    (create,) = creates(decide(spec, now=at(HOUR), **kwargs))
    return create.manifest


def test_a_run_is_a_taskjob_owned_by_the_schedule() -> None:
    manifest = first_run()
    assert manifest["apiVersion"] == "taskops.dev/v1alpha1"
    assert manifest["kind"] == "TaskJob"
    assert manifest["metadata"]["name"] == run_name(NAME, at(HOUR))
    assert manifest["metadata"]["namespace"] == NAMESPACE
    assert manifest["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "taskops.dev/v1alpha1",
            "kind": "TaskSchedule",
            "name": NAME,
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_a_run_takes_the_template_spec_as_written() -> None:
    spec = schedule_spec(taskJobTemplate={"spec": {"parallelism": 2, "futureField": {"x": 1}}})
    manifest = first_run(spec)
    assert manifest["spec"] == spec["taskJobTemplate"]["spec"]
    manifest["spec"]["parallelism"] = 9  # a copy, not the schedule's own dict
    assert spec["taskJobTemplate"]["spec"]["parallelism"] == 2


def test_a_run_gets_the_template_labels_and_the_schedule_labels() -> None:
    spec = schedule_spec(taskJobTemplate={"metadata": {"labels": {"team": "a"}}})
    labels = first_run(spec)["metadata"]["labels"]
    assert labels == {"team": "a", LABEL_SCHEDULE: NAME, LABEL_SCHEDULE_UID: UID}


def test_the_schedule_label_is_cut_with_a_hash_past_63_characters() -> None:
    long_name = "s" * 100
    labels = first_run(name=long_name)["metadata"]["labels"]
    assert len(labels[LABEL_SCHEDULE]) <= 63
    assert labels[LABEL_SCHEDULE] != first_run(name="s" * 99)["metadata"]["labels"][LABEL_SCHEDULE]


def test_a_run_gets_the_template_annotations_and_its_scheduled_time() -> None:
    spec = schedule_spec(
        taskJobTemplate={
            "metadata": {
                "annotations": {
                    "owner": "ops",
                    ANNOTATION_SCHEDULED_TIME: "1999-01-01T00:00:00Z",
                    ANNOTATION_TRIGGER: "fake",
                }
            }
        }
    )
    annotations = first_run(spec)["metadata"]["annotations"]
    assert annotations == {"owner": "ops", ANNOTATION_SCHEDULED_TIME: "2025-01-01T01:00:00Z"}


# --- the first runs ---------------------------------------------------------------


def test_creating_a_schedule_does_not_start_a_run() -> None:
    decision = decide(now=T0)
    assert decision.actions == ()
    assert decision.status["nextScheduleTime"] == "2025-01-01T01:00:00Z"
    assert decision.requeue_after == HOUR


def test_a_schedule_created_on_a_fire_time_waits_for_the_next() -> None:
    decision = decide(now=T0 + timedelta(seconds=1))
    assert creates(decision) == []


def test_nothing_starts_before_the_first_fire_time_and_requeue_is_exact() -> None:
    decision = decide(now=at(HOUR - 10.5))
    assert creates(decision) == []
    assert decision.requeue_after == 10.5


def test_a_due_instant_starts_a_run() -> None:
    decision = decide(now=at(HOUR))
    assert names(decision) == [run_name(NAME, at(HOUR))]
    assert reasons(decision) == ["RunCreated"]
    assert decision.observations == (RunOutcome("created", 0.0),)
    assert decision.requeue_after == HOUR


def test_a_late_run_says_how_late() -> None:
    decision = decide(now=at(HOUR + 30))
    assert names(decision) == [run_name(NAME, at(HOUR))]
    assert decision.observations == (RunOutcome("created", 30.0),)
    assert "30s late" in events(decision)[0].message


def test_a_six_field_schedule_fires_on_its_seconds() -> None:
    spec = schedule_spec(schedule="15 * * * * *")
    assert creates(decide(spec, now=at(14))) == []
    assert names(decide(spec, now=at(15))) == [run_name(NAME, at(15))]


def test_every_counts_from_the_creation_time() -> None:
    spec = schedule_spec(schedule="@every 90s")
    created = T0 + timedelta(seconds=7)
    assert creates(decide(spec, now=created, created=created)) == []
    decision = decide(spec, now=created + timedelta(seconds=90), created=created)
    assert [scheduled_instant(c) for c in creates(decision)] == [at(97)]


def test_the_created_run_is_listed_active_at_once_without_a_uid() -> None:
    status = decide(now=at(HOUR)).status
    assert status["active"] == [{"name": run_name(NAME, at(HOUR)), "namespace": NAMESPACE}]
    assert status["activeCount"] == 1
    assert status["lastScheduleTime"] == "2025-01-01T01:00:00Z"


def test_the_instant_settles_only_once_its_run_is_seen() -> None:
    story = Story()
    story.step(at(HOUR))
    assert story.status["lastConsideredTime"] == "2025-01-01T00:59:59Z"
    decision = story.step(at(HOUR + 1))
    assert story.status["lastConsideredTime"] == "2025-01-01T01:00:00Z"
    assert decision.actions == ()
    assert story.status["active"][0]["uid"] == f"uid-{run_name(NAME, at(HOUR))}"


def test_a_lagging_run_list_asks_for_the_same_run_again_without_a_second_event() -> None:
    story = Story()
    first = story.step(at(HOUR))
    story.runs.clear()  # the shell's cache has not seen the run yet
    again = story.decide(at(HOUR + 2))
    assert names(again) == names(first)
    assert events(again) == []
    assert again.observations == ()


def test_a_run_lost_after_the_status_write_is_created_again() -> None:
    # A shell that writes the status first and crashes before creating.
    written = decide(now=at(HOUR)).status
    decision = decide(now=at(HOUR + 5), status=written)
    assert names(decision) == [run_name(NAME, at(HOUR))]


def test_a_status_lost_after_the_create_settles_from_the_run_itself() -> None:
    # A shell that creates first and crashes before writing the status.
    decision = decide(now=at(HOUR + 5), runs=[make_run(at(HOUR))])
    assert decision.actions == ()
    assert decision.status["lastConsideredTime"] == "2025-01-01T01:00:00Z"
    assert decision.status["lastScheduleTime"] == "2025-01-01T01:00:00Z"
    assert decision.status["missedRuns"] == 0


def test_a_run_present_for_the_instant_is_not_created_again() -> None:
    decision = decide(now=at(HOUR), runs=[make_run(at(HOUR))])
    assert creates(decision) == []


def test_a_run_found_by_name_without_its_annotation_still_counts() -> None:
    run = make_run(name=run_name(NAME, at(HOUR)))
    assert creates(decide(now=at(HOUR), runs=[run])) == []


def test_runs_controlled_by_someone_else_are_ignored() -> None:
    foreign = make_run(at(HOUR), owner_uid="other-uid")
    orphan = make_run(at(2 * HOUR), owner_uid=None)
    decision = decide(now=at(2 * HOUR), runs=[foreign, orphan])
    assert names(decision) == [run_name(NAME, at(2 * HOUR))]
    assert decision.status["activeCount"] == 1


def test_deciding_twice_on_the_same_inputs_gives_the_same_decision() -> None:
    schedule = make_schedule(schedule_spec(jitterSeconds=30), status=settled(at(HOUR)))
    runs = [make_run(at(HOUR)), make_run(trigger="x", phase="Failed")]
    now = at(5 * HOUR)
    assert decide_schedule(schedule, runs, now) == decide_schedule(schedule, runs[::-1], now)


def test_actions_come_in_order_creates_events_deletes() -> None:
    spec = schedule_spec(successfulHistoryLimit=0)
    old = make_run(at(HOUR), phase="Succeeded")
    decision = decide(spec, [old], now=at(2 * HOUR), status=settled(at(HOUR)))
    assert [type(a) for a in decision.actions] == [CreateRun, EmitEvent, DeleteRun]


# --- deadlines --------------------------------------------------------------------


def test_a_run_within_the_starting_deadline_starts() -> None:
    spec = schedule_spec(startingDeadlineSeconds=60)
    assert names(decide(spec, now=at(HOUR + 60))) == [run_name(NAME, at(HOUR))]


def test_a_run_past_the_starting_deadline_is_missed() -> None:
    spec = schedule_spec(startingDeadlineSeconds=60)
    decision = decide(spec, now=at(HOUR + 61))
    assert creates(decision) == []
    assert reasons(decision) == ["RunMissed"]
    assert "spec.startingDeadlineSeconds (60)" in events(decision)[0].message
    assert events(decision)[0].type == "Warning"
    assert decision.observations == (RunOutcome("missed", 61.0),)
    assert decision.status["missedRuns"] == 1
    assert decision.status["lastConsideredTime"] == "2025-01-01T01:00:00Z"


def test_a_zero_deadline_starts_a_run_decided_on_time() -> None:
    spec = schedule_spec(startingDeadlineSeconds=0)
    assert len(creates(decide(spec, now=at(HOUR)))) == 1
    assert creates(decide(spec, now=at(HOUR + 1))) == []


def test_the_deadline_counts_from_the_jittered_start() -> None:
    spec = schedule_spec(startingDeadlineSeconds=10, jitterSeconds=600)
    start = at(HOUR) + timedelta(seconds=jitter_offset(UID, at(HOUR), 600))
    assert len(creates(decide(spec, now=start + timedelta(seconds=10)))) == 1
    assert creates(decide(spec, now=start + timedelta(seconds=11))) == []


def test_a_missed_instant_is_not_started_later() -> None:
    story = Story(spec=schedule_spec(startingDeadlineSeconds=5))
    story.step(at(HOUR + 6))
    assert creates(story.step(at(HOUR + 7))) == []
    assert story.status["missedRuns"] == 1


def test_an_announced_run_past_its_deadline_is_settled_not_counted_missed() -> None:
    spec = schedule_spec(startingDeadlineSeconds=5)
    written = decide(spec, now=at(HOUR)).status
    decision = decide(spec, now=at(HOUR + 60), status=written)
    assert creates(decision) == []
    assert decision.status["missedRuns"] == 0
    assert decision.status["lastConsideredTime"] == "2025-01-01T01:00:00Z"
    assert "active" not in decision.status


# --- catch-up after an outage -----------------------------------------------------


def test_after_an_outage_only_the_latest_instant_starts() -> None:
    decision = decide(now=at(10 * HOUR + 30), status=settled(at(HOUR)))
    assert names(decision) == [run_name(NAME, at(10 * HOUR))]
    assert decision.status["missedRuns"] == 8  # 02:00 ... 09:00
    assert reasons(decision) == ["RunMissed", "RunCreated"]
    assert outcomes(decision) == [("missed", 8), ("created", 1)]
    assert "missed 8 runs" in events(decision)[0].message


def test_after_an_outage_nothing_older_starts_on_the_next_decisions() -> None:
    story = Story(status=settled(at(HOUR)), runs={})
    story.step(at(10 * HOUR + 30))
    for seconds in (10 * HOUR + 31, 10 * HOUR + 600, 11 * HOUR - 1):
        assert creates(story.step(at(seconds))) == []
    assert story.scheduled() == [at(10 * HOUR)]
    assert story.status["missedRuns"] == 8


def test_after_an_outage_the_latest_within_the_deadline_starts() -> None:
    spec = schedule_spec(startingDeadlineSeconds=600)
    decision = decide(spec, now=at(10 * HOUR + 300), status=settled(at(HOUR)))
    assert names(decision) == [run_name(NAME, at(10 * HOUR))]
    assert decision.status["missedRuns"] == 8


def test_after_an_outage_past_the_deadline_nothing_starts() -> None:
    spec = schedule_spec(startingDeadlineSeconds=600)
    decision = decide(spec, now=at(10 * HOUR + 900), status=settled(at(HOUR)))
    assert creates(decision) == []
    assert decision.status["missedRuns"] == 9
    assert outcomes(decision) == [("missed", 8), ("missed", 1)]


def test_an_outage_from_creation_counts_from_creation() -> None:
    decision = decide(now=at(5 * HOUR))
    assert names(decision) == [run_name(NAME, at(5 * HOUR))]
    assert decision.status["missedRuns"] == 4


def test_missed_counting_skips_instants_that_have_runs() -> None:
    runs = [make_run(at(3 * HOUR)), make_run(at(5 * HOUR))]
    decision = decide(now=at(10 * HOUR), runs=runs, status=settled(at(HOUR)))
    assert decision.status["missedRuns"] == 6


def test_a_long_outage_of_an_every_schedule_is_counted_exactly_and_fast() -> None:
    spec = schedule_spec(schedule="@every 30s")
    year = 365 * 24 * HOUR
    decision = decide(spec, now=at(year + 15))
    assert names(decision) == [run_name(NAME, at(year))]
    assert decision.status["missedRuns"] == year // 30 - 1


def test_every_counting_skips_instants_that_have_runs() -> None:
    spec = schedule_spec(schedule="@every 60s")
    runs = [make_run(at(120)), make_run(at(300)), make_run(at(330))]  # 330 is off the grid
    decision = decide(spec, runs, now=at(600))
    assert decision.status["missedRuns"] == 9 - 2


def test_a_long_outage_of_a_cron_schedule_counts_at_most_1000_and_says_so() -> None:
    spec = schedule_spec(schedule="* * * * *")
    decision = decide(spec, now=at(30 * 24 * HOUR))
    assert len(creates(decision)) == 1
    assert decision.status["missedRuns"] == MAX_COUNTED_INSTANTS
    assert f"at least {MAX_COUNTED_INSTANTS}" in events(decision)[0].message


def test_a_schedule_changed_to_fire_more_often_catches_up_once() -> None:
    story = Story()
    story.step(at(HOUR))
    story.step(at(HOUR + 1))
    story.spec = schedule_spec(schedule="*/10 * * * *")
    story.generation = 2
    decision = story.step(at(2 * HOUR + 120))
    assert names(decision) == [run_name(NAME, at(2 * HOUR))]
    assert story.status["missedRuns"] == 5
    assert story.status["observedGeneration"] == 2


# --- concurrency: Allow -------------------------------------------------------------


def test_allow_starts_runs_while_others_are_active() -> None:
    active = make_run(at(HOUR))
    decision = decide(now=at(2 * HOUR), runs=[active], status=settled(at(HOUR)))
    assert names(decision) == [run_name(NAME, at(2 * HOUR))]
    assert decision.status["activeCount"] == 2


# --- concurrency: Forbid ------------------------------------------------------------


FORBID = schedule_spec(concurrencyPolicy="Forbid")


def test_forbid_skips_a_run_while_one_is_active() -> None:
    active = make_run(at(HOUR))
    decision = decide(FORBID, [active], now=at(2 * HOUR + 3), status=settled(at(HOUR)))
    assert creates(decision) == []
    assert reasons(decision) == ["RunSkipped"]
    assert run_name(NAME, at(HOUR)) in events(decision)[0].message
    assert decision.observations == (RunOutcome("skipped", 3.0),)
    assert decision.status["missedRuns"] == 1


def test_forbid_does_not_start_the_skipped_run_when_the_active_one_ends() -> None:
    story = Story(spec=FORBID)
    story.step(at(HOUR))
    story.start_all()
    story.step(at(2 * HOUR))
    story.finish(run_name(NAME, at(HOUR)), when=at(2 * HOUR + 10))
    assert creates(story.step(at(2 * HOUR + 11))) == []
    assert names(story.step(at(3 * HOUR))) == [run_name(NAME, at(3 * HOUR))]
    assert story.status["missedRuns"] == 1


def test_forbid_starts_when_the_previous_run_finished() -> None:
    done = make_run(at(HOUR), phase="Failed")
    decision = decide(FORBID, [done], now=at(2 * HOUR), status=settled(at(HOUR)))
    assert names(decision) == [run_name(NAME, at(2 * HOUR))]


def test_forbid_counts_a_run_being_deleted_as_active() -> None:
    draining = make_run(at(HOUR), deleting=True)
    assert creates(decide(FORBID, [draining], now=at(2 * HOUR), status=settled(at(HOUR)))) == []


def test_forbid_counts_a_manual_run_as_active() -> None:
    manual = make_run(trigger="v1")
    status = {**settled(at(HOUR)), "lastTrigger": "v1"}
    assert reasons(decide(FORBID, [manual], now=at(2 * HOUR), status=status)) == ["RunSkipped"]


def test_forbid_does_not_undo_a_run_it_already_announced() -> None:
    written = decide(FORBID, now=at(HOUR)).status
    manual = make_run(trigger="v1")  # appeared meanwhile, the scheduled run lags
    decision = decide(FORBID, [manual], now=at(HOUR + 2), status=written)
    assert names(decision) == [run_name(NAME, at(HOUR))]


# --- concurrency: Replace -----------------------------------------------------------


REPLACE = schedule_spec(concurrencyPolicy="Replace")


def test_replace_deletes_the_active_run_first() -> None:
    active = make_run(at(HOUR))
    decision = decide(REPLACE, [active], now=at(2 * HOUR), status=settled(at(HOUR)))
    assert creates(decision) == []
    assert deletes(decision) == [
        DeleteRun(
            active.name,
            active.uid,
            "replaced by the run scheduled for 2025-01-01T02:00:00Z "
            "(spec.concurrencyPolicy is Replace)",
            "Background",
        )
    ]
    assert reasons(decision) == ["RunReplaced"]
    assert decision.observations == (RunOutcome("replaced", None),)
    assert decision.requeue_after == SETTLE_POLL_SECONDS
    assert decision.status["nextScheduleTime"] == "2025-01-01T02:00:00Z"


def test_replace_waits_while_the_old_run_drains_then_starts_the_new_one() -> None:
    story = Story(spec=REPLACE)
    story.step(at(HOUR))
    story.start_all()
    story.step(at(HOUR + 1))
    first = story.step(at(2 * HOUR), keep_deleting=True)
    assert len(deletes(first)) == 1
    waiting = story.step(at(2 * HOUR + 5))
    assert waiting.actions == ()
    assert story.status["activeCount"] == 1
    story.gone(run_name(NAME, at(HOUR)))
    started = story.step(at(2 * HOUR + 10))
    assert names(started) == [run_name(NAME, at(2 * HOUR))]
    assert started.observations == (RunOutcome("created", 10.0),)
    assert story.status["missedRuns"] == 0


def test_replace_that_waits_past_the_deadline_misses_the_run() -> None:
    spec = schedule_spec(concurrencyPolicy="Replace", startingDeadlineSeconds=30)
    draining = make_run(at(HOUR), deleting=True)
    decision = decide(spec, [draining], now=at(2 * HOUR + 31), status=settled(at(HOUR)))
    assert creates(decision) == [] and deletes(decision) == []
    assert decision.status["missedRuns"] == 1


def test_replace_starts_at_once_if_the_old_run_ended_on_its_own() -> None:
    story = Story(spec=REPLACE)
    story.step(at(HOUR))
    story.start_all()
    story.step(at(2 * HOUR), keep_deleting=True)
    story.finish(run_name(NAME, at(HOUR)), phase="Failed")
    assert names(story.step(at(2 * HOUR + 1))) == [run_name(NAME, at(2 * HOUR))]


def test_replace_does_not_delete_a_run_the_status_does_not_settle_yet() -> None:
    # The run for 01:00 was created but the status write was lost: deleting it
    # now could make 01:00 due again. It is settled by this decision and
    # deleted by the next.
    active = make_run(at(HOUR))
    decision = decide(REPLACE, [active], now=at(2 * HOUR))
    assert deletes(decision) == []
    assert decision.status["lastConsideredTime"] == "2025-01-01T01:59:59Z"
    again = decide(REPLACE, [active], now=at(2 * HOUR + 5), status=decision.status)
    assert [d.name for d in deletes(again)] == [active.name]


def test_replace_deletes_every_active_run() -> None:
    runs = [make_run(at(HOUR)), make_run(trigger="v")]
    status = {**settled(at(HOUR)), "lastTrigger": "v"}
    decision = decide(REPLACE, runs, now=at(2 * HOUR), status=status)
    assert sorted(d.name for d in deletes(decision)) == sorted(r.name for r in runs)


# --- history ------------------------------------------------------------------------


def finished_runs(count: int, phase: str) -> list[ObservedRun]:
    return [make_run(at(h * HOUR), phase=phase) for h in range(1, count + 1)]


def test_history_keeps_the_newest_successful_runs() -> None:
    runs = finished_runs(5, "Succeeded")
    decision = decide(now=at(5 * HOUR + 1), runs=runs, status=settled(at(5 * HOUR)))
    assert [d.name for d in deletes(decision)] == [runs[1].name, runs[0].name]
    assert all("spec.successfulHistoryLimit is 3" in d.reason for d in deletes(decision))


def test_history_keeps_one_failed_run_by_default() -> None:
    runs = finished_runs(3, "Failed")
    decision = decide(now=at(3 * HOUR + 1), runs=runs, status=settled(at(3 * HOUR)))
    assert [d.name for d in deletes(decision)] == [runs[1].name, runs[0].name]


@pytest.mark.parametrize(("succeeded", "failed"), [(0, 0), (1, 2), (5, 5), (2, 0)])
def test_history_limits_apply_per_outcome(succeeded: int, failed: int) -> None:
    spec = schedule_spec(successfulHistoryLimit=succeeded, failedHistoryLimit=failed)
    good = [make_run(at(h * HOUR), phase="Succeeded") for h in range(1, 5)]
    bad = [make_run(at(h * HOUR), phase="Failed") for h in range(5, 8)]
    decision = decide(spec, good + bad, now=at(7 * HOUR + 1), status=settled(at(7 * HOUR)))
    deleted = {d.name for d in deletes(decision)}
    assert deleted == {r.name for r in good[: max(len(good) - succeeded, 0)]} | {
        r.name for r in bad[: max(len(bad) - failed, 0)]
    }


def test_history_orders_by_scheduled_time_not_creation() -> None:
    spec = schedule_spec(successfulHistoryLimit=1)
    older = make_run(at(HOUR), phase="Succeeded", created=at(9 * HOUR))
    newer = make_run(at(2 * HOUR), phase="Succeeded", created=at(2 * HOUR))
    decision = decide(spec, [older, newer], now=at(2 * HOUR + 1), status=settled(at(2 * HOUR)))
    assert [d.name for d in deletes(decision)] == [older.name]


def test_history_never_deletes_active_runs() -> None:
    spec = schedule_spec(successfulHistoryLimit=0, failedHistoryLimit=0)
    runs = [make_run(at(HOUR)), make_run(at(2 * HOUR), phase="Suspended")]
    decision = decide(spec, runs, now=at(2 * HOUR + 1), status=settled(at(2 * HOUR)))
    assert deletes(decision) == []


def test_history_does_not_delete_a_run_twice() -> None:
    spec = schedule_spec(successfulHistoryLimit=0)
    going = make_run(at(HOUR), phase="Succeeded", deleting=True)
    assert deletes(decide(spec, [going], now=at(HOUR + 1), status=settled(at(HOUR)))) == []


def test_history_waits_until_the_status_settles_a_run() -> None:
    spec = schedule_spec(successfulHistoryLimit=0)
    done = make_run(at(HOUR), phase="Succeeded")
    decision = decide(
        spec, [done], now=at(HOUR + 1), status={"lastConsideredTime": format_time(at(HOUR - 1))}
    )
    assert deletes(decision) == []
    assert decision.requeue_after == SETTLE_POLL_SECONDS
    again = decide(spec, [done], now=at(HOUR + 2), status=decision.status)
    assert [d.name for d in deletes(again)] == [done.name]


def test_history_counts_manual_runs_by_their_creation() -> None:
    spec = schedule_spec(successfulHistoryLimit=1)
    manual = make_run(trigger="v", phase="Succeeded", created=at(HOUR + 60))
    scheduled = make_run(at(HOUR), phase="Succeeded")
    status = {**settled(at(HOUR)), "lastTrigger": "v"}
    decision = decide(spec, [manual, scheduled], now=at(HOUR + 90), status=status)
    assert [d.name for d in deletes(decision)] == [scheduled.name]


def test_history_is_trimmed_while_suspended() -> None:
    spec = schedule_spec(suspend=True, successfulHistoryLimit=0)
    done = make_run(at(HOUR), phase="Succeeded")
    decision = decide(spec, [done], now=at(HOUR + 1), status=settled(at(HOUR)))
    assert [d.name for d in deletes(decision)] == [done.name]


def test_history_deletes_with_background_propagation_and_the_uid() -> None:
    spec = schedule_spec(successfulHistoryLimit=0)
    done = make_run(at(HOUR), phase="Succeeded")
    (delete,) = deletes(decide(spec, [done], now=at(HOUR + 1), status=settled(at(HOUR))))
    assert (delete.uid, delete.propagation) == (done.uid, "Background")


# --- suspend --------------------------------------------------------------------------


SUSPENDED = schedule_spec(suspend=True)


def test_a_suspended_schedule_starts_nothing_and_says_so() -> None:
    decision = decide(SUSPENDED, now=at(HOUR))
    assert decision.actions == ()
    assert decision.requeue_after is None
    assert decision.status["nextScheduleTime"] == "2025-01-01T02:00:00Z"
    assert condition(decision.status, "Suspended")["status"] == "True"
    assert condition(decision.status, "Ready")["status"] == "False"
    assert condition(decision.status, "Ready")["reason"] == "Suspended"


def test_suspend_does_not_move_the_watermark() -> None:
    status = decide(SUSPENDED, now=at(5 * HOUR), status=settled(at(HOUR))).status
    assert status["lastConsideredTime"] == "2025-01-01T01:00:00Z"
    assert status["missedRuns"] == 0


def test_resume_starts_the_latest_instant_passed_while_suspended_like_cronjob() -> None:
    story = Story(spec=SUSPENDED)
    story.step(at(HOUR + 1))
    story.step(at(5 * HOUR + 1))
    story.spec = schedule_spec()
    decision = story.step(at(5 * HOUR + 100))
    assert names(decision) == [run_name(NAME, at(5 * HOUR))]
    assert story.status["missedRuns"] == 4
    assert condition(story.status, "Suspended")["status"] == "False"


def test_resume_past_the_deadline_starts_nothing() -> None:
    story = Story(spec=schedule_spec(suspend=True, startingDeadlineSeconds=60))
    story.step(at(HOUR + 1))
    story.spec = schedule_spec(startingDeadlineSeconds=60)
    decision = story.step(at(5 * HOUR + 100))
    assert creates(decision) == []
    assert story.status["missedRuns"] == 5


def test_resume_before_the_next_instant_starts_nothing_more() -> None:
    story = Story()
    story.step(at(HOUR))
    story.spec = SUSPENDED
    story.step(at(HOUR + 60))
    story.spec = schedule_spec()
    assert creates(story.step(at(HOUR + 120))) == []


def test_suspended_condition_keeps_its_transition_time() -> None:
    story = Story(spec=SUSPENDED)
    story.step(at(10))
    story.step(at(500))
    assert condition(story.status, "Suspended")["lastTransitionTime"] == format_time(at(10))
    story.spec = schedule_spec()
    story.step(at(900))
    resumed = condition(story.status, "Suspended")
    assert (resumed["status"], resumed["lastTransitionTime"]) == ("False", format_time(at(900)))


# --- manual trigger ---------------------------------------------------------------------


def test_a_new_trigger_value_starts_a_run_at_once() -> None:
    decision = decide(now=at(600), trigger="deploy-42")
    (create,) = creates(decision)
    assert create.name == manual_run_name(NAME, "deploy-42")
    assert create.manifest["metadata"]["annotations"] == {ANNOTATION_TRIGGER: "deploy-42"}
    assert reasons(decision) == ["RunTriggered"]
    assert decision.observations == (RunOutcome("triggered", None),)
    assert decision.status["active"] == [{"name": create.name, "namespace": NAMESPACE}]


def test_the_trigger_value_is_recorded_once_its_run_is_seen() -> None:
    story = Story(trigger="v1")
    story.step(at(600))
    assert "lastTrigger" not in story.status
    story.step(at(601))
    assert story.status["lastTrigger"] == "v1"


def test_a_trigger_fires_once_per_value_even_after_its_run_is_gone() -> None:
    story = Story(trigger="v1", spec=schedule_spec(successfulHistoryLimit=0))
    story.step(at(600))
    story.step(at(601))
    story.finish(manual_run_name(NAME, "v1"))
    story.step(at(602))
    assert story.runs == {}
    for seconds in (603, 604, 1800):
        assert creates(story.step(at(seconds))) == []


def test_a_different_trigger_value_starts_another_run() -> None:
    story = Story(trigger="v1")
    story.step(at(600))
    story.step(at(601))
    story.trigger = "v2"
    assert names(story.step(at(700))) == [manual_run_name(NAME, "v2")]


def test_a_trigger_run_is_asked_for_again_until_seen_without_a_second_event() -> None:
    written = decide(now=at(600), trigger="v1").status
    again = decide(now=at(605), trigger="v1", status=written)
    assert names(again) == [manual_run_name(NAME, "v1")]
    assert events(again) == [] and again.observations == ()


def test_a_trigger_ignores_forbid() -> None:
    active = make_run(at(HOUR))
    decision = decide(FORBID, [active], now=at(HOUR + 60), trigger="go", status=settled(at(HOUR)))
    assert names(decision) == [manual_run_name(NAME, "go")]


def test_a_trigger_does_not_replace_the_active_run() -> None:
    active = make_run(at(HOUR))
    decision = decide(REPLACE, [active], now=at(HOUR + 60), trigger="go", status=settled(at(HOUR)))
    assert deletes(decision) == []
    assert names(decision) == [manual_run_name(NAME, "go")]


def test_a_trigger_does_not_disturb_the_schedule() -> None:
    story = Story(trigger="go")
    story.step(at(600))
    story.step(at(601))
    assert names(story.step(at(HOUR))) == [run_name(NAME, at(HOUR))]


def test_a_trigger_and_a_due_instant_both_start_in_one_decision() -> None:
    decision = decide(now=at(HOUR), trigger="go")
    assert names(decision) == [run_name(NAME, at(HOUR)), manual_run_name(NAME, "go")]


def test_a_trigger_waits_while_suspended_and_fires_on_resume() -> None:
    story = Story(spec=SUSPENDED, trigger="go")
    assert creates(story.step(at(600))) == []
    story.spec = schedule_spec()
    assert names(story.step(at(700))) == [manual_run_name(NAME, "go")]


def test_a_trigger_does_not_fire_on_an_invalid_schedule() -> None:
    assert creates(decide(schedule_spec(schedule="61 * * * *"), now=at(600), trigger="go")) == []


def test_a_manual_run_is_not_deleted_while_the_status_could_ask_for_it_again() -> None:
    spec = schedule_spec(successfulHistoryLimit=0)
    done = make_run(trigger="v1", phase="Succeeded")
    decision = decide(spec, [done], now=at(600), trigger="v1")
    assert deletes(decision) == []
    assert decision.status["lastTrigger"] == "v1"
    again = decide(spec, [done], now=at(601), trigger="v1", status=decision.status)
    assert [d.name for d in deletes(again)] == [done.name]


# --- invalid specs ------------------------------------------------------------------------


INVALID_CASES = [
    ({"schedule": "61 * * * *"}, "spec.schedule: field 1 (minute): 61 is out of range 0-59"),
    ({"schedule": "0 61 * * * *"}, "spec.schedule: field 2 (minute): 61 is out of range 0-59"),
    (
        {"schedule": "0 0 30 2 *"},
        "spec.schedule: fields 3 and 4 (day-of-month, month): the schedule never fires, "
        "no day 30 exists in FEB",
    ),
    ({"schedule": "@every 500ms"}, "spec.schedule: @every 500ms: the interval must be at least 1s"),
    (
        {"timeZone": "Mars/Olympus_Mons"},
        "spec.timeZone: unknown time zone 'Mars/Olympus_Mons': expected an IANA time zone "
        "name such as 'Europe/Berlin', 'America/New_York' or 'UTC'",
    ),
    (
        {"concurrencyPolicy": "Sometimes"},
        "spec.concurrencyPolicy: Input should be 'Allow', 'Forbid' or 'Replace'",
    ),
    ({"jitterSeconds": -1}, "spec.jitterSeconds: Input should be greater than or equal to 0"),
    (
        {"startingDeadlineSeconds": -5},
        "spec.startingDeadlineSeconds: Input should be greater than or equal to 0",
    ),
    (
        {
            "taskJobTemplate": {
                "spec": {"retry": {"backoff": {"initialDelaySeconds": 60, "maxDelaySeconds": 1}}}
            }
        },
        "spec.taskJobTemplate.spec.retry.backoff.maxDelaySeconds must be >= "
        "spec.taskJobTemplate.spec.retry.backoff.initialDelaySeconds",
    ),
    (
        {"taskJobTemplate": {"spec": {"mainContainer": "nope"}}},
        "spec.taskJobTemplate.spec.mainContainer must name a container in "
        "spec.taskJobTemplate.spec.template.spec.containers",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"), INVALID_CASES, ids=[m.split(":")[0] for _, m in INVALID_CASES]
)
def test_an_invalid_spec_is_reported_on_the_invalid_condition_naming_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    decision = decide(schedule_spec(**overrides), now=at(HOUR))
    assert creates(decision) == []
    invalid = condition(decision.status, "Invalid")
    assert (invalid["status"], invalid["reason"], invalid["message"]) == (
        "True",
        "Invalid",
        message,
    )
    ready = condition(decision.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Invalid")
    assert events(decision) == [EmitEvent("Warning", "Invalid", message)]
    assert decision.requeue_after is None
    assert "nextScheduleTime" not in decision.status


def test_a_missing_template_is_invalid() -> None:
    spec = {"schedule": "@daily"}
    message = condition(decide(spec, now=at(HOUR)).status, "Invalid")["message"]
    assert message == "spec.taskJobTemplate: Field required"


def test_the_invalid_event_is_not_repeated_while_nothing_changes() -> None:
    story = Story(spec=schedule_spec(schedule="61 * * * *"))
    assert reasons(story.step(at(10))) == ["Invalid"]
    assert story.step(at(20)).actions == ()
    story.spec = schedule_spec(schedule="62 * * * *")
    assert reasons(story.step(at(30))) == ["Invalid"]


def test_an_invalid_spec_keeps_the_bookkeeping() -> None:
    status = {**settled(at(HOUR)), "missedRuns": 3, "lastTrigger": "v"}
    runs = [make_run(at(HOUR))]
    decision = decide(schedule_spec(timeZone="Nowhere/City"), runs, now=at(5 * HOUR), status=status)
    assert decision.status["missedRuns"] == 3
    assert decision.status["lastTrigger"] == "v"
    assert decision.status["lastConsideredTime"] == "2025-01-01T01:00:00Z"
    assert decision.status["activeCount"] == 1


def test_fixing_an_invalid_spec_catches_up_like_a_resume() -> None:
    story = Story(spec=schedule_spec(schedule="61 * * * *"))
    story.step(at(10))
    story.spec = schedule_spec()
    decision = story.step(at(3 * HOUR + 5))
    assert names(decision) == [run_name(NAME, at(3 * HOUR))]
    assert condition(story.status, "Invalid")["status"] == "False"
    assert story.status["missedRuns"] == 2


def test_garbage_in_the_status_does_not_crash() -> None:
    status = {
        "active": ["x", {"name": 3}],
        "missedRuns": "many",
        "lastConsideredTime": "yesterday",
        "lastScheduleTime": 7,
        "conditions": "none",
        "lastTrigger": ["v"],
    }
    decision = decide(now=at(HOUR), status=status)
    assert names(decision) == [run_name(NAME, at(HOUR))]
    TaskScheduleStatus.model_validate(decision.status)


# --- DST and time zones ---------------------------------------------------------------------


def run_instants(spec: dict[str, Any], start: datetime, end: datetime) -> list[datetime]:
    """Drive a schedule created at `start` like an ideal shell (waking at requeue_after)
    until `end`; the scheduled instants of the runs it created."""
    story = Story(spec=spec, created=start)
    now = start
    while now <= end:
        decision = story.step(now)
        story.start_all()
        assert decision.requeue_after is not None and decision.requeue_after > 0
        now += timedelta(seconds=decision.requeue_after)
    return story.scheduled()


DST_CASES = [
    (
        "America/New_York",
        "30 2 * * *",
        "2024-03-09T12:00:00Z",
        "2024-03-11T12:00:00Z",
        ["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        "2024-11-02T12:00:00Z",
        "2024-11-04T12:00:00Z",
        ["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"],
    ),
    (
        "Europe/Berlin",
        "30 2 * * *",
        "2024-03-30T12:00:00Z",
        "2024-03-31T12:00:00Z",
        ["2024-03-31T01:00:00Z"],
    ),
    # A wildcard follows elapsed time: both passes of the repeated hour...
    (
        "Europe/Berlin",
        "*/30 * * * *",
        "2024-10-26T23:50:00Z",
        "2024-10-27T02:10:00Z",
        [
            "2024-10-27T00:00:00Z",
            "2024-10-27T00:30:00Z",
            "2024-10-27T01:00:00Z",
            "2024-10-27T01:30:00Z",
            "2024-10-27T02:00:00Z",
        ],
    ),
    (
        "America/New_York",
        "*/15 * * * *",
        "2024-11-03T05:50:00Z",
        "2024-11-03T07:05:00Z",
        [
            "2024-11-03T06:00:00Z",
            "2024-11-03T06:15:00Z",
            "2024-11-03T06:30:00Z",
            "2024-11-03T06:45:00Z",
            "2024-11-03T07:00:00Z",
        ],
    ),
    # ...and no catch-up for the spring gap.
    (
        "America/New_York",
        "30 * * * *",
        "2024-03-10T05:45:00Z",
        "2024-03-10T08:00:00Z",
        ["2024-03-10T06:30:00Z", "2024-03-10T07:30:00Z"],
    ),
    (
        "Australia/Sydney",
        "30 2 * * *",
        "2024-10-05T00:00:00Z",
        "2024-10-05T23:00:00Z",
        ["2024-10-05T16:00:00Z"],
    ),
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2024-10-05T00:00:00Z",
        "2024-10-05T23:00:00Z",
        ["2024-10-05T15:30:00Z"],
    ),
    (
        "Asia/Kolkata",
        "0 9 * * *",
        "2024-06-01T00:00:00Z",
        "2024-06-02T00:00:00Z",
        ["2024-06-01T03:30:00Z"],
    ),
]


@pytest.mark.parametrize(("zone", "expression", "start", "end", "expected"), DST_CASES)
def test_zone_schedules_produce_the_right_utc_instants(
    zone: str, expression: str, start: str, end: str, expected: list[str]
) -> None:
    spec = schedule_spec(schedule=expression, timeZone=zone)
    assert run_instants(spec, utc(start), utc(end)) == [utc(e) for e in expected]


def test_a_zone_run_is_named_by_its_utc_unix_second() -> None:
    spec = schedule_spec(schedule="30 2 * * *", timeZone="America/New_York")
    created = utc("2024-03-09T12:00:00Z")
    decision = decide(spec, now=utc("2024-03-10T07:00:00Z"), created=created)
    (create,) = creates(decision)
    assert create.name == f"{NAME}-{int(utc('2024-03-10T07:00:00Z').timestamp())}"
    annotations = create.manifest["metadata"]["annotations"]
    assert annotations[ANNOTATION_SCHEDULED_TIME] == "2024-03-10T07:00:00Z"


def test_every_ignores_the_zone() -> None:
    spec = schedule_spec(schedule="@every 1h", timeZone="America/New_York")
    created = utc("2024-11-03T04:30:00Z")
    instants = run_instants(spec, created, created + timedelta(hours=3, minutes=1))
    assert instants == [created + timedelta(hours=h) for h in (1, 2, 3)]


# --- jitter -----------------------------------------------------------------------------------


JITTERED = schedule_spec(jitterSeconds=300)
OFFSET = jitter_offset(UID, at(HOUR), 300)


def test_jitter_delays_the_start_but_not_the_name() -> None:
    assert 0 < OFFSET < 300  # this uid's offset for 01:00, as every replica computes it
    before = decide(JITTERED, now=at(HOUR))
    assert creates(before) == []
    assert before.requeue_after == pytest.approx(OFFSET)
    assert before.status["nextScheduleTime"] == "2025-01-01T01:00:00Z"
    started = decide(JITTERED, now=at(HOUR + OFFSET))
    assert names(started) == [run_name(NAME, at(HOUR))]
    assert started.observations == (RunOutcome("created", 0.0),)


def test_jitter_is_the_same_for_every_replica_and_differs_between_schedules() -> None:
    assert jitter_offset(UID, at(HOUR), 300) == OFFSET
    others = {jitter_offset(f"uid-{n}", at(HOUR), 300) for n in range(20)}
    assert len(others) > 10


def test_the_requeue_includes_the_next_instants_jitter() -> None:
    decision = decide(JITTERED, now=at(HOUR + OFFSET), status={})
    nxt = at(2 * HOUR)
    expected = (nxt - at(HOUR + OFFSET)).total_seconds() + jitter_offset(UID, nxt, 300)
    assert decision.requeue_after == pytest.approx(expected)


def test_an_instant_waiting_for_its_jitter_is_not_missed_by_the_next_decision() -> None:
    story = Story(spec=JITTERED)
    story.step(at(HOUR + 1))
    assert story.status["missedRuns"] == 0
    assert names(story.step(at(HOUR + OFFSET + 1))) == [run_name(NAME, at(HOUR))]


# --- status -------------------------------------------------------------------------------------


def test_the_status_validates_against_the_model() -> None:
    story = Story(trigger="v")
    for seconds in (HOUR, HOUR + 1, 2 * HOUR, 2 * HOUR + 1):
        story.step(at(seconds))
        TaskScheduleStatus.model_validate(story.status)


def test_conditions_are_metav1_conditions_with_the_generation() -> None:
    status = decide(now=at(10), generation=3).status
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Suspended", "Invalid"]
    for item in status["conditions"]:
        assert set(item) == {
            "type",
            "status",
            "observedGeneration",
            "lastTransitionTime",
            "reason",
            "message",
        }
        assert item["observedGeneration"] == 3
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Scheduled")
    assert ready["message"] == "schedule '0 * * * *' in UTC"


def test_a_condition_keeps_its_transition_time_while_unchanged() -> None:
    story = Story()
    story.step(at(10))
    story.step(at(HOUR))
    assert condition(story.status, "Ready")["lastTransitionTime"] == format_time(at(10))


def test_last_successful_time_is_the_latest_completion() -> None:
    runs = [
        make_run(at(HOUR), phase="Succeeded", finished=at(HOUR + 50)),
        make_run(at(2 * HOUR), phase="Failed", finished=at(2 * HOUR + 50)),
    ]
    status = decide(now=at(2 * HOUR + 60), runs=runs, status=settled(at(2 * HOUR))).status
    assert status["lastSuccessfulTime"] == format_time(at(HOUR + 50))


def test_last_successful_time_survives_the_run_being_trimmed() -> None:
    status = {**settled(at(HOUR)), "lastSuccessfulTime": "2025-01-01T01:00:30Z"}
    assert decide(now=at(HOUR + 60), status=status).status["lastSuccessfulTime"] == (
        "2025-01-01T01:00:30Z"
    )


def test_active_lists_unfinished_runs_with_their_uid() -> None:
    runs = [
        make_run(at(HOUR)),
        make_run(at(2 * HOUR), phase="Succeeded"),
        make_run(at(3 * HOUR), phase=None),
    ]
    status = decide(now=at(3 * HOUR + 1), runs=runs, status=settled(at(3 * HOUR))).status
    assert status["active"] == [
        {"name": r.name, "namespace": NAMESPACE, "uid": r.uid} for r in (runs[0], runs[2])
    ]
    assert status["activeCount"] == 2


def test_no_active_runs_means_no_active_list_and_a_zero_count() -> None:
    status = decide(now=at(10)).status
    assert "active" not in status
    assert status["activeCount"] == 0


def test_a_deleting_schedule_starts_and_deletes_nothing() -> None:
    spec = schedule_spec(successfulHistoryLimit=0)
    runs = [make_run(at(HOUR), phase="Succeeded")]
    decision = decide(
        spec, runs, now=at(5 * HOUR), deleting=True, trigger="x", status=settled(at(HOUR))
    )
    assert decision.actions == ()
    assert decision.requeue_after is None
    assert condition(decision.status, "Ready")["reason"] == "Deleting"


def test_created_from_gives_back_a_run_the_core_recognises() -> None:
    (create,) = creates(decide(now=at(HOUR)))
    run = observe_run(created_from(create, at(HOUR)))
    assert (run.scheduled_time, run.controller_uid, run.trigger) == (at(HOUR), UID, None)
    assert run_body(at(HOUR))["metadata"]["name"] == run.name
