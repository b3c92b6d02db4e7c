"""TaskSchedule end to end: runs at the right instants with deterministic
names, concurrency policies, history, suspend, trigger, time zones, catch-up
after an outage, and two operators at once."""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kube import BUSYBOX_IMAGE, Kubectl, PodWatch, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_taskjob import ts

LATENESS_LOG = Path("/tmp/taskops-schedule-lateness.jsonl")


def schedule(name: str, cron: str, script: str = "true", **spec: Any) -> dict[str, Any]:
    job_spec: dict[str, Any] = {
        "template": {"spec": {"containers": [{
            "name": "main", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", script]}]}},
        "shutdown": {"gracePeriodSeconds": 2},
    }
    job_spec.update(spec.pop("job", {}))
    return {
        "apiVersion": "taskops.dev/v1alpha1", "kind": "TaskSchedule",
        "metadata": {"name": name},
        "spec": {"schedule": cron, "taskJobTemplate": {"spec": job_spec}, **spec},
    }


def runs(k: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    items = k.list("taskjobs.taskops.dev", ns)
    return [j for j in items
            if any(o.get("kind") == "TaskSchedule" and o.get("name") == name
                   for o in j["metadata"].get("ownerReferences", []))]


def instant_of(run: dict[str, Any]) -> datetime:
    return ts(run["metadata"]["annotations"]["taskops.dev/scheduled-time"])


def sched_status(k: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return (k.get("taskschedule", name, ns) or {}).get("status") or {}


def record_lateness(runs_seen: list[dict[str, Any]]) -> list[float]:
    """Creation minus scheduled instant, per run; appended for the suite's report."""
    late = [(ts(r["metadata"]["creationTimestamp"]) - instant_of(r)).total_seconds()
            for r in runs_seen]
    with LATENESS_LOG.open("a") as out:
        for value in late:
            out.write(json.dumps({"lateness": value}) + "\n")
    return late


def test_six_field_schedule_creates_runs_with_deterministic_names_on_time(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("every5", "*/5 * * * * *", successfulHistoryLimit=10), namespace)
    seen = wait_for("three runs", lambda: (r := runs(k, namespace, "every5")) and len(r) >= 3
                    and r, timeout=40, on_timeout=lambda: describe_namespace(k, namespace))
    for run in seen:
        instant = instant_of(run)
        assert instant.second % 5 == 0
        assert run["metadata"]["name"] == f"every5-{int(instant.timestamp())}"
        assert run["metadata"]["labels"]["taskops.dev/schedule"] == "every5"
    late = record_lateness(seen)
    # creationTimestamp has one-second granularity: a run created within
    # 1 s of its instant shows 0 or 1.
    assert max(late) <= 2, late
    st = sched_status(k, namespace, "every5")
    assert st["nextScheduleTime"] and st["lastScheduleTime"]
    assert ts(st["nextScheduleTime"]) > ts(st["lastScheduleTime"])
    table = k.run("get", "tsch", "-n", namespace).stdout
    assert "every5" in table and "*/5 * * * * *" in table
    assert taskops.metric("taskops_schedule_runs_total", outcome="created") >= 3
    assert taskops.metric("taskops_schedule_lateness_seconds_count") >= 3


def test_forbid_skips_while_a_run_is_active_and_counts_it(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("forbid", "*/3 * * * * *", "sleep 10", concurrencyPolicy="Forbid"),
            namespace)
    st = wait_for("missed runs counted", lambda: (s := sched_status(k, namespace, "forbid"))
                  and s.get("missedRuns", 0) >= 2 and s, timeout=40,
                  on_timeout=lambda: describe_namespace(k, namespace))
    active = [r for r in runs(k, namespace, "forbid")
              if (r.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    assert len(active) <= 1, [r["metadata"]["name"] for r in active]
    assert st["missedRuns"] >= 2
    reasons = {e["reason"] for e in json.loads(
        k.run("get", "events", "-n", namespace, "-o", "json").stdout)["items"]}
    assert "RunSkipped" in reasons, reasons


def test_replace_drains_the_old_run_before_the_new_one_starts(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    watch = PodWatch(k, namespace)
    script = ("trap 'echo sigterm >> /dev/termination-log; exit 143' TERM; "
              "while true; do sleep 0.2; done")
    k.apply(schedule("replace", "*/8 * * * * *", script, concurrencyPolicy="Replace", job={
        "shutdown": {"gracePeriodSeconds": 5, "drain": {"exec": {"command": [
            "sh", "-c", "echo drained >> /dev/termination-log"]}}}}), namespace)
    first = wait_for("first run", lambda: runs(k, namespace, "replace"), timeout=30)[0]
    first_name = first["metadata"]["name"]
    second = wait_for("a second run", lambda: [r for r in runs(k, namespace, "replace")
                                               if r["metadata"]["name"] != first_name],
                      timeout=30, on_timeout=lambda: describe_namespace(k, namespace))[0]
    # The old run was gone before the new one was created.
    assert k.get("taskjob", first_name, namespace) is None
    first_pod = f"{first_name}-0-0"
    terminated = wait_for("old pod's drained state", lambda: watch.terminated(first_pod),
                          timeout=20)
    watch.stop()
    assert terminated["message"].split() == ["drained", "sigterm"], terminated
    assert instant_of(second) > instant_of(first)
    assert taskops.metric("taskops_schedule_runs_total", outcome="replaced") >= 1


def test_history_limits_trim_finished_runs(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("history", "*/2 * * * * *", successfulHistoryLimit=2,
                     failedHistoryLimit=1), namespace)
    wait_for("several runs created", lambda: taskops.metric(
        "taskops_schedule_runs_total", outcome="created") >= 6, timeout=40)
    time.sleep(3)
    succeeded = [r for r in runs(k, namespace, "history")
                 if (r.get("status") or {}).get("phase") == "Succeeded"
                 and not r["metadata"].get("deletionTimestamp")]
    assert len(succeeded) <= 2, [r["metadata"]["name"] for r in succeeded]


def test_suspend_stops_runs_and_still_shows_the_next_time(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("pausable", "*/2 * * * * *", suspend=True), namespace)
    st = wait_for("status written", lambda: (s := sched_status(k, namespace, "pausable"))
                  and s.get("nextScheduleTime") and s, timeout=20)
    conditions = {c["type"]: c["status"] for c in st["conditions"]}
    assert conditions["Suspended"] == "True"
    time.sleep(5)
    assert runs(k, namespace, "pausable") == []
    k.run("patch", "tsch", "pausable", "-n", namespace, "--type=merge",
          "-p", '{"spec": {"suspend": false}}')
    wait_for("runs after resume", lambda: runs(k, namespace, "pausable"), timeout=20)


def test_trigger_annotation_starts_one_run_per_value(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("manual", "@yearly"), namespace)
    wait_for("status", lambda: sched_status(k, namespace, "manual").get("nextScheduleTime"),
             timeout=20)
    k.run("annotate", "tsch", "manual", "-n", namespace, "taskops.dev/trigger=one")
    wait_for("one triggered run", lambda: len(runs(k, namespace, "manual")) == 1, timeout=20)
    k.run("annotate", "--overwrite", "tsch", "manual", "-n", namespace,
          "taskops.dev/trigger=one")
    k.run("label", "tsch", "manual", "-n", namespace, "poke=1")  # any change, same value
    time.sleep(3)
    assert len(runs(k, namespace, "manual")) == 1
    k.run("annotate", "--overwrite", "tsch", "manual", "-n", namespace,
          "taskops.dev/trigger=two")
    wait_for("a second triggered run", lambda: len(runs(k, namespace, "manual")) == 2,
             timeout=20)
    values = sorted(r["metadata"]["annotations"]["taskops.dev/trigger"]
                    for r in runs(k, namespace, "manual"))
    assert values == ["one", "two"]


def test_a_non_utc_time_zone_fires_at_the_right_utc_instant(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    zone = ZoneInfo("Asia/Kolkata")  # UTC+05:30: a half-hour offset shows any mistake
    target = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    local = target.astimezone(zone)
    cron = f"{local.second} {local.minute} {local.hour} * * *"
    k.apply(schedule("kolkata", cron, timeZone="Asia/Kolkata"), namespace)
    run = wait_for("the run", lambda: runs(k, namespace, "kolkata"), timeout=40,
                   on_timeout=lambda: describe_namespace(k, namespace))[0]
    assert instant_of(run) == target
    assert run["metadata"]["name"] == f"kolkata-{int(target.timestamp())}"
    nxt = ts(wait_for("next time", lambda: sched_status(k, namespace, "kolkata").get(
        "nextScheduleTime") if sched_status(k, namespace, "kolkata").get(
        "lastScheduleTime") else None, timeout=20))
    assert nxt == target + timedelta(days=1)


def test_an_outage_of_three_periods_ends_with_exactly_one_catch_up_run(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("outage", "*/5 * * * * *", "sleep 1", successfulHistoryLimit=20),
            namespace)
    wait_for("a first run", lambda: runs(k, namespace, "outage"), timeout=20)
    taskops.kill()
    before = {r["metadata"]["name"] for r in runs(k, namespace, "outage")}
    time.sleep(16)  # three fire times pass with no operator
    started = datetime.now(UTC)
    taskops.start()
    ready = datetime.now(UTC)
    wait_for("the catch-up run", lambda: len(runs(k, namespace, "outage")) > len(before),
             timeout=10)
    time.sleep(2)  # and nothing more arrives before the next regular instant
    new = [r for r in runs(k, namespace, "outage") if r["metadata"]["name"] not in before]
    names = [r["metadata"]["name"] for r in new]
    # The instants that passed with no operator give one run, not one each,
    # and there is one: for the latest instant due when it came back. That
    # may be one that passed while it started, created less than a second
    # late, so it is told by its instant, not by its lateness.
    assert len([r for r in new if instant_of(r) < started]) <= 1, names
    assert min(instant_of(r) for r in new) <= ready, names
    assert sched_status(k, namespace, "outage").get("missedRuns", 0) >= 2


def test_two_operators_at_once_create_exactly_one_run_per_instant(
        k: Kubectl, namespace: str, taskops: OperatorProcess, kubeconfig: str,
        operator_logs: Path):
    second = OperatorProcess(kubeconfig, namespace, operator_logs, name="second").start()
    try:
        k.apply(schedule("twice", "*/2 * * * * *", successfulHistoryLimit=50), namespace)
        time.sleep(12)
        created_by_second = second.metric("taskops_schedule_runs_total", outcome="created")
    finally:
        second.stop()
    seen = runs(k, namespace, "twice")
    instants = [instant_of(r) for r in seen]
    assert len(seen) >= 4
    assert len(instants) == len(set(instants)), "two runs for one instant"
    gaps = [(b - a).total_seconds() for a, b in zip(sorted(instants), sorted(instants)[1:],
                                                    strict=False)]
    assert all(g == 2 for g in gaps), gaps  # none missing either
    created = taskops.metric("taskops_schedule_runs_total", outcome="created")
    assert created + created_by_second >= len(seen)


def lateness_summary() -> str:
    if not LATENESS_LOG.exists():
        return "no lateness recorded"
    values = [json.loads(line)["lateness"] for line in LATENESS_LOG.read_text().splitlines()]
    return f"lateness over {len(values)} runs: median {statistics.median(values):.1f}s, " \
           f"worst {max(values):.1f}s"


def test_a_run_the_api_server_refuses_makes_the_schedule_invalid_and_others_keep_running(
        k: Kubectl, namespace: str, taskops: OperatorProcess) -> None:
    """The schema cannot check a run's label values; the API server refuses the
    run. The schedule must say so (condition, one Warning Event), not stall
    silently, and must not keep trying; a valid schedule beside it runs on."""
    bad = schedule("bad-labels", "@every 5s")
    bad["spec"]["taskJobTemplate"]["metadata"] = {"labels": {"team": "not a valid value!"}}
    k.apply(bad, namespace)
    k.apply(schedule("good", "@every 5s"), namespace)

    def invalid() -> dict[str, Any] | None:
        found = [c for c in sched_status(k, namespace, "bad-labels").get("conditions", [])
                 if c["type"] == "Invalid" and c["status"] == "True"]
        return found[0] if found else None

    condition = wait_for("the refused schedule Invalid", invalid, timeout=60,
                         on_timeout=lambda: describe_namespace(k, namespace) + taskops.logs())
    assert condition["message"].startswith(
        "spec.taskJobTemplate: the API server refused the run"), condition
    assert "metadata.labels" in condition["message"], condition
    wait_for("two runs of the good schedule", lambda: len(runs(k, namespace, "good")) >= 2,
             timeout=60)
    time.sleep(6)  # a further instant of the bad one passes
    assert runs(k, namespace, "bad-labels") == []
    events = [e for e in k.list("events", namespace)
              if e["involvedObject"].get("name") == "bad-labels" and e["type"] == "Warning"]
    assert [e["reason"] for e in events] == ["Invalid"], events
    assert sum(e.get("count", 1) for e in events) == 1, events
