"""Schedule arithmetic, table by table: syntax, errors, DST, leap days, @every, jitter."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taskops.core.cron import (
    CronSchedule,
    EverySchedule,
    ScheduleError,
    fire_times,
    jitter_offset,
    last_fire_at_or_before,
    next_fire_after,
    parse_schedule,
    validate_time_zone,
)

ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)
ALL_MINUTES = tuple(range(60))
ALL_HOURS = tuple(range(24))
ALL_DAYS = tuple(range(1, 32))
ALL_MONTHS = tuple(range(1, 13))
ALL_WEEKDAYS = tuple(range(7))


def local(text: str, zone: str) -> datetime:
    """A wall time in a zone (first occurrence if repeated): the tables read in local time."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def fires(expr: str, zone: str, after: str, count: int) -> list[str]:
    """The next `count` fire times after a local wall time, as local ISO strings."""
    tz = ZoneInfo(zone)
    times = fire_times(parse_schedule(expr), tz, local(after, zone), ANCHOR)
    result = []
    for _ in range(count):
        instant = next(times)
        assert instant.tzinfo is UTC
        result.append(instant.astimezone(tz).isoformat())
    return result


def cron(expr: str) -> CronSchedule:
    schedule = parse_schedule(expr)
    assert isinstance(schedule, CronSchedule)
    return schedule


# ----------------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    ("expr", "field", "expected"),
    [
        ("* * * * *", "minutes", ALL_MINUTES),
        ("* * * * *", "seconds", (0,)),
        ("0 * * * *", "minutes", (0,)),
        ("05 * * * *", "minutes", (5,)),
        ("*/5 * * * *", "minutes", tuple(range(0, 60, 5))),
        ("*/1 * * * *", "minutes", ALL_MINUTES),
        ("*/60 * * * *", "minutes", (0,)),
        ("1-30/2 * * * *", "minutes", tuple(range(1, 31, 2))),
        ("5/15 * * * *", "minutes", (5, 20, 35, 50)),
        ("10-12 * * * *", "minutes", (10, 11, 12)),
        ("7-7 * * * *", "minutes", (7,)),
        ("1,2,3 * * * *", "minutes", (1, 2, 3)),
        ("3,1,2,1 * * * *", "minutes", (1, 2, 3)),
        ("0-4,10-20/5,30 * * * *", "minutes", (0, 1, 2, 3, 4, 10, 15, 20, 30)),
        ("59 * * * *", "minutes", (59,)),
        ("0 0-23/6 * * *", "hours", (0, 6, 12, 18)),
        ("0 9-17 * * *", "hours", tuple(range(9, 18))),
        ("0 23 * * *", "hours", (23,)),
        ("0 0 1 * *", "days_of_month", (1,)),
        ("0 0 31 * *", "days_of_month", (31,)),
        ("0 0 1-31/10 * *", "days_of_month", (1, 11, 21, 31)),
        ("0 0 */2 * *", "days_of_month", tuple(range(1, 32, 2))),
        ("0 0 ? * MON", "days_of_month", ALL_DAYS),
        ("0 0 1 JAN *", "months", (1,)),
        ("0 0 1 jan,Jul *", "months", (1, 7)),
        ("0 0 1 MAR-MAY *", "months", (3, 4, 5)),
        ("0 0 1 */3 *", "months", (1, 4, 7, 10)),
        ("0 0 1 2/6 *", "months", (2, 8)),
        ("0 0 1 1-DEC *", "months", ALL_MONTHS),
        ("0 0 * * 0", "days_of_week", (0,)),
        ("0 0 * * 7", "days_of_week", (0,)),
        ("0 0 * * 0,7", "days_of_week", (0,)),
        ("0 0 * * 5-7", "days_of_week", (0, 5, 6)),
        ("0 0 * * 0-7", "days_of_week", ALL_WEEKDAYS),
        ("0 0 * * MON-FRI", "days_of_week", (1, 2, 3, 4, 5)),
        ("0 0 * * sun,SAT", "days_of_week", (0, 6)),
        ("0 0 * * FRI-7", "days_of_week", (0, 5, 6)),
        ("0 0 * * */2", "days_of_week", (0, 2, 4, 6)),
        ("0 0 * * 1/2", "days_of_week", (1, 3, 5)),
        ("0 0 * * ?", "days_of_week", ALL_WEEKDAYS),
        ("*/15 0 * * * *", "seconds", (0, 15, 30, 45)),
        ("*/15 0 * * * *", "minutes", (0,)),
        ("30 30 2 * * *", "seconds", (30,)),
        ("30 30 2 * * *", "hours", (2,)),
        ("0-59/20 * * * * *", "seconds", (0, 20, 40)),
        ("0 0 12 * * ?", "hours", (12,)),
        ("  0   12 *\t* *  ", "hours", (12,)),
    ],
)
def test_field_syntax_expands_to_the_listed_values(
    expr: str, field: str, expected: tuple[int, ...]
) -> None:
    assert getattr(cron(expr), field) == expected


@pytest.mark.parametrize(
    ("expr", "dom_restricted", "dow_restricted"),
    [
        ("0 0 * * *", False, False),
        ("0 0 ? * ?", False, False),
        ("0 0 */1 * *", False, False),
        ("0 0 *,5 * 1", False, True),  # a bare * item anywhere in the list counts
        ("0 0 13 * 5", True, True),
        ("0 0 */2 * 1", True, True),  # robfig/cron: a stepped star is a restriction
        ("0 0 1-31 * 1", True, True),  # every day written out is still a restriction
        ("0 0 * * 1-5", False, True),
        ("0 0 1 * *", True, False),
        ("0 0 * * */2", False, True),
    ],
)
def test_day_fields_are_restricted_unless_a_bare_star_or_question_mark(
    expr: str, dom_restricted: bool, dow_restricted: bool
) -> None:
    schedule = cron(expr)
    assert schedule.day_of_month_restricted is dom_restricted
    assert schedule.day_of_week_restricted is dow_restricted


@pytest.mark.parametrize(
    ("macro", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
        ("  @hourly  ", "0 * * * *"),
    ],
)
def test_macros_mean_their_cron_expression(macro: str, equivalent: str) -> None:
    parsed, expected = cron(macro), cron(equivalent)
    assert (parsed.seconds, parsed.minutes, parsed.hours) == (
        expected.seconds,
        expected.minutes,
        expected.hours,
    )
    assert (parsed.days_of_month, parsed.months, parsed.days_of_week) == (
        expected.days_of_month,
        expected.months,
        expected.days_of_week,
    )
    assert (parsed.day_of_month_restricted, parsed.day_of_week_restricted) == (
        expected.day_of_month_restricted,
        expected.day_of_week_restricted,
    )


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ("@every 1s", 1),
        ("@every 30s", 30),
        ("@every 5m", 300),
        ("@every 1h", 3600),
        ("@every 1h30m", 5400),
        ("@every 1.5h", 5400),
        ("@every 90m", 5400),
        ("@every 1h0m0s", 3600),
        ("@every 2h45m30s", 9930),
        ("@every 30m1h", 5400),  # Go accepts units in any order
        ("@every 1.5m", 90),
        ("@every .5m", 30),
        ("@every 1000ms", 1),
        ("@every 2500ms500ms", 3),
        ("@every 1000000us", 1),
        ("@every 1000000\u00b5s", 1),
        ("@every 1000000000ns", 1),
        ("@every +5m", 300),
        ("@every 168h", 7 * 24 * 3600),
        ("@every   5m  ", 300),
        ("@EVERY 5m", 300),
    ],
)
def test_every_takes_go_durations_in_whole_seconds(expr: str, seconds: int) -> None:
    schedule = parse_schedule(expr)
    assert schedule == EverySchedule(expression=expr.strip(), interval=timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("expr", "follows"),
    [
        ("* * * * *", True),
        ("*/15 * * * *", True),
        ("30 * * * *", True),
        ("*/20 2 * * *", True),
        ("0 */2 * * *", True),
        ("0,*/20 3 * * *", True),
        ("@hourly", True),
        ("0 * * * * *", True),
        ("30 2 * * *", False),
        ("0,30 1-3 * * *", False),
        ("0-59/15 0-23 * * *", False),
        ("* 30 2 * * *", False),
        ("*/10 30 2 * * *", False),
        ("0 0 * * *", False),
        ("@daily", False),
        ("@weekly", False),
    ],
)
def test_a_star_in_the_minute_or_hour_field_means_elapsed_time_at_dst(
    expr: str, follows: bool
) -> None:
    assert cron(expr).follows_elapsed_time is follows


def test_parsed_schedules_are_values() -> None:
    assert parse_schedule("*/5 * * * *") == parse_schedule("*/5 * * * *")
    assert hash(parse_schedule("@daily")) == hash(parse_schedule("@daily"))
    assert parse_schedule("0 0 * * *").expression == "0 0 * * *"


# ----------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "schedule is empty"),
        ("   ", "schedule is empty"),
        (
            "* * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 fields "
            "(second minute hour day-of-month month day-of-week), got 4",
        ),
        (
            "* * * * * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 fields "
            "(second minute hour day-of-month month day-of-week), got 7",
        ),
        ("61 * * * *", "field 1 (minute): 61 is out of range 0-59"),
        ("0 61 * * * *", "field 2 (minute): 61 is out of range 0-59"),
        ("60 * * * * *", "field 1 (second): 60 is out of range 0-59"),
        ("* 24 * * *", "field 2 (hour): 24 is out of range 0-23"),
        ("0 * 24 * * *", "field 3 (hour): 24 is out of range 0-23"),
        ("* * 0 * *", "field 3 (day-of-month): 0 is out of range 1-31"),
        ("* * 32 * *", "field 3 (day-of-month): 32 is out of range 1-31"),
        ("* * * 0 *", "field 4 (month): 0 is out of range 1-12"),
        ("* * * 13 *", "field 4 (month): 13 is out of range 1-12"),
        ("* * * * 8", "field 5 (day-of-week): 8 is out of range 0-7"),
        ("0 * * * * 8", "field 6 (day-of-week): 8 is out of range 0-7"),
        ("1-60 * * * *", "field 1 (minute): 60 is out of range 0-59"),
        ("* * * JANUARY *", "field 4 (month): 'JANUARY' is neither a number nor a name (JAN-DEC)"),
        (
            "* * * * MONDAY",
            "field 5 (day-of-week): 'MONDAY' is neither a number nor a name (SUN-SAT)",
        ),
        ("* * * * 1#2", "field 5 (day-of-week): '1#2' is neither a number nor a name (SUN-SAT)"),
        ("* * * * 5L", "field 5 (day-of-week): '5L' is neither a number nor a name (SUN-SAT)"),
        ("* * * JAN-MON *", "field 4 (month): 'MON' is neither a number nor a name (JAN-DEC)"),
        ("MON * * * *", "field 1 (minute): 'MON' is not a number"),
        ("* * L * *", "field 3 (day-of-month): 'L' is not a number"),
        ("* * 15W * *", "field 3 (day-of-month): '15W' is not a number"),
        ("*-5 * * * *", "field 1 (minute): '*' is not a number"),
        ("1.5 * * * *", "field 1 (minute): '1.5' is not a number"),
        ("\u0663 * * * *", "field 1 (minute): '\u0663' is not a number"),
        ("-5 * * * *", "field 1 (minute): missing value in '-5'"),
        ("5- * * * *", "field 1 (minute): missing value in '5-'"),
        ("/5 * * * *", "field 1 (minute): missing value in '/5'"),
        ("*/0 * * * *", "field 1 (minute): step in '*/0' must be at least 1"),
        ("*/x * * * *", "field 1 (minute): step 'x' in '*/x' is not a number"),
        ("*/ * * * *", "field 1 (minute): step '' in '*/' is not a number"),
        ("*/-1 * * * *", "field 1 (minute): step '-1' in '*/-1' is not a number"),
        (
            "*/61 * * * *",
            "field 1 (minute): step 61 in '*/61' is larger than the field's 60 values",
        ),
        ("0 */25 * * *", "field 2 (hour): step 25 in '*/25' is larger than the field's 24 values"),
        (
            "0 0 * * */8",
            "field 5 (day-of-week): step 8 in '*/8' is larger than the field's 7 values",
        ),
        ("1/2/3 * * * *", "field 1 (minute): too many '/' in '1/2/3'"),
        ("1-2-3 * * * *", "field 1 (minute): too many '-' in '1-2-3'"),
        (
            "5-1 * * * *",
            "field 1 (minute): range '5-1' runs backwards; write the smaller value first",
        ),
        (
            "* * * DEC-JAN *",
            "field 4 (month): range 'DEC-JAN' runs backwards; write the smaller value first",
        ),
        (
            "* * * * FRI-SUN",
            "field 5 (day-of-week): range 'FRI-SUN' runs backwards; write the smaller value "
            "first (Sunday can be written 7)",
        ),
        ("1,,2 * * * *", "field 1 (minute): empty item in list '1,,2'"),
        ("1, * * * *", "field 1 (minute): empty item in list '1,'"),
        (",1 * * * *", "field 1 (minute): empty item in list ',1'"),
        ("? * * * *", "field 1 (minute): '?' is only allowed in day-of-month and day-of-week"),
        ("* * * ? *", "field 4 (month): '?' is only allowed in day-of-month and day-of-week"),
        ("? * * * * *", "field 1 (second): '?' is only allowed in day-of-month and day-of-week"),
        (
            "0 0 30 2 *",
            "fields 3 and 4 (day-of-month, month): the schedule never fires, no day 30 "
            "exists in FEB",
        ),
        (
            "0 0 30,31 FEB *",
            "fields 3 and 4 (day-of-month, month): the schedule never fires, no day 30,31 "
            "exists in FEB",
        ),
        (
            "0 0 31 4,6,9,11 *",
            "fields 3 and 4 (day-of-month, month): the schedule never fires, no day 31 "
            "exists in APR,JUN,SEP,NOV",
        ),
        (
            "0 0 0 31 2 *",
            "fields 4 and 5 (day-of-month, month): the schedule never fires, no day 31 "
            "exists in FEB",
        ),
        (
            "@yearl",
            "unknown macro '@yearl'; expected one of @yearly, @annually, @monthly, @weekly, "
            "@daily, @midnight, @hourly, @every <duration>",
        ),
        (
            "@reboot",
            "unknown macro '@reboot'; expected one of @yearly, @annually, @monthly, @weekly, "
            "@daily, @midnight, @hourly, @every <duration>",
        ),
        ("@daily 5", "@daily takes no arguments, got '5'"),
        ("@every", "@every needs a duration, e.g. '@every 5m' or '@every 1h30m'"),
        ("@every   ", "@every needs a duration, e.g. '@every 5m' or '@every 1h30m'"),
        ("@every 0", "@every 0: the interval must be at least 1s"),
        ("@every 0s", "@every 0s: the interval must be at least 1s"),
        ("@every 500ms", "@every 500ms: the interval must be at least 1s"),
        ("@every 999999999ns", "@every 999999999ns: the interval must be at least 1s"),
        ("@every -5m", "@every -5m: the interval must be at least 1s"),
        ("@every 1.5s", "@every 1.5s: the interval must be a whole number of seconds"),
        ("@every 1500ms", "@every 1500ms: the interval must be a whole number of seconds"),
        ("@every 3000000h", "@every 3000000h: the interval is too long"),
        (
            "@every 5",
            "@every 5: '5' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "@every 5x",
            "@every 5x: '5x' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "@every 1d",
            "@every 1d: '1d' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "@every 1h 30m",
            "@every 1h 30m: '1h 30m' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "@every .s",
            "@every .s: '.s' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "@every 1..5h",
            "@every 1..5h: '1..5h' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "@every m",
            "@every m: 'm' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "@every -",
            "@every -: '-' is not a duration; use a number and a unit (h, m, s, ms), "
            "e.g. 30s, 5m, 1h30m, 1.5h",
        ),
        (
            "TZ=UTC 0 0 * * *",
            "a time zone inside the schedule (TZ= or CRON_TZ=) is not supported; "
            "use the timeZone field instead",
        ),
        (
            "CRON_TZ=Europe/Berlin 0 0 * * *",
            "a time zone inside the schedule (TZ= or CRON_TZ=) is not supported; "
            "use the timeZone field instead",
        ),
    ],
)
def test_invalid_schedule_names_the_field_and_the_reason(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(expr)
    assert str(caught.value) == message
    assert caught.value.message == message


def test_schedule_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_schedule("99 * * * *")


# ------------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    "name",
    [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Pacific/Apia",
        "Etc/GMT+5",
        "US/Eastern",
    ],
)
def test_iana_time_zones_are_accepted(name: str) -> None:
    assert validate_time_zone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "Europe/Berln",
        "Local",
        "America",
        "America/",
        " Europe/Berlin",
        "Europe/Berlin ",
        "../etc/passwd",
        "/etc/localtime",
        "zone.tab",
        "Europe\x00Berlin",
        "+01:00",
    ],
)
def test_unknown_time_zones_are_a_schedule_error(name: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_time_zone(name)
    assert str(caught.value) == (
        f"unknown time zone {name!r}: expected an IANA time zone name such as "
        "'Europe/Berlin', 'America/New_York' or 'UTC'"
    )


def test_empty_time_zone_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError, match="time zone is empty"):
        validate_time_zone("")


# ------------------------------------------------------------- fire times (UTC)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/5 * * * *", "2024-05-15T12:03:00", ["12:05", "12:10", "12:15"]),
        ("*/5 * * * *", "2024-05-15T12:05:00", ["12:10", "12:15", "12:20"]),
        ("*/5 * * * *", "2024-05-15T12:04:59.999999", ["12:05", "12:10", "12:15"]),
        ("0 * * * *", "2024-05-15T12:00:00", ["13:00", "14:00", "15:00"]),
        ("15,45 12-13 * * *", "2024-05-15T12:20:00", ["12:45", "13:15", "13:45"]),
        ("59 23 * * *", "2024-05-15T23:59:00", ["23:59", "23:59", "23:59"]),
    ],
)
def test_simple_schedules_fire_on_the_next_matching_minute(
    expr: str, after: str, expected: list[str]
) -> None:
    got = [when[11:16] for when in fires(expr, "UTC", after, len(expected))]
    assert got == expected


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("@yearly", "2024-05-15T10:20:30", ["2025-01-01T00:00:00+00:00"]),
        ("@annually", "2024-05-15T10:20:30", ["2025-01-01T00:00:00+00:00"]),
        ("@monthly", "2024-05-15T10:20:30", ["2024-06-01T00:00:00+00:00"]),
        ("@weekly", "2024-05-15T10:20:30", ["2024-05-19T00:00:00+00:00"]),
        ("@daily", "2024-05-15T10:20:30", ["2024-05-16T00:00:00+00:00"]),
        ("@midnight", "2024-05-15T10:20:30", ["2024-05-16T00:00:00+00:00"]),
        ("@hourly", "2024-05-15T10:20:30", ["2024-05-15T11:00:00+00:00"]),
        ("@yearly", "2024-12-31T23:59:59", ["2025-01-01T00:00:00+00:00"]),
        ("@yearly", "2025-01-01T00:00:00", ["2026-01-01T00:00:00+00:00"]),
    ],
)
def test_macros_fire_at_the_start_of_their_period(
    expr: str, after: str, expected: list[str]
) -> None:
    assert fires(expr, "UTC", after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        (
            "0 0 29 2 *",
            "2025-01-01T00:00:00",
            ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"],
        ),
        ("0 0 29 2 *", "2024-02-29T00:00:00", ["2028-02-29T00:00:00+00:00"]),
        ("0 0 29 2 *", "2024-02-28T23:59:59", ["2024-02-29T00:00:00+00:00"]),
        # 2100 is not a leap year: the longest wait any valid expression can have.
        ("0 0 29 2 *", "2096-03-01T00:00:00", ["2104-02-29T00:00:00+00:00"]),
        ("0 0 29 * *", "2023-01-29T00:00:00", ["2023-03-29T00:00:00+00:00"]),
        ("0 0 29 * *", "2024-01-29T00:00:00", ["2024-02-29T00:00:00+00:00"]),
        (
            "0 0 31 * *",
            "2024-01-31T00:00:00",
            [
                "2024-03-31T00:00:00+00:00",
                "2024-05-31T00:00:00+00:00",
                "2024-07-31T00:00:00+00:00",
                "2024-08-31T00:00:00+00:00",
            ],
        ),
        ("0 0 30 * *", "2024-01-30T00:00:00", ["2024-03-30T00:00:00+00:00"]),
        (
            "0 0 28-31 * *",
            "2024-02-27T00:00:00",
            [
                "2024-02-28T00:00:00+00:00",
                "2024-02-29T00:00:00+00:00",
                "2024-03-28T00:00:00+00:00",
                "2024-03-29T00:00:00+00:00",
                "2024-03-30T00:00:00+00:00",
                "2024-03-31T00:00:00+00:00",
                "2024-04-28T00:00:00+00:00",
            ],
        ),
        ("0 0 31 4-12 *", "2024-01-01T00:00:00", ["2024-05-31T00:00:00+00:00"]),
        ("59 23 31 12 *", "2024-06-01T00:00:00", ["2024-12-31T23:59:00+00:00"]),
        ("59 59 23 31 12 *", "2024-12-31T23:59:58", ["2024-12-31T23:59:59+00:00"]),
        ("59 59 23 31 12 *", "2024-12-31T23:59:59", ["2025-12-31T23:59:59+00:00"]),
        ("0 0 1 * *", "2024-12-15T00:00:00", ["2025-01-01T00:00:00+00:00"]),
    ],
)
def test_leap_days_and_month_ends(expr: str, after: str, expected: list[str]) -> None:
    assert fires(expr, "UTC", after, len(expected)) == expected


def days(expr: str, after: str, count: int) -> list[str]:
    return [when[:10] for when in fires(expr, "UTC", after, count)]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # 2024-09-01 is a Sunday; Fridays are 6, 13, 20, 27 and Oct 4, 11, 18.
        ("0 0 * * 5", ["09-06", "09-13", "09-20", "09-27"]),
        ("0 0 13 * *", ["09-13", "10-13", "11-13", "12-13"]),
        ("0 0 13 * 5", ["09-06", "09-13", "09-20", "09-27", "10-04", "10-11", "10-13", "10-18"]),
        ("0 0 1,15 * 5", ["09-06", "09-13", "09-15", "09-20", "09-27", "10-01", "10-04"]),
        # A stepped star restricts (robfig/cron, Kubernetes): OR with the Mondays.
        ("0 0 */10 * 1", ["09-02", "09-09", "09-11", "09-16", "09-21", "09-23", "09-30", "10-01"]),
        # Not "the first Monday": days 1-7 OR any Monday, as in every Vixie-style cron.
        ("0 0 1-7 * 1", ["09-02", "09-03", "09-04", "09-05", "09-06", "09-07", "09-09", "09-16"]),
        ("0 0 ? * 1", ["09-02", "09-09", "09-16"]),
        ("0 0 1 * ?", ["10-01", "11-01", "12-01"]),
        ("0 0 *,5 * 1", ["09-02", "09-09", "09-16"]),  # a bare * item: AND, so Mondays only
        ("0 0 * * 0,6", ["09-07", "09-08", "09-14", "09-15"]),
        ("0 0 * * 7", ["09-08", "09-15", "09-22"]),
        ("0 0 * * MON-FRI", ["09-02", "09-03", "09-04", "09-05", "09-06", "09-09"]),
        ("0 0 1-31 * 1", ["09-02", "09-03", "09-04", "09-05"]),
        ("0 0 31 * 1", ["09-02", "09-09", "09-16", "09-23", "09-30", "10-07"]),
    ],
)
def test_day_of_month_and_day_of_week_combine_as_in_kubernetes(
    expr: str, expected: list[str]
) -> None:
    got = days(expr, "2024-09-01T00:00:00", len(expected))
    assert [day[5:] for day in got] == expected


def test_leap_day_or_any_monday_of_february() -> None:
    assert days("0 0 29 2 1", "2025-01-01T00:00:00", 5) == [
        "2025-02-03",
        "2025-02-10",
        "2025-02-17",
        "2025-02-24",
        "2026-02-02",
    ]


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        (
            "*/20 * * * * *",
            "2024-01-01T12:00:05",
            ["2024-01-01T12:00:20+00:00", "2024-01-01T12:00:40+00:00", "2024-01-01T12:01:00+00:00"],
        ),
        (
            "15,45 * * * * *",
            "2024-01-01T12:00:45",
            ["2024-01-01T12:01:15+00:00", "2024-01-01T12:01:45+00:00"],
        ),
        (
            "30 0 12 * * *",
            "2024-01-01T12:00:30",
            ["2024-01-02T12:00:30+00:00", "2024-01-03T12:00:30+00:00"],
        ),
        (
            "* * * * * *",
            "2024-01-01T23:59:58.5",
            ["2024-01-01T23:59:59+00:00", "2024-01-02T00:00:00+00:00"],
        ),
        ("0 0 12 * * ?", "2024-01-01T00:00:00", ["2024-01-01T12:00:00+00:00"]),
        ("10 0 0 29 2 *", "2025-01-01T00:00:00", ["2028-02-29T00:00:10+00:00"]),
    ],
)
def test_six_fields_have_a_leading_seconds_field(
    expr: str, after: str, expected: list[str]
) -> None:
    assert fires(expr, "UTC", after, len(expected)) == expected


# ------------------------------------------------------------- fire times (DST)

# 2024 transitions used below (local wall times):
#   America/New_York     spring 03-10 02:00 -> 03:00     fall 11-03 02:00 -> 01:00
#   Europe/Berlin        spring 03-31 02:00 -> 03:00     fall 10-27 03:00 -> 02:00
#   Australia/Sydney     spring 10-06 02:00 -> 03:00     fall 04-07 03:00 -> 02:00
#   Australia/Lord_Howe  spring 10-06 02:00 -> 02:30     fall 04-07 02:00 -> 01:30
#   Pacific/Apia skipped the whole of 2011-12-30 (-10:00 -> +14:00).
#
# The rule (api.md, timeZone; Vixie/ISC cron): a `*` or `*/n` in the minute or hour
# field, and @hourly, follow elapsed time; fixed minutes and hours fire once per wall
# time.


@pytest.mark.parametrize(
    ("zone", "expr", "after", "expected"),
    [
        # Spring forward: a wall time that does not exist never fires, no catch-up.
        (
            "America/New_York",
            "*/15 * * * *",
            "2024-03-10T01:20",
            [
                "2024-03-10T01:30:00-05:00",
                "2024-03-10T01:45:00-05:00",
                "2024-03-10T03:00:00-04:00",
                "2024-03-10T03:15:00-04:00",
            ],
        ),
        (
            "America/New_York",
            "30 * * * *",
            "2024-03-10T00:45",
            ["2024-03-10T01:30:00-05:00", "2024-03-10T03:30:00-04:00", "2024-03-10T04:30:00-04:00"],
        ),
        (
            "America/New_York",
            "@hourly",
            "2024-03-10T00:30",
            ["2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"],
        ),
        (
            "America/New_York",
            "*/20 2 * * *",
            "2024-03-10T00:00",
            ["2024-03-11T02:00:00-04:00", "2024-03-11T02:20:00-04:00"],
        ),
        (
            "America/New_York",
            "* * * * * *",
            "2024-03-10T01:59:58",
            ["2024-03-10T01:59:59-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:00:01-04:00"],
        ),
        (
            "Europe/Berlin",
            "*/15 * * * *",
            "2024-03-31T01:20",
            [
                "2024-03-31T01:30:00+01:00",
                "2024-03-31T01:45:00+01:00",
                "2024-03-31T03:00:00+02:00",
                "2024-03-31T03:15:00+02:00",
            ],
        ),
        (
            "Europe/Berlin",
            "30 * * * *",
            "2024-03-31T00:45",
            ["2024-03-31T01:30:00+01:00", "2024-03-31T03:30:00+02:00"],
        ),
        (
            "Europe/Berlin",
            "@hourly",
            "2024-03-31T00:30",
            ["2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00"],
        ),
        (
            "Australia/Lord_Howe",
            "*/15 * * * *",
            "2024-10-06T01:20",
            [
                "2024-10-06T01:30:00+10:30",
                "2024-10-06T01:45:00+10:30",
                "2024-10-06T02:30:00+11:00",
                "2024-10-06T02:45:00+11:00",
            ],
        ),
        (
            "Australia/Lord_Howe",
            "15 * * * *",
            "2024-10-06T00:45",
            ["2024-10-06T01:15:00+10:30", "2024-10-06T03:15:00+11:00"],
        ),
        (
            "Australia/Lord_Howe",
            "@hourly",
            "2024-10-06T00:30",
            ["2024-10-06T01:00:00+10:30", "2024-10-06T03:00:00+11:00"],
        ),
        (
            "Australia/Lord_Howe",
            "*/20 2 * * *",
            "2024-10-06T01:55",
            ["2024-10-06T02:40:00+11:00", "2024-10-07T02:00:00+11:00"],
        ),
        # Fall back: both passes of the repeated hour fire.
        (
            "America/New_York",
            "*/15 * * * *",
            "2024-11-03T00:50",
            [
                "2024-11-03T01:00:00-04:00",
                "2024-11-03T01:15:00-04:00",
                "2024-11-03T01:30:00-04:00",
                "2024-11-03T01:45:00-04:00",
                "2024-11-03T01:00:00-05:00",
                "2024-11-03T01:15:00-05:00",
                "2024-11-03T01:30:00-05:00",
                "2024-11-03T01:45:00-05:00",
                "2024-11-03T02:00:00-05:00",
            ],
        ),
        (
            "America/New_York",
            "30 * * * *",
            "2024-11-03T00:45",
            ["2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00", "2024-11-03T02:30:00-05:00"],
        ),
        (
            "America/New_York",
            "@hourly",
            "2024-11-03T00:30",
            ["2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"],
        ),
        (
            "America/New_York",
            "*/20 1 * * *",
            "2024-11-03T00:00",
            [
                "2024-11-03T01:00:00-04:00",
                "2024-11-03T01:20:00-04:00",
                "2024-11-03T01:40:00-04:00",
                "2024-11-03T01:00:00-05:00",
                "2024-11-03T01:20:00-05:00",
                "2024-11-03T01:40:00-05:00",
                "2024-11-04T01:00:00-05:00",
            ],
        ),
        (
            "Europe/Berlin",
            "*/15 * * * *",
            "2024-10-27T02:20",
            [
                "2024-10-27T02:30:00+02:00",
                "2024-10-27T02:45:00+02:00",
                "2024-10-27T02:00:00+01:00",
                "2024-10-27T02:15:00+01:00",
                "2024-10-27T02:30:00+01:00",
                "2024-10-27T02:45:00+01:00",
                "2024-10-27T03:00:00+01:00",
            ],
        ),
        (
            "Europe/Berlin",
            "30 * * * *",
            "2024-10-27T01:45",
            ["2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00", "2024-10-27T03:30:00+01:00"],
        ),
        (
            "Europe/Berlin",
            "@hourly",
            "2024-10-27T01:30",
            ["2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T03:00:00+01:00"],
        ),
        (
            "Australia/Lord_Howe",
            "*/15 * * * *",
            "2024-04-07T01:20",
            [
                "2024-04-07T01:30:00+11:00",
                "2024-04-07T01:45:00+11:00",
                "2024-04-07T01:30:00+10:30",
                "2024-04-07T01:45:00+10:30",
                "2024-04-07T02:00:00+10:30",
            ],
        ),
        (
            "Australia/Lord_Howe",
            "45 * * * *",
            "2024-04-07T01:00",
            ["2024-04-07T01:45:00+11:00", "2024-04-07T01:45:00+10:30", "2024-04-07T02:45:00+10:30"],
        ),
    ],
)
def test_wildcard_minute_or_hour_follows_elapsed_time_through_dst(
    zone: str, expr: str, after: str, expected: list[str]
) -> None:
    assert fires(expr, zone, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("zone", "spring", "fall"),
    [
        ("America/New_York", "2024-03-10T06:00Z", "2024-11-03T05:00Z"),
        ("Europe/Berlin", "2024-03-31T00:00Z", "2024-10-27T00:00Z"),
        ("Australia/Sydney", "2024-10-05T15:00Z", "2024-04-06T15:00Z"),
        ("Australia/Lord_Howe", "2024-10-05T14:30Z", "2024-04-06T14:00Z"),
    ],
)
def test_every_fifteen_minutes_keeps_firing_every_fifteen_real_minutes(
    zone: str, spring: str, fall: str
) -> None:
    tz = ZoneInfo(zone)
    for start in (datetime.fromisoformat(spring), datetime.fromisoformat(fall)):
        times = fire_times(parse_schedule("*/15 * * * *"), tz, start, ANCHOR)
        series = [next(times) for _ in range(16)]  # four real hours across the change
        assert series == [start + k * timedelta(minutes=15) for k in range(1, 17)]


@pytest.mark.parametrize(
    ("zone", "expr", "after", "expected"),
    [
        # A skipped wall time fires once, at the first instant after the gap.
        (
            "America/New_York",
            "30 2 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
        ),
        (
            "America/New_York",
            "0 2 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"],
        ),
        (
            "America/New_York",
            "59 2 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:59:00-04:00"],
        ),
        (
            "America/New_York",
            "0 3 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T03:00:00-04:00"],
        ),
        # Several matches in one gap, and the gap end itself, collapse into one fire.
        (
            "America/New_York",
            "0,30 2 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"],
        ),
        (
            "America/New_York",
            "0 2,3 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"],
        ),
        (
            "America/New_York",
            "*/10 30 2 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
        ),
        (
            "America/New_York",
            "0 15,45 2 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:15:00-04:00"],
        ),
        (
            "Europe/Berlin",
            "0,15,30,45 2 * * *",
            "2024-03-30T12:00",
            ["2024-03-31T03:00:00+02:00", "2024-04-01T02:00:00+02:00"],
        ),
        (
            "Australia/Lord_Howe",
            "0,10,20 2 * * *",
            "2024-10-05T12:00",
            ["2024-10-06T02:30:00+11:00", "2024-10-07T02:00:00+11:00"],
        ),
        (
            "America/New_York",
            "30 30 2 * * *",
            "2024-03-09T12:00",
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:30-04:00"],
        ),
        # A repeated wall time fires once, at its first occurrence.
        (
            "America/New_York",
            "30 1 * * *",
            "2024-11-02T12:00",
            ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
        ),
        (
            "America/New_York",
            "0 1 * * *",
            "2024-11-02T12:00",
            ["2024-11-03T01:00:00-04:00", "2024-11-04T01:00:00-05:00"],
        ),
        (
            "America/New_York",
            "0 2 * * *",
            "2024-11-02T12:00",
            ["2024-11-03T02:00:00-05:00", "2024-11-04T02:00:00-05:00"],
        ),
        (
            "America/New_York",
            "0,30 1 * * *",
            "2024-11-03T00:00",
            ["2024-11-03T01:00:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-04T01:00:00-05:00"],
        ),
        # Spelled-out ranges are fixed times (Vixie cron looks for the star).
        (
            "America/New_York",
            "0-59/30 0-23 * * *",
            "2024-11-03T00:45",
            ["2024-11-03T01:00:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-03T02:00:00-05:00"],
        ),
        (
            "Europe/Berlin",
            "0,30 2 * * *",
            "2024-10-27T00:00",
            ["2024-10-27T02:00:00+02:00", "2024-10-27T02:30:00+02:00", "2024-10-28T02:00:00+01:00"],
        ),
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2024-03-30T12:00",
            ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"],
        ),
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2024-10-26T12:00",
            ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"],
        ),
        (
            "Europe/Berlin",
            "0 0 * * *",
            "2024-03-30T12:00",
            ["2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"],
        ),
        (
            "Australia/Sydney",
            "30 2 * * *",
            "2024-10-05T12:00",
            ["2024-10-06T03:00:00+11:00", "2024-10-07T02:30:00+11:00"],
        ),
        (
            "Australia/Sydney",
            "30 2 * * *",
            "2024-04-06T12:00",
            ["2024-04-07T02:30:00+11:00", "2024-04-08T02:30:00+10:00"],
        ),
        (
            "Australia/Sydney",
            "0 2 * * *",
            "2024-04-06T12:00",
            ["2024-04-07T02:00:00+11:00", "2024-04-08T02:00:00+10:00"],
        ),
        (
            "Australia/Sydney",
            "0 3 * * *",
            "2024-04-06T12:00",
            ["2024-04-07T03:00:00+10:00", "2024-04-08T03:00:00+10:00"],
        ),
        # Lord Howe shifts by half an hour.
        (
            "Australia/Lord_Howe",
            "15 2 * * *",
            "2024-10-05T12:00",
            ["2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"],
        ),
        (
            "Australia/Lord_Howe",
            "45 2 * * *",
            "2024-10-05T12:00",
            ["2024-10-06T02:45:00+11:00", "2024-10-07T02:45:00+11:00"],
        ),
        (
            "Australia/Lord_Howe",
            "45 1 * * *",
            "2024-04-06T12:00",
            ["2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"],
        ),
        (
            "Australia/Lord_Howe",
            "15 1 * * *",
            "2024-04-06T12:00",
            ["2024-04-07T01:15:00+11:00", "2024-04-08T01:15:00+10:30"],
        ),
        (
            "Australia/Lord_Howe",
            "30,45 1 * * *",
            "2024-04-07T00:00",
            ["2024-04-07T01:30:00+11:00", "2024-04-07T01:45:00+11:00", "2024-04-08T01:30:00+10:30"],
        ),
        # Half-hour zone without DST: wall time is simply UTC+05:30.
        (
            "Asia/Kolkata",
            "0 9 * * *",
            "2024-06-01T00:00",
            ["2024-06-01T09:00:00+05:30", "2024-06-02T09:00:00+05:30"],
        ),
        (
            "Asia/Kathmandu",
            "0 0 1 1 *",
            "2024-06-01T00:00",
            ["2025-01-01T00:00:00+05:45"],
        ),
        # A whole skipped day: its runs collapse into one at the first instant after it.
        (
            "Pacific/Apia",
            "0 12 30 12 *",
            "2011-12-01T00:00",
            ["2011-12-31T00:00:00+14:00", "2012-12-30T12:00:00+14:00"],
        ),
        (
            "Pacific/Apia",
            "0 12 * * *",
            "2011-12-29T00:00",
            ["2011-12-29T12:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"],
        ),
    ],
)
def test_fixed_times_fire_once_per_wall_time_through_dst(
    zone: str, expr: str, after: str, expected: list[str]
) -> None:
    assert fires(expr, zone, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # From the first pass (EDT): the second pass comes before 02:00.
        ("*/20 * * * *", "2024-11-03T05:50Z", "2024-11-03T01:00:00-05:00"),
        ("*/20 * * * *", "2024-11-03T05:30Z", "2024-11-03T01:40:00-04:00"),
        ("0 * * * *", "2024-11-03T05:10Z", "2024-11-03T01:00:00-05:00"),
        ("10 * * * *", "2024-11-03T05:30Z", "2024-11-03T01:10:00-05:00"),
        # From the second pass (EST): it continues in the second pass.
        ("*/20 * * * *", "2024-11-03T06:10Z", "2024-11-03T01:20:00-05:00"),
        ("*/20 * * * *", "2024-11-03T06:50Z", "2024-11-03T02:00:00-05:00"),
        ("10 * * * *", "2024-11-03T06:30Z", "2024-11-03T02:10:00-05:00"),
    ],
)
def test_wildcard_search_from_inside_a_repeated_hour_finds_the_next_pass(
    expr: str, after: str, expected: str
) -> None:
    tz = ZoneInfo("America/New_York")
    nxt = next_fire_after(parse_schedule(expr), tz, datetime.fromisoformat(after), ANCHOR)
    assert nxt.astimezone(tz).isoformat() == expected


def test_fixed_search_from_the_second_pass_of_a_repeated_hour_skips_the_repeat() -> None:
    tz = ZoneInfo("America/New_York")
    second_pass = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=tz)  # 06:10Z, EST
    schedule = parse_schedule("0,20,40 1,2 * * *")
    nxt = next_fire_after(schedule, tz, second_pass, ANCHOR)
    assert nxt.astimezone(tz).isoformat() == "2024-11-03T02:00:00-05:00"
    assert nxt - second_pass == timedelta(minutes=50)


def test_cron_fire_times_are_utc_whole_seconds_and_ignore_the_anchor() -> None:
    tz = ZoneInfo("Europe/Berlin")
    after = datetime(2024, 7, 1, 10, 0, 0, 123456, tzinfo=UTC)
    schedule = parse_schedule("*/7 * * * * *")
    one = next_fire_after(schedule, tz, after, ANCHOR)
    other = next_fire_after(schedule, tz, after, datetime(1999, 1, 1, tzinfo=UTC))
    assert one == other == datetime(2024, 7, 1, 10, 0, 7, tzinfo=UTC)
    assert one.tzinfo is UTC


def test_after_may_be_given_in_any_zone() -> None:
    schedule = parse_schedule("0 9 * * *")
    berlin = ZoneInfo("Europe/Berlin")
    in_utc = next_fire_after(schedule, berlin, datetime(2024, 7, 1, 5, tzinfo=UTC), ANCHOR)
    in_tokyo = next_fire_after(
        schedule, berlin, datetime(2024, 7, 1, 14, tzinfo=ZoneInfo("Asia/Tokyo")), ANCHOR
    )
    assert in_utc == in_tokyo == datetime(2024, 7, 1, 7, tzinfo=UTC)


@pytest.mark.parametrize("name", ["after", "anchor"])
def test_naive_datetimes_are_rejected(name: str) -> None:
    aware, naive = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1)
    arguments = {"after": aware, "anchor": aware, name: naive}
    with pytest.raises(ValueError, match=f"{name} must be a timezone-aware datetime"):
        next_fire_after(parse_schedule("@every 5m"), ZoneInfo("UTC"), **arguments)


def test_no_fire_time_after_year_9999_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no fire time after"):
        next_fire_after(
            parse_schedule("@yearly"), ZoneInfo("UTC"), datetime(9999, 6, 1, tzinfo=UTC), ANCHOR
        )


# ------------------------------------------------------------------------ @every


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("@every 30s", ANCHOR - timedelta(hours=1), ANCHOR + timedelta(seconds=30)),
        ("@every 30s", ANCHOR, ANCHOR + timedelta(seconds=30)),
        ("@every 30s", ANCHOR + timedelta(seconds=29.999), ANCHOR + timedelta(seconds=30)),
        ("@every 30s", ANCHOR + timedelta(seconds=30), ANCHOR + timedelta(seconds=60)),
        (
            "@every 30s",
            ANCHOR + timedelta(days=365, seconds=1),
            ANCHOR + timedelta(days=365, seconds=30),
        ),
        (
            "@every 1h30m",
            datetime(2024, 1, 1, 10, tzinfo=UTC),
            datetime(2024, 1, 1, 10, 30, tzinfo=UTC),
        ),
        (
            "@every 1.5h",
            datetime(2024, 1, 1, 10, 30, tzinfo=UTC),
            datetime(2024, 1, 1, 12, tzinfo=UTC),
        ),
        ("@every 168h", datetime(2024, 3, 10, 12, tzinfo=UTC), datetime(2024, 3, 11, tzinfo=UTC)),
        (
            "@every 7s",
            datetime(2024, 1, 1, 0, 1, tzinfo=UTC),
            datetime(2024, 1, 1, 0, 1, 3, tzinfo=UTC),
        ),
        (
            "@every 1s",
            datetime(2030, 6, 1, 12, 0, 0, 500000, tzinfo=UTC),
            datetime(2030, 6, 1, 12, 0, 1, tzinfo=UTC),
        ),
    ],
)
def test_every_fires_at_anchor_plus_whole_intervals(
    expr: str, after: datetime, expected: datetime
) -> None:
    assert next_fire_after(parse_schedule(expr), ZoneInfo("UTC"), after, ANCHOR) == expected


def test_every_ignores_the_time_zone_and_dst() -> None:
    schedule = parse_schedule("@every 1h")
    anchor = datetime(2024, 3, 10, 0, 0, tzinfo=ZoneInfo("America/New_York"))
    anchor_utc = anchor.astimezone(UTC)  # aware + timedelta is wall-clock arithmetic
    for zone in ("UTC", "Asia/Tokyo", "America/New_York"):
        times = fire_times(schedule, ZoneInfo(zone), anchor, anchor)
        series = [next(times) for _ in range(5)]  # crosses the 02:00 spring-forward gap
        assert series == [anchor_utc + timedelta(hours=k) for k in range(1, 6)]


def test_every_truncates_the_anchor_to_the_second() -> None:
    anchor = datetime(2024, 1, 1, 0, 0, 0, 750000, tzinfo=UTC)
    nxt = next_fire_after(parse_schedule("@every 10s"), ZoneInfo("UTC"), anchor, anchor)
    assert nxt == datetime(2024, 1, 1, 0, 0, 10, tzinfo=UTC)


# ----------------------------------------------------------- last fire at/before


@pytest.mark.parametrize(
    ("zone", "expr", "at", "expected"),
    [
        ("UTC", "0 * * * *", "2024-05-15T10:30:00", "2024-05-15T10:00:00+00:00"),
        ("UTC", "0 * * * *", "2024-05-15T10:00:00", "2024-05-15T10:00:00+00:00"),
        ("UTC", "0 * * * *", "2024-05-15T09:59:59.999", "2024-05-15T09:00:00+00:00"),
        ("UTC", "*/5 * * * *", "2024-05-18T07:13:00", "2024-05-18T07:10:00+00:00"),
        ("UTC", "0 0 29 2 *", "2027-06-01T00:00:00", "2024-02-29T00:00:00+00:00"),
        ("UTC", "0 0 29 2 *", "2104-01-01T00:00:00", "2096-02-29T00:00:00+00:00"),
        ("UTC", "0 0 31 * *", "2024-05-30T00:00:00", "2024-03-31T00:00:00+00:00"),
        ("UTC", "0 0 13 * 5", "2024-10-16T00:00:00", "2024-10-13T00:00:00+00:00"),
        ("UTC", "@yearly", "2024-05-15T00:00:00", "2024-01-01T00:00:00+00:00"),
        ("UTC", "15,45 * * * * *", "2024-01-01T12:01:00", "2024-01-01T12:00:45+00:00"),
        ("America/New_York", "30 2 * * *", "2024-03-10T03:10", "2024-03-10T03:00:00-04:00"),
        ("America/New_York", "30 2 * * *", "2024-03-10T01:59", "2024-03-09T02:30:00-05:00"),
        ("America/New_York", "30 * * * *", "2024-03-10T03:29", "2024-03-10T01:30:00-05:00"),
        ("America/New_York", "0,30 2 * * *", "2024-03-10T03:29", "2024-03-10T03:00:00-04:00"),
        ("Australia/Lord_Howe", "@hourly", "2024-10-06T02:59", "2024-10-06T01:00:00+10:30"),
        ("Australia/Lord_Howe", "0 2 * * *", "2024-10-06T02:59", "2024-10-06T02:30:00+11:00"),
        ("America/New_York", "30 * * * *", "2024-11-03T02:10", "2024-11-03T01:30:00-05:00"),
        ("Australia/Lord_Howe", "10,20 * * * *", "2024-10-06T02:35", "2024-10-06T01:20:00+10:30"),
        ("Australia/Lord_Howe", "45 * * * *", "2024-04-07T02:10", "2024-04-07T01:45:00+10:30"),
        ("Australia/Lord_Howe", "45 1 * * *", "2024-04-07T02:10", "2024-04-07T01:45:00+11:00"),
        ("America/New_York", "30 1 * * *", "2024-11-03T12:00", "2024-11-03T01:30:00-04:00"),
        ("Australia/Lord_Howe", "15 2 * * *", "2024-10-06T02:40", "2024-10-06T02:30:00+11:00"),
        ("Pacific/Apia", "0 12 30 12 *", "2012-06-01T00:00", "2011-12-31T00:00:00+14:00"),
    ],
)
def test_last_fire_at_or_before_finds_the_latest_missed_run(
    zone: str, expr: str, at: str, expected: str
) -> None:
    tz = ZoneInfo(zone)
    last = last_fire_at_or_before(parse_schedule(expr), tz, local(at, zone), ANCHOR)
    assert last is not None
    assert last.astimezone(tz).isoformat() == expected


@pytest.mark.parametrize(
    ("expr", "at", "expected"),
    [
        # In the second pass (EST): a wildcard looks in the second pass first...
        ("*/20 * * * *", "2024-11-03T06:30Z", "2024-11-03T01:20:00-05:00"),
        ("@hourly", "2024-11-03T06:59Z", "2024-11-03T01:00:00-05:00"),
        # ...then in the first pass.
        ("50 * * * *", "2024-11-03T06:30Z", "2024-11-03T01:50:00-04:00"),
        # A fixed time fired in the first pass only.
        ("0,20,40 1 * * *", "2024-11-03T06:30Z", "2024-11-03T01:40:00-04:00"),
        ("20 1 * * *", "2024-11-03T06:30Z", "2024-11-03T01:20:00-04:00"),
        # In the first pass (EDT): only walls up to `at`, then before the hour.
        ("*/20 * * * *", "2024-11-03T05:30Z", "2024-11-03T01:20:00-04:00"),
        ("50 * * * *", "2024-11-03T05:30Z", "2024-11-03T00:50:00-04:00"),
    ],
)
def test_last_fire_from_inside_a_repeated_hour(expr: str, at: str, expected: str) -> None:
    tz = ZoneInfo("America/New_York")
    last = last_fire_at_or_before(parse_schedule(expr), tz, datetime.fromisoformat(at), ANCHOR)
    assert last is not None
    assert last.astimezone(tz).isoformat() == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ANCHOR, None),
        (ANCHOR + timedelta(seconds=29), None),
        (ANCHOR + timedelta(seconds=30), ANCHOR + timedelta(seconds=30)),
        (ANCHOR + timedelta(seconds=95), ANCHOR + timedelta(seconds=90)),
        (ANCHOR - timedelta(days=1), None),
    ],
)
def test_last_fire_of_every_is_none_before_the_first_interval(
    at: datetime, expected: datetime | None
) -> None:
    assert last_fire_at_or_before(parse_schedule("@every 30s"), ZoneInfo("UTC"), at, ANCHOR) == (
        expected
    )


# ------------------------------------------------------------------------ jitter


@pytest.mark.parametrize("jitter_seconds", [1, 2, 3, 7, 30, 60, 3600, 86400])
def test_jitter_is_within_range_and_deterministic(jitter_seconds: int) -> None:
    instant = datetime(2024, 1, 1, 12, tzinfo=UTC)
    offsets = [jitter_offset(f"uid-{n}", instant, jitter_seconds) for n in range(200)]
    assert all(0.0 <= offset < jitter_seconds for offset in offsets)
    assert offsets == [jitter_offset(f"uid-{n}", instant, jitter_seconds) for n in range(200)]
    assert len(set(offsets)) > 1


def test_jitter_is_zero_without_jitter() -> None:
    assert jitter_offset("uid", datetime(2024, 1, 1, tzinfo=UTC), 0) == 0.0


def test_jitter_depends_on_uid_and_instant_not_on_the_instants_zone() -> None:
    instant = datetime(2024, 1, 1, 12, tzinfo=UTC)
    same_instant = instant.astimezone(ZoneInfo("Asia/Tokyo"))
    assert jitter_offset("a", instant, 3600) == jitter_offset("a", same_instant, 3600)
    assert jitter_offset("a", instant, 3600) != jitter_offset("b", instant, 3600)
    assert jitter_offset("a", instant, 3600) != jitter_offset(
        "a", instant + timedelta(minutes=1), 3600
    )


def test_jitter_values_are_pinned_so_every_version_agrees() -> None:
    # Replicas running different builds during a rollout must agree on the offsets.
    instant = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert jitter_offset("8d3e4b1c-0000-4000-8000-000000000001", instant, 60) == 54.35


def test_jitter_spreads_evenly() -> None:
    instant = datetime(2024, 1, 1, 12, tzinfo=UTC)
    buckets = [0] * 10
    for n in range(5000):
        buckets[int(jitter_offset(f"uid-{n}", instant, 10))] += 1
    assert min(buckets) > 400 and max(buckets) < 600


def test_jitter_rejects_negative_and_naive_input() -> None:
    with pytest.raises(ValueError, match="jitter_seconds must be >= 0"):
        jitter_offset("uid", datetime(2024, 1, 1, tzinfo=UTC), -1)
    with pytest.raises(ValueError, match="instant must be a timezone-aware datetime"):
        jitter_offset("uid", datetime(2024, 1, 1), 10)


# ------------------------------------------------------------------- performance


def test_ten_thousand_next_fire_times_take_well_under_a_second() -> None:
    rng = random.Random(20240101)
    expressions = [
        "*/5 * * * *",
        "0 * * * *",
        "30 2 * * *",
        "0 9 * * MON-FRI",
        "*/15 9-17 * * 1-5",
        "15 3 1 * *",
        "0 0 1,15 * 5",
        "0 30 2 * * *",
        "@daily",
        "@weekly",
        "@yearly",
        "0 0 29 2 *",
        "0 0 31 * *",
        "@every 5m",
        "@every 1h30m",
    ]
    zones = [
        ZoneInfo(name)
        for name in ("UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata")
    ]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    work = [
        (
            parse_schedule(rng.choice(expressions)),
            rng.choice(zones),
            start + timedelta(seconds=rng.randrange(10**8)),
        )
        for _ in range(10_000)
    ]
    began = time.perf_counter()
    for schedule, tz, after in work:
        next_fire_after(schedule, tz, after, start)
    elapsed = time.perf_counter() - began
    # The target is well under a second; the bound leaves room for slow CI machines.
    assert elapsed < 2.0, f"10,000 next fire times took {elapsed:.3f}s"
