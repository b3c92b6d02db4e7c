"""`tree`: the dependency graph around a TaskJob, its dependencies above and its
dependents below, each node with its phase."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click

from taskops.cli.cluster import TASKJOBS, Cluster, Target, kube_options


class Graph:
    """The TaskJobs of one namespace by name, with the edges of spec.dependsOn."""

    def __init__(self, jobs: Iterable[Mapping[str, Any]]) -> None:
        self.jobs = {str((job.get("metadata") or {}).get("name", "")): job for job in jobs}
        self.dependents: dict[str, list[str]] = {}
        for name in sorted(self.jobs):
            for dependency in self.depends_on(name):
                self.dependents.setdefault(dependency, []).append(name)

    def depends_on(self, name: str) -> list[str]:
        job = self.jobs.get(name)
        return [str(d) for d in ((job or {}).get("spec") or {}).get("dependsOn") or []]

    def label(self, name: str) -> str:
        job = self.jobs.get(name)
        if job is None:
            return f"{name} (not found)"
        status = job.get("status") or {}
        phase = status.get("phase") or "Pending"
        reason = status.get("reason")
        return f"{name} ({phase}" + (f", {reason})" if reason and phase == "Failed" else ")")


def render_tree(graph: Graph, root: str, edges: str) -> list[str]:
    """`root` and, indented below it, its dependencies (`edges="up"`) or its
    dependents (`"down"`), recursively; a node already on the path is a cycle."""
    lines = [graph.label(root)]

    def walk(name: str, path: tuple[str, ...], indent: str) -> None:
        children = graph.depends_on(name) if edges == "up" else graph.dependents.get(name, [])
        for position, child in enumerate(children):
            last = position == len(children) - 1
            branch = "└── " if last else "├── "
            if child in path:
                lines.append(f"{indent}{branch}{child} (cycle)")
                continue
            lines.append(f"{indent}{branch}{graph.label(child)}")
            walk(child, (*path, child), indent + ("    " if last else "│   "))

    walk(root, (root,), "")
    return lines


def render(graph: Graph, root: str) -> str:
    up = render_tree(graph, root, "up")
    down = render_tree(graph, root, "down")
    text = ["Depends on:" if len(up) > 1 else "Depends on: nothing", *(
        "  " + line for line in up if len(up) > 1)]
    text += ["Needed by:" if len(down) > 1 else "Needed by: nothing", *(
        "  " + line for line in down if len(down) > 1)]
    return "\n".join(text)


@click.command("tree")
@click.argument("name")
@kube_options()
def tree_command(target: Target, name: str) -> None:
    """The dependency graph around a TaskJob: what it depends on (spec.dependsOn,
    recursively) and which TaskJobs depend on it, each with its phase.

    \b
    Examples:
      kubectl taskops tree load
      kubectl taskops tree report -n etl
    """
    cluster = Cluster(target)
    cluster.require(TASKJOBS, name)
    click.echo(render(Graph(cluster.list_objects(TASKJOBS)), name))
