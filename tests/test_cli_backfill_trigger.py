"""`backfill` and `trigger` without a cluster: the instants of a range, the runs
(the operator's names and manifests), and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from schedule_factories import NAME, T0, at, schedule_body, schedule_spec
from taskops.cli.errors import EXIT_ERROR, CliError
from taskops.cli.main import cli
from taskops.cli.schedule_runs import instants_between, scheduled_run
from taskops.cli.trigger_cmd import fresh_trigger
from taskops.core.observed import observe_schedule
from taskops.core.schedule import CreateRun, decide_schedule, run_name


def test_range_is_inclusive_at_both_ends() -> None:
    body = schedule_body(schedule_spec(schedule="0 * * * *"))
    assert instants_between(body, at(3600), at(3 * 3600), 100) == [
        at(3600), at(7200), at(3 * 3600)]


def test_range_stops_one_past_the_limit_so_the_caller_can_refuse() -> None:
    body = schedule_body(schedule_spec(schedule="* * * * *"))
    assert len(instants_between(body, at(0), at(86400), 5)) == 6


def test_every_counts_from_the_schedule_creation() -> None:
    body = schedule_body(schedule_spec(schedule="@every 90m"), created=T0)
    assert instants_between(body, T0 - timedelta(days=1), at(4 * 3600), 10) == [
        at(5400), at(10800)]


def test_backfilled_run_is_the_one_the_operator_creates_for_that_instant() -> None:
    spec = schedule_spec(schedule="0 * * * *", jitterSeconds=120,
                         taskJobTemplate={"metadata": {"labels": {"team": "etl"}}})
    body = schedule_body(spec, status={"lastConsideredTime": "2025-01-01T01:59:59Z"})
    due = at(7200)
    decision = decide_schedule(observe_schedule(body), [], due + timedelta(seconds=200))
    operator_run = next(a for a in decision.actions if isinstance(a, CreateRun))
    assert operator_run.name == run_name(NAME, due)
    assert scheduled_run(body, due) == operator_run.manifest


def test_backfill_before_the_schedule_existed_gives_the_named_run() -> None:
    body = schedule_body(schedule_spec(schedule="30 2 * * *", suspend=True,
                                       startingDeadlineSeconds=10, concurrencyPolicy="Forbid"),
                         created=T0 + timedelta(days=30), trigger="pending")
    instant = datetime(2024, 12, 24, 2, 30, tzinfo=UTC)
    manifest = scheduled_run(body, instant)
    assert manifest["metadata"]["name"] == f"nightly-{int(instant.timestamp())}"
    assert manifest["metadata"]["annotations"] == {
        "taskops.dev/scheduled-time": "2024-12-24T02:30:00Z"}
    assert manifest["metadata"]["ownerReferences"][0]["name"] == NAME


def test_invalid_schedule_is_refused_with_the_operator_words() -> None:
    body = schedule_body(schedule_spec(schedule="61 * * * *"))
    with pytest.raises(CliError, match=r"field 1 \(minute\): 61 is out of range"):
        instants_between(body, at(0), at(3600), 10)


def test_backfill_refuses_a_range_ending_before_it_starts() -> None:
    result = CliRunner().invoke(cli, ["backfill", "nightly", "--from", "2026-12-02",
                                      "--to", "2026-12-01"])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.startswith("error: --to is before --from")


def test_backfill_refuses_a_time_without_zone() -> None:
    result = CliRunner().invoke(cli, ["backfill", "nightly", "--from", "2026-12-02T10:00",
                                      "--to", "2026-12-03"])
    assert result.exit_code == EXIT_ERROR
    assert "--from: '2026-12-02T10:00' is not an RFC 3339 time with a zone" in result.stderr


def test_trigger_values_are_fresh() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    first, second = fresh_trigger(now), fresh_trigger(now)
    assert first.startswith("kubectl-taskops-20261201T100000Z-") and first != second
