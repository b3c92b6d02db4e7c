"""`logs -f` driven by the job's watch: a scripted world whose every state the watch
announces, with the requests `follow_logs` makes counted."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from taskops.cli.errors import CliError
from taskops.cli.logs_cmd import follow_logs

FAILED = {"attempt": 0, "index": 0, "pod": "retried-0-0", "startTime": "2026-12-01T09:58:00Z",
          "finishTime": "2026-12-01T09:58:04Z", "exitCode": 1, "reason": "Error",
          "message": "boom"}


def job(version: int, phase: str, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": "retried", "namespace": "ns", "uid": "u1",
                         "resourceVersion": str(version)},
            "spec": {"completions": 1}, "status": {"phase": phase, "attempts": attempts}}


def pod(attempt: int, state: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": f"retried-0-{attempt}",
                         "creationTimestamp": f"2026-12-01T09:5{8 + attempt}:00Z",
                         "labels": {"taskops.dev/index": "0", "taskops.dev/attempt": str(attempt)},
                         "annotations": {"taskops.dev/main-container": "main"}},
            "spec": {"containers": [{"name": "main"}]},
            "status": {"containerStatuses": [{"name": "main", "state": state}]}}


LIVE = {"attempt": 1, "index": 0, "pod": "retried-0-1", "reason": "Pending"}
RUNNING, DONE = {"running": {}}, {"terminated": {"exitCode": 0}}
#: (job, pods) as the world moves on: attempt 0 runs and fails, attempt 1 is created,
#: starts, and the job succeeds.
WORLD = [
    (job(1, "Running", []), [pod(0, RUNNING)]),
    (job(2, "BackingOff", [FAILED]), [pod(0, DONE)]),
    # The operator records the attempt on the status before it creates the pod.
    (job(3, "Pending", [FAILED, LIVE]), [pod(0, DONE)]),
    (job(4, "Pending", [FAILED, LIVE]), [pod(0, DONE), pod(1, {"waiting": {
        "reason": "ContainerCreating"}})]),
    (job(5, "Running", [FAILED, LIVE]), [pod(0, DONE), pod(1, RUNNING)]),
    (job(6, "Succeeded", [FAILED]), [pod(0, DONE), pod(1, DONE)]),
]


class ScriptedCluster:
    """`Cluster`'s reads over WORLD: the watch moves the world on one state per
    event (after the log of a running attempt was read, so that it is followed live)."""

    def __init__(self) -> None:
        self.state = 0
        self.calls: Counter[str] = Counter()
        self.followed: list[str] = []
        self.streamed = threading.Event()

    def get(self, plural: str, name: str) -> Mapping[str, Any] | None:
        self.calls["get"] += 1
        return WORLD[self.state][0]

    def list_one(self, plural: str, name: str) -> tuple[Mapping[str, Any] | None, str | None]:
        self.calls["list_one"] += 1
        body = WORLD[self.state][0]
        return body, body["metadata"]["resourceVersion"]

    def watch_one(self, plural: str, name: str,
                  resource_version: str) -> Iterator[Mapping[str, Any]]:
        self.calls["watch"] += 1
        while self.state + 1 < len(WORLD):
            if WORLD[self.state][1][-1]["status"]["containerStatuses"][0]["state"] is RUNNING:
                assert self.streamed.wait(5), "a running attempt was not followed"
                self.streamed.clear()
            time.sleep(0.05)
            self.state += 1
            yield {"type": "MODIFIED", "object": WORLD[self.state][0]}

    def pods(self, selector: str) -> list[Mapping[str, Any]]:
        self.calls["pods"] += 1
        return WORLD[self.state][1]

    def follow_log(self, pod: str, container: str) -> Iterator[str]:
        self.followed.append(pod)
        attempt = pod.rsplit("-", 1)[1]
        yield f"attempt {attempt} up"
        self.streamed.set()
        yield f"attempt {attempt} down"


def test_follow_streams_each_attempt_as_it_starts_and_lists_pods_only_on_changes() -> None:
    cluster = ScriptedCluster()
    lines: list[str] = []
    started = time.monotonic()
    follow_logs(cluster, "retried", None, None, lines.append,  # type: ignore[arg-type]
                rescan_seconds=30)
    # Not "[0/1] pod retried-0-1 is gone" while its pod was being created.
    assert lines == ["[0/0] attempt 0 up", "[0/0] attempt 0 down",
                     "[0/1] attempt 1 up", "[0/1] attempt 1 down"]
    assert cluster.followed == ["retried-0-0", "retried-0-1"]
    # Woken by the watch and the streams, not the 30 s rescan.
    assert time.monotonic() - started < 10
    # One GET, one watch; the pods listed once per state and per ended stream at
    # most, where polling listed them (and read the job) every second.
    assert cluster.calls["get"] == 1 and cluster.calls["watch"] == 1
    assert cluster.calls["pods"] <= len(WORLD) + 2, cluster.calls


def test_follow_of_a_job_that_does_not_exist_ends_at_once() -> None:
    class Missing(ScriptedCluster):
        def get(self, plural: str, name: str) -> Mapping[str, Any] | None:
            return None

    lines: list[str] = []
    follow_logs(Missing(), "retried", None, None, lines.append)  # type: ignore[arg-type]
    assert lines == []


def test_a_watch_error_that_will_not_pass_ends_follow() -> None:
    class Broken(ScriptedCluster):
        def list_one(self, plural: str, name: str) -> tuple[Mapping[str, Any] | None,
                                                             str | None]:
            raise CliError("taskjobs is forbidden", status=400)

        def watch_one(self, plural: str, name: str,
                      resource_version: str) -> Iterator[Mapping[str, Any]]:
            raise CliError("the watch is refused", status=400)

    with pytest.raises(CliError, match="refused"):
        follow_logs(Broken(), "retried", None, None, lambda _: None,  # type: ignore[arg-type]
                    rescan_seconds=0.2)
