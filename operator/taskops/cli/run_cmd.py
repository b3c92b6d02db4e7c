"""`run`: create a TaskJob from flags, as `kubectl create job` creates a Job, and
optionally follow it to its end (`--wait`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import click

from taskops.api.taskjob import API_VERSION, KIND
from taskops.cli.cluster import TASKJOBS, Cluster, Target, default_namespace, kube_options
from taskops.cli.errors import CliError
from taskops.cli.progress import Watched
from taskops.cli.render import dump, parse_duration
from taskops.cli.wait_cmd import wait_and_report

#: The default of spec.retry.backoff.maxDelaySeconds (a longer --backoff raises it).
_DEFAULT_MAX_DELAY = 300


@dataclass(frozen=True)
class RunRequest:
    """The flags of `run`, checked."""

    name: str
    image: str
    command: tuple[str, ...]
    retries: int | None = None
    backoff_seconds: int | None = None
    attempt_timeout_seconds: int | None = None
    timeout_seconds: int | None = None
    completions: int | None = None
    indexed: bool = False
    priority: int | None = None
    depends_on: tuple[str, ...] = field(default_factory=tuple)


def taskjob_manifest(request: RunRequest, namespace: str | None) -> dict[str, Any]:
    """The TaskJob `run` creates: one container `main` running the command; only
    the fields a flag set, so every other default is the CRD's."""
    container: dict[str, Any] = {"name": "main", "image": request.image}
    if request.command:
        container["command"] = list(request.command)
    spec: dict[str, Any] = {"template": {"spec": {"containers": [container]}}}
    if request.completions is not None:
        spec["completions"] = request.completions
    if request.indexed:
        spec["completionMode"] = "Indexed"
    if request.priority is not None:
        spec["priority"] = request.priority
    if request.depends_on:
        spec["dependsOn"] = list(request.depends_on)
    retry: dict[str, Any] = {}
    if request.retries is not None:
        retry["limit"] = request.retries
    if request.backoff_seconds is not None:
        backoff: dict[str, Any] = {"initialDelaySeconds": request.backoff_seconds}
        if request.backoff_seconds > _DEFAULT_MAX_DELAY:
            backoff["maxDelaySeconds"] = request.backoff_seconds
        retry["backoff"] = backoff
    if retry:
        spec["retry"] = retry
    timeouts: dict[str, Any] = {}
    if request.attempt_timeout_seconds is not None:
        timeouts["attemptDeadlineSeconds"] = request.attempt_timeout_seconds
    if request.timeout_seconds is not None:
        timeouts["activeDeadlineSeconds"] = request.timeout_seconds
    if timeouts:
        spec["timeouts"] = timeouts
    metadata: dict[str, Any] = {"name": request.name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def _names(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(name.strip() for name in text.split(",") if name.strip())


@click.command("run", context_settings={"ignore_unknown_options": False})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- CMD [ARGS...]")
@click.option("--image", required=True, help="The container image.")
@click.option("--retries", type=click.IntRange(0), default=None,
              help="Retries after the first attempt (spec.retry.limit; default 0).")
@click.option("--backoff", "backoff_text", default=None, metavar="DURATION",
              help="Delay before the first retry, doubling after (spec.retry.backoff."
                   "initialDelaySeconds; default 10s).")
@click.option("--attempt-timeout", "attempt_timeout_text", default=None, metavar="DURATION",
              help="Longest one attempt may run (spec.timeouts.attemptDeadlineSeconds).")
@click.option("--timeout", "timeout_text", default=None, metavar="DURATION",
              help="Longest the whole job may run (spec.timeouts.activeDeadlineSeconds); "
                   "it also bounds --wait.")
@click.option("--completions", type=click.IntRange(1), default=None,
              help="Pods that must succeed (spec.completions; default 1).")
@click.option("--indexed", is_flag=True,
              help="Completion mode Indexed: each index 0..completions-1 succeeds once.")
@click.option("--priority", type=int, default=None,
              help="Admission priority when the operator's cap is reached (higher first).")
@click.option("--depends-on", "depends_on_text", default=None, metavar="A,B",
              help="TaskJobs (same namespace) that must succeed first.")
@click.option("--wait", "wait", is_flag=True,
              help="Follow the job until it finishes (as `wait`) and print its result; "
                   "exit as `wait` does.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Print the TaskJob (with -o, as json or yaml) instead of creating it.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml", "name"]), default=None,
              help="Print the created TaskJob as json or yaml, or only its name.")
@kube_options()
def run_command(target: Target, name: str, command: tuple[str, ...], image: str,
                retries: int | None, backoff_text: str | None,
                attempt_timeout_text: str | None, timeout_text: str | None,
                completions: int | None, indexed: bool, priority: int | None,
                depends_on_text: str | None, wait: bool, dry_run: bool,
                output: str | None) -> None:
    """Create a TaskJob running CMD in IMAGE, as `kubectl create job` creates a Job.

    \b
    Examples:
      kubectl taskops run hello --image busybox:1.36 --wait -- echo hello
      kubectl taskops run flaky --image busybox:1.36 --retries 3 --backoff 5s -- sh -c 'exit 1'
      kubectl taskops run shards --image my/etl --completions 4 --indexed -- etl --shard-from-env
    """
    request = RunRequest(
        name=name, image=image, command=command, retries=retries,
        backoff_seconds=parse_duration(backoff_text, "--backoff") if backoff_text else None,
        attempt_timeout_seconds=(parse_duration(attempt_timeout_text, "--attempt-timeout")
                                 if attempt_timeout_text else None),
        timeout_seconds=parse_duration(timeout_text, "--timeout") if timeout_text else None,
        completions=completions, indexed=indexed, priority=priority,
        depends_on=_names(depends_on_text),
    )
    if dry_run:
        if wait:
            raise click.UsageError("--dry-run creates nothing to --wait for")
        manifest = taskjob_manifest(request, default_namespace(target))
        click.echo(dump(manifest, output if output in ("json", "yaml") else "yaml"))
        return
    cluster = Cluster(target)
    manifest = taskjob_manifest(request, cluster.namespace)
    created = cluster.create(TASKJOBS, manifest)
    if created is None:
        raise CliError(f'taskjobs.taskops.dev "{name}" already exists in namespace '
                       f'"{cluster.namespace}"')
    if output in ("json", "yaml"):
        click.echo(dump(created, output))
    elif output == "name":
        click.echo(f"taskjob.taskops.dev/{name}")
    else:
        click.echo(f"taskjob.taskops.dev/{name} created")
    if wait:
        uid = str((created.get("metadata") or {}).get("uid", "")) or None
        sys.exit(wait_and_report(cluster, [Watched(name, uid).observe(created)], None))
