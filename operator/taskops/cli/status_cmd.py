"""`status`: one screen on a TaskJob: its phase and why, its attempts, its results."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click

from taskops.cli.cluster import TASKJOBS, Cluster, Target, kube_options
from taskops.cli.progress import result_lines
from taskops.cli.render import dump, human_duration, output_option, span, table, time_and_age
from taskops.core.observed import parse_time

#: Width of an attempt's message in the table (all of it with -o wide).
MESSAGE_WIDTH = 60

_LABEL_WIDTH = 12


def _field(label: str, value: str) -> str:
    heading = f"{label}:" if label else ""
    return f"{heading:<{_LABEL_WIDTH}}{value}".rstrip()


def why_lines(body: Mapping[str, Any], dependencies: Mapping[str, str | None],
              now: datetime) -> list[str]:
    """What the job waits for, in words: the next retry, its queue position, its
    dependencies not yet Succeeded, the deadline left. `dependencies` maps each of
    spec.dependsOn to its phase (None: not found)."""
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    phase = status.get("phase")
    lines: list[str] = []
    if phase in ("Succeeded", "Failed"):
        return lines
    if status.get("nextAttemptTime"):
        lines.append(f"next retry at {time_and_age(status['nextAttemptTime'], now)}")
    if phase == "Queued":
        position = status.get("queuePosition")
        since = time_and_age(status.get("queuedSince"), now)
        text = f"queue position {position}" if position else "queued"
        lines.append(text + (f", queued since {since}" if since else ""))
    waiting = [f"{name} ({dep_phase or 'not found'})" for name, dep_phase in dependencies.items()
               if dep_phase != "Succeeded"]
    if waiting:
        lines.append("waiting for dependencies: " + ", ".join(waiting))
    deadline = (spec.get("timeouts") or {}).get("activeDeadlineSeconds")
    started = parse_time(status.get("startTime"))
    if deadline is not None and started is not None:
        left = int(deadline) - (now - started).total_seconds()
        lines.append(f"deadline: {human_duration(left)} left of {human_duration(int(deadline))} "
                     "(spec.timeouts.activeDeadlineSeconds)")
    return lines


def attempts_table(body: Mapping[str, Any], wide: bool = False) -> str:
    records = (body.get("status") or {}).get("attempts") or []
    rows = []
    for record in records:
        message = " ".join(str(record.get("message") or "").split())
        if not wide and len(message) > MESSAGE_WIDTH:
            message = message[: MESSAGE_WIDTH - 3] + "..."
        exit_code = record.get("exitCode")
        rows.append([record.get("index", 0), record.get("attempt", 0), record.get("pod", ""),
                     record.get("startTime") or "", span(record.get("startTime"),
                                                          record.get("finishTime")),
                     "" if exit_code is None else exit_code, record.get("reason") or "",
                     message])
    return table(["INDEX", "ATTEMPT", "POD", "START", "DURATION", "EXIT", "REASON", "MESSAGE"],
                 rows)


def render_status(body: Mapping[str, Any], dependencies: Mapping[str, str | None],
                  now: datetime, wide: bool = False) -> str:
    """The whole screen of `status`."""
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    phase = status.get("phase") or "Pending"
    headline = phase + (f" ({status['reason']})" if status.get("reason") else "")
    lines = [_field("Name", str(metadata.get("name", ""))),
             _field("Namespace", str(metadata.get("namespace", ""))),
             _field("Phase", headline)]
    if status.get("message"):
        lines.append(_field("Message", " ".join(str(status["message"]).split())))
    if not status:
        lines.append(_field("Message", "no status yet: is the operator running and "
                                       "watching this namespace?"))
    for position, line in enumerate(why_lines(body, dependencies, now)):
        lines.append(_field("Why" if position == 0 else "", line))
    completions = spec.get("completions") or 1
    mode = spec.get("completionMode") or "NonIndexed"
    lines.append(_field("Progress", f"{status.get('succeeded') or 0}/{completions} succeeded "
                                    f"({mode}), {status.get('active') or 0} active, "
                                    f"{status.get('failed') or 0} failed, "
                                    f"{status.get('attemptCount') or 0} attempts"))
    if status.get("startTime"):
        lines.append(_field("Started", time_and_age(status["startTime"], now)))
    if status.get("completionTime"):
        took = f", took {status['duration']}" if status.get("duration") else ""
        lines.append(_field("Completed", time_and_age(status["completionTime"], now) + took))
    if dependencies:
        lines.append(_field("Depends on", ", ".join(
            f"{name} ({dep_phase or 'not found'})" for name, dep_phase in dependencies.items())))
    lines.append("Attempts:")
    if status.get("attempts"):
        lines.extend("  " + row for row in attempts_table(body, wide).splitlines())
    else:
        lines.append("  none yet")
    results = result_lines(body)
    if results:
        lines.append("Results:")
        lines.extend("  " + row for text in results for row in text.splitlines())
    return "\n".join(lines)


@click.command("status")
@click.argument("name")
@output_option()
@kube_options()
def status_command(target: Target, name: str, output: str | None) -> None:
    """Why a TaskJob is where it is: phase and reason, what it waits for (next
    retry, queue position, dependencies, deadline left), its attempts and results.

    \b
    Examples:
      kubectl taskops status flaky
      kubectl taskops status etl -n batch -o wide   # whole attempt messages
    """
    cluster = Cluster(target)
    body = cluster.require(TASKJOBS, name)
    if output in ("json", "yaml"):
        click.echo(dump(body, output))
        return
    dependencies: dict[str, str | None] = {}
    for dependency in (body.get("spec") or {}).get("dependsOn") or []:
        found = cluster.get(TASKJOBS, str(dependency))
        dependencies[str(dependency)] = (
            None if found is None else (found.get("status") or {}).get("phase") or "Pending")
    click.echo(render_status(body, dependencies, datetime.now(UTC), wide=output == "wide"))
