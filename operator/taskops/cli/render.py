"""Text the verbs print: kubectl-style tables, times, durations, `-o json|yaml`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import click
import yaml

from taskops.cli.errors import CliError
from taskops.core.job_status import format_duration
from taskops.core.observed import as_utc, format_time, parse_time

OUTPUT_FORMATS = ("json", "yaml", "wide")

_DURATION = re.compile(r"(\d+)(d|h|m|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, flag: str) -> int:
    """Whole seconds of a duration as kubectl writes them: `90`, `30s`, `5m`, `1h30m`, `2d`.

    A bare number is seconds. Raises CliError naming `flag` otherwise.
    """
    value = text.strip()
    if value.isdigit():
        return int(value)
    position, total = 0, 0
    for match in _DURATION.finditer(value):
        if match.start() != position:
            break
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or not value:
        raise CliError(f"{flag}: {text!r} is not a duration (examples: 30s, 5m, 1h30m, 2d)")
    return total


def parse_instant(text: str, flag: str) -> datetime:
    """An RFC 3339 time (`2026-12-01T10:00:00Z`, an offset, or a date alone, taken as
    midnight UTC), as an aware UTC datetime. Raises CliError naming `flag` otherwise."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value += "T00:00:00Z"
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise CliError(
            f"{flag}: {text!r} is not an RFC 3339 time with a zone "
            "(examples: 2026-12-01T10:00:00Z, 2026-12-01T11:00:00+01:00, 2026-12-01)"
        )
    return as_utc(parsed)


def human_duration(seconds: float) -> str:
    """A short duration as kubectl prints ages: `45s`, `3m12s`, `2h5m`, `3d4h`
    (the status messages' own format)."""
    return format_duration(timedelta(seconds=max(seconds, 0)))


def time_and_age(value: object, now: datetime) -> str:
    """`2026-12-01T10:00:00Z (3m ago)` or `(in 8s)`; empty when absent."""
    moment = parse_time(value)
    if moment is None:
        return ""
    delta = (moment - now).total_seconds()
    relative = f"in {human_duration(delta)}" if delta > 0 else f"{human_duration(-delta)} ago"
    return f"{format_time(moment)} ({relative})"


def span(start: object, end: object) -> str:
    """The duration between two RFC 3339 times, or empty if either is missing."""
    begin, finish = parse_time(start), parse_time(end)
    if begin is None or finish is None:
        return ""
    return human_duration((finish - begin) / timedelta(seconds=1))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns as kubectl aligns them: left-aligned, three spaces apart, no
    trailing blanks; a cell's line breaks become spaces."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for column, value in enumerate(row):
            widths[column] = max(widths[column], len(value))
    lines = []
    for row in [list(headers), *cells]:
        padded = [value.ljust(widths[column]) for column, value in enumerate(row)]
        lines.append("   ".join(padded).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())


def dump(data: Any, output: str) -> str:
    """`data` as `-o json` (indented, as kubectl) or `-o yaml`."""
    if output == "json":
        return json.dumps(data, indent=4, ensure_ascii=False)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n")


def output_option(*, wide: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-o/--output json|yaml[|wide]` for a verb whose default output is a table."""
    choices = OUTPUT_FORMATS if wide else ("json", "yaml")
    return click.option(
        "-o", "--output", type=click.Choice(choices), default=None,
        help="Output format: " + ", ".join(choices) + " (default: a table).",
    )
