"""Requests per client, from the bench API server's audit log.

`apiserver_request_total` has no client label; the audit log names the user
of every request. The policy (bench/cluster/up) logs each request once, at
ResponseComplete (or ResponseStarted for a watch), leases not at all.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

# kube-controller-manager's controllers under --use-service-account-credentials.
JOB_CONTROLLER = "system:serviceaccount:kube-system:job-controller"
CRONJOB_CONTROLLER = "system:serviceaccount:kube-system:cronjob-controller"
OPERATOR = "taskops-operator"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass
class Requests:
    """One client's requests, split the way the report shows them."""

    writes: Counter[str] = field(default_factory=Counter)  # "patch taskjobs/status": n
    events: int = 0
    reads: Counter[str] = field(default_factory=Counter)  # "watch pods": n

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())

    def as_dict(self) -> dict[str, object]:
        return {"writes": dict(sorted(self.writes.items())), "total_writes": self.total_writes,
                "events": self.events, "reads": dict(sorted(self.reads.items()))}


def _seek_line(f: BinaryIO, offset: int) -> None:
    """To the first whole line at or after `offset`: the API server may have been
    half way through a line when the offset was taken."""
    if offset > 0:
        f.seek(offset - 1)
        if f.read(1) != b"\n":
            f.readline()
    else:
        f.seek(0)


def records(path: Path, offset: int = 0) -> Iterator[dict[str, object]]:
    """Audit records from byte `offset` on (a run reads only its own part)."""
    with path.open("rb") as f:
        _seek_line(f, offset)
        for line in f:
            if line.endswith(b"\n"):  # a last line still being written is not one yet
                yield json.loads(line)


def requests_of(user: str | Collection[str], log: Iterable[dict[str, object]]) -> Requests:
    """The requests of `user` (or of several users together, as the CronJob and
    Job controllers that share a scenario's work)."""
    users = {user} if isinstance(user, str) else set(user)
    out = Requests()
    for rec in log:
        if _user(rec) not in users:
            continue
        verb = str(rec.get("verb", ""))
        ref = rec.get("objectRef")
        if not isinstance(ref, dict):
            continue  # a non-resource URL (/healthz, /api discovery)
        resource = str(ref.get("resource", ""))
        if ref.get("subresource"):
            resource += f"/{ref['subresource']}"
        if resource == "events":
            if verb in WRITE_VERBS:
                out.events += 1
        elif verb in WRITE_VERBS:
            out.writes[f"{verb} {resource}"] += 1
        elif verb in READ_VERBS:
            out.reads[f"{verb} {resource}"] += 1
    return out


def _user(rec: dict[str, object]) -> str:
    user = rec.get("user")
    return str(user.get("username", "")) if isinstance(user, dict) else ""


def wait_quiet(path: Path, user: str, offset: int, *, quiet: float = 3.0,
               limit: float = 60.0) -> float:
    """Waits until `user` has written nothing for `quiet` seconds (at most
    `limit`); returns how long that took."""
    start = last_write = time.monotonic()
    partial = b""
    with path.open("rb") as f:
        _seek_line(f, offset)
        while time.monotonic() - last_write < quiet and time.monotonic() - start < limit:
            *lines, partial = (partial + f.read()).split(b"\n")
            for line in lines:
                if user.encode() in line:
                    rec = json.loads(line)
                    if _user(rec) == user and rec.get("verb") in WRITE_VERBS:
                        last_write = time.monotonic()
            time.sleep(0.5)
    return time.monotonic() - start
