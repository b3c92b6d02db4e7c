"""`backfill`: create the runs a TaskSchedule would have created for the instants of
a past range, under the operator's deterministic names, so a rerun creates nothing."""

from __future__ import annotations

import click

from taskops.cli.cluster import TASKJOBS, TASKSCHEDULES, Cluster, Target, kube_options
from taskops.cli.errors import CliError
from taskops.cli.render import parse_instant
from taskops.cli.schedule_runs import MAX_ENUMERATED, instants_between, scheduled_run
from taskops.core.observed import format_time
from taskops.core.schedule import run_name


@click.command("backfill")
@click.argument("schedule_name", metavar="SCHEDULE")
@click.option("--from", "start_text", required=True, metavar="TIME",
              help="First instant of the range, RFC 3339 (2026-11-01T00:00:00Z) or a date.")
@click.option("--to", "end_text", required=True, metavar="TIME",
              help="Last instant of the range (inclusive).")
@click.option("--max", "maximum", type=click.IntRange(1), default=100, show_default=True,
              help="Refuse more runs than this unless --yes.")
@click.option("--yes", is_flag=True, help="Create more than --max runs.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Print the runs that would be created; create nothing.")
@kube_options()
def backfill_command(target: Target, schedule_name: str, start_text: str, end_text: str,
                     maximum: int, yes: bool, dry_run: bool) -> None:
    """Create the runs SCHEDULE would have created for its fire times in
    [--from, --to], named <schedule>-<unix time> as the operator names them: a run
    that exists already is left alone, so backfilling a range again creates nothing.

    \b
    Examples:
      kubectl taskops backfill nightly --from 2026-11-01 --to 2026-11-07T23:59:59Z
      kubectl taskops backfill every-5m --from 2026-12-01T00:00:00Z --to 2026-12-01T12:00:00Z \\
          --max 200 --yes
    """
    start = parse_instant(start_text, "--from")
    end = parse_instant(end_text, "--to")
    if end < start:
        raise click.UsageError("--to is before --from")
    cluster = Cluster(target)
    body = cluster.require(TASKSCHEDULES, schedule_name)
    limit = MAX_ENUMERATED if yes else maximum
    instants = instants_between(body, start, end, limit)
    if len(instants) > limit:
        if yes:
            raise CliError(f"more than {MAX_ENUMERATED} fire times in the range: "
                           "backfill a shorter one")
        raise CliError(f"more than --max {maximum} runs in the range "
                       f"({format_time(start)} to {format_time(end)}): pass --yes to "
                       "create them all, or a larger --max")
    if not instants:
        click.echo(f"taskschedule/{schedule_name} has no fire time in the range")
        return
    created = existing = 0
    for instant in instants:
        manifest = scheduled_run(body, instant)
        name = run_name(schedule_name, instant)
        if dry_run:
            click.echo(f"taskjob.taskops.dev/{name} would be created for {format_time(instant)}"
                       " (dry run)")
            continue
        if cluster.create(TASKJOBS, manifest) is None:
            existing += 1
            click.echo(f"taskjob.taskops.dev/{name} exists already ({format_time(instant)})")
        else:
            created += 1
            click.echo(f"taskjob.taskops.dev/{name} created for {format_time(instant)}")
    if not dry_run:
        click.echo(f"{created} created, {existing} existed already")
