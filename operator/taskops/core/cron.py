"""Schedule arithmetic for TaskSchedule: parsing, fire times, time zones and jitter.

Pure: no I/O, no clock reads. Every instant that goes in or comes out is an aware
``datetime``; instants that come out are in UTC and fall on whole seconds, because
run names are ``<schedule name>-<scheduled unix time>``.

The semantics (documented for users in ``docs/schedules.md``):

* Cron fields are matched against the local wall-clock time in the schedule's zone.
* Day-of-month and day-of-week combine as in Kubernetes CronJob (robfig/cron v3):
  a field is *unrestricted* when it contains a bare ``*`` or ``?`` item; when both
  are restricted a day matches if EITHER matches, otherwise both must match.
* DST changes follow Vixie/ISC cron. A schedule whose minute or hour field is a
  wildcard (an item ``*`` or ``*/n``; ``@hourly`` too) *follows elapsed time*: it
  fires at every instant whose local wall time matches, so in both passes of a
  repeated hour and never for a wall time a forward change skipped.
* Any other schedule (fixed minutes and hours) fires once per matching wall time:
  one skipped by a forward change fires at the first instant after the gap (all
  matches inside one gap collapse into that one fire), one repeated by a backward
  change fires at its first occurrence only.
* ``@every d`` fires at ``anchor + k*d`` for k >= 1, regardless of the zone.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CronSchedule",
    "EverySchedule",
    "Schedule",
    "ScheduleError",
    "fire_times",
    "jitter_offset",
    "last_fire_at_or_before",
    "next_fire_after",
    "parse_schedule",
    "validate_time_zone",
]

_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The rarest valid cron match is Feb 29 with an unrestricted day-of-week: eight years
# apart around non-leap centuries (2096 -> 2104). Searching further means a bug.
_MAX_SEARCH_YEARS = 10


class ScheduleError(ValueError):
    """A schedule expression or time zone the user must fix.

    ``str(error)`` and ``error.message`` are the same human-readable message, naming
    the offending field of the expression and the reason; callers prefix the object
    field path (``spec.schedule: ...``).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression: the allowed values of each field, sorted ascending.

    ``days_of_week`` uses 0 = Sunday (an input 7 is stored as 0). The two
    ``*_restricted`` flags drive the day-of-month/day-of-week OR rule.
    ``follows_elapsed_time`` (the minute or hour field has a ``*`` or ``*/n`` item)
    selects the DST rule: True fires at every instant whose wall time matches, False
    once per matching wall time (see the module docstring).
    """

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    day_of_month_restricted: bool
    day_of_week_restricted: bool
    follows_elapsed_time: bool
    # For each weekday w (0 = Sunday): days forward / backward to the nearest allowed
    # weekday, so a day search is arithmetic instead of a walk.
    _dow_ahead: tuple[int | None, ...] = field(init=False, repr=False, compare=False)
    _dow_behind: tuple[int | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ahead, behind = _weekday_gaps(self.days_of_week)
        object.__setattr__(self, "_dow_ahead", ahead)
        object.__setattr__(self, "_dow_behind", behind)

    def matches(self, wall: datetime) -> bool:
        """True when the naive local wall time ``wall`` satisfies every field.

        Sub-second parts never match (fire times are whole seconds).
        """
        if wall.microsecond or wall.month not in self.months:
            return False
        if (
            wall.second not in self.seconds
            or wall.minute not in self.minutes
            or wall.hour not in self.hours
        ):
            return False
        return self._day_matches(wall.day, (wall.weekday() + 1) % 7)

    def _day_matches(self, day: int, weekday: int) -> bool:
        dom = day in self.days_of_month
        dow = weekday in self.days_of_week
        if self.day_of_month_restricted and self.day_of_week_restricted:
            return dom or dow
        return dom and dow

    def _next_day(self, year: int, month: int, day: int) -> int | None:
        """The first matching day >= ``day`` in the month, or None."""
        first_weekday, month_days = calendar.monthrange(year, month)
        if day > month_days:
            return None
        if not (self.day_of_month_restricted or self.day_of_week_restricted):
            return day
        best: int | None = None
        if self.day_of_month_restricted:
            i = bisect_left(self.days_of_month, day)
            if i < len(self.days_of_month) and self.days_of_month[i] <= month_days:
                best = self.days_of_month[i]
        if self.day_of_week_restricted:
            # calendar counts Monday = 0; cron counts Sunday = 0.
            gap = self._dow_ahead[(first_weekday + day) % 7]
            if gap is not None and day + gap <= month_days and (best is None or day + gap < best):
                best = day + gap
        return best

    def _previous_day(self, year: int, month: int, day: int) -> int | None:
        """The last matching day <= ``day`` in the month, or None."""
        first_weekday, month_days = calendar.monthrange(year, month)
        day = min(day, month_days)
        if day < 1:
            return None
        if not (self.day_of_month_restricted or self.day_of_week_restricted):
            return day
        best: int | None = None
        if self.day_of_month_restricted:
            i = bisect_right(self.days_of_month, day) - 1
            if i >= 0:
                best = self.days_of_month[i]
        if self.day_of_week_restricted:
            gap = self._dow_behind[(first_weekday + day) % 7]
            if gap is not None and day - gap >= 1 and (best is None or day - gap > best):
                best = day - gap
        return best

    def next_match(self, start: datetime) -> datetime:
        """The first naive wall time >= ``start`` (sub-second part ignored) matching
        every field. Raises ValueError if there is none before year 10000."""
        return datetime(*self._next_fields(_fields_of(start)))

    def previous_match(self, end: datetime) -> datetime:
        """The last naive wall time <= ``end`` (sub-second part ignored) matching every
        field. Raises ValueError if there is none after year 1."""
        return datetime(*self._previous_fields(_fields_of(end)))

    def _next_fields(self, start: _Fields) -> _Fields:
        # Jumps field by field, largest first. A value pushed past its field's end
        # (second 60, day 32, month 13) carries into the next larger field on the
        # next pass, so no step has to normalise a date.
        y, mo, d, h, mi, s = start
        limit = y + _MAX_SEARCH_YEARS
        while True:
            if y > limit or y > 9999:
                raise ValueError(f"schedule {self.expression!r} has no fire time after {start}")
            i = bisect_left(self.months, mo)
            if i == len(self.months):
                y, mo, d, h, mi, s = y + 1, self.months[0], 1, 0, 0, 0
                continue
            if self.months[i] != mo:
                mo, d, h, mi, s = self.months[i], 1, 0, 0, 0
            day = self._next_day(y, mo, d)
            if day is None:
                mo, d, h, mi, s = mo + 1, 1, 0, 0, 0
                continue
            if day != d:
                d, h, mi, s = day, 0, 0, 0
            i = bisect_left(self.hours, h)
            if i == len(self.hours):
                d, h, mi, s = d + 1, 0, 0, 0
                continue
            if self.hours[i] != h:
                h, mi, s = self.hours[i], 0, 0
            i = bisect_left(self.minutes, mi)
            if i == len(self.minutes):
                h, mi, s = h + 1, 0, 0
                continue
            if self.minutes[i] != mi:
                mi, s = self.minutes[i], 0
            i = bisect_left(self.seconds, s)
            if i == len(self.seconds):
                mi, s = mi + 1, 0
                continue
            return y, mo, d, h, mi, self.seconds[i]

    def _previous_fields(self, end: _Fields) -> _Fields:
        # The mirror image of _next_fields: a value pushed below its field's start
        # (second -1, day 0, month 0) borrows from the next larger field.
        y, mo, d, h, mi, s = end
        limit = y - _MAX_SEARCH_YEARS
        while True:
            if y < limit or y < 1:
                raise ValueError(f"schedule {self.expression!r} has no fire time before {end}")
            i = bisect_right(self.months, mo) - 1
            if i < 0:
                y, mo, d, h, mi, s = y - 1, self.months[-1], 31, 23, 59, 59
                continue
            if self.months[i] != mo:
                mo, d, h, mi, s = self.months[i], 31, 23, 59, 59
            day = self._previous_day(y, mo, d)
            if day is None:
                mo, d, h, mi, s = mo - 1, 31, 23, 59, 59
                continue
            if day != d:
                d, h, mi, s = day, 23, 59, 59
            i = bisect_right(self.hours, h) - 1
            if i < 0:
                d, h, mi, s = d - 1, 23, 59, 59
                continue
            if self.hours[i] != h:
                h, mi, s = self.hours[i], 59, 59
            i = bisect_right(self.minutes, mi) - 1
            if i < 0:
                h, mi, s = h - 1, 59, 59
                continue
            if self.minutes[i] != mi:
                mi, s = self.minutes[i], 59
            i = bisect_right(self.seconds, s) - 1
            if i < 0:
                mi, s = mi - 1, 59
                continue
            return y, mo, d, h, mi, self.seconds[i]


_Fields: TypeAlias = tuple[int, int, int, int, int, int]  # year month day hour minute second


def _fields_of(wall: datetime) -> _Fields:
    return wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second


@functools.cache  # at most 128 distinct weekday sets
def _weekday_gaps(
    days_of_week: tuple[int, ...],
) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
    allowed = set(days_of_week)
    ahead = tuple(next((k for k in range(7) if (w + k) % 7 in allowed), None) for w in range(7))
    behind = tuple(next((k for k in range(7) if (w - k) % 7 in allowed), None) for w in range(7))
    return ahead, behind


@dataclass(frozen=True)
class EverySchedule:
    """``@every <duration>``: fires every ``interval`` (a whole number of seconds >= 1)."""

    expression: str
    interval: timedelta


Schedule: TypeAlias = CronSchedule | EverySchedule


# ------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int  # highest value accepted in the input (day-of-week accepts 7 for Sunday)
    size: int  # distinct values: what `*` covers (day-of-week: 0-6, 7 is 0 again)
    names: Mapping[str, int]
    allows_question_mark: bool = False


_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
_DAY_NAMES = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
}
_MONTH_LABELS = {number: name for name, number in _MONTH_NAMES.items()}

_ALL_FIELDS = (
    _FieldSpec("second", 0, 59, 60, {}),
    _FieldSpec("minute", 0, 59, 60, {}),
    _FieldSpec("hour", 0, 23, 24, {}),
    _FieldSpec("day-of-month", 1, 31, 31, {}, allows_question_mark=True),
    _FieldSpec("month", 1, 12, 12, _MONTH_NAMES),
    _FieldSpec("day-of-week", 0, 7, 7, _DAY_NAMES, allows_question_mark=True),
)

# Macros expand to 6-field expressions (leading seconds), as in robfig/cron.
_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}

# Go's time.ParseDuration units, in nanoseconds.
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]+)")


def parse_schedule(expr: str) -> Schedule:
    """Parse a TaskSchedule ``spec.schedule`` expression.

    Accepts 5-field cron (minute hour day-of-month month day-of-week), 6-field cron
    with a leading seconds field, names (JAN-DEC, SUN-SAT, any case), ``*``, ranges,
    steps (``*/5``, ``1-30/2``, ``5/15`` = ``5-max/15``), lists, ``?`` in the day
    fields, 7 as Sunday, the macros ``@yearly @annually @monthly @weekly @daily
    @midnight @hourly`` and ``@every <Go duration>`` (whole seconds, >= 1s).

    Raises ScheduleError naming the field (numbered from 1 as written) and the reason,
    e.g. ``field 2 (minute): 61 is out of range 0-59``. A day-of-month that can never
    occur in the allowed months (``0 0 30 2 *``) is an error, not a schedule that
    never fires.

    Results are memoised (schedules are immutable), so reconciling the same
    TaskSchedule again does not parse its expression again.
    """
    return _parse_text(expr.strip())


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Schedule:
    if not text:
        raise ScheduleError("schedule is empty")
    if text.startswith("@"):
        return _parse_macro(text)
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        raise ScheduleError(
            "a time zone inside the schedule (TZ= or CRON_TZ=) is not supported; "
            "use the timeZone field instead"
        )
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ScheduleError(
            f"expected 5 fields (minute hour day-of-month month day-of-week) or 6 fields "
            f"(second minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    # Fields are numbered as the user wrote them: minute is field 1 of 5, field 2 of 6.
    specs = _ALL_FIELDS[6 - len(fields) :]
    parsed = [
        _parse_field(raw, spec, position)
        for position, (raw, spec) in enumerate(zip(fields, specs, strict=True), start=1)
    ]
    if len(fields) == 5:
        parsed.insert(0, (frozenset({0}), True, False))
    return _build_cron(text, parsed, field_number_offset=len(fields) - 5)


def _parse_macro(text: str) -> Schedule:
    word, *rest = text.split(maxsplit=1)
    word = word.lower()
    argument = rest[0].strip() if rest else ""
    if word == "@every":
        return _parse_every(text, argument)
    if word in _MACROS:
        if argument:
            raise ScheduleError(f"{word} takes no arguments, got {argument!r}")
        parsed = [
            _parse_field(raw, spec, position)
            for position, (raw, spec) in enumerate(
                zip(_MACROS[word].split(), _ALL_FIELDS, strict=True), start=1
            )
        ]
        return _build_cron(text, parsed, field_number_offset=1)
    known = ", ".join([*_MACROS, "@every <duration>"])
    raise ScheduleError(f"unknown macro {word!r}; expected one of {known}")


def _parse_every(text: str, duration: str) -> EverySchedule:
    if not duration:
        raise ScheduleError("@every needs a duration, e.g. '@every 5m' or '@every 1h30m'")
    nanoseconds = _parse_go_duration(duration)
    if nanoseconds < 1_000_000_000:
        raise ScheduleError(f"@every {duration}: the interval must be at least 1s")
    if nanoseconds % 1_000_000_000:
        # Runs are named by their unix second, so intervals are whole seconds.
        raise ScheduleError(f"@every {duration}: the interval must be a whole number of seconds")
    return EverySchedule(expression=text, interval=timedelta(seconds=nanoseconds // 1_000_000_000))


def _parse_go_duration(text: str) -> int:
    """Go ``time.ParseDuration`` syntax (``1h30m``, ``1.5h``, ``90s``) to nanoseconds."""
    problem = (
        f"@every {text}: {text!r} is not a duration; use a number and a unit "
        "(h, m, s, ms), e.g. 30s, 5m, 1h30m, 1.5h"
    )
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        raise ScheduleError(problem)
    total = Decimal(0)
    position = 0
    for match in _DURATION_PART.finditer(body):
        number, unit = match.groups()
        if match.start() != position or number in ("", ".") or unit not in _DURATION_UNITS:
            raise ScheduleError(problem)
        try:
            total += Decimal(number) * _DURATION_UNITS[unit]
        except InvalidOperation as error:  # pragma: no cover - the regex admits only digits
            raise ScheduleError(problem) from error
        position = match.end()
    if position != len(body):
        raise ScheduleError(problem)
    if text.startswith("-"):
        total = -total
    if total >= 2**63:  # Go's limit too (about 292 years); keeps datetimes in range
        raise ScheduleError(f"@every {text}: the interval is too long")
    return int(total)  # Go truncates sub-nanosecond fractions too


_ParsedField: TypeAlias = tuple[frozenset[int], bool, bool]  # values, restricted, starred


def _parse_field(raw: str, spec: _FieldSpec, position: int) -> _ParsedField:
    """One field to (allowed values, restricted, starred). Unrestricted means a bare *
    or ?; starred means an item is * or */n (a written-out range such as 0-59/15 is not)."""
    where = f"field {position} ({spec.name})"
    values: set[int] = set()
    restricted = True
    starred = False
    for item in raw.split(","):
        if not item:
            raise ScheduleError(f"{where}: empty item in list {raw!r}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if "/" in step_text:
                raise ScheduleError(f"{where}: too many '/' in {item!r}")
            if not (step_text.isdigit() and step_text.isascii()):
                raise ScheduleError(f"{where}: step {step_text!r} in {item!r} is not a number")
            step = int(step_text)
            if step < 1:
                raise ScheduleError(f"{where}: step in {item!r} must be at least 1")
            if step > spec.size:
                raise ScheduleError(
                    f"{where}: step {step} in {item!r} is larger than the field's "
                    f"{spec.size} values"
                )
        if base in ("*", "?"):
            if base == "?" and not spec.allows_question_mark:
                raise ScheduleError(f"{where}: '?' is only allowed in day-of-month and day-of-week")
            start, end = spec.low, spec.low + spec.size - 1
            starred = True
            # As in robfig/cron: only a star without a real step leaves a day field
            # unrestricted for the day-of-month/day-of-week rule.
            if step == 1:
                restricted = False
        else:
            low_text, dash, high_text = base.partition("-")
            if "-" in high_text:
                raise ScheduleError(f"{where}: too many '-' in {item!r}")
            start = _parse_value(low_text, spec, where, item)
            if dash:
                end = _parse_value(high_text, spec, where, item)
                if start > end:
                    hint = " (Sunday can be written 7)" if spec.name == "day-of-week" else ""
                    raise ScheduleError(
                        f"{where}: range {base!r} runs backwards; write the smaller value "
                        f"first{hint}"
                    )
            else:
                # "5/15" means from 5 to the field's end every 15, as in robfig/cron.
                end = spec.low + spec.size - 1 if slash else start
        values.update(range(start, end + 1, step))
    if spec.name == "day-of-week" and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values), restricted, starred


def _parse_value(text: str, spec: _FieldSpec, where: str, item: str) -> int:
    if not text:
        raise ScheduleError(f"{where}: missing value in {item!r}")
    named = spec.names.get(text.upper())
    if named is not None:
        return named
    if not text.isdigit() or not text.isascii():
        if spec.names:
            first, last = next(iter(spec.names)), list(spec.names)[-1]
            raise ScheduleError(
                f"{where}: {text!r} is neither a number nor a name ({first}-{last})"
            )
        raise ScheduleError(f"{where}: {text!r} is not a number")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise ScheduleError(f"{where}: {value} is out of range {spec.low}-{spec.high}")
    return value


def _build_cron(text: str, parsed: list[_ParsedField], field_number_offset: int) -> CronSchedule:
    (seconds, _, _), (minutes, _, minute_star), (hours, _, hour_star) = parsed[:3]
    (doms, dom_r, _), (months, _, _), (dows, dow_r, _) = parsed[3:]
    if dom_r and not dow_r:
        # Without a weekday alternative, a day that no allowed month has never fires.
        longest = max(29 if m == 2 else calendar.monthrange(2001, m)[1] for m in months)
        if min(doms) > longest:
            month_names = ",".join(_MONTH_LABELS[m] for m in sorted(months))
            dom_field = 3 + field_number_offset
            raise ScheduleError(
                f"fields {dom_field} and {dom_field + 1} (day-of-month, month): the schedule "
                f"never fires, no day {','.join(map(str, sorted(doms)))} exists in "
                f"{month_names}"
            )
    return CronSchedule(
        expression=text,
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days_of_month=tuple(sorted(doms)),
        months=tuple(sorted(months)),
        days_of_week=tuple(sorted(dows)),
        day_of_month_restricted=dom_r,
        day_of_week_restricted=dow_r,
        # Vixie cron's rule: a star in the minute or hour field means "by elapsed time".
        follows_elapsed_time=minute_star or hour_star,
    )


def validate_time_zone(name: str) -> ZoneInfo:
    """The zone for an IANA name (``Europe/Berlin``, ``UTC``); ScheduleError if unknown.

    Names are case-sensitive, as in the IANA database and Go's time.LoadLocation.
    """
    if not name:
        raise ScheduleError("time zone is empty: expected an IANA time zone name such as 'UTC'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        # ValueError: not a relative key or not a TZif file; OSError: a directory.
        raise ScheduleError(
            f"unknown time zone {name!r}: expected an IANA time zone name such as "
            "'Europe/Berlin', 'America/New_York' or 'UTC'"
        ) from error


# ---------------------------------------------------------------------- fire times


def next_fire_after(
    schedule: Schedule, tz: ZoneInfo, after: datetime, anchor: datetime
) -> datetime:
    """The first fire time strictly after ``after``, as an aware UTC datetime.

    Cron schedules follow wall-clock time in ``tz`` with the DST rules in the module
    docstring (``follows_elapsed_time`` picks which); ``anchor`` is ignored.
    ``@every d`` fires at ``anchor + k*d`` for k >= 1 (``anchor`` truncated to the
    second: the TaskSchedule's creation time), whatever ``tz`` is; creation itself is
    not a fire time.

    Raises ValueError for naive datetimes, or if no fire time exists up to year 9999.
    """
    _require_aware("after", after)
    if isinstance(schedule, EverySchedule):
        _require_aware("anchor", anchor)
        return _every_next(schedule, anchor, after)
    local = after.astimezone(tz)
    # Second 60 is fine: _next_fields carries it into the minute.
    y, mo, d, h, mi, sec = _fields_of(local)
    start = (y, mo, d, h, mi, sec + 1)
    if schedule.follows_elapsed_time:
        return _next_by_elapsed_time(schedule, tz, local, start)
    if local.fold:
        # `after` lies in the second pass of a repeated hour. Those wall times already
        # fired in the first pass, so the search starts where the repetition ends.
        start = max(start, _fields_of(_end_of_repetition(tz, local)))
    return _fire_instant(tz, schedule._next_fields(start))


def last_fire_at_or_before(
    schedule: Schedule, tz: ZoneInfo, at: datetime, anchor: datetime
) -> datetime | None:
    """The latest fire time <= ``at`` (aware UTC), or None if there is none.

    The mirror of :func:`next_fire_after`, with the same semantics; it finds the one
    run to start after an outage without walking every missed fire time. None only
    for ``@every`` before its first fire (``anchor + d``).
    """
    _require_aware("at", at)
    if isinstance(schedule, EverySchedule):
        _require_aware("anchor", anchor)
        return _every_last(schedule, anchor, at)
    local = at.astimezone(tz)
    end = _fields_of(local)
    if schedule.follows_elapsed_time:
        return _last_by_elapsed_time(schedule, tz, local, end)
    if local.fold:
        # Every wall time of the repeated hour fired in its first pass, before `at`.
        end = max(end, _fields_of(_end_of_repetition(tz, local) - _SECOND))
    return _fire_instant(tz, schedule._previous_fields(end))


def fire_times(
    schedule: Schedule, tz: ZoneInfo, after: datetime, anchor: datetime
) -> Iterator[datetime]:
    """The fire times strictly after ``after``, ascending, without end."""
    instant = after
    while True:
        instant = next_fire_after(schedule, tz, instant, anchor)
        yield instant


def _every_steps(
    schedule: EverySchedule, anchor: datetime, instant: datetime
) -> tuple[datetime, int]:
    """(origin, k) with origin + k*interval <= instant < origin + (k+1)*interval.

    Integer microseconds keep anchor + k*d exact however far from the anchor; the
    origin is the anchor truncated to the second so every fire is a whole second.
    """
    origin = anchor.astimezone(UTC).replace(microsecond=0)
    elapsed = (instant - origin) // timedelta(microseconds=1)
    return origin, elapsed // (schedule.interval // timedelta(microseconds=1))


def _every_next(schedule: EverySchedule, anchor: datetime, after: datetime) -> datetime:
    origin, k = _every_steps(schedule, anchor, after)
    return origin + max(k + 1, 1) * schedule.interval


def _every_last(schedule: EverySchedule, anchor: datetime, at: datetime) -> datetime | None:
    origin, k = _every_steps(schedule, anchor, at)
    return origin + k * schedule.interval if k >= 1 else None


def _fire_instant(tz: ZoneInfo, wall: _Fields) -> datetime:
    """The UTC instant a matching wall time fires at, once per wall time."""
    # tz.utcoffset on naive datetimes: the cheapest way to ask zoneinfo (hot path).
    first = tz.utcoffset(datetime(*wall))
    second = tz.utcoffset(datetime(*wall, fold=1))
    assert first is not None and second is not None  # a ZoneInfo always has an offset
    if first >= second:
        # Unique, or repeated (fold=0 is the first occurrence): fire at that instant.
        return datetime(*wall, tzinfo=UTC) - first
    # Skipped: the wall time lies in a gap [T + first, T + second); fire at T itself.
    as_utc = datetime(*wall, tzinfo=UTC)
    return _transition(tz, as_utc - second, as_utc - first)


def _next_by_elapsed_time(
    schedule: CronSchedule, tz: ZoneInfo, local: datetime, start: _Fields
) -> datetime:
    """The first instant after ``local`` whose wall time matches (``start`` is the wall
    time one second after ``local``), for schedules that follow elapsed time.

    Wall time runs forward except at a backward change, so the next match in wall
    order is the answer, with two exceptions: inside a repeated range, a match that
    comes later in wall order than the range's end may be beaten by an earlier-wall
    match in the second pass; and a match inside a gap never occurs.
    """
    wall = schedule._next_fields(start)
    repetition = _repetition_of(tz, local)
    if repetition is not None:
        first_wall, end_wall = repetition
        if wall < end_wall:  # still inside the repeated range, in the same pass
            return _instant(tz, wall, fold=local.fold)
        if not local.fold:  # the second pass starts over at the range's first wall
            again = schedule._next_fields(first_wall)
            if again < end_wall:
                return _instant(tz, again, fold=1)
    while True:
        first = tz.utcoffset(datetime(*wall))
        second = tz.utcoffset(datetime(*wall, fold=1))
        assert first is not None and second is not None
        if first >= second:  # unique, or repeated: its first pass comes first
            return datetime(*wall, tzinfo=UTC) - first
        # Skipped: never happens; look again from the gap's end.
        as_utc = datetime(*wall, tzinfo=UTC)
        gap_end = _transition(tz, as_utc - second, as_utc - first) + second
        wall = schedule._next_fields(_fields_of(gap_end))


def _last_by_elapsed_time(
    schedule: CronSchedule, tz: ZoneInfo, local: datetime, end: _Fields
) -> datetime:
    """The mirror of :func:`_next_by_elapsed_time`: the last instant at or before
    ``local`` (whose wall time is ``end``) whose wall time matches."""
    wall = schedule._previous_fields(end)
    repetition = _repetition_of(tz, local)
    if repetition is not None:
        first_wall, end_wall = repetition
        if wall >= first_wall:  # inside the repeated range, in the same pass
            return _instant(tz, wall, fold=local.fold)
        if local.fold:  # the first pass ended at the range's last wall
            earlier = schedule._previous_fields(_fields_of(datetime(*end_wall) - _SECOND))
            if earlier >= first_wall:
                return _instant(tz, earlier, fold=0)
    while True:
        first = tz.utcoffset(datetime(*wall))
        second = tz.utcoffset(datetime(*wall, fold=1))
        assert first is not None and second is not None
        if first >= second:  # unique, or repeated: its second pass came last
            return datetime(*wall, tzinfo=UTC) - second
        as_utc = datetime(*wall, tzinfo=UTC)
        gap_start = _transition(tz, as_utc - second, as_utc - first) + first
        wall = schedule._previous_fields(_fields_of(gap_start - _SECOND))


def _repetition_of(tz: ZoneInfo, local: datetime) -> tuple[_Fields, _Fields] | None:
    """For a local time in either pass of a repeated range: the range's first wall
    time and the wall time it ends at (exclusive); else None."""
    naive = local.replace(tzinfo=None, fold=0)
    earlier = tz.utcoffset(naive)
    later = tz.utcoffset(naive.replace(fold=1))
    assert earlier is not None and later is not None
    if earlier <= later:
        return None
    as_utc = datetime(*_fields_of(naive), tzinfo=UTC)
    transition = _transition(tz, as_utc - earlier, as_utc - later)
    return _fields_of(transition + later), _fields_of(transition + earlier)


def _instant(tz: ZoneInfo, wall: _Fields, fold: int) -> datetime:
    """The UTC instant of a wall time that exists, in the pass ``fold`` picks."""
    offset = tz.utcoffset(datetime(*wall, fold=fold))
    assert offset is not None
    return datetime(*wall, tzinfo=UTC) - offset


def _end_of_repetition(tz: ZoneInfo, local: datetime) -> datetime:
    """For a second-pass (fold=1) local time: the naive wall time the repetition ends."""
    first_offset = local.replace(fold=0).utcoffset()
    second_offset = local.utcoffset()
    assert first_offset is not None and second_offset is not None
    instant = local.astimezone(UTC)
    transition = _transition(tz, instant - (first_offset - second_offset), instant)
    return (transition + first_offset).replace(tzinfo=None)


def _transition(tz: ZoneInfo, before: datetime, at_or_after: datetime) -> datetime:
    """The first whole-second UTC instant in (before, at_or_after] whose offset differs
    from the offset at ``before``. Exactly one transition must lie in between.

    zoneinfo does not expose its transition table, so bisect on the offset: the
    interval is one DST shift long (an hour: 12 steps; a day for Samoa 2011: 17).
    """
    low = (before - _EPOCH) // _SECOND
    high = -((_EPOCH - at_or_after) // _SECOND)  # ceiling
    original = _offset_at(tz, low)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(tz, middle) == original:
            low = middle
        else:
            high = middle
    return _EPOCH + timedelta(seconds=high)


def _offset_at(tz: ZoneInfo, unix_seconds: int) -> timedelta | None:
    return (_EPOCH + timedelta(seconds=unix_seconds)).astimezone(tz).utcoffset()


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


# -------------------------------------------------------------------------- jitter


def jitter_offset(uid: str, instant: datetime, jitter_seconds: int) -> float:
    """Seconds to delay the run for ``instant``: in [0, jitter_seconds), 0.0 when 0.

    Deterministic: a SHA-256 of the schedule's UID and the instant's unix second, so
    every replica and every restart computes the same offset (Python's ``hash`` is
    salted per process and would not). Millisecond resolution.
    """
    if jitter_seconds < 0:
        raise ValueError(f"jitter_seconds must be >= 0, got {jitter_seconds}")
    if jitter_seconds == 0:
        return 0.0
    _require_aware("instant", instant)
    unix_seconds = (instant - _EPOCH) // _SECOND
    digest = hashlib.sha256(f"{uid}\x00{unix_seconds}".encode()).digest()
    # 64 bits modulo at most a few million milliseconds: the bias is < 1e-12.
    milliseconds = int.from_bytes(digest[:8], "big") % (jitter_seconds * 1000)
    return milliseconds / 1000
