"""bench/report: bench/results/<scenario>.jsonl -> bench/README.md and bench/plots/*.png.

Loading, grouping, aggregating and rendering are pure functions of the
records, so the same results give the same README byte for byte: nothing here
reads the clock, and the only dates in the output are the runs' own. Plots are
drawn apart (`plot`), since they are the only part that needs matplotlib.

A figure's cell is the median over repetitions, its min-max spread and how
many repetitions measured it. A null field (a run that did not finish, or did
not measure that figure) is "n/a"; it never stops the report.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .cluster import ROOT
from .report_data import (
    COST_METRICS,
    DASH,
    GIB,
    MIB,
    NOTICE,
    TIMES,
    WRITES_METRICS,
    Goal,
    Metric,
    Record,
    Value,
    cell,
    comparison_rows,
    count_text,
    field,
    group,
    heading,
    load,
    median_text,
    number,
    of_side,
    ratio,
    ratio_text,
    spread,
    table,
)
from .report_plots import plot
from .report_schedules import render_queue, render_schedules, schedules_goal
from .results import RESULTS

# --- the comparison scenarios: burst, fanout, retries --------------------------------------

BURST_METRICS = (
    Metric("time to all pods", field("all_pods_seconds"), " s"),
    Metric("time to all succeeded", field("all_succeeded_seconds"), " s"),
    Metric("create-to-pod p50", field("create_to_pod_p50_seconds"), " s"),
    Metric("create-to-pod p99", field("create_to_pod_p99_seconds"), " s"),
    *WRITES_METRICS,
    *COST_METRICS,
)


@dataclass(frozen=True)
class Comparison:
    scenario: str
    about: str
    metrics: tuple[Metric, ...]
    # Beyond limits and n, what must match for two runs to be repetitions of one
    # another: a fan-out of 10 jobs x 100 is not a repetition of 100 x 10.
    shape: tuple[str, ...] = ()


COMPARISONS = (
    Comparison("burst", "n one-pod objects (Jobs or TaskJobs) created at once.", BURST_METRICS),
    Comparison("fanout",
               f"jobs {TIMES} completions pods, at most `parallelism` at a time per object.",
               (*BURST_METRICS, Metric("writes per pod", field("writes_per_pod"))),
               ("jobs", "completions", "parallelism")),
    Comparison("retries",
               "objects whose pods fail and are retried once after a configured delay. Both "
               "attempts fail by design, so none succeeds: time to all finished is the one "
               "to read.",
               (*BURST_METRICS,
                Metric("time to all finished", field("all_finished_seconds"), " s"),
                Metric("retry gap p50", field("retry_gap_p50_seconds"), " s"),
                Metric("retry gap p99", field("retry_gap_p99_seconds"), " s"),
                Metric("retry gap max", field("retry_gap_max_seconds"), " s"),
                Metric("writes per retry", field("writes_per_retry"))),
               ("configured_delay_seconds",)),
)


def per_object(verb: str | None) -> Value:
    """Writes of one verb (None: all writes) per object, from a record's audit counts."""
    def value(record: Record) -> float | None:
        requests, n = record.get("requests"), number(record, "n")
        if not isinstance(requests, dict) or not n:
            return None
        if verb is None:
            writes = requests.get("total_writes")
        else:
            by_verb = requests.get("writes")
            # A verb a side never used is absent from its counts: zero, not unknown.
            writes = by_verb.get(verb, 0) if isinstance(by_verb, dict) else None
        return float(writes) / n if isinstance(writes, int | float) else None
    return value


def verb_breakdown(records: Sequence[Record]) -> list[list[str]]:
    """Median writes per object by verb, both sides, for records of one n and limits."""
    verbs = sorted({verb for r in records if isinstance(r.get("requests"), dict)
                    and isinstance(r["requests"].get("writes"), dict)
                    for verb in r["requests"]["writes"]})
    sides = of_side(records, "builtin"), of_side(records, "taskops")
    rows = [[verb, *(median_text(spread(s, per_object(verb))) for s in sides)] for verb in verbs]
    rows.append(["all writes", *(median_text(spread(s, per_object(None))) for s in sides)])
    return rows


def render_comparison(c: Comparison, records: Sequence[Record]) -> list[str]:
    keys = ("limits", "n", *c.shape)
    out = [f"## {c.scenario}", "", c.about, "",
           f"Each cell: median over repetitions (min{DASH}max, {TIMES}repetitions). "
           "Ratio is taskops over "
           "the Job controller: below 1, taskops took less time, CPU, memory or writes.", ""]
    for key, rows in group(records, keys):
        out += [f"### {heading(keys, key)}", "",
                *table(("figure", "Job controller", "taskops", "ratio (taskops/builtin)"),
                       comparison_rows(rows, c.metrics)), ""]
    if c.scenario == "burst":
        ns = [n for n in (number(r, "n") for r in records) if n is not None]
        if ns:
            largest = max(ns)
            at_largest = [r for r in records if number(r, "n") == largest]
            for (limits,), rows in group(at_largest, ("limits",)):
                out += [f"### Writes per object by verb, {limits} limits, "
                        f"n = {count_text(round(largest))} (median)", "",
                        *table(("request", "Job controller", "taskops"), verb_breakdown(rows)),
                        ""]
    return out


# --- the other scenarios -------------------------------------------------------------------

def render_calibrate(records: Sequence[Record]) -> list[str]:
    rows = [[count_text(n), cell(spread(rs, field("prebound_pods_per_second"))),
             cell(spread(rs, field("scheduled_pods_per_second")))]
            for (n,), rs in group(records, ("n",))]
    return ["## calibrate", "",
            "The bench cluster alone, no controller: how fast pods can be created already "
            "bound to a node, and created for the scheduler to bind. Neither side can beat "
            "these.", "",
            *table(("n", "pre-bound pods/s", "scheduled pods/s"), rows), ""]


WRITE_VARIANTS = (("status merge patch", "merge"), ("status update (PUT)", "put"),
                  ("create", "create"))


def _nested(variant: str, name: str) -> Value:
    def value(record: Record) -> float | None:
        inner = record.get(variant)
        return number(inner, name) if isinstance(inner, dict) else None
    return value


def render_writecost(records: Sequence[Record]) -> list[str]:
    rows = []
    for label, verb in WRITE_VARIANTS:
        for what, name in (("API server CPU per write", "apiserver_cpu_ms_per_write"),
                           ("etcd CPU per write", "etcd_cpu_ms_per_write"),
                           ("writes per second", "writes_per_second")):
            job = spread(records, _nested(f"Job_{verb}", name))
            taskjob = spread(records, _nested(f"TaskJob_{verb}", name))
            unit = "" if name == "writes_per_second" else " ms"
            rows.append([f"{label}: {what}", cell(job, unit), cell(taskjob, unit),
                         ratio_text(ratio(taskjob, job))])
    return ["## writecost", "",
            "One status write on an object nobody reconciles (no operator; the Jobs' "
            "`managedBy` names nobody), from 8 client threads: what the API server and "
            "etcd spend on a Job and on a TaskJob for the same write; and one create of "
            "each, the body the burst scenario sends (runs before 2026-12-07 had no "
            "create variant).", "",
            *table(("write", "Job", "TaskJob", "ratio"), rows), ""]


def render_steady(records: Sequence[Record]) -> list[str]:
    rows = [[count_text(n), cell(spread(rs, field("rss_bytes", 1 / MIB)), " MiB"),
             cell(spread(rs, field("idle_cpu_percent")), " %"),
             cell(spread(rs, field("restart_to_ready_seconds")), " s")]
            for (n,), rs in group(records, ("n",))]
    return ["## steady", "", "The operator at rest with n TaskJobs it holds, and restarted.", "",
            *table(("n", "RSS", "idle CPU", "restart to Ready"), rows), ""]


# --- goals ---------------------------------------------------------------------------------

def _at_most(taskops: float | None, builtin: float | None) -> bool:
    # taskops not finishing never meets a goal; the Job controller not finishing
    # while taskops did does.
    if taskops is None:
        return False
    return builtin is None or taskops <= builtin


def burst_goal(records: Sequence[Record], metric: Metric) -> Goal:
    goal = f"equal limits, every n: taskops {metric.label} ≤ Job controller's"
    compared, verdicts = [], []
    equal = [r for r in records if r.get("limits") == "equal"]
    for (n,), rs in group(equal, ("n",)):
        b, t = spread(of_side(rs, "builtin"), metric.value), spread(of_side(rs, "taskops"),
                                                                     metric.value)
        if b.runs and t.runs:
            verdicts.append(_at_most(t.median, b.median))
            compared.append(f"n={count_text(n)}: {median_text(t, metric.unit)} vs "
                            f"{median_text(b, metric.unit)}")
    if not compared:
        return Goal(goal, "no equal-limits burst with both sides", None)
    return Goal(goal, "; ".join(compared), all(verdicts))


def steady_goal(records: Sequence[Record], label: str, name: str, scale: float, unit: str,
                limit: float) -> Goal:
    goal = f"{label} < {limit:g}{unit} at n=10,000"
    at = [r for r in records if number(r, "n") == 10_000 and r.get("side", "taskops") == "taskops"]
    if not at:
        return Goal(goal, "no steady run at n=10,000", None)
    s = spread(at, field(name, scale))
    return Goal(goal, cell(s, unit), s.median is not None and s.median < limit)


def goals(data: dict[str, list[Record]]) -> list[Goal]:
    burst = data.get("burst", [])
    steady = data.get("steady", [])
    by_label = {m.label: m for m in BURST_METRICS}
    return [
        *(burst_goal(burst, by_label[label]) for label in
          ("time to all pods", "time to all succeeded", "create-to-pod p99", "writes per object")),
        schedules_goal(data.get("schedules", [])),
        steady_goal(steady, "steady RSS", "rss_bytes", 1 / MIB, " MiB", 250),
        steady_goal(steady, "restart to Ready", "restart_to_ready_seconds", 1, " s", 30),
    ]


def render_goals(data: dict[str, list[Record]]) -> list[str]:
    verdict = {True: "yes", False: "no", None: "not measured"}
    rows = [[g.goal, g.figure, verdict[g.met]] for g in goals(data)]
    return ["## Goals", "", "Burst figures are taskops vs the Job controller, medians over "
            "repetitions; a goal without data is not measured.",
            "", *table(("goal", "figure", "met?"), rows), ""]


# --- the whole README ----------------------------------------------------------------------

def _date(record: Record) -> str | None:
    env = record.get("env")
    date = env.get("date") if isinstance(env, dict) else None
    return date if isinstance(date, str) and date else None


def _records(count: int) -> str:
    return f"{count:,} record" + ("" if count == 1 else "s")


def render_machine(data: dict[str, list[Record]]) -> list[str]:
    dated = [r for rs in data.values() for r in rs if _date(r)]
    if not dated:
        return ["## Machine and versions", "", "No record says what it ran on.", ""]
    # ISO dates in one time zone (environment() writes UTC) order as strings; max()
    # keeps the first of equals, so ties resolve by file and line order.
    newest = max(dated, key=lambda r: _date(r) or "")
    env: dict[str, Any] = newest["env"]
    memory = number(env, "memory_bytes", 1 / GIB)
    machine = [str(env.get("cpus") or "n/a"), "n/a" if memory is None else f"{memory:.1f} GiB",
               *(str(env.get(k) or "n/a") for k in ("kubernetes", "kwok", "etcd", "python",
                                                     "commit"))]
    by_date = sorted(dated, key=lambda r: _date(r) or "")
    first, last = (_date(by_date[0]) or "")[:10], (_date(by_date[-1]) or "")[:10]
    commits = list(dict.fromkeys(str(r["env"].get("commit")) for r in by_date))
    out = ["## Machine and versions", "",
           f"From the newest run ({last}):", "",
           *table(("cpus", "memory", "Kubernetes", "kwok", "etcd", "Python", "commit"),
                  [machine]),
           "", f"Runs from {first} to {last}, {_records(len(dated))}."]
    if len(commits) > 1:
        out.append(f"They span {len(commits)} commits, oldest first: {', '.join(commits)}.")
    return [*out, ""]


SCENARIO_RENDERERS: dict[str, Callable[[Sequence[Record]], list[str]]] = {
    "calibrate": render_calibrate,
    "writecost": render_writecost,
    **{c.scenario: partial(render_comparison, c) for c in COMPARISONS},
    "schedules": render_schedules,
    "steady": render_steady,
    "queue": render_queue,
}


def _verbatim(text: str | None) -> list[str]:
    return [text.strip("\n"), ""] if text and text.strip() else []


def render(data: dict[str, list[Record]], *, head: str | None = None,
           findings: str | None = None, plots: Sequence[tuple[str, str]] = ()) -> str:
    """The README for these records. `plots` are (title, relative path) of the PNGs
    written; `head` and `findings` go in verbatim, before and after the tables."""
    out = ["# taskops benchmarks", "", NOTICE, "", *_verbatim(head)]
    if not any(data.values()):
        out += ["No results yet in bench/results.", ""]
    else:
        out += render_machine(data)
        for scenario, render_scenario in SCENARIO_RENDERERS.items():
            if data.get(scenario):
                out += render_scenario(data[scenario])
        unknown = sorted(s for s in data if s not in SCENARIO_RENDERERS and data[s])
        if unknown:
            out += ["## Other results", "",
                    *(f"- {s}: {_records(len(data[s]))}, no table yet" for s in unknown), ""]
        out += render_goals(data)
    if plots:
        out += ["## Plots", ""]
        for title, path in plots:
            out += [f"### {title}", "", f"![{title}]({path})", ""]
    out += _verbatim(findings)
    return "\n".join(out).rstrip("\n") + "\n"


# --- entry ---------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/report", description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=RESULTS,
                   help="directory of <scenario>.jsonl (default: bench/results)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "README.md",
                   help="README to write; README.head.md and findings.md are read from "
                        "beside it (default: bench/README.md)")
    p.add_argument("--plots", type=Path, default=ROOT / "bench" / "plots",
                   help="directory for the PNGs (default: bench/plots)")
    return p


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        data = load(args.results)
    except ValueError as e:
        print(f"bench/report: {e}", file=sys.stderr)
        return 1
    written = plot(data, args.plots)
    # Links relative to the README, so they work on GitHub and in a checkout alike.
    links = [(title, Path(os.path.relpath(path, args.out.parent)).as_posix())
             for title, path in written]
    markdown = render(data, head=_read(args.out.parent / "README.head.md"),
                      findings=_read(args.out.parent / "findings.md"), plots=links)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown)
    print(f"wrote {args.out} and {len(written)} plots in {args.plots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
