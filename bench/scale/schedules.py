"""schedules: N schedules firing for a few minutes, TaskSchedules (`@every`)
against CronJobs (`*/1 * * * *`, their finest granularity, whatever
`--every` says), on a fresh etcd each.

Runs are suspended TaskJobs and suspended Jobs: no pods on either side, so
the figures are the schedulers' own (create the run, record it) and the
controllers' first look at a suspended run. Suspended runs never finish, so
history limits never trim them: they stay, n x window / period of them, and
the controller's memory holds them.

Per side, over a window that opens WARMUP_SECONDS after the last schedule
was created and lasts `--minutes`: every instant due in the window against
the runs in the cluster (listed GRACE_SECONDS after it closes), missed and
doubled; the lateness of each run from its creationTimestamp (whole
seconds), from the harness's watch (sub-second, the watch's delay
included) and, for taskops, the operator's own histogram
`taskops_schedule_lateness_seconds` (the delta of two scrapes, at the
window's ends); the controller's CPU and peak RSS and its requests (audit
log, `requestReceivedTimestamp` in the window) over the window.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from . import audit, objects, procstat
from .cluster import BenchCluster, create_all, request
from .observe import Watch, owner_of
from .results import environment, rounds
from .schedule_runs import (
    SeenRun,
    counts,
    distribution,
    histogram,
    minus,
    operator_figures,
    quantiles,
    tally,
    unix,
)
from .sides import controller, kcm_limits
from .workload import NAMESPACE

WARMUP_SECONDS = 10.0
GRACE_SECONDS = 30.0
LATENESS_METRIC = "taskops_schedule_lateness_seconds"
OUTCOMES_METRIC = "taskops_schedule_runs_total"
# The wait of each of the operator's requests for its client's token bucket: a
# sum well above 0 means --kube-api-qps, not the operator, set the pace.
RATE_LIMIT_METRIC = "taskops_client_rate_limit_wait_seconds"


@dataclass(frozen=True)
class Side:
    kind: str
    plural: str
    run_plural: str
    group_path: str
    grid: str  # schedule_runs.due's grid
    instant_annotation: str
    name_unit: int  # the run name's numeric suffix is in these many seconds
    users: tuple[str, ...]  # whose requests are the side's work


SIDES = {
    "builtin": Side("CronJob", "cronjobs", "jobs", "/apis/batch/v1", "minute",
                    "batch.kubernetes.io/cronjob-scheduled-timestamp", 60,
                    (audit.CRONJOB_CONTROLLER, audit.JOB_CONTROLLER)),
    "taskops": Side("TaskSchedule", "taskschedules", "taskjobs", "/apis/taskops.dev/v1alpha1",
                    "anchor", "taskops.dev/scheduled-time", 1, (audit.OPERATOR,)),
}


def parse_every(text: str) -> int:
    """`10s`, `1m`, `90s`, `1m30s` -> whole seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or parts is None:
        raise ValueError(f"--every {text!r}: use whole seconds, minutes or hours, e.g. 10s, 1m")
    hours, minutes, seconds = (int(x or 0) for x in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def period_of(side: str, every: int) -> int:
    return 60 if side == "builtin" else every


def schedule(side: str, name: str, every: int) -> dict[str, Any]:
    """One schedule whose runs are suspended: no pod is ever made."""
    pod = objects.pod_template(1.0)
    if side == "builtin":
        spec: dict[str, Any] = {"schedule": "*/1 * * * *", "jobTemplate": {
            "spec": {"suspend": True, "backoffLimit": 0, "template": pod}}}
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
                "spec": spec}
    spec = {"schedule": f"@every {every}s",
            "taskJobTemplate": {"spec": {"suspend": True, "template": pod}}}
    return {"apiVersion": "taskops.dev/v1alpha1", "kind": "TaskSchedule",
            "metadata": {"name": name}, "spec": spec}


def instant_of(s: Side, run: dict[str, Any]) -> float | None:
    """The instant a run is for: its annotation, else its name's numeric suffix."""
    meta = run["metadata"]
    at = unix((meta.get("annotations") or {}).get(s.instant_annotation))
    if at is None:
        suffix = meta["name"].rpartition("-")[2]
        at = float(int(suffix) * s.name_unit) if suffix.isdigit() else None
    return at


def list_all(api: Any, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        query = [("limit", "500"), *([("continue", token)] if token else [])]
        page = request(api, "GET", path, query=query)
        items += page["items"]
        token = page["metadata"].get("continue") or ""
        if not token:
            return items


def sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def counters(text: str) -> dict[str, float]:
    """The operator's runs by outcome, and its requests' rate-limit waits."""
    out = {}
    for line in text.splitlines():
        if line.startswith(f'{OUTCOMES_METRIC}{{outcome="'):
            label, _, value = line.partition("} ")
            out[label.split('"')[1]] = float(value)
        elif line.startswith((f"{RATE_LIMIT_METRIC}_sum ", f"{RATE_LIMIT_METRIC}_count ")):
            name, _, value = line.partition(" ")
            out[name.removeprefix("taskops_")] = float(value)
    return out


def run(side: str, n: int, every: int, minutes: float, *, limits: str) -> dict[str, Any]:
    s = SIDES[side]
    period = period_of(side, every)
    qps, burst = kcm_limits(limits)
    cluster = BenchCluster.up(fresh=True, kcm_qps=qps, kcm_burst=burst)
    cluster.kubectl("create", "namespace", NAMESPACE)
    api = cluster.api()
    base = f"{s.group_path}/namespaces/{NAMESPACE}"
    seen: dict[str, float] = {}  # run name -> wall clock it was first seen
    wall_offset = time.time() - time.monotonic()

    def run_seen(_type: str, obj: dict[str, Any], t: float) -> None:
        seen.setdefault(obj["metadata"]["name"], t + wall_offset)

    with controller(side, cluster, NAMESPACE, limits) as running:
        apiserver = cluster.pid("kube-apiserver")
        watch = Watch(api, f"{base}/{s.run_plural}", run_seen)
        watch.start()
        if not watch.ready.wait(30):
            raise TimeoutError(f"the watch of {watch.path} did not start")
        t0 = time.monotonic()
        create_all(api, f"{base}/{s.plural}",
                   [schedule(side, f"sched-{i:05d}", every) for i in range(n)])
        create_seconds = time.monotonic() - t0
        created = {o["metadata"]["name"]: unix(o["metadata"]["creationTimestamp"]) or 0.0
                   for o in list_all(api, f"{base}/{s.plural}")}
        op = running.stop_after
        start = float(int(time.time() + WARMUP_SECONDS) + 1)
        end = start + round(minutes * 60)
        sleep_until(start)
        procstat.reset_peak(running.pid)
        before = procstat.sample(running.pid), procstat.sample(apiserver)
        offset = cluster.audit_offset()
        scrape0 = op.metrics() if op else ""
        sleep_until(end)
        after = procstat.sample(running.pid), procstat.sample(apiserver)
        scrape1 = op.metrics() if op else ""
        sleep_until(end + GRACE_SECONDS)
        runs = list_all(api, f"{base}/{s.run_plural}")
        watch.stop()
    in_window = (r for r in audit.records(cluster.audit_log, offset)
                 if (unix(r.get("requestReceivedTimestamp")) or 0.0) < end)
    requests = audit.requests_of(s.users, in_window)
    got = tally([SeenRun(owner_of(r), instant_of(s, r), unix(r["metadata"]["creationTimestamp"]),
                         seen.get(r["metadata"]["name"])) for r in runs],
                created, grid=s.grid, period=period, start=start, end=end)
    cpu = after[0].cpu_seconds - before[0].cpu_seconds
    apiserver_cpu = after[1].cpu_seconds - before[1].cpu_seconds
    result: dict[str, Any] = {
        "scenario": "schedules", "side": side, "kind": s.kind, "n": n, "limits": limits,
        "env": environment(), "every_seconds": every, "period_seconds": period,
        "minutes": minutes, "window_seconds": round(end - start),
        "warmup_seconds": WARMUP_SECONDS, "grace_seconds": GRACE_SECONDS,
        "runs_template": "suspended", "create_seconds": round(create_seconds, 3),
        "expected_runs": got.expected, "runs": got.runs, "missed": got.missed,
        "doubled": got.doubled, "unexpected": got.unexpected, "runs_at_end": len(runs),
        **quantiles(got.late_by_creation, "lateness"),
        **quantiles(got.late_by_watch, "seen_lateness"),
        "lateness_counts": counts(got.late_by_creation),
        "seen_lateness_distribution": distribution(got.late_by_watch),
        "controller_cpu_seconds": round(cpu, 2),
        "controller_cpu_ms_per_run": per_run(cpu * 1000, got.runs),
        "controller_peak_rss_bytes": after[0].peak_rss_bytes,
        "controller_start_rss_bytes": before[0].rss_bytes,
        "apiserver_cpu_seconds": round(apiserver_cpu, 2),
        "apiserver_cpu_ms_per_run": per_run(apiserver_cpu * 1000, got.runs),
        "requests": requests.as_dict(),
        "writes_per_run": per_run(requests.total_writes, got.runs),
        "events_per_run": per_run(requests.events, got.runs),
    }
    if op is not None:
        result.update(operator_part(scrape0, scrape1, got.runs))
    return result


def per_run(amount: float, runs: int) -> float | None:
    return round(amount / runs, 3) if runs else None


def operator_part(before: str, after: str, runs: int) -> dict[str, Any]:
    """The operator's own figures between two scrapes of its /metrics."""
    counted = minus(counters(after), counters(before))
    wait = counted.pop("client_rate_limit_wait_seconds_sum", 0.0)
    return {
        **operator_figures(minus(histogram(after, LATENESS_METRIC),
                                 histogram(before, LATENESS_METRIC))),
        "operator_requests": round(counted.pop("client_rate_limit_wait_seconds_count", 0.0)),
        "operator_rate_limit_wait_seconds": round(wait, 3),
        "operator_rate_limit_wait_ms_per_run": per_run(wait * 1000, runs),
        "operator_outcomes": counted,
    }


def main(args: Any) -> list[dict[str, Any]]:
    every = parse_every(args.every)
    return rounds("schedules", args, lambda side: run(
        side, args.n, every, args.minutes, limits=args.limits))
