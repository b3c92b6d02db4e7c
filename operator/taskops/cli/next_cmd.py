"""`next`: the next fire times of a schedule, from the operator's own arithmetic
(`taskops.core.cron.fire_times`), in UTC and in the schedule's zone, with DST
changes marked."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from taskops.cli.cluster import TASKSCHEDULES, Cluster, Target, kube_options
from taskops.cli.errors import CliError
from taskops.cli.render import dump, output_option, parse_instant, table
from taskops.core.cron import (
    ScheduleError,
    fire_times,
    jitter_offset,
    parse_schedule,
    validate_time_zone,
)
from taskops.core.observed import format_time, parse_time
from taskops.core.schedule import run_name

MAX_COUNT = 1000


@dataclass(frozen=True)
class FireTime:
    """One upcoming fire time; `offset_before` is set when the zone's UTC offset
    differs from the one at the previous fire time (or at the start, for the first):
    a DST change happened in between."""

    instant: datetime
    local: datetime
    offset_before: timedelta | None


def upcoming(expression: str, zone_name: str, after: datetime, anchor: datetime,
             count: int) -> list[FireTime]:
    """The first `count` fire times strictly after `after`: the operator's
    `fire_times`. Raises CliError for an invalid expression or zone."""
    try:
        schedule = parse_schedule(expression)
    except ScheduleError as err:
        raise CliError(f"schedule {expression!r}: {err.message}") from err
    try:
        zone = validate_time_zone(zone_name)
    except ScheduleError as err:
        raise CliError(f"time zone: {err.message}") from err
    times: list[FireTime] = []
    previous = after.astimezone(zone).utcoffset()
    try:
        for instant in itertools.islice(fire_times(schedule, zone, after, anchor), count):
            local = instant.astimezone(zone)
            offset = local.utcoffset()
            changed = previous if offset != previous else None
            times.append(FireTime(instant, local, changed))
            previous = offset
    except ValueError:  # no fire time before year 10000: show the ones there are
        pass
    return times


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_text(local: datetime) -> str:
    """`2024-11-03 01:30:00 EDT -04:00`."""
    name = local.tzname() or ""
    offset = _offset(local.utcoffset())
    zone = f"{name} {offset}" if name and name != offset and name[0] not in "+-" else offset
    return f"{local:%Y-%m-%d %H:%M:%S} {zone}"


def note(fire: FireTime) -> str:
    if fire.offset_before is None:
        return ""
    return f"DST change before this run: {_offset(fire.offset_before)} -> " \
           f"{_offset(fire.local.utcoffset())}"


@dataclass(frozen=True)
class Run:
    """For `next SCHEDULE -o wide`: the run's name and its jittered start."""

    name: str
    start: datetime


def render_table(times: list[FireTime], zone_name: str, runs: list[Run] | None = None) -> str:
    headers = ["UTC"] + ([] if zone_name == "UTC" else [f"LOCAL ({zone_name})"])
    if runs is not None:
        headers += ["RUN", "START"]
    headers.append("NOTE")
    rows: list[list[object]] = []
    for position, fire in enumerate(times):
        row: list[object] = [format_time(fire.instant)]
        if zone_name != "UTC":
            row.append(local_text(fire.local))
        if runs is not None:
            run = runs[position]
            row += [run.name, format_time(run.start) if run.start != fire.instant else ""]
        row.append(note(fire))
        rows.append(row)
    return table(headers, rows)


def as_data(times: list[FireTime], zone_name: str,
            runs: list[Run] | None = None) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = []
    for position, fire in enumerate(times):
        entry: dict[str, Any] = {
            "time": format_time(fire.instant),
            "localTime": fire.local.isoformat(),
            "timeZone": zone_name,
            "dstChange": fire.offset_before is not None,
        }
        if runs is not None:
            entry["run"] = runs[position].name
            entry["start"] = runs[position].start.isoformat().replace("+00:00", "Z")
        data.append(entry)
    return data


@click.command("next")
@click.argument("schedule_name", metavar="[SCHEDULE]", required=False)
@click.option("--schedule", "expression", default=None, metavar="EXPR",
              help="A schedule expression to preview without a cluster (cron, @daily, "
                   "@every 5m).")
@click.option("--time-zone", "zone_name", default=None, metavar="TZ",
              help="With --schedule: the IANA time zone (default UTC).")
@click.option("--count", type=click.IntRange(1, MAX_COUNT), default=5, show_default=True,
              help="How many fire times.")
@click.option("--after", "after_text", default=None, metavar="TIME",
              help="Fire times after this RFC 3339 time (default: now).")
@output_option()
@kube_options()
def next_command(target: Target, schedule_name: str | None, expression: str | None,
                 zone_name: str | None, count: int, after_text: str | None,
                 output: str | None) -> None:
    """The next fire times of a TaskSchedule, or of an expression, in UTC and in the
    schedule's time zone. Computed by the operator's own schedule code; a line whose
    UTC offset differs from the previous run's is marked as a DST change.

    \b
    Examples:
      kubectl taskops next nightly --count 3
      kubectl taskops next --schedule '30 1 * * *' --time-zone America/New_York
      kubectl taskops next --schedule '@every 90m' -o json
    """
    after = parse_instant(after_text, "--after") if after_text else datetime.now(UTC)
    after = after.replace(microsecond=0)
    if (schedule_name is None) == (expression is None):
        raise click.UsageError("give either a TaskSchedule name or --schedule EXPR")
    runs: list[Run] | None = None
    header = ""
    if expression is not None:
        zone_name = zone_name or "UTC"
        # @every counts from its creation: offline, from --after (a schedule created then).
        times = upcoming(expression, zone_name, after, after, count)
    else:
        if zone_name is not None:
            raise click.UsageError("--time-zone goes with --schedule; a TaskSchedule has "
                                   "its own spec.timeZone")
        assert schedule_name is not None
        body = Cluster(target).require(TASKSCHEDULES, schedule_name)
        spec = body.get("spec") or {}
        metadata = body.get("metadata") or {}
        expression = str(spec.get("schedule", ""))
        zone_name = str(spec.get("timeZone") or "UTC")
        anchor = parse_time(metadata.get("creationTimestamp")) or after
        times = upcoming(expression, zone_name, after, anchor, count)
        jitter = int(spec.get("jitterSeconds") or 0)
        uid = str(metadata.get("uid", ""))
        runs = [Run(run_name(schedule_name, fire.instant),
                    fire.instant + timedelta(seconds=jitter_offset(uid, fire.instant, jitter)))
                for fire in times]
        header = f"taskschedule/{schedule_name}: {expression!r} in {zone_name}"
        if spec.get("suspend"):
            header += " (suspended: no runs start while spec.suspend is true)"
    if output in ("json", "yaml"):
        click.echo(dump(as_data(times, zone_name, runs), output))
        return
    if header:
        click.echo(header)
    if not times:
        click.echo("no fire time before year 10000")
        return
    click.echo(render_table(times, zone_name, runs if output == "wide" else None))

