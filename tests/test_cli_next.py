"""`kubectl taskops next --schedule`: the operator's fire times, exact text out."""

from __future__ import annotations

import json

from click.testing import CliRunner

from taskops.cli.errors import EXIT_ERROR
from taskops.cli.main import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_fixed_time_in_a_spring_gap_fires_once_after_it_marked_as_a_dst_change() -> None:
    code, out, err = run("next", "--schedule", "30 2 * * *", "--time-zone", "America/New_York",
                         "--after", "2024-03-09T12:00:00Z", "--count", "3")
    assert (code, err) == (0, "")
    assert out == (
        "UTC                    LOCAL (America/New_York)         NOTE\n"
        "2024-03-10T07:00:00Z   2024-03-10 03:00:00 EDT -04:00   "
        "DST change before this run: -05:00 -> -04:00\n"
        "2024-03-11T06:30:00Z   2024-03-11 02:30:00 EDT -04:00\n"
        "2024-03-12T06:30:00Z   2024-03-12 02:30:00 EDT -04:00\n"
    )


def test_wildcard_schedule_fires_in_both_passes_of_a_repeated_hour() -> None:
    code, out, _ = run("next", "--schedule", "30 * * * *", "--time-zone", "America/New_York",
                       "--after", "2024-11-03T05:00:00Z", "--count", "3")
    assert code == 0
    assert out.splitlines()[1:] == [
        "2024-11-03T05:30:00Z   2024-11-03 01:30:00 EDT -04:00",
        "2024-11-03T06:30:00Z   2024-11-03 01:30:00 EST -05:00   "
        "DST change before this run: -04:00 -> -05:00",
        "2024-11-03T07:30:00Z   2024-11-03 02:30:00 EST -05:00",
    ]


def test_utc_shows_one_time_column() -> None:
    code, out, _ = run("next", "--schedule", "@daily", "--after", "2026-12-01T10:00:00Z",
                       "--count", "2")
    assert code == 0
    assert out == "UTC                    NOTE\n2026-12-02T00:00:00Z\n2026-12-03T00:00:00Z\n"


def test_every_counts_from_after_offline() -> None:
    code, out, _ = run("next", "--schedule", "@every 90m", "--after", "2026-12-01T10:00:00Z",
                       "--count", "2", "-o", "json")
    assert code == 0
    assert json.loads(out) == [
        {"time": "2026-12-01T11:30:00Z", "localTime": "2026-12-01T11:30:00+00:00",
         "timeZone": "UTC", "dstChange": False},
        {"time": "2026-12-01T13:00:00Z", "localTime": "2026-12-01T13:00:00+00:00",
         "timeZone": "UTC", "dstChange": False},
    ]


def test_yaml_output_marks_the_dst_change() -> None:
    code, out, _ = run("next", "--schedule", "0 3 * * *", "--time-zone", "Europe/Berlin",
                       "--after", "2024-10-26T12:00:00Z", "--count", "1", "-o", "yaml")
    assert code == 0
    assert out == ("- time: '2024-10-27T02:00:00Z'\n"
                   "  localTime: '2024-10-27T03:00:00+01:00'\n"
                   "  timeZone: Europe/Berlin\n"
                   "  dstChange: true\n")


def test_invalid_expression_names_the_field_on_stderr() -> None:
    code, out, err = run("next", "--schedule", "61 * * * *")
    assert (code, out) == (EXIT_ERROR, "")
    assert err == "error: schedule '61 * * * *': field 1 (minute): 61 is out of range 0-59\n"


def test_unknown_time_zone_is_an_error() -> None:
    code, _, err = run("next", "--schedule", "@daily", "--time-zone", "Mars/Olympus")
    assert code == EXIT_ERROR
    assert err.startswith("error: time zone: unknown time zone 'Mars/Olympus'")


def test_name_and_expression_together_are_refused() -> None:
    code, _, err = run("next", "nightly", "--schedule", "@daily")
    assert code == EXIT_ERROR
    assert err.startswith("error: give either a TaskSchedule name or --schedule EXPR")


def test_time_zone_without_schedule_expression_is_refused(tmp_path: object) -> None:
    code, _, err = run("next", "nightly", "--time-zone", "UTC", "--kubeconfig", "/nonexistent")
    assert code == EXIT_ERROR
    assert "--time-zone goes with --schedule" in err


def test_help_has_an_example() -> None:
    code, out, _ = run("next", "--help")
    assert code == 0
    assert "kubectl taskops next --schedule '30 1 * * *' --time-zone America/New_York" in out


def test_wide_table_of_a_schedule_names_each_run_and_its_jittered_start() -> None:
    from datetime import UTC, datetime, timedelta

    from taskops.cli.next_cmd import Run, render_table, upcoming

    after = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    times = upcoming("@hourly", "UTC", after, after, 2)
    runs = [Run(f"nightly-{int(t.instant.timestamp())}", t.instant + timedelta(seconds=s))
            for t, s in zip(times, (0, 42), strict=True)]
    assert render_table(times, "UTC", runs) == (
        "UTC                    RUN                  START                  NOTE\n"
        "2026-12-01T11:00:00Z   nightly-1796122800\n"
        "2026-12-01T12:00:00Z   nightly-1796126400   2026-12-01T12:00:42Z")
