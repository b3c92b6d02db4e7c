"""The `kubectl taskops` command group and its entry point (console script
`kubectl-taskops`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from taskops.cli.backfill_cmd import backfill_command
from taskops.cli.errors import EXIT_ERROR, CliError
from taskops.cli.logs_cmd import logs_command
from taskops.cli.next_cmd import next_command
from taskops.cli.queue_cmd import queue_command
from taskops.cli.run_cmd import run_command
from taskops.cli.status_cmd import status_command
from taskops.cli.tree_cmd import tree_command
from taskops.cli.trigger_cmd import trigger_command
from taskops.cli.wait_cmd import wait_command


class TaskopsGroup(click.Group):
    """A group whose errors, usage errors included, go to stderr as `error: ...`
    and exit EXIT_ERROR (click's own usage exit 2 is `wait`'s timeout)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except CliError as err:
            err.show()
            sys.exit(err.exit_code)
        except click.UsageError as err:
            hint = ""
            if err.ctx is not None:
                hint = f"\nSee '{err.ctx.command_path} --help'."
            click.echo(f"error: {err.format_message()}{hint}", err=True)
            sys.exit(EXIT_ERROR)
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()}", err=True)
            sys.exit(EXIT_ERROR)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=TaskopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """kubectl taskops: run, wait for and inspect TaskJobs and TaskSchedules.

    \b
    Examples:
      kubectl taskops run hello --image busybox:1.36 --wait -- echo hello
      kubectl taskops next --schedule '0 2 * * *' --time-zone Europe/Berlin
    """


cli.add_command(run_command)
cli.add_command(wait_command)
cli.add_command(status_command)
cli.add_command(logs_command)
cli.add_command(queue_command)
cli.add_command(tree_command)
cli.add_command(trigger_command)
cli.add_command(next_command)
cli.add_command(backfill_command)


def main() -> None:
    cli.main(prog_name="kubectl taskops")
