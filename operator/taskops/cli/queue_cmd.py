"""`queue`: the queued TaskJobs in admission order, computed from the listed
objects with the operator's own order (`taskops.core.admission.rank`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import click

from taskops.cli.cluster import TASKJOBS, Cluster, Target, kube_options
from taskops.cli.render import dump, human_duration, output_option, table
from taskops.core.admission import rank
from taskops.core.observed import EPOCH, parse_time

_CAP = re.compile(r"queued behind the (global|namespace) cap of (\d+) running TaskJobs "
                  r"\((\d+) in use\)")


def cap_of(message: object) -> str:
    """`global 5 (5 in use)` from the operator's queue message; empty if it has none."""
    match = _CAP.search(str(message or ""))
    return f"{match.group(1)} {match.group(2)} ({match.group(3)} in use)" if match else ""


def queued_in_order(jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Queued jobs, first to be admitted first: higher priority, then older,
    then namespace and name, as the operator admits them."""
    def key(job: Mapping[str, Any]) -> Any:
        metadata = job.get("metadata") or {}
        priority = (job.get("spec") or {}).get("priority") or 0
        created = parse_time(metadata.get("creationTimestamp")) or EPOCH
        return rank(int(priority), created, str(metadata.get("namespace", "")),
                    str(metadata.get("name", "")))

    queued = [job for job in jobs if (job.get("status") or {}).get("phase") == "Queued"
              and not (job.get("metadata") or {}).get("deletionTimestamp")]
    return sorted(queued, key=key)


def rows(queued: list[Mapping[str, Any]], now: datetime, all_namespaces: bool,
         wide: bool) -> str:
    headers = ["POSITION", *(["NAMESPACE"] if all_namespaces else []), "NAME", "PRIORITY",
               "WAITED", "CAP"]
    if wide:
        headers.append("MESSAGE")
    lines = []
    for position, job in enumerate(queued, start=1):
        metadata = job.get("metadata") or {}
        status = job.get("status") or {}
        since = parse_time(status.get("queuedSince"))
        row: list[object] = [position]
        if all_namespaces:
            row.append(metadata.get("namespace", ""))
        row += [metadata.get("name", ""), (job.get("spec") or {}).get("priority") or 0,
                human_duration((now - since).total_seconds()) if since else "",
                cap_of(status.get("message"))]
        if wide:
            row.append(status.get("message") or "")
        lines.append(row)
    return table(headers, lines)


@click.command("queue")
@output_option()
@kube_options(all_namespaces=True)
def queue_command(target: Target, output: str | None) -> None:
    """The queued TaskJobs in the order the operator admits them (higher priority,
    then older first), with how long each has waited and the cap it waits behind.
    Positions are computed from the listed jobs, so they are exact beyond the 20
    the status holds. With -n, positions count that namespace only; with -A, all.

    \b
    Examples:
      kubectl taskops queue
      kubectl taskops queue -A -o wide
    """
    cluster = Cluster(target)
    queued = queued_in_order(cluster.list_objects(TASKJOBS))
    if output in ("json", "yaml"):
        click.echo(dump([{"position": position,
                          "namespace": (job.get("metadata") or {}).get("namespace"),
                          "name": (job.get("metadata") or {}).get("name"),
                          "priority": (job.get("spec") or {}).get("priority") or 0,
                          "queuedSince": (job.get("status") or {}).get("queuedSince"),
                          "cap": cap_of((job.get("status") or {}).get("message"))}
                         for position, job in enumerate(queued, start=1)], output))
        return
    if not queued:
        where = "any namespace" if cluster.all_namespaces else f"namespace {cluster.namespace}"
        click.echo(f"No queued TaskJobs in {where}.")
        return
    click.echo(rows(queued, datetime.now(UTC), cluster.all_namespaces, output == "wide"))
