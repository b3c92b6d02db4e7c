"""`trigger`: start one run of a TaskSchedule now, through the operator's trigger
annotation (`taskops.dev/trigger=<fresh value>`), as `kubectl create job --from`."""

from __future__ import annotations

import secrets
import sys
from datetime import UTC, datetime

import click

from taskops.cli.cluster import TASKSCHEDULES, Cluster, Target, kube_options
from taskops.cli.progress import Watched
from taskops.cli.wait_cmd import await_creation, wait_and_report
from taskops.core.labels import ANNOTATION_TRIGGER
from taskops.core.schedule import manual_run_name


def fresh_trigger(now: datetime) -> str:
    """A value never used before: the time and a random part."""
    return f"kubectl-taskops-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@click.command("trigger")
@click.argument("schedule_name", metavar="SCHEDULE")
@click.option("--wait", "wait", is_flag=True,
              help="Follow the run until it finishes (as `wait`); exit as `wait` does.")
@kube_options()
def trigger_command(target: Target, schedule_name: str, wait: bool) -> None:
    """Start one run of SCHEDULE now, whatever its schedule and concurrency policy,
    and print the run's name (<schedule>-manual-<hash>).

    \b
    Examples:
      kubectl taskops trigger nightly
      kubectl taskops trigger nightly --wait -n batch
    """
    cluster = Cluster(target)
    body = cluster.require(TASKSCHEDULES, schedule_name)
    value = fresh_trigger(datetime.now(UTC))
    cluster.annotate(TASKSCHEDULES, schedule_name, {ANNOTATION_TRIGGER: value})
    name = manual_run_name(schedule_name, value)
    click.echo(f"taskschedule.taskops.dev/{schedule_name} triggered: taskjob.taskops.dev/{name}")
    if (body.get("spec") or {}).get("suspend"):
        click.echo(f"note: taskschedule/{schedule_name} is suspended; the run starts when "
                   "spec.suspend is false again", err=True)
    if not wait:
        return
    # The operator creates the run; until then there is nothing to follow.
    created = await_creation(name, cluster, lambda problem: click.echo(
        f"(retrying: {problem})", err=True))
    uid = str((created.get("metadata") or {}).get("uid", "")) or None
    sys.exit(wait_and_report(cluster, [Watched(name, uid).observe(created)], None))
