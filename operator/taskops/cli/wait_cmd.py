"""`wait`: follow TaskJobs until every one has finished, and exit with the verdict."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from taskops.cli.cluster import TASKJOBS, Cluster, Target, kube_options
from taskops.cli.errors import CliError
from taskops.cli.progress import Watched, exit_code, job_line, verdict_lines
from taskops.cli.render import human_duration, parse_duration
from taskops.cli.watching import (
    Bookmark,
    EventOutcome,
    Expired,
    NextStep,
    Seen,
    StreamEnd,
    next_step,
    read_event,
)


class Source(Protocol):
    """The reads `wait` makes (`Cluster`'s, in the namespace it was given)."""

    def get(self, plural: str, name: str) -> Mapping[str, Any] | None: ...

    def list_one(self, plural: str, name: str) -> tuple[Mapping[str, Any] | None, str | None]: ...

    def watch_one(self, plural: str, name: str,
                  resource_version: str) -> Iterable[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class Report:
    """What the follower of the job at `position` tells the display: its state now;
    `problem`, the API server could not be reached (None: it can again); `fatal`, an
    error that ends the wait (exit 4)."""

    position: int
    job: Watched
    problem: str | None = None
    fatal: CliError | None = None


def _version(job: Watched) -> str | None:
    version = ((job.body or {}).get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None


def follow_one(position: int, job: Watched, source: Source, report: Callable[[Report], None],
               sleep: Callable[[float], None] = time.sleep) -> None:
    """Follow one job until it has a verdict (or an error that will not pass), telling
    `report` each new state: a watch from the version last seen, as `watching` decides."""
    version = _version(job)
    step = NextStep("watch", 0.0, version) if version else NextStep("list")
    failures = 0
    while job.verdict is None:
        if step.delay:
            sleep(step.delay)
        try:
            if step.action == "poll":
                job = job.observe(source.get(TASKJOBS, job.name))
                report(Report(position, job))
                end = StreamEnd("closed")
            else:
                version = step.resource_version
                if step.action == "list":
                    body, version = source.list_one(TASKJOBS, job.name)
                    job = job.observe(body)
                    report(Report(position, job))
                end = StreamEnd("closed", version)
                if job.verdict is None and version:
                    # `job` and `end` advance event by event: a stream cut midway keeps
                    # what it delivered.
                    for event in source.watch_one(TASKJOBS, job.name, version):
                        seen, end = apply_event(job, end, read_event(event))
                        if seen is not job:
                            job = seen
                            report(Report(position, job))
                        if end.how != "closed" or job.verdict is not None:
                            break
        except CliError as err:
            end = _failed(err)
        step, failures = _advance(end, failures, step)
        if step.action == "fail":
            report(Report(position, job, fatal=CliError(end.message, status=end.status)))
            return
        if end.how == "failed" and end.transient:
            # The last state stays on screen; only --timeout ends the wait. (A refused
            # watch is no problem to show: the GETs that replace it work.)
            report(Report(position, job, problem=end.message))


def _failed(err: CliError) -> StreamEnd:
    return StreamEnd("failed", transient=err.transient, status=err.status, message=err.message)


def _advance(end: StreamEnd, failures: int, step: NextStep) -> tuple[NextStep, int]:
    """The next step after a stream ended, and the failures in a row so far."""
    failures = failures + 1 if end.how == "failed" else 0
    return next_step(end, failures, polling=step.action == "poll"), failures


def await_creation(name: str, source: Source, on_problem: Callable[[str], None],
                   sleep: Callable[[float], None] = time.sleep) -> Mapping[str, Any]:
    """The TaskJob `name` once it exists (the operator creates a triggered run, or, for a
    suspended schedule, only on resume): listed, then watched from the list's version
    as `follow_one` watches, so a long wait costs a watch per WATCH_SECONDS, not a GET a
    second. `on_problem` is told each failure to reach the API server; only an error
    that will not pass ends it (raised)."""
    step = NextStep("list")
    failures = 0
    while True:
        if step.delay:
            sleep(step.delay)
        try:
            if step.action == "poll":
                body = source.get(TASKJOBS, name)
                if body is not None:
                    return body
                end = StreamEnd("closed")
            else:
                version = step.resource_version
                if step.action == "list":
                    body, version = source.list_one(TASKJOBS, name)
                    if body is not None:
                        return body
                end = StreamEnd("closed", version)
                if version:
                    for event in source.watch_one(TASKJOBS, name, version):
                        outcome = read_event(event)
                        if isinstance(outcome, Seen) and outcome.body is not None:
                            return outcome.body
                        _, end = apply_event(Watched(name), end, outcome)
                        if end.how != "closed":
                            break
        except CliError as err:
            end = _failed(err)
        step, failures = _advance(end, failures, step)
        if step.action == "fail":
            raise CliError(end.message, status=end.status)
        if end.how == "failed" and end.transient:
            on_problem(end.message)


def apply_event(job: Watched, end: StreamEnd,
                outcome: EventOutcome) -> tuple[Watched, StreamEnd]:
    """The job and how its watch stands after one event: `end` stays `closed` (resume
    from its version if the stream ends now) unless the event ended the watch."""
    if isinstance(outcome, Seen):
        return job.observe(outcome.body), StreamEnd(
            "closed", outcome.resource_version or end.resource_version)
    if isinstance(outcome, Bookmark):
        return job, StreamEnd("closed", outcome.resource_version or end.resource_version)
    if isinstance(outcome, Expired):
        return job, StreamEnd("expired")
    transient = outcome.status is None or outcome.status == 429 or outcome.status >= 500
    return job, StreamEnd("failed", transient=transient, status=outcome.status,
                          message=f"watch of taskjob/{job.name}: {outcome.message}")


Starter = Callable[[int, Watched, Callable[[Report], None]], None]


def follow(jobs: Sequence[Watched], start: Starter, timeout: float | None,
           show: Callable[[list[str]], None],
           clock: Callable[[], float] = time.monotonic) -> tuple[list[Watched], bool]:
    """`start` a follower for every unfinished job, `show` the lines on each report,
    until all have a verdict or `timeout` seconds pass. Returns the jobs and whether it
    timed out; a fatal report is raised."""
    deadline = None if timeout is None else clock() + timeout
    current = list(jobs)
    problems: dict[int, str] = {}
    reports: queue.Queue[Report] = queue.Queue()
    for position, job in enumerate(current):
        if job.verdict is None:
            start(position, job, reports.put)
    while True:
        shown = [job_line(job) for job in current]
        shown += [f"(retrying: {problem})" for problem in dict.fromkeys(problems.values())]
        show(shown)
        if all(job.verdict for job in current):
            return current, False
        remaining = None if deadline is None else deadline - clock()
        if remaining is not None and remaining <= 0:
            return current, True
        try:
            report = reports.get(timeout=remaining)
        except queue.Empty:
            continue
        if report.fatal is not None:
            raise report.fatal
        current[report.position] = report.job
        if report.problem is None:
            problems.pop(report.position, None)
        else:
            problems[report.position] = report.problem


def thread_starter(source: Source) -> Starter:
    """Each job's follower in a daemon thread: a watch blocks until its next event,
    and the process may exit while one does."""
    def start(position: int, job: Watched, report: Callable[[Report], None]) -> None:
        def run() -> None:
            try:
                follow_one(position, job, source, report)
            except Exception as err:  # a thread's error would otherwise vanish, and wait hang
                report(Report(position, job,
                              fatal=CliError(f"following taskjob/{job.name}: {err!r}")))
        threading.Thread(target=run, name=f"wait-{job.name}", daemon=True).start()
    return start


class PlainDisplay:
    """Not a terminal: a line whenever a job's line changes (CI logs)."""

    def __init__(self) -> None:
        self.last: dict[int, str] = {}

    def __call__(self, lines: list[str]) -> None:
        for position, line in enumerate(lines):
            if self.last.get(position) != line:
                click.echo(line)
                self.last[position] = line
        for position in [p for p in self.last if p >= len(lines)]:
            del self.last[position]


def wait_and_report(cluster: Cluster, jobs: Sequence[Watched], timeout: int | None) -> int:
    """Follow `jobs` (live on a terminal, line per change otherwise), print the
    verdict, and return the exit code. Each job should carry the body last read
    (`Watched(...).observe(body)`): it is watched from that body's version."""
    start = thread_starter(cluster)
    console = Console()
    if console.is_terminal:
        with Live(Text(""), console=console, auto_refresh=False, transient=False) as live:
            def show(lines: list[str]) -> None:
                live.update(Text("\n".join(lines)), refresh=True)
            final, timed_out = follow(jobs, start, timeout, show)
    else:
        final, timed_out = follow(jobs, start, timeout, PlainDisplay())
    out, err = verdict_lines(final, timed_out, human_duration(timeout or 0))
    for line in out:
        click.echo(line)
    for line in err:
        click.echo(line, err=True)
    return exit_code(final, timed_out)


@click.command("wait")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.option("--timeout", "timeout_text", default=None, metavar="DURATION",
              help="Give up after this long (30s, 5m, 1h; default: wait as long as it takes).")
@kube_options()
def wait_command(target: Target, names: tuple[str, ...], timeout_text: str | None) -> None:
    """Wait until every named TaskJob has finished, either way.

    Exit 0 when all succeeded, 1 when any failed (naming it and its reason), 2 on
    --timeout, 3 when one was deleted while waited for, 4 on an error (one not found
    at the start, the API server unreachable). On a terminal a live line per job;
    otherwise a line each time a job's line changes.

    \b
    Examples:
      kubectl taskops wait build test --timeout 10m
      kubectl taskops wait migrate -n prod && echo done
    """
    timeout = parse_duration(timeout_text, "--timeout") if timeout_text else None
    cluster = Cluster(target)
    jobs = []
    for name in dict.fromkeys(names):
        body = cluster.require(TASKJOBS, name)
        jobs.append(Watched(name, str((body.get("metadata") or {}).get("uid", "")) or None)
                    .observe(body))
    sys.exit(wait_and_report(cluster, jobs, timeout))
