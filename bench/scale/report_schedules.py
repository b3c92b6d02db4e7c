"""The report's schedules and queue sections, and the lateness distributions
the schedules plot draws: pure functions of the records (bench/scale/report.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from .report_data import (
    COST_METRICS,
    DASH,
    TIMES,
    WRITES_METRICS,
    Goal,
    Metric,
    Record,
    comparison_rows,
    count_text,
    field,
    group,
    heading,
    median_text,
    number,
    of_side,
    shape_value,
    spread,
    table,
    total,
)

# --- schedules -----------------------------------------------------------------------------

# Beyond limits and n, what makes two schedules runs repetitions of one another.
SCHEDULE_SHAPE = ("every_seconds", "window_seconds")
# Where a lateness figure comes from, as the record's field prefix and the row's words.
LATENESS_SOURCES = (("lateness", "creationTimestamp"), ("seen_lateness", "harness watch"),
                    ("operator_lateness", "operator histogram"))
SCHEDULE_METRICS = (
    *(Metric(f"lateness {q} ({words})", field(f"{prefix}_{q}_seconds"), " s")
      for prefix, words in LATENESS_SOURCES for q in ("p50", "p99", "max")),
    Metric("controller CPU per run", field("controller_cpu_ms_per_run"), " ms"),
    Metric("operator's wait for its client rate limit per run",
           field("operator_rate_limit_wait_ms_per_run"), " ms"),
    Metric("API server CPU per run", field("apiserver_cpu_ms_per_run"), " ms"),
    Metric("writes per run", field("writes_per_run")),
    Metric("events per run", field("events_per_run")),
    *COST_METRICS,
)
# Counted, not measured: totals over the repetitions, per side.
SCHEDULE_COUNTS = (("runs", "runs created"), ("expected_runs", "runs due"),
                   ("missed", "missed"), ("doubled", "doubled"),
                   ("unexpected", "runs for an instant not due"))


def _per_side(records: Sequence[Record], text: Callable[[list[Record]], str]) -> list[str]:
    """A count row's two cells: "not run" for a side without records."""
    return [text(of_side(records, side)) if of_side(records, side) else "not run"
            for side in ("builtin", "taskops")]


def _total_text(records: Sequence[Record], name: str) -> str:
    return count_text(total(records, name))


def schedule_rows(records: Sequence[Record]) -> list[list[str]]:
    """One group's rows: the period each side fired at, the counts, the figures."""
    def period(rs: Sequence[Record]) -> str:
        values = sorted({v for v in (number(r, "period_seconds") for r in rs) if v is not None})
        return ", ".join(f"{shape_value(round(v))} s" for v in values) or "n/a"
    rows = [["period", *_per_side(records, period), ""]]
    for name, label in SCHEDULE_COUNTS:
        rows.append([label, *_per_side(records, partial(_total_text, name=name)), ""])
    return rows + comparison_rows(records, SCHEDULE_METRICS)


def render_schedules(records: Sequence[Record]) -> list[str]:
    keys = ("limits", "n", *SCHEDULE_SHAPE)
    out = ["## schedules", "",
           "n schedules firing for a window: TaskSchedules every `every` seconds against "
           "CronJobs every minute (their finest), runs suspended on both sides (no pods). "
           "Counts are totals over repetitions: every instant due in the window against the "
           "runs in the cluster; missed and doubled must be 0. Lateness is run creation "
           "minus the scheduled instant: from creationTimestamps (whole seconds), from the "
           "harness's watch (sub-second, the watch's delay included), and the operator's "
           "own histogram (its decision to create, interpolated within buckets; max is the "
           "bucket bound). Ratios are taskops over the CronJob controller; the sides fire "
           "at different periods, so compare lateness and per-run figures, not totals.", ""]
    for key, rows in group(records, keys):
        out += [f"### {heading(keys, key)}", "",
                *table(("figure", "CronJob controller", "taskops", "ratio (taskops/builtin)"),
                       schedule_rows(rows)), ""]
    return out


def schedules_goal(records: Sequence[Record]) -> Goal:
    goal = "largest schedules count: taskops lateness p99 < 0.5 s, 0 missed, 0 doubled"
    ours = [r for r in of_side(records, "taskops") if number(r, "n") is not None]
    if not ours:
        return Goal(goal, "no taskops schedules run", None)
    largest = max(number(r, "n") or 0 for r in ours)
    at_largest = [r for r in ours if number(r, "n") == largest]
    # creationTimestamps round to the second: a sub-second goal needs the
    # operator's own measurement, else the harness's watch.
    for prefix, words in reversed(LATENESS_SOURCES):
        p99, source = spread(at_largest, field(f"{prefix}_p99_seconds")), words
        if p99.median is not None:
            break
    missed, doubled = total(at_largest, "missed"), total(at_largest, "doubled")
    figure = (f"p99 {median_text(p99, ' s')} ({source}), {count_text(missed)} missed, "
              f"{count_text(doubled)} doubled at n = {count_text(round(largest))}")
    met = p99.median is not None and p99.median < 0.5 and missed == 0 and doubled == 0
    return Goal(goal, figure, met)


Curve = tuple[list[float], list[float]]  # seconds late, fraction of runs at most that late


def lateness_curves(records: Sequence[Record]) -> dict[str, Curve]:
    """For one group's records: side and source -> the share of runs at most x
    seconds late, pooled over repetitions. Whole-second counts and the watch's
    percentiles give points per value; the operator's buckets a point per bound."""
    curves: dict[str, Curve] = {}
    for side in ("builtin", "taskops"):
        rs = of_side(records, side)
        name = "CronJob controller" if side == "builtin" else "taskops"
        by_second: dict[float, float] = {}
        for r in rs:
            for late, n in (r.get("lateness_counts") or {}).items():
                by_second[float(late)] = by_second.get(float(late), 0.0) + n
        if by_second:
            curves[f"{name}, creationTimestamp"] = _cumulative(by_second)
        seen = sorted(x for r in rs for x in r.get("seen_lateness_distribution") or [])
        if seen:
            curves[f"{name}, harness watch"] = (seen, [(i + 1) / len(seen)
                                                       for i in range(len(seen))])
        buckets: dict[float, float] = {}
        for r in rs:
            for le, n in (r.get("operator_lateness_buckets") or {}).items():
                if le != "+Inf":
                    buckets[float(le)] = buckets.get(float(le), 0.0) + n
        whole = sum(number(r, "operator_lateness_count") or 0 for r in rs)
        if buckets and whole:
            bounds = sorted(buckets)
            curves[f"{name}, operator histogram"] = (bounds, [buckets[b] / whole for b in bounds])
    return curves


def _cumulative(counts: dict[float, float]) -> Curve:
    xs = sorted(counts)
    whole = sum(counts.values())
    ys, running = [], 0.0
    for x in xs:
        running += counts[x]
        ys.append(running / whole)
    return xs, ys


def schedule_groups(records: Sequence[Record]) -> list[tuple[str, list[Record]]]:
    """(heading, records) per group, as the schedules tables are split."""
    keys = ("limits", "n", *SCHEDULE_SHAPE)
    return [(heading(keys, key), rows) for key, rows in group(records, keys)]


# --- queue ---------------------------------------------------------------------------------

QUEUE_METRICS = (
    Metric("admissions per second", field("admissions_per_second")),
    Metric("status writes per admission", field("status_writes_per_admission")),
    Metric("time to drain", field("drain_seconds"), " s"),
    Metric("least possible drain (n / cap waves of a pod)", field("drain_floor_seconds"), " s"),
    Metric("admission wait p50", field("admission_wait_p50_seconds"), " s"),
    Metric("admission wait max", field("admission_wait_max_seconds"), " s"),
    Metric("most pods running at once", field("peak_running")),
    *WRITES_METRICS,
    *COST_METRICS,
)


def render_queue(records: Sequence[Record]) -> list[str]:
    keys = ("limits", "n", "cap")
    out = ["## queue", "",
           "n one-pod TaskJobs created at once behind the operator's `--max-running` cap. "
           "A job is admitted when its pod appears; admissions per second count those "
           "after the first `cap`. The Job controller has no such cap: its column is n/a. "
           f"Each cell: median over repetitions (min{DASH}max, {TIMES}repetitions).", ""]
    for key, rows in group(records, keys):
        out += [f"### {heading(keys, key)}", "",
                *table(("figure", "Job controller", "taskops", "ratio (taskops/builtin)"),
                       comparison_rows(rows, QUEUE_METRICS)), ""]
    return out
