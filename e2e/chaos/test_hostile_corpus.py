"""Hostile input: every object of e2e/chaos/corpus is applied to a real cluster
while valid TaskJobs run alongside; each gets what its `# expect:` line says,
the valid ones still succeed in about the time they take on a quiet operator,
and the operator stays Ready without a traceback.

The corpus files say what to expect (see e2e/chaos/corpus/generate.py):
`rejected <field>` at kubectl apply, `invalid <field>` on the status,
`failed <Reason>`, or `succeeded`.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube import Kubectl
from operator_process import OperatorProcess
from test_taskjob import taskjob, ts

pytestmark = pytest.mark.chaos

FULL = os.environ.get("TASKOPS_CHAOS") == "full"
VALID_PER_PHASE = 30 if FULL else 10
CORPUS = Path(__file__).resolve().parent / "corpus"
SETTLE_TIMEOUT = 120.0  # seconds after the last apply for every case to reach its expectation
CHURN_WINDOW = 10.0  # a settled object must not be written again in this long
EXPECT = re.compile(r"^# expect: (rejected|invalid|failed|succeeded)(?: (\S+))?$", re.M)
RESULT_BOUND = re.compile(r"^# result-bytes-at-most: (\d+)$", re.M)
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Case:
    """One corpus file: its objects and what must become of them."""

    path: Path
    text: str
    kind: str  # rejected, invalid, failed, succeeded
    argument: str | None  # the field path or the reason
    objects: list[tuple[str, str]]  # (kind, name)
    result_bound: int | None = None
    problem: str | None = None  # why it does not meet its expectation (None: it does, or pending)
    settled: bool = False
    seen: dict[str, str] = field(default_factory=dict)  # name: what its status says, last seen

    @property
    def name(self) -> str:
        return self.path.name


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        match = EXPECT.search(text)
        assert match, f"{path.name}: no '# expect:' line"
        bound = RESULT_BOUND.search(text)
        objects = [(doc["kind"], doc["metadata"]["name"])
                   for doc in yaml.load_all(text, Loader=Loader) if doc]
        cases.append(Case(path, text, match.group(1), match.group(2), objects,
                          int(bound.group(1)) if bound else None))
    return cases


# --- what the cluster says ------------------------------------------------------


def taskjobs(k: Kubectl, ns: str) -> dict[str, dict[str, Any]]:
    return {j["metadata"]["name"]: j for j in k.list("taskjobs.taskops.dev", ns)}


def taskschedules(k: Kubectl, ns: str) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["name"]: s for s in k.list("taskschedules.taskops.dev", ns)}


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def summary(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return "absent"
    st = obj.get("status") or {}
    if obj["kind"] == "TaskJob":
        return (f"phase={st.get('phase')} reason={st.get('reason')} "
                f"message={st.get('message')!r:.300}")
    invalid = condition(obj, "Invalid")
    return (f"Invalid={invalid.get('status')} message={invalid.get('message')!r:.300} "
            f"active={len(st.get('active') or [])}")


def judge_taskjob(case: Case, job: dict[str, Any]) -> tuple[bool, str | None]:
    """(settled, problem) of one TaskJob of `case`."""
    st = job.get("status") or {}
    phase, reason, message = st.get("phase"), st.get("reason"), st.get("message") or ""
    terminal = phase in ("Succeeded", "Failed")
    if case.kind == "succeeded":
        if phase == "Succeeded":
            result = (st.get("result") or "").encode()
            if case.result_bound is not None and len(result) > case.result_bound:
                return True, f"result of {len(result)} bytes, more than {case.result_bound}"
            return True, None
        return terminal, f"ended {phase} {reason}: {message:.500}" if terminal else None
    if not terminal:
        return False, None
    if phase == "Succeeded":
        return True, f"Succeeded, expected {case.kind} {case.argument}"
    if case.kind == "failed":
        if reason == case.argument:
            return True, None
        return True, f"Failed with reason {reason}, not {case.argument}: {message:.500}"
    if case.kind == "invalid":
        if reason != "Invalid":
            return True, f"Failed with reason {reason}, not Invalid: {message:.500}"
        assert case.argument is not None
        if case.argument not in message:
            return True, f"Invalid, but the message does not name {case.argument}: {message:.500}"
        if condition(job, "Invalid").get("status") != "True":
            return True, "Failed/Invalid without condition Invalid=True"
        return True, None
    return True, f"accepted, then {phase} {reason}: {message:.500}"


def judge_schedule(case: Case, schedule: dict[str, Any],
                   jobs: dict[str, dict[str, Any]]) -> tuple[bool, str | None]:
    """(settled, problem) of one TaskSchedule of `case`; a schedule has no end, so an
    unmet expectation is only a problem once the wait is over."""
    invalid = condition(schedule, "Invalid")
    message = invalid.get("message") or ""
    if case.kind == "invalid":
        assert case.argument is not None
        if invalid.get("status") == "True" and case.argument in message:
            return True, None
        return False, (f"condition Invalid={invalid.get('status')}, message {message[:500]!r} "
                       f"(expected Invalid=True naming {case.argument})")
    if case.kind == "succeeded":
        if invalid.get("status") == "True":
            return True, f"condition Invalid: {message:.500}"
        uid = schedule["metadata"]["uid"]
        runs = [j for j in jobs.values()
                if any(o.get("uid") == uid for o in j["metadata"].get("ownerReferences") or [])]
        if any((r.get("status") or {}).get("phase") == "Succeeded" for r in runs):
            return True, None
        return False, f"no run Succeeded yet (runs: {[summary(r) for r in runs]})"
    return False, f"accepted, expected {case.kind} {case.argument}"


def settle(k: Kubectl, ns: str, pending: list[Case], timeout: float,
           on_round: Callable[[], None] = lambda: None) -> None:
    """Poll until every pending case is settled or `timeout` passes; the last problem
    seen stays on the case."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            jobs, schedules = taskjobs(k, ns), taskschedules(k, ns)
        except AssertionError:  # the API server away for a moment: look again
            if time.monotonic() > deadline:
                raise
            time.sleep(2.0)
            continue
        for case in pending:
            if case.settled:
                continue
            settled_all, problems = True, []
            problem: str | None
            for kind, name in case.objects:
                obj = (jobs if kind == "TaskJob" else schedules).get(name)
                case.seen[name] = summary(obj)
                if obj is None:
                    settled_all, problem = False, f"{kind} {name} does not exist"
                elif kind == "TaskJob":
                    done, problem = judge_taskjob(case, obj)
                    settled_all &= done
                else:
                    done, problem = judge_schedule(case, obj, jobs)
                    settled_all &= done
                if problem:
                    problems.append(f"{name[:80]}: {problem}")
            case.problem = "; ".join(problems) or None
            case.settled = settled_all
        on_round()
        if all(c.settled for c in pending) or time.monotonic() > deadline:
            return
        time.sleep(1.0)


# --- the valid jobs ------------------------------------------------------------


def create_valid(k: Kubectl, ns: str, name: str) -> None:
    k.apply(taskjob(name, "true"), ns)


def latencies(k: Kubectl, ns: str, names: list[str], timeout: float = 180) -> list[float]:
    """Create-to-Succeeded seconds of each of `names`, once all are terminal."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = taskjobs(k, ns)
        phases = {n: ((jobs.get(n) or {}).get("status") or {}).get("phase") for n in names}
        if all(p in ("Succeeded", "Failed") for p in phases.values()):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"valid jobs not finished after {timeout}s: {phases}")
        time.sleep(1.0)
    failed = {n: summary(jobs[n]) for n in names if phases[n] != "Succeeded"}
    assert not failed, f"valid TaskJobs did not succeed: {failed}"
    return [(ts(jobs[n]["status"]["completionTime"])
             - ts(jobs[n]["metadata"]["creationTimestamp"])).total_seconds() for n in names]


def describe(label: str, values: list[float]) -> str:
    return (f"{label}: {len(values)} jobs, median {statistics.median(values):.1f}s, "
            f"max {max(values):.1f}s")


# --- the test --------------------------------------------------------------------


def test_hostile_corpus_gets_what_each_file_expects_while_valid_jobs_keep_running(
        k: Kubectl, namespace: str, taskops: OperatorProcess) -> None:
    cases = load_cases()
    assert sum(len(c.objects) for c in cases) >= 80

    # Without the corpus: how long a valid job takes on this cluster right now.
    quiet = [f"valid-quiet-{i}" for i in range(VALID_PER_PHASE)]
    for name in quiet:
        create_valid(k, namespace, name)
    quiet_latency = latencies(k, namespace, quiet)
    print(describe("\nvalid TaskJobs, quiet operator", quiet_latency))

    # With it: valid jobs before, among and after the corpus's applies.
    before = [f"valid-before-{i}" for i in range(VALID_PER_PHASE)]
    during = [f"valid-during-{i}" for i in range(VALID_PER_PHASE)]
    after = [f"valid-after-{i}" for i in range(VALID_PER_PHASE)]
    for name in before:
        create_valid(k, namespace, name)

    def apply(case: Case) -> None:
        proc = k.apply(case.text, namespace, check=False)
        if case.kind == "rejected":
            assert case.argument is not None
            case.settled = True
            if proc.returncode == 0:
                case.problem = f"accepted at apply, expected refused naming {case.argument}"
            elif case.argument not in proc.stderr:
                case.problem = (f"refused, but stderr does not name {case.argument}: "
                                f"{proc.stderr[:500]}")
        elif proc.returncode != 0:
            case.settled = True
            case.problem = f"refused at apply, expected {case.kind}: {proc.stderr[:500]}"

    started = time.monotonic()
    every = max(1, len(cases) // len(during))
    with ThreadPoolExecutor(4) as pool:
        futures = []
        for i, case in enumerate(cases):
            futures.append(pool.submit(apply, case))
            if i % every == 0 and i // every < len(during):
                futures.append(pool.submit(create_valid, k, namespace, during[i // every]))
        for future in futures:
            future.result()
    for name in during[len(cases) // every + 1:]:
        create_valid(k, namespace, name)
    applied = time.monotonic() - started
    for name in after:
        create_valid(k, namespace, name)

    not_ready: list[str] = []

    def check_ready() -> None:
        code, body = taskops.health("/readyz")
        if code != 200:
            not_ready.append(f"{code} {body[:200]}")

    accepted = [c for c in cases if not c.settled]
    settle(k, namespace, accepted, SETTLE_TIMEOUT, check_ready)
    chaos_latency = latencies(k, namespace, before + during + after)

    # Settled objects are left alone: no reconcile keeps rewriting them.
    versions = {(kind, name): obj["metadata"]["resourceVersion"]
                for kind, objs in (("TaskJob", taskjobs(k, namespace)),
                                   ("TaskSchedule", taskschedules(k, namespace)))
                for name, obj in objs.items()}
    time.sleep(CHURN_WINDOW)
    now = {**{("TaskJob", n): o for n, o in taskjobs(k, namespace).items()},
           **{("TaskSchedule", n): o for n, o in taskschedules(k, namespace).items()}}
    for case in accepted:
        for key in case.objects:
            obj = now.get(key)
            if (case.settled and obj is not None and key in versions
                    and obj["metadata"]["resourceVersion"] != versions[key]):
                case.problem = (case.problem or "") + (
                    f" {key[1][:80]} written again after it settled ({summary(obj)})")

    print(f"\ncorpus: {len(cases)} files, {sum(len(c.objects) for c in cases)} objects, "
          f"applied in {applied:.1f}s")
    print(describe("valid TaskJobs, quiet operator", quiet_latency))
    print(describe("valid TaskJobs, among the corpus", chaos_latency))
    print(f"reconcile errors: {taskops.metric('taskops_reconcile_errors_total'):.0f}")

    problems = [f"{c.name}: {c.problem or 'not settled: ' + str(c.seen)}"
                for c in cases if c.problem or not c.settled]
    code, body = taskops.health("/readyz")
    if code != 200 or not_ready:
        problems.append(f"operator not Ready: {code} {body[:200]} (while settling: {not_ready})")
    log = taskops.log_path.read_text(errors="replace")
    tracebacks = [m.start() for m in re.finditer("Traceback", log)]
    if tracebacks:
        problems.append(f"{len(tracebacks)} tracebacks in the operator log, the first:\n"
                        f"{log[tracebacks[0]:tracebacks[0] + 3000]}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
