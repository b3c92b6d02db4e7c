"""`wait`: follow TaskJobs until every one has finished, and exit with the verdict."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from taskops.cli.cluster import TASKJOBS, Cluster, Target, kube_options
from taskops.cli.errors import CliError
from taskops.cli.progress import Watched, exit_code, job_line, verdict_lines
from taskops.cli.render import human_duration, parse_duration

#: Seconds between reads of the waited-for TaskJobs: a failure shows within this.
POLL_SECONDS = 1.0

Reader = Callable[[str], Mapping[str, Any] | None]


def follow(jobs: Sequence[Watched], read: Reader, timeout: float | None,
           show: Callable[[list[str]], None], poll: float = POLL_SECONDS,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> tuple[list[Watched], bool]:
    """Read every unfinished job each `poll` seconds, `show` the lines, until all have
    a verdict or `timeout` seconds pass. Returns the jobs and whether it timed out."""
    deadline = None if timeout is None else clock() + timeout
    current = list(jobs)
    while True:
        problem: str | None = None
        observed = []
        for job in current:
            if job.verdict is None:
                try:
                    job = job.observe(read(job.name))
                except CliError as err:
                    if not err.transient:
                        raise
                    # An API server restart must not end a long wait: keep the last
                    # state and try again (only --timeout ends the wait).
                    problem = err.message
            observed.append(job)
        current = observed
        show([job_line(job) for job in current]
             + ([f"(retrying: {problem})"] if problem else []))
        if all(job.verdict for job in current):
            return current, False
        if deadline is not None and clock() >= deadline:
            return current, True
        pause = poll if deadline is None else max(0.0, min(poll, deadline - clock()))
        sleep(pause)


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
    verdict, and return the exit code."""
    def read(name: str) -> Mapping[str, Any] | None:
        return cluster.get(TASKJOBS, name)

    console = Console()
    if console.is_terminal:
        with Live(Text(""), console=console, auto_refresh=False, transient=False) as live:
            def show(lines: list[str]) -> None:
                live.update(Text("\n".join(lines)), refresh=True)
            final, timed_out = follow(jobs, read, timeout, show)
    else:
        final, timed_out = follow(jobs, read, timeout, PlainDisplay())
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
        jobs.append(Watched(name, str((body.get("metadata") or {}).get("uid", "")) or None))
    sys.exit(wait_and_report(cluster, jobs, timeout))
