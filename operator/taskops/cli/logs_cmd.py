"""`logs`: the logs of every attempt of a TaskJob, each line prefixed `[index/attempt]`,
oldest first; for an attempt whose pod is gone, the message its status recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import click

from taskops.cli.cluster import TASKJOBS, Cluster, Target, kube_options
from taskops.cli.errors import CliError
from taskops.cli.progress import Watched
from taskops.cli.wait_cmd import Report, Source, follow_one
from taskops.core.labels import ANNOTATION_MAIN_CONTAINER, LABEL_ATTEMPT, LABEL_INDEX
from taskops.core.labels import LABEL_TASKJOB_UID as LABEL_UID
from taskops.core.observed import EPOCH, parse_time

#: The longest `logs -f` goes without listing the job's pods, when nothing it watches
#: changed: one pod list per this many seconds while a job runs, beside the job's watch
#: (it listed the pods and read the job every second before, 2 requests a second).
RESCAN_SECONDS = 5.0
#: The pause before listing again when the API server could not be reached.
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Attempt:
    """One attempt: its pod if kept, else the record on the TaskJob's status."""

    index: int
    attempt: int
    pod: str
    container: str | None  # the main container, when the pod is kept
    started: bool  # the pod's main container has started (it has a log)
    waiting_reason: str | None
    record: Mapping[str, Any] | None
    kept: bool
    created: float  # for the order: the pod's creation, else the attempt's start

    @property
    def prefix(self) -> str:
        return f"[{self.index}/{self.attempt}]"

    @property
    def ended(self) -> bool:
        """Its record says it ended. One that did not, without a pod, is being created:
        the operator records an attempt on the status before it creates the pod."""
        return bool((self.record or {}).get("finishTime"))


def attempts_of(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Attempt]:
    """Every attempt of `job`, oldest first: its kept pods and the status records of
    the attempts whose pod is gone."""
    records = {(int(r.get("index", 0)), int(r.get("attempt", 0))): r
               for r in (job.get("status") or {}).get("attempts") or []}
    found: dict[tuple[int, int], Attempt] = {}
    for pod in pods:
        metadata = pod.get("metadata") or {}
        labels = metadata.get("labels") or {}
        try:
            key = (int(labels[LABEL_INDEX]), int(labels[LABEL_ATTEMPT]))
        except (KeyError, ValueError):
            continue
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        main = (metadata.get("annotations") or {}).get(ANNOTATION_MAIN_CONTAINER) \
            or containers[0].get("name")
        state: Mapping[str, Any] = {}
        for container_status in (pod.get("status") or {}).get("containerStatuses") or []:
            if container_status.get("name") == main:
                state = container_status.get("state") or {}
        waiting = state.get("waiting") or {}
        created = parse_time(metadata.get("creationTimestamp")) or EPOCH
        found[key] = Attempt(key[0], key[1], str(metadata.get("name", "")), main,
                             "running" in state or "terminated" in state,
                             waiting.get("reason") or (pod.get("status") or {}).get("phase"),
                             records.get(key), True, created.timestamp())
    for key, record in records.items():
        if key not in found:
            started = parse_time(record.get("startTime")) or EPOCH
            found[key] = Attempt(key[0], key[1], str(record.get("pod", "")), None, False,
                                 None, record, False, started.timestamp())
    return sorted(found.values(), key=lambda a: (a.created, a.index, a.attempt))


def gone_lines(attempt: Attempt) -> list[str]:
    """For an attempt whose pod is gone: said so, then the message on its record."""
    record = attempt.record or {}
    outcome = ", ".join(str(part) for part in (
        record.get("reason"), None if record.get("exitCode") is None
        else f"exit code {record['exitCode']}") if part)
    head = f"{attempt.prefix} pod {attempt.pod} is gone" + (f" ({outcome})" if outcome else "")
    message = str(record.get("message") or "")
    if not message:
        return [head + "; no message was recorded"]
    return [head + "; the message recorded on the status:",
            *(f"{attempt.prefix} {line}" for line in message.splitlines())]


def prefixed(attempt: Attempt, text: str) -> list[str]:
    return [f"{attempt.prefix} {line}" for line in text.splitlines()]


def select(attempts: list[Attempt], index: int | None, number: int | None) -> list[Attempt]:
    return [a for a in attempts
            if (index is None or a.index == index) and (number is None or a.attempt == number)]


def _pods(cluster: Cluster, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    uid = (job.get("metadata") or {}).get("uid")
    return cluster.pods(f"{LABEL_UID}={uid}")


def print_logs(cluster: Cluster, attempts: list[Attempt], echo: Callable[[str], None]) -> None:
    for attempt in attempts:
        if not attempt.kept and not attempt.ended:
            echo(f"{attempt.prefix} pod {attempt.pod} is being created")
        elif not attempt.kept:
            for line in gone_lines(attempt):
                echo(line)
        elif not attempt.started:
            echo(f"{attempt.prefix} pod {attempt.pod} has not started yet "
                 f"({attempt.waiting_reason or 'Pending'})")
        else:
            for line in prefixed(attempt, cluster.pod_log(attempt.pod, attempt.container)):
                echo(line)


@dataclass(frozen=True)
class FollowStep:
    """What `logs -f` does after one look at the job and its pods."""

    stream: list[Attempt]  # started, pod kept, not followed yet: follow its log
    gone: list[Attempt]  # its pod went before it was followed: print the status record
    unstarted: list[Attempt]  # the job finished before its pod started: say so
    done: bool  # the job has finished (or is gone) and every log stream has ended


def follow_step(job: Mapping[str, Any] | None, attempts: Iterable[Attempt],
                handled: set[tuple[int, int]], streaming: bool) -> FollowStep:
    """The next step of `logs -f`, given the job (None: gone), its attempts as listed
    after it, the attempts handled already, and whether a stream is still running.
    New attempts are picked up as they start; it is done once the job has finished and
    nothing is left to stream (the pods are listed after the job is read, so every
    attempt of a finished job is in `attempts`)."""
    finished = job is None or (job.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    new = [a for a in attempts if (a.index, a.attempt) not in handled]
    stream = [a for a in new if a.kept and a.started]
    # An attempt without a pod that has not ended is waited for: its pod is about to be
    # created (unless the job has finished, and then it never will be).
    gone = [a for a in new if not a.kept and (a.ended or finished)]
    unstarted = [a for a in new if a.kept and not a.started] if finished else []
    return FollowStep(stream, gone, unstarted, finished and not streaming and not stream)


class JobFeed:
    """The followed job's latest state, kept by a watch (`wait_cmd.follow_one`) in a
    thread of its own; `changed` is set on each new state and whenever a log stream
    ends, so that `logs -f` looks at the pods when something happened, not every
    second."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        self.changed = threading.Event()
        self._lock = threading.Lock()
        self._job: Watched = Watched(str((job.get("metadata") or {}).get("name", ""))).observe(
            job)
        self._fatal: CliError | None = None

    def report(self, report: Report) -> None:
        with self._lock:
            self._job = report.job
            if report.fatal is not None:
                self._fatal = report.fatal
        self.changed.set()

    def start(self, source: Source) -> None:
        job = self._job  # before the thread starts: nothing else writes it yet

        def run() -> None:
            try:
                follow_one(0, job, source, self.report)
            except Exception as err:  # a dead watch would leave -f waiting for ever
                with self._lock:
                    self._fatal = CliError(f"watching the job failed: {err}")
                self.changed.set()

        threading.Thread(target=run, daemon=True).start()

    def job(self) -> Mapping[str, Any] | None:
        """The job as last seen (None once deleted); raises the watch's fatal error."""
        with self._lock:
            if self._fatal is not None:
                raise self._fatal
            return None if self._job.verdict == "Deleted" else self._job.body


def follow_logs(cluster: Cluster, name: str, index: int | None, number: int | None,
                echo: Callable[[str], None], rescan_seconds: float = RESCAN_SECONDS) -> None:
    """Stream every attempt's log as it starts, until the job has finished (or is
    gone) and every stream has ended."""
    lock = threading.Lock()
    handled: set[tuple[int, int]] = set()
    streams: list[threading.Thread] = []
    failed: list[str] = []
    first = cluster.get(TASKJOBS, name)
    if first is None:
        return
    feed = JobFeed(first)
    feed.start(cluster)

    def say(line: str) -> None:
        with lock:
            echo(line)

    def stream(attempt: Attempt) -> None:
        try:
            for line in cluster.follow_log(attempt.pod, attempt.container):
                say(f"{attempt.prefix} {line}")
        except Exception as err:  # a thread's error would otherwise vanish
            with lock:
                failed.append(attempt.pod)
                click.echo(f"error: {attempt.prefix} following pod {attempt.pod}: {err}",
                           err=True)
        finally:
            feed.changed.set()

    while True:
        # Whether a stream runs is read before the job: one that ends after this read
        # is seen on the next round, never missed. The flag is cleared before the
        # reads, so a change during them makes the next round come at once.
        feed.changed.clear()
        streaming = any(thread.is_alive() for thread in streams)
        job = feed.job()
        try:
            attempts = [] if job is None else select(
                attempts_of(job, _pods(cluster, job)), index, number)
        except CliError as err:
            if not err.transient:
                raise
            time.sleep(RETRY_SECONDS)  # an API server restart must not end -f
            continue
        step = follow_step(job, attempts, handled, streaming)
        for attempt in step.gone:
            handled.add((attempt.index, attempt.attempt))
            for line in gone_lines(attempt):
                say(line)
        for attempt in step.unstarted:
            handled.add((attempt.index, attempt.attempt))
            say(f"{attempt.prefix} pod {attempt.pod} never started "
                f"({attempt.waiting_reason or 'Pending'})")
        for attempt in step.stream:
            handled.add((attempt.index, attempt.attempt))
            thread = threading.Thread(target=stream, args=(attempt,), daemon=True)
            thread.start()
            streams.append(thread)
        if step.done:
            if failed:
                raise CliError(f"could not follow the log of {', '.join(failed)}")
            return
        # A pod's start shows on the job's status (Pending to Running), which wakes
        # this; the timeout covers a start whose status write was folded into a
        # later one.
        feed.changed.wait(rescan_seconds)


@click.command("logs")
@click.argument("name")
@click.option("-f", "--follow", is_flag=True,
              help="Follow running attempts and pick up new ones as they start; end when "
                   "the job has finished.")
@click.option("--index", type=click.IntRange(0), default=None,
              help="Only this completion index.")
@click.option("--attempt", "number", type=click.IntRange(0), default=None,
              help="Only this attempt (0-based, as TASK_ATTEMPT).")
@kube_options()
def logs_command(target: Target, name: str, follow: bool, index: int | None,
                 number: int | None) -> None:
    """The logs of every attempt of a TaskJob, each line prefixed [index/attempt],
    oldest first. For an attempt whose pod is gone, the message recorded on the
    status instead (the log's tail for a failed attempt), and said so.

    \b
    Examples:
      kubectl taskops logs flaky
      kubectl taskops logs shards --index 2 --attempt 0
      kubectl taskops logs etl -f
    """
    cluster = Cluster(target)
    job = cluster.require(TASKJOBS, name)
    if follow:
        follow_logs(cluster, name, index, number, click.echo)
        return
    attempts = select(attempts_of(job, _pods(cluster, job)), index, number)
    if not attempts:
        which = "" if index is None and number is None else " matching --index/--attempt"
        raise CliError(f"taskjob/{name} has no attempts{which} yet")
    print_logs(cluster, attempts, click.echo)
