"""The schedules scenario's arithmetic, pure: which runs were due in the
window, which came, how late, and the operator's lateness histogram.

Instants are Unix seconds (whole seconds on both sides: a TaskSchedule's
`@every` grid is its creationTimestamp plus multiples of the interval, a
CronJob's `*/1 * * * *` the minute boundaries).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .results import percentile

MINUTE = 60


@dataclass(frozen=True)
class SeenRun:
    """One run (a TaskJob or a Job) as the harness saw it."""

    schedule: str  # the controller ownerReference's name
    instant: float | None  # the scheduled instant it carries, Unix seconds
    created: float | None  # creationTimestamp, Unix seconds (1 s resolution)
    seen: float | None = None  # wall clock when the harness's watch first saw it


def unix(timestamp: object) -> float | None:
    """An RFC 3339 timestamp as Unix seconds; None when absent or unreadable."""
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None


def due(grid: str, created: float, period: int, start: float, end: float) -> list[int]:
    """The instants in [start, end) of a schedule created at `created`: on the
    `anchor` grid created + k*period (k >= 1), on the `minute` grid every
    minute boundary after `created`."""
    if grid == "anchor":
        k = max(1, math.ceil((start - created) / period))
        first = created + k * period
    else:
        first = max(math.ceil(start / MINUTE), math.floor(created / MINUTE) + 1) * MINUTE
    return [round(t) for t in range(round(first), math.ceil(end), period) if start <= t < end]


@dataclass
class Tally:
    """Runs against instants due, per schedule and in total."""

    expected: int = 0
    runs: int = 0  # runs for an instant that was due in the window, doubles included
    missed: int = 0  # due instants without a run
    doubled: int = 0  # runs beyond the first for one instant
    unexpected: int = 0  # runs in the window for an instant that was not due
    late_by_creation: list[float] = field(default_factory=list)  # one per instant with a run
    late_by_watch: list[float] = field(default_factory=list)


def tally(runs: Iterable[SeenRun], created: Mapping[str, float], *, grid: str, period: int,
          start: float, end: float) -> Tally:
    """Matches runs to the instants due in [start, end) of the schedules
    `created` (name -> creation, Unix seconds). A run for an instant outside
    the window is not counted at all; lateness is from each instant's first run."""
    by_instant: dict[tuple[str, int], list[SeenRun]] = {}
    for run in runs:
        if run.instant is not None and start <= run.instant < end:
            by_instant.setdefault((run.schedule, round(run.instant)), []).append(run)
    out = Tally()
    wanted: set[tuple[str, int]] = set()
    for name, at in created.items():
        wanted.update((name, t) for t in due(grid, at, period, start, end))
    out.expected = len(wanted)
    for key, got in by_instant.items():
        if key not in wanted:
            out.unexpected += len(got)
            continue
        out.runs += len(got)
        out.doubled += len(got) - 1
        first = min(got, key=lambda r: (r.created or math.inf, r.seen or math.inf))
        if first.created is not None:
            out.late_by_creation.append(first.created - key[1])
        if first.seen is not None:
            out.late_by_watch.append(first.seen - key[1])
    out.missed = len(wanted - by_instant.keys())
    return out


def quantiles(values: list[float], prefix: str) -> dict[str, float | None]:
    """{prefix_p50_seconds, prefix_p99_seconds, prefix_max_seconds}, None when empty."""
    def q(p: float) -> float | None:
        return round(percentile(values, p), 3) if values else None
    return {f"{prefix}_p50_seconds": q(50), f"{prefix}_p99_seconds": q(99),
            f"{prefix}_max_seconds": round(max(values), 3) if values else None}


def distribution(values: list[float]) -> list[float]:
    """The 0th to 100th percentiles (101 values, nearest rank): enough to draw a
    distribution from, whatever the number of runs; empty when there are none."""
    return [round(percentile(values, p), 3) for p in range(101)] if values else []


# --- the operator's histogram (Prometheus text exposition) -----------------------------------

def histogram(text: str, name: str) -> dict[str, float]:
    """The cumulative buckets of histogram `name`: upper bound as printed ("0.5",
    "+Inf") -> observations at or below it."""
    out: dict[str, float] = {}
    prefix = f'{name}_bucket{{le="'
    for line in text.splitlines():
        if line.startswith(prefix):
            bound, _, value = line[len(prefix):].partition('"}')
            out[bound] = float(value.strip())
    return out


def minus(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    """The observations made between two scrapes of one histogram."""
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def _bounds(buckets: Mapping[str, float]) -> list[tuple[float, float]]:
    return sorted((float(le), count) for le, count in buckets.items())


def bucket_quantile(buckets: Mapping[str, float], q: float) -> float | None:
    """Prometheus's histogram_quantile: linear within the bucket that holds the
    q-th observation (q in 0..1); the highest finite bound when that is +Inf."""
    bounds = _bounds(buckets)
    total = bounds[-1][1] if bounds else 0.0
    if total <= 0:
        return None
    rank, low, below = q * total, 0.0, 0.0
    for le, count in bounds:
        if count >= rank:
            if math.isinf(le):
                return low
            return low + (le - low) * (rank - below) / (count - below) if count > below else low
        low, below = le, count
    return low


def bucket_max(buckets: Mapping[str, float]) -> float | None:
    """An upper bound on the largest observation: the lowest bound holding all
    of them (+Inf when some are past the highest finite one)."""
    bounds = _bounds(buckets)
    if not bounds or bounds[-1][1] <= 0:
        return None
    return next(le for le, count in bounds if count >= bounds[-1][1])


def operator_figures(buckets: Mapping[str, float]) -> dict[str, Any]:
    """The record's operator_lateness_* fields from a histogram's buckets."""
    def rounded(x: float | None) -> float | None:
        return None if x is None or math.isinf(x) else round(x, 4)
    return {"operator_lateness_p50_seconds": rounded(bucket_quantile(buckets, 0.5)),
            "operator_lateness_p99_seconds": rounded(bucket_quantile(buckets, 0.99)),
            "operator_lateness_max_seconds": rounded(bucket_max(buckets)),
            "operator_lateness_count": round(max(buckets.values(), default=0.0)),
            "operator_lateness_buckets": dict(buckets)}


def counts(values: Iterable[float]) -> dict[str, int]:
    """Whole-second lateness values counted: {"0": 950, "1": 50}."""
    return {str(k): v for k, v in sorted(Counter(round(x) for x in values).items())}
