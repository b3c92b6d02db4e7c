"""Invariants of the schedule arithmetic, checked against a brute-force reference.

The reference below shares no code with taskops.core.cron: it matches wall times
against the field sets the strategy drew (not the parser's output) and decides
whether an instant is a fire time by looking at that instant alone. It states the
DST rule of Vixie/ISC cron (api.md, timeZone): a schedule with a wildcard (`*`,
`*/n`) in its minute or hour field fires at every instant whose wall time matches;
any other fires once per matching wall time (gap times at the gap's end, repeated
times in their first pass).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from taskops.core.cron import (
    CronSchedule,
    EverySchedule,
    ScheduleError,
    fire_times,
    jitter_offset,
    last_fire_at_or_before,
    next_fire_after,
    parse_schedule,
)

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXPENSIVE = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- the reference


@dataclass(frozen=True)
class Fields:
    """What a drawn expression means, independently of the parser."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool
    has_seconds: bool
    follows_elapsed_time: bool  # the minute or hour field was drawn as `*` or `*/n`

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def matches(self, wall: datetime) -> bool:
        return (
            wall.second in self.seconds
            and wall.minute in self.minutes
            and wall.hour in self.hours
            and self.day_matches(wall.date())
        )


def offset_at(tz: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def skipped_wall_times(tz: ZoneInfo, instant: datetime) -> list[datetime]:
    """The wall times a forward DST jump right before `instant` skipped (else [])."""
    jump = offset_at(tz, instant) - offset_at(tz, instant - SECOND)
    if jump <= timedelta(0):
        return []
    wall = instant.astimezone(tz).replace(tzinfo=None)
    return [wall - jump + k * SECOND for k in range(int(jump / SECOND))]


def is_wildcard(text: str) -> bool:
    """Whether a minute or hour field as written has a `*` or `*/n` item."""
    return any(item == "*" or item.startswith("*/") for item in text.split(","))


def is_fire(fields: Fields, tz: ZoneInfo, instant: datetime) -> bool:
    """The contract, instant by instant. By elapsed time: the instant's wall time
    matches, in either pass. Otherwise: a wall time fires at its first occurrence, and
    the first instant after a gap fires if any skipped wall time matched."""
    local = instant.astimezone(tz)
    if fields.follows_elapsed_time:
        return fields.matches(local.replace(tzinfo=None))
    if local.fold:  # the second pass of a repeated wall time never fires
        return False
    if fields.matches(local.replace(tzinfo=None)):
        return True
    return any(fields.matches(wall) for wall in skipped_wall_times(tz, instant))


def reference_fires(fields: Fields, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in the open interval (start, end), by brute force."""
    step = 1 if fields.has_seconds else 60  # all modern offsets are whole minutes
    unix = (start - EPOCH) // SECOND
    first = unix + step - unix % step
    instant, found = EPOCH + timedelta(seconds=first), []
    while instant < end:
        if instant > start and is_fire(fields, tz, instant):
            found.append(instant)
        instant += step * SECOND
    return found


@functools.cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """The zone's offset changes in 2020-2030, found by scanning days then bisecting."""
    tz, found = ZoneInfo(zone), []
    day = datetime(2020, 1, 1, tzinfo=UTC)
    while day.year < 2031:
        low, high = day, day + timedelta(days=1)
        if offset_at(tz, low) != offset_at(tz, high):
            while high - low > SECOND:
                middle = low + (high - low) / 2
                middle -= timedelta(microseconds=middle.microsecond)
                if offset_at(tz, middle) == offset_at(tz, low):
                    low = middle
                else:
                    high = middle
            found.append(high)
        day += timedelta(days=1)
    return tuple(found)


# --------------------------------------------------------------- the strategies


@st.composite
def cron_field(
    draw: st.DrawFn,
    low: int,
    high: int,
    hot: tuple[int, ...],
    names: tuple[str, ...] = (),
    stars: int = 1,
) -> tuple[str, frozenset[int], bool]:
    """(text, values, restricted) for one field; `hot` values are drawn more often, and
    `stars` weighs how often the field is left unrestricted."""
    kind = draw(st.sampled_from(["star"] * stars + ["list", "list", "range", "step"]))
    value = st.one_of(st.integers(low, high), st.sampled_from(hot))

    def render(number: int) -> str:
        use_name: bool = draw(st.booleans())
        return names[number - low] if names and use_name else str(number)

    if kind == "star":
        return "*", frozenset(range(low, high + 1)), False
    if kind == "list":
        values = draw(st.lists(value, min_size=1, max_size=4))
        return ",".join(render(v) for v in values), frozenset(values), True
    if kind == "range":
        a, b = sorted((draw(value), draw(value)))
        step = draw(st.integers(1, max(1, b - a)))
        text = f"{render(a)}-{render(b)}" + (f"/{step}" if step > 1 else "")
        return text, frozenset(range(a, b + 1, step)), True
    step = draw(st.integers(2, high - low + 1))
    return f"*/{step}", frozenset(range(low, high + 1, step)), True


@st.composite
def weekday_field(draw: st.DrawFn, stars: int) -> tuple[str, frozenset[int], bool]:
    text, values, restricted = draw(cron_field(0, 6, (0, 6), WEEKDAYS, stars=stars))
    if restricted and text == "0" and draw(st.booleans()):
        text = "7"  # Sunday's other number
    return text, values, restricted


@st.composite
def cron_expressions(
    draw: st.DrawFn,
    with_seconds: bool | None = None,
    hot_hours: tuple[int, ...] = (1, 2, 3),
    day_stars: int = 4,
) -> tuple[str, Fields]:
    """A random valid cron expression and what it means. `hot_hours` (when DST changes)
    come often and the day fields are often `*`, so fires land on transition days."""
    if with_seconds is None:
        with_seconds = draw(st.booleans())
    seconds = draw(cron_field(0, 59, (0, 30))) if with_seconds else ("0", frozenset({0}), True)
    minutes = draw(cron_field(0, 59, (0, 15, 30, 45)))
    hours = draw(cron_field(0, 23, hot_hours))
    days = draw(cron_field(1, 31, (1, 28, 29, 30, 31), stars=day_stars))
    months = draw(cron_field(1, 12, (2, 3, 4, 10, 11), MONTHS, stars=day_stars))
    weekdays = draw(weekday_field(day_stars))
    if days[2] and not weekdays[2]:
        longest = max(DAYS_IN_MONTH[m - 1] for m in months[1])
        assume(min(days[1]) <= longest)  # else the parser rightly refuses it
    parts = [minutes[0], hours[0], days[0], months[0], weekdays[0]]
    if with_seconds:
        parts.insert(0, seconds[0])
    if days[0] == "*" and draw(st.booleans()):
        parts[-3] = "?"
    if weekdays[0] == "*" and draw(st.booleans()):
        parts[-1] = "?"
    fields = Fields(
        seconds=seconds[1],
        minutes=minutes[1],
        hours=hours[1],
        days=days[1],
        months=months[1],
        weekdays=frozenset(v % 7 for v in weekdays[1]),
        days_restricted=days[2],
        weekdays_restricted=weekdays[2],
        has_seconds=with_seconds,
        follows_elapsed_time=is_wildcard(minutes[0]) or is_wildcard(hours[0]),
    )
    return " ".join(parts), fields


@st.composite
def cases(
    draw: st.DrawFn, with_seconds: bool | None = None
) -> tuple[str, Fields, ZoneInfo, datetime]:
    """(expression, meaning, zone, after): mostly `after` shortly before a DST transition
    with the hours around it in the expression, else anything in 2000-2040."""
    zone = draw(st.sampled_from(ZONES))
    if transitions(zone) and draw(st.integers(0, 3)) > 0:
        tz, transition = ZoneInfo(zone), draw(st.sampled_from(transitions(zone)))
        hot = tuple(
            {(transition + k * timedelta(minutes=30)).astimezone(tz).hour for k in range(-4, 4)}
        )
        expr, fields = draw(cron_expressions(with_seconds, hot_hours=hot, day_stars=12))
        # Counted from three hours before, since draws favour small numbers.
        after = transition - timedelta(hours=3) + draw(st.integers(0, 4 * 3600)) * SECOND
        return expr, fields, tz, after
    expr, fields = draw(cron_expressions(with_seconds))
    after = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
        )
    )
    return expr, fields, ZoneInfo(zone), after


def schedule_of(expr: str) -> CronSchedule:
    schedule = parse_schedule(expr)
    assert isinstance(schedule, CronSchedule)
    return schedule


# ------------------------------------------------------------------- properties


def every_day(
    expr: str,
    zone: str,
    after: str,
    minutes: range | set[int],
    hours: range | set[int],
    follows_elapsed_time: bool | None = None,
) -> tuple[str, Fields, ZoneInfo, datetime]:
    """A hand-written case for a 5-field expression that restricts only minute and hour
    (or a macro, with `follows_elapsed_time` given)."""
    if follows_elapsed_time is None:
        minute, hour = expr.split()[:2]
        follows_elapsed_time = is_wildcard(minute) or is_wildcard(hour)
    fields = Fields(
        seconds=frozenset({0}),
        minutes=frozenset(minutes),
        hours=frozenset(hours),
        days=frozenset(range(1, 32)),
        months=frozenset(range(1, 13)),
        weekdays=frozenset(range(7)),
        days_restricted=False,
        weekdays_restricted=False,
        has_seconds=False,
        follows_elapsed_time=follows_elapsed_time,
    )
    return expr, fields, ZoneInfo(zone), datetime.fromisoformat(after)


# Random draws reach DST transitions only now and then; these always run.
DST_EXAMPLES = (
    every_day("*/20 * * * *", "America/New_York", "2024-11-03T04:30Z", {0, 20, 40}, range(24)),
    # `after` in the first (01:10 EDT) and second pass (01:10 EST) of the repeated hour.
    every_day("*/20 * * * *", "America/New_York", "2024-11-03T05:10Z", {0, 20, 40}, range(24)),
    every_day("*/20 * * * *", "America/New_York", "2024-11-03T06:10Z", {0, 20, 40}, range(24)),
    every_day("0,20,40 1 * * *", "America/New_York", "2024-11-03T05:10Z", {0, 20, 40}, {1}),
    every_day("0,20,40 1 * * *", "America/New_York", "2024-11-03T06:10Z", {0, 20, 40}, {1}),
    every_day("*/15 1 * * *", "America/New_York", "2024-11-03T04:30Z", range(0, 60, 15), {1}),
    every_day("30 * * * *", "America/New_York", "2024-03-10T05:00Z", {30}, range(24)),
    every_day("@hourly", "Australia/Lord_Howe", "2024-04-06T13:00Z", {0}, range(24), True),
    every_day("@hourly", "Australia/Lord_Howe", "2024-10-05T14:00Z", {0}, range(24), True),
    every_day("30 2 * * *", "America/New_York", "2024-03-10T05:00Z", {30}, {2}),
    every_day("0,30 2 * * *", "Europe/Berlin", "2024-03-30T23:00Z", {0, 30}, {2}),
    every_day("30 2 * * *", "Europe/Berlin", "2024-10-26T23:00Z", {30}, {2}),
    every_day("*/10 2 * * *", "Australia/Lord_Howe", "2024-10-05T14:00Z", range(0, 60, 10), {2}),
    every_day(
        "*/15 * * * *", "Australia/Lord_Howe", "2024-04-06T14:00Z", range(0, 60, 15), range(24)
    ),
    every_day("0 0 * * *", "America/Santiago", "2024-09-07T16:00Z", {0}, {0}),
    every_day("30 23 * * *", "America/Santiago", "2024-04-06T15:00Z", {30}, {23}),
)


def with_dst_examples(test: Callable[..., None]) -> Callable[..., None]:
    for case in DST_EXAMPLES:
        test = example(case)(test)
    return test


@PROPERTY
@given(
    cron_expressions(),
    st.lists(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
        min_size=1,
        max_size=20,
    ),
)
def test_parsing_yields_exactly_the_values_the_expression_lists(
    drawn: tuple[str, Fields], walls: list[datetime]
) -> None:
    """An expression built from known value sets parses to exactly those sets, and
    matches exactly the wall times they describe."""
    expr, fields = drawn
    schedule = schedule_of(expr)
    assert set(schedule.seconds) == fields.seconds
    assert set(schedule.minutes) == fields.minutes
    assert set(schedule.hours) == fields.hours
    assert set(schedule.days_of_month) == fields.days
    assert set(schedule.months) == fields.months
    assert set(schedule.days_of_week) == fields.weekdays
    assert schedule.day_of_month_restricted == fields.days_restricted
    assert schedule.day_of_week_restricted == fields.weekdays_restricted
    for wall in walls:
        whole = wall.replace(microsecond=0)
        assert schedule.matches(whole) == fields.matches(whole)
        # The same day at a matching time of day: now only the day and month decide.
        timely = whole.replace(
            hour=min(fields.hours), minute=min(fields.minutes), second=min(fields.seconds)
        )
        assert schedule.matches(timely) == fields.matches(timely)
        assert schedule.next_match(whole) >= whole
        assert fields.matches(schedule.next_match(whole))
        assert fields.matches(schedule.previous_match(whole))


@PROPERTY
@with_dst_examples
@given(cases())
def test_successive_fire_times_strictly_increase(
    case: tuple[str, Fields, ZoneInfo, datetime],
) -> None:
    """Each fire time is later than `after` and than the fire time before it."""
    expr, _, tz, after = case
    previous = after
    for instant in _first(fire_times(schedule_of(expr), tz, after, after), 6):
        assert instant > previous
        assert instant.tzinfo is UTC and instant.microsecond == 0
        previous = instant


@PROPERTY
@with_dst_examples
@given(cases())
def test_every_fire_time_matches_or_ends_a_gap_that_skipped_a_match(
    case: tuple[str, Fields, ZoneInfo, datetime],
) -> None:
    """By elapsed time, a fire time's wall time matches. Otherwise its first-occurrence
    wall time matches, or it is the first instant after a DST gap in which a matching
    wall time was skipped."""
    expr, fields, tz, after = case
    for instant in _first(fire_times(schedule_of(expr), tz, after, after), 6):
        local = instant.astimezone(tz)
        if fields.follows_elapsed_time:
            assert fields.matches(local.replace(tzinfo=None)), f"{local} does not match"
            continue
        assert local.fold == 0, "a repeated wall time fired in its second pass"
        if not fields.matches(local.replace(tzinfo=None)):
            skipped = skipped_wall_times(tz, instant)
            assert skipped, f"{local} does not match {expr!r} and ends no gap"
            assert any(fields.matches(wall) for wall in skipped)


@EXPENSIVE
@with_dst_examples
@given(cases(with_seconds=False))
def test_no_fire_time_is_missed_between_after_and_the_next_fire(
    case: tuple[str, Fields, ZoneInfo, datetime],
) -> None:
    """No instant strictly between `after` and the returned fire time is a fire time."""
    expr, fields, tz, after = case
    found = next_fire_after(schedule_of(expr), tz, after, after)
    assert is_fire(fields, tz, found)
    day = timedelta(days=1)
    # Minute by minute through the first and the last day of the wait...
    assert reference_fires(fields, tz, after, min(found, after + day)) == []
    assert reference_fires(fields, tz, max(after, found - day), found) == []
    # ...and day by day in between, where any matching day would have fired, unless
    # it follows elapsed time and all its matching wall times fell into a DST gap.
    first = (after + day).astimezone(tz).date() + day
    last = (found - day).astimezone(tz).date()
    current = first
    while current < last:
        if fields.day_matches(current):
            assert fields.follows_elapsed_time, f"{current} matches {expr!r} but was skipped"
            start = datetime.combine(current, time(), tzinfo=tz).astimezone(UTC)
            hour = timedelta(hours=1)
            assert reference_fires(fields, tz, start - hour, start + day + hour) == []
        current += day


@EXPENSIVE
@example(
    (
        "*/20 * 2 * * *",
        Fields(
            seconds=frozenset({0, 20, 40}),
            minutes=frozenset(range(60)),
            hours=frozenset({2}),
            days=frozenset(range(1, 32)),
            months=frozenset(range(1, 13)),
            weekdays=frozenset(range(7)),
            days_restricted=False,
            weekdays_restricted=False,
            has_seconds=True,
            follows_elapsed_time=True,
        ),
        ZoneInfo("America/New_York"),
        datetime(2024, 3, 10, 6, 59, tzinfo=UTC),
    )
)
@given(cases(with_seconds=True))
def test_no_fire_time_is_missed_with_a_seconds_field(
    case: tuple[str, Fields, ZoneInfo, datetime],
) -> None:
    """With a seconds field too, the half hour after `after` holds no earlier fire time."""
    expr, fields, tz, after = case
    found = next_fire_after(schedule_of(expr), tz, after, after)
    assert is_fire(fields, tz, found)
    assert reference_fires(fields, tz, after, min(found, after + timedelta(minutes=30))) == []


@PROPERTY
@with_dst_examples
@given(cases())
def test_same_input_same_output(case: tuple[str, Fields, ZoneInfo, datetime]) -> None:
    """Parsing and computing the next fire time are pure functions of their input."""
    expr, _, tz, after = case
    assert parse_schedule(expr) == parse_schedule(f" {expr} ")
    first = next_fire_after(parse_schedule(expr), tz, after, after)
    next_fire_after(parse_schedule("*/7 * * * * *"), ZoneInfo("Asia/Tokyo"), after, after)
    assert next_fire_after(parse_schedule(expr), tz, after, after) == first
    assert next_fire_after(parse_schedule(expr), tz, after.astimezone(tz), after) == first


@PROPERTY
@with_dst_examples
@given(cases())
def test_the_last_fire_at_or_before_is_the_one_before_the_next(
    case: tuple[str, Fields, ZoneInfo, datetime],
) -> None:
    """last_fire_at_or_before(t) <= t, and the fire after it is the first fire after t."""
    expr, _, tz, at = case
    schedule = schedule_of(expr)
    following = next_fire_after(schedule, tz, at, at)
    last = last_fire_at_or_before(schedule, tz, at, at)
    assert last is not None and last <= at
    assert next_fire_after(schedule, tz, last, at) == following
    assert last_fire_at_or_before(schedule, tz, following, at) == following


@PROPERTY
@given(
    zone=st.sampled_from(ZONES),
    step=st.sampled_from([1, 5, 10, 15, 30]),
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    near_a_transition=st.booleans(),
)
def test_a_stepped_minute_schedule_fires_every_step_of_real_time(
    zone: str, step: int, start: datetime, near_a_transition: bool
) -> None:
    """`*/n * * * *` (n dividing 30) fires every n real minutes, through DST changes
    too, in every zone whose offsets are whole half hours."""
    tz = ZoneInfo(zone)
    if near_a_transition and transitions(zone):
        nearest = min(transitions(zone), key=lambda transition: abs(transition - start))
        start = nearest - timedelta(hours=2) + (start - EPOCH) % timedelta(hours=1)
    series = _first(fire_times(schedule_of(f"*/{step} * * * *"), tz, start, start), 240 // step)
    assert all(b - a == timedelta(minutes=step) for a, b in pairwise(series))


@PROPERTY
@given(
    seconds=st.integers(1, 10 * 24 * 3600),
    anchor=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    offset=st.integers(-(10**6), 10**9),
    zone=st.sampled_from(ZONES),
)
def test_every_fires_at_whole_intervals_after_the_anchor(
    seconds: int, anchor: datetime, offset: int, zone: str
) -> None:
    """@every d fires at anchor + k*d for k >= 1: the first such instant after `after`."""
    schedule = parse_schedule(f"@every {seconds}s")
    assert isinstance(schedule, EverySchedule)
    origin = anchor.replace(microsecond=0)
    after = anchor + timedelta(seconds=offset, microseconds=offset % 997)
    found = next_fire_after(schedule, ZoneInfo(zone), after, anchor)
    k, remainder = divmod(found - origin, schedule.interval)
    assert remainder == timedelta(0) and k >= 1
    assert found > after
    assert k == 1 or found - schedule.interval <= after
    last = last_fire_at_or_before(schedule, ZoneInfo(zone), after, anchor)
    assert last == (found - schedule.interval if k > 1 else None)


@PROPERTY
@given(
    uid=st.text(min_size=1, max_size=40),
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    jitter_seconds=st.integers(0, 86400),
)
def test_jitter_is_in_range_and_deterministic(
    uid: str, instant: datetime, jitter_seconds: int
) -> None:
    """The jitter lies in [0, jitter) (0 when jitter is 0) and depends only on its input."""
    offset = jitter_offset(uid, instant, jitter_seconds)
    assert offset == jitter_offset(uid, instant, jitter_seconds)
    if jitter_seconds == 0:
        assert offset == 0.0
    else:
        assert 0.0 <= offset < jitter_seconds


@PROPERTY
@given(st.text(max_size=30))
def test_parsing_never_fails_with_anything_but_a_schedule_error(text: str) -> None:
    """Any string either parses or raises ScheduleError, never another exception."""
    try:
        parse_schedule(text)
    except ScheduleError as error:
        assert str(error)


def _first(times: Iterator[datetime], count: int) -> list[datetime]:
    return [next(times) for _ in range(count)]
