"""The schedules and queue scenarios' arithmetic on fixed inputs: which instants
were due, what counts as missed or doubled, the operator's histogram read
back, and the queue's admission rate and peak."""

from __future__ import annotations

import pytest
from bench.scale import audit, queue, schedule_runs
from bench.scale.observe import Timeline
from bench.scale.schedule_runs import SeenRun, due, tally
from bench.scale.schedules import SIDES, counters, instant_of, parse_every


def test_every_grid_starts_one_period_after_creation_and_minutes_on_the_boundary() -> None:
    assert due("anchor", 1000, 10, 1005, 1050) == [1010, 1020, 1030, 1040]
    assert due("anchor", 1000, 10, 1000, 1020) == [1010]
    # A CronJob created on a minute boundary first fires at the next one.
    assert due("minute", 1200, 60, 1190, 1400) == [1260, 1320, 1380]


def test_tally_counts_missed_doubled_and_unexpected_runs_once_each() -> None:
    runs = [SeenRun("a", 1010, 1011, 1010.4), SeenRun("a", 1010, 1012, 1011.0),  # doubled
            SeenRun("a", 1033, 1033),  # not on a's grid
            SeenRun("a", 1060, 1060),  # after the window: not counted at all
            SeenRun("b", 1015, 1015, 1015.25)]
    got = tally(runs, {"a": 1000, "b": 1005}, grid="anchor", period=10, start=1005, end=1050)
    assert (got.expected, got.runs, got.missed, got.doubled, got.unexpected) == (8, 3, 6, 1, 1)
    # Lateness from each instant's first run only.
    assert sorted(got.late_by_creation) == [0, 1]
    assert sorted(got.late_by_watch) == pytest.approx([0.25, 0.4])


def test_histogram_quantiles_interpolate_within_buckets_as_prometheus_does() -> None:
    text = "\n".join([
        "# TYPE taskops_schedule_lateness_seconds histogram",
        'taskops_schedule_lateness_seconds_bucket{le="0.1"} 1.0',
        'taskops_schedule_lateness_seconds_bucket{le="0.5"} 3.0',
        'taskops_schedule_lateness_seconds_bucket{le="1.0"} 4.0',
        'taskops_schedule_lateness_seconds_bucket{le="+Inf"} 4.0',
        "taskops_schedule_lateness_seconds_count 4.0"])
    before = {"0.1": 1.0, "0.5": 1.0, "1.0": 1.0, "+Inf": 1.0}
    buckets = schedule_runs.minus(
        schedule_runs.histogram(text, "taskops_schedule_lateness_seconds"), before)
    assert buckets == {"0.1": 0.0, "0.5": 2.0, "1.0": 3.0, "+Inf": 3.0}
    figures = schedule_runs.operator_figures(buckets)
    assert figures["operator_lateness_p50_seconds"] == pytest.approx(0.4)
    assert figures["operator_lateness_max_seconds"] == 1.0
    assert figures["operator_lateness_count"] == 3
    # Past the highest finite bound: that bound, and no maximum.
    assert schedule_runs.bucket_quantile({"1.0": 0.0, "+Inf": 2.0}, 0.5) == 1.0
    assert schedule_runs.operator_figures({"1.0": 0.0, "+Inf": 2.0})[
        "operator_lateness_max_seconds"] is None


def test_operator_counters_are_outcomes_and_rate_limit_waits() -> None:
    text = "\n".join([
        'taskops_schedule_runs_total{outcome="created"} 12.0',
        'taskops_schedule_runs_total{outcome="missed"} 0.0',
        "taskops_client_rate_limit_wait_seconds_count 40.0",
        "taskops_client_rate_limit_wait_seconds_sum 1.5",
        "taskops_schedule_runs_created 1.7e9"])
    assert counters(text) == {"created": 12.0, "missed": 0.0,
                              "client_rate_limit_wait_seconds_count": 40.0,
                              "client_rate_limit_wait_seconds_sum": 1.5}


def test_a_runs_instant_comes_from_its_annotation_else_its_name() -> None:
    cron = SIDES["builtin"]
    job = {"metadata": {"name": "sched-00001-29000000", "annotations": {
        cron.instant_annotation: "2026-12-01T17:00:00Z"}}}
    assert instant_of(cron, job) == 1796144400.0
    assert instant_of(cron, {"metadata": {"name": "sched-00001-29000000"}}) == 29000000 * 60
    assert instant_of(SIDES["taskops"], {"metadata": {"name": "sched-1-1796144410"}}) == 1796144410
    assert (parse_every("10s"), parse_every("1m30s")) == (10, 90)
    with pytest.raises(ValueError):
        parse_every("10")


def test_admissions_per_second_leave_out_the_first_fill() -> None:
    # 4 admitted at once (the cap), then one a second.
    assert queue.admissions_per_second([0, 0, 0, 0, 1, 2, 3, 4], cap=4) == 1.0
    assert queue.admissions_per_second([0, 0, 0], cap=4) is None


def test_peak_running_counts_pods_between_first_sight_and_end() -> None:
    tl = Timeline(pods={"p1": 0.0, "p2": 1.0, "p3": 2.5},
                  pod_ended={"p1": 2.0, "p2": 3.0, "p3": 4.0})
    assert queue.peak_running(tl) == 2


def test_the_cronjob_sides_requests_are_both_controllers_together() -> None:
    log: list[dict[str, object]] = [
        {"user": {"username": user}, "verb": verb, "objectRef": {"resource": resource}}
        for user, verb, resource in [
            (audit.CRONJOB_CONTROLLER, "create", "jobs"),
            (audit.JOB_CONTROLLER, "update", "jobs"),
            (audit.OPERATOR, "create", "taskjobs")]]
    got = audit.requests_of(SIDES["builtin"].users, log)
    assert dict(got.writes) == {"create jobs": 1, "update jobs": 1}
