"""`kubectl taskops` end to end: the installed console script against a real
cluster and a real operator, asserting what a person sees and the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kube import BUSYBOX_IMAGE, Kubectl, describe_namespace, wait_for
from operator_process import ROOT, OperatorProcess
from test_taskjob import taskjob, ts, wait_phase
from test_taskschedule import runs, sched_status, schedule

#: What a person saw, for the docs' recorded output (as the schedule tests' lateness log).
TRANSCRIPT = Path("/tmp/taskops-cli-transcript.txt")

_SCRIPT = Path(sys.executable).parent / "kubectl-taskops"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "taskops.cli"]


def argv(k: Kubectl, ns: str, verb: str, *args: str) -> list[str]:
    # The connection flags right after the verb: after `--` they would be the command.
    return [*CLI, verb, "-n", ns, "--kubeconfig", k.kubeconfig, *args]


def cli(k: Kubectl, ns: str, verb: str, *args: str,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv(k, ns, verb, *args), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def record(command: str, proc: subprocess.CompletedProcess[str]) -> None:
    with TRANSCRIPT.open("a") as out:
        out.write(f"$ kubectl taskops {command}\n{proc.stdout}{proc.stderr}\n")


def shown(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


# ----------------------------------------------------------------------------- run, wait


def test_run_wait_of_a_succeeding_job_exits_0_and_prints_its_result(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    proc = cli(k, namespace, "run", "hello", "--image", BUSYBOX_IMAGE, "--wait", "--",
               "sh", "-c", 'echo -n "hello from attempt $TASK_ATTEMPT" > /dev/termination-log')
    assert proc.returncode == 0, shown(proc)
    lines = proc.stdout.splitlines()
    assert lines[0] == "taskjob.taskops.dev/hello created"
    assert "hello   Succeeded   1/1 succeeded   attempts 1" in lines
    assert lines[-2:] == ["taskjob/hello succeeded", "result: hello from attempt 0"]
    assert proc.stderr == ""


def test_run_wait_of_a_failing_job_exits_1_within_5s_of_the_failure(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    proc = cli(k, namespace, "run", "broken", "--image", BUSYBOX_IMAGE, "--wait", "--",
               "sh", "-c", "echo about to fail; exit 3")
    exited = datetime.now(UTC)
    assert proc.returncode == 1, shown(proc)
    st = k.get("taskjob", "broken", namespace)["status"]
    assert st["phase"] == "Failed"
    # completionTime is cut to the second: one more second of slack.
    assert (exited - ts(st["completionTime"])).total_seconds() < 6, (st, exited)
    assert proc.stderr.startswith(f"taskjob/broken failed: {st['reason']}: "), shown(proc)


def test_wait_exits_2_on_a_timeout_naming_the_job(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("slow", "sleep 120"), namespace)
    started = time.monotonic()
    proc = cli(k, namespace, "wait", "slow", "--timeout", "3s")
    assert proc.returncode == 2, shown(proc)
    assert 3 <= time.monotonic() - started < 15
    assert proc.stderr.startswith("timed out after 3s waiting for taskjob/slow (phase "), \
        shown(proc)


def test_wait_exits_3_when_the_job_is_deleted(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(taskjob("doomed", "sleep 120"), namespace)
    wait_phase(k, namespace, "doomed", "Running")
    waiter = subprocess.Popen(argv(k, namespace, "wait", "doomed"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # Deleted only once the waiter has seen the job (its first line): a busy
    # machine can take seconds to start it, and it would then find it gone.
    assert waiter.stdout is not None
    first = waiter.stdout.readline()
    assert first == "doomed   Running   0/1 succeeded   attempts 1\n", first
    k.run("delete", "taskjob", "doomed", "-n", namespace, "--wait=false")
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 3, (out, err)
    assert out.splitlines()[-1] == "doomed   Deleted", out
    assert err == "taskjob/doomed was deleted while waited for\n"


def test_wait_for_a_job_that_does_not_exist_is_an_error(
        k: Kubectl, namespace: str, crds: None):
    proc = cli(k, namespace, "wait", "nothing")
    assert proc.returncode == 4, shown(proc)
    assert proc.stderr == (f'error: taskjobs.taskops.dev "nothing" not found in namespace '
                           f'"{namespace}"\n')


# ----------------------------------------------------------------------------- logs, status


def test_logs_show_the_failed_attempt_and_the_succeeding_one_prefixed(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    proc = cli(k, namespace, "run", "flaky", "--image", BUSYBOX_IMAGE, "--retries", "2",
               "--backoff", "1s", "--wait", "--",
               "sh", "-c", 'echo "attempt $TASK_ATTEMPT starts"; [ "$TASK_ATTEMPT" -ge 1 ]')
    assert proc.returncode == 0, shown(proc)
    record("run flaky --image busybox:1.35 --retries 2 --backoff 1s --wait -- sh -c '...'",
           proc)
    logs = cli(k, namespace, "logs", "flaky")
    record("logs flaky", logs)
    assert logs.returncode == 0, shown(logs)
    assert logs.stdout == "[0/0] attempt 0 starts\n[0/1] attempt 1 starts\n"
    only = cli(k, namespace, "logs", "flaky", "--attempt", "0")
    assert only.stdout == "[0/0] attempt 0 starts\n"
    # -f on a finished job prints the same and ends.
    followed = cli(k, namespace, "logs", "flaky", "-f", timeout=60)
    assert sorted(followed.stdout.splitlines()) == ["[0/0] attempt 0 starts",
                                                    "[0/1] attempt 1 starts"]

    status = cli(k, namespace, "status", "flaky")
    assert status.returncode == 0, shown(status)
    record("status flaky", status)
    text = status.stdout
    assert "Phase:      Succeeded (CompletionsReached)" in text, text
    assert "1/1 succeeded (NonIndexed), 0 active, 1 failed, 2 attempts" in text, text
    rows = text.split("Attempts:\n")[1].splitlines()
    assert rows[0].split() == ["INDEX", "ATTEMPT", "POD", "START", "DURATION", "EXIT",
                               "REASON", "MESSAGE"]
    assert rows[1].split()[:2] == ["0", "0"] and " 1 " in rows[1], text
    assert rows[2].split()[:2] == ["0", "1"], text


def test_logs_follow_streams_the_running_attempt_picks_up_the_next_and_ends_with_the_job(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    # Each attempt runs 10 s, so `logs -f` (started once the job runs) meets the first
    # one live and the second one only after it has started.
    proc = cli(k, namespace, "run", "retried", "--image", BUSYBOX_IMAGE, "--retries", "1",
               "--backoff", "2s", "--", "sh", "-c",
               'echo "attempt $TASK_ATTEMPT up"; sleep 10; echo "attempt $TASK_ATTEMPT down"; '
               '[ "$TASK_ATTEMPT" -ge 1 ]')
    assert proc.returncode == 0, shown(proc)
    wait_phase(k, namespace, "retried", "Running")
    followed = cli(k, namespace, "logs", "retried", "-f", timeout=120)
    assert followed.returncode == 0, shown(followed)
    assert followed.stdout.splitlines() == [
        "[0/0] attempt 0 up", "[0/0] attempt 0 down", "[0/1] attempt 1 up",
        "[0/1] attempt 1 down"], shown(followed)
    # It ended because the job did: by then the job has finished.
    assert k.get("taskjob", "retried", namespace)["status"]["phase"] == "Succeeded"


# ----------------------------------------------------------------------------- schedules


def test_next_agrees_with_the_operator_and_with_the_runs_it_creates(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("tick", "*/15 * * * * *", timeZone="Europe/Berlin",
                     successfulHistoryLimit=10), namespace)

    def agreed() -> dict[str, Any] | None:
        before = sched_status(k, namespace, "tick").get("nextScheduleTime")
        proc = cli(k, namespace, "next", "tick", "--count", "3", "-o", "json")
        assert proc.returncode == 0, shown(proc)
        after = sched_status(k, namespace, "tick").get("nextScheduleTime")
        upcoming = json.loads(proc.stdout)
        if before is None or before != after or upcoming[0]["time"] != after:
            return None  # the operator moved on between the reads, or has not started
        return upcoming[0]

    first = wait_for("next and status.nextScheduleTime agree", agreed, timeout=60,
                     on_timeout=lambda: describe_namespace(k, namespace))
    instant = ts(first["time"])
    assert first["run"] == f"tick-{int(instant.timestamp())}"
    assert first["localTime"] == instant.astimezone(ZoneInfo("Europe/Berlin")).isoformat()
    run = wait_for(f"run {first['run']}", lambda: k.get("taskjob", first["run"], namespace),
                   timeout=40, on_timeout=lambda: describe_namespace(k, namespace))
    assert run["metadata"]["annotations"]["taskops.dev/scheduled-time"] == first["time"]

    table = cli(k, namespace, "next", "tick", "--count", "2")
    assert table.stdout.splitlines()[0] == "taskschedule/tick: '*/15 * * * * *' in Europe/Berlin"
    assert table.stdout.splitlines()[1].split()[:2] == ["UTC", "LOCAL"]


def test_backfill_creates_exactly_the_expected_runs_and_again_none(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("nightly", "0 3 * * *", timeZone="America/New_York", suspend=True,
                     successfulHistoryLimit=10), namespace)
    zone = ZoneInfo("America/New_York")
    expected = sorted(f"nightly-{int(datetime(2026, 11, day, 3, tzinfo=zone).timestamp())}"
                      for day in (1, 2, 3))
    args = ("nightly", "--from", "2026-11-01T00:00:00-04:00", "--to", "2026-11-03T23:59:59-05:00")
    first = cli(k, namespace, "backfill", *args)
    assert first.returncode == 0, shown(first)
    assert first.stdout.splitlines()[-1] == "3 created, 0 existed already"
    assert sorted(r["metadata"]["name"] for r in runs(k, namespace, "nightly")) == expected
    again = cli(k, namespace, "backfill", *args)
    assert again.returncode == 0, shown(again)
    assert again.stdout.splitlines()[-1] == "0 created, 3 existed already"
    assert sorted(r["metadata"]["name"] for r in runs(k, namespace, "nightly")) == expected

    too_many = cli(k, namespace, "backfill", "nightly", "--from", "2026-01-01",
                   "--to", "2026-11-01", "--max", "10")
    assert too_many.returncode == 4, shown(too_many)
    assert too_many.stderr.startswith("error: more than --max 10 runs in the range")
    assert len(runs(k, namespace, "nightly")) == 3


def test_trigger_wait_follows_the_new_run_to_its_end(
        k: Kubectl, namespace: str, taskops: OperatorProcess):
    k.apply(schedule("yearly", "0 0 1 1 *", script="echo -n triggered > /dev/termination-log"),
            namespace)
    proc = cli(k, namespace, "trigger", "yearly", "--wait")
    assert proc.returncode == 0, shown(proc)
    first = proc.stdout.splitlines()[0]
    assert first.startswith("taskschedule.taskops.dev/yearly triggered: "
                            "taskjob.taskops.dev/yearly-manual-"), shown(proc)
    name = first.rsplit("/", 1)[1]
    assert [r["metadata"]["name"] for r in runs(k, namespace, "yearly")] == [name]
    assert proc.stdout.splitlines()[-2:] == [f"taskjob/{name} succeeded", "result: triggered"]


# ----------------------------------------------------------------------------- queue, tree


def test_queue_shows_the_admission_order_and_tree_the_phases(
        k: Kubectl, namespace: str, operator_factory: Any):
    operator_factory([namespace], ["--max-running", "1"])
    empty = cli(k, namespace, "queue")
    assert (empty.returncode, empty.stdout) == (0, f"No queued TaskJobs in namespace "
                                                   f"{namespace}.\n"), shown(empty)
    k.apply(taskjob("holder", "sleep 60"), namespace)
    wait_phase(k, namespace, "holder", "Running")
    k.apply(taskjob("low", "true"), namespace)
    time.sleep(1)  # creationTimestamp has a resolution of one second
    k.apply(taskjob("high", "true", priority=10), namespace)
    k.apply(taskjob("after", "true", dependsOn=["high"]), namespace)
    wait_phase(k, namespace, "low", "Queued")
    wait_phase(k, namespace, "high", "Queued")
    proc = cli(k, namespace, "queue")
    assert proc.returncode == 0, shown(proc)
    table = [line.split()[:3] for line in proc.stdout.splitlines()]
    assert table == [["POSITION", "NAME", "PRIORITY"], ["1", "high", "10"], ["2", "low", "0"]]
    assert "global 1 (1 in use)" in proc.stdout.splitlines()[1], shown(proc)

    tree = cli(k, namespace, "tree", "high")
    assert tree.returncode == 0, shown(tree)
    assert tree.stdout == ("Depends on: nothing\nNeeded by:\n  high (Queued)\n"
                           "  └── after (Waiting)\n"), shown(tree)
