"""How `wait` follows a TaskJob: a watch resumed from the last version, a list when
that version expired, GETs only when the watch is refused, bounded retries; and the
requests that costs. The decisions are pure; `follow_one` runs on a scripted source."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from taskops.cli.errors import CliError
from taskops.cli.progress import Watched
from taskops.cli.wait_cmd import Report, await_creation, follow_one
from taskops.cli.watching import (
    POLL_SECONDS,
    RETRY_DELAYS,
    Bookmark,
    Expired,
    NextStep,
    Seen,
    StreamEnd,
    WatchFailed,
    next_step,
    read_event,
    retry_delay,
)

#: A follower that loops without asking its source fails here instead of hanging.
pytestmark = pytest.mark.timeout(30)


def job(phase: str | None, version: str, uid: str = "u1") -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "hello", "uid": uid,
                                         "resourceVersion": version}, "status": {}}
    if phase:
        body["status"]["phase"] = phase
    return body


def event(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": body}


def expired() -> dict[str, Any]:
    return event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired",
                           "message": "too old resource version: 1 (5)"})


# ----------------------------------------------------------------------------- events


def test_an_added_or_modified_object_is_seen_at_its_version() -> None:
    assert read_event(event("MODIFIED", job("Running", "7"))) == Seen(job("Running", "7"), "7")
    assert read_event(event("ADDED", job(None, "3"))) == Seen(job(None, "3"), "3")


def test_a_deleted_object_is_seen_as_gone() -> None:
    assert read_event(event("DELETED", job("Running", "9"))) == Seen(None, "9")


def test_a_bookmark_only_moves_the_version() -> None:
    assert read_event(event("BOOKMARK", {"metadata": {"resourceVersion": "12"}})) \
        == Bookmark("12")


def test_an_error_410_is_an_expired_version_and_others_are_failures() -> None:
    assert read_event(expired()) == Expired()
    assert read_event(event("ERROR", {"code": 500, "message": "etcd leader changed"})) \
        == WatchFailed(500, "etcd leader changed")


# ----------------------------------------------------------------------------- decisions


def test_a_watch_the_server_ended_is_resumed_at_once_from_the_last_version() -> None:
    assert next_step(StreamEnd("closed", "41"), 0) == NextStep("watch", 0.0, "41")


def test_a_watch_without_a_version_and_an_expired_one_list_again() -> None:
    assert next_step(StreamEnd("closed"), 0) == NextStep("list", POLL_SECONDS)
    assert next_step(StreamEnd("expired"), 0) == NextStep("list")


def test_a_list_without_a_version_is_listed_again_once_a_second_not_in_a_loop() -> None:
    source = ScriptedSource((job("Running", "2"), None), (job("Succeeded", "3"), None))
    reports, sleeps = run(source, Watched("hello", "u1"))
    assert [r for r, _ in source.requests] == ["list", "list"]
    assert (sleeps, reports[-1].job.verdict) == ([POLL_SECONDS], "Succeeded")


def test_an_unreachable_server_is_listed_again_after_growing_bounded_delays() -> None:
    down = StreamEnd("failed", transient=True, message="refused")
    delays = [next_step(down, failures).delay for failures in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 5.0, 5.0, 5.0, 5.0]
    assert {next_step(down, 3).action} == {"list"}
    assert retry_delay(100) == RETRY_DELAYS[-1]


def test_a_refused_watch_falls_back_to_polling() -> None:
    for status in (403, 405):
        assert next_step(StreamEnd("failed", status=status), 1) == NextStep("poll")


def test_polling_goes_on_through_an_unreachable_server_and_stops_at_a_refusal() -> None:
    assert next_step(StreamEnd("closed"), 0, polling=True) == NextStep("poll", POLL_SECONDS)
    assert next_step(StreamEnd("failed", transient=True), 1, polling=True) \
        == NextStep("poll", POLL_SECONDS)
    assert next_step(StreamEnd("failed", status=403), 1, polling=True).action == "fail"


def test_any_other_error_ends_the_wait() -> None:
    assert next_step(StreamEnd("failed", status=401, message="Unauthorized"), 1).action \
        == "fail"


# ----------------------------------------------------------------------------- follow_one


class ScriptedSource:
    """Answers `wait`'s reads from a script: one entry per request, in order; each
    request is counted. An exception in the script is raised by that request."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, str | None]] = []

    def _next(self, request: str, version: str | None) -> Any:
        self.requests.append((request, version))
        assert self.script, f"an unexpected {request} request"
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get(self, plural: str, name: str) -> Mapping[str, Any] | None:
        answer: Mapping[str, Any] | None = self._next("get", None)
        return answer

    def list_one(self, plural: str, name: str) -> tuple[Mapping[str, Any] | None, str | None]:
        answer: tuple[Mapping[str, Any] | None, str | None] = self._next("list", None)
        return answer

    def watch_one(self, plural: str, name: str,
                  resource_version: str) -> Iterator[Mapping[str, Any]]:
        events: list[Any] = self._next("watch", resource_version)
        for each in events:
            if isinstance(each, Exception):
                raise each
            yield each


def run(source: ScriptedSource, start: Watched) -> tuple[list[Report], list[float]]:
    reports: list[Report] = []
    sleeps: list[float] = []
    follow_one(0, start, source, reports.append, sleep=sleeps.append)
    return reports, sleeps


START = Watched("hello", "u1").observe(job("Running", "1"))


def test_a_job_is_watched_from_the_version_read_and_resumed_after_each_server_timeout() -> None:
    # A quiet job outlives two watches (the server ends each after WATCH_SECONDS):
    # three requests in all, where polling made one a second.
    source = ScriptedSource(
        [event("MODIFIED", job("Running", "2"))],
        [event("BOOKMARK", {"metadata": {"resourceVersion": "5"}})],
        [event("MODIFIED", job("Succeeded", "6")), event("MODIFIED", job("Succeeded", "7"))])
    reports, sleeps = run(source, START)
    assert source.requests == [("watch", "1"), ("watch", "2"), ("watch", "5")]
    assert reports[-1].job.verdict == "Succeeded"
    assert sleeps == []


def test_an_expired_version_is_listed_again_and_watched_from_the_list() -> None:
    source = ScriptedSource([expired()], (job("Running", "20"), "21"),
                            [event("MODIFIED", job("Failed", "22"))])
    reports, _ = run(source, START)
    assert source.requests == [("watch", "1"), ("list", None), ("watch", "21")]
    assert [r.job.verdict for r in reports] == [None, "Failed"]


def test_a_job_deleted_while_watched_is_deleted_and_gone_from_a_list_too() -> None:
    source = ScriptedSource([event("DELETED", job("Running", "3"))])
    assert run(source, START)[0][-1].job.verdict == "Deleted"
    source = ScriptedSource([expired()], (None, "30"))
    assert run(source, START)[0][-1].job.verdict == "Deleted"


def test_a_job_recreated_under_its_name_is_deleted() -> None:
    source = ScriptedSource([event("MODIFIED", job("Running", "4", uid="u2"))])
    assert run(source, START)[0][-1].job.verdict == "Deleted"


def test_an_unreachable_server_is_reported_and_retried_with_a_list_after_a_delay() -> None:
    down = CliError("cannot reach the API server: refused", transient=True)
    source = ScriptedSource(down, down, (job("Running", "8"), "8"),
                            [event("MODIFIED", job("Succeeded", "9"))])
    reports, sleeps = run(source, START)
    assert sleeps == [0.5, 1.0]
    assert [r.problem for r in reports] == [
        "cannot reach the API server: refused", "cannot reach the API server: refused",
        None, None]
    assert reports[-1].job.verdict == "Succeeded"


def test_a_stream_cut_midway_keeps_what_it_delivered() -> None:
    cut = CliError("cannot reach the API server: connection reset", transient=True)
    source = ScriptedSource([event("MODIFIED", job("BackingOff", "2")), cut],
                            (job("Running", "3"), "3"), [event("MODIFIED", job("Failed", "4"))])
    reports, _ = run(source, START)
    assert [(r.job.body or {}).get("status", {}).get("phase") for r in reports] == [
        "BackingOff", "BackingOff", "Running", "Failed"]
    assert reports[1].problem == "cannot reach the API server: connection reset"


def test_a_refused_watch_polls_with_gets_once_a_second() -> None:
    forbidden = CliError("from server (Forbidden): cannot watch taskjobs", status=403)
    source = ScriptedSource(forbidden, job("Running", "2"), job("Succeeded", "3"))
    reports, sleeps = run(source, START)
    assert [r for r, _ in source.requests] == ["watch", "get", "get"]
    assert sleeps == [POLL_SECONDS]
    assert reports[-1].job.verdict == "Succeeded"
    assert [r.problem for r in reports] == [None, None], "polling is no retrying"


def test_an_error_event_that_will_not_pass_is_fatal() -> None:
    source = ScriptedSource([event("ERROR", {"code": 401, "message": "Unauthorized"})])
    reports, _ = run(source, START)
    assert reports[-1].fatal is not None
    assert reports[-1].fatal.message == "watch of taskjob/hello: Unauthorized"


def test_a_server_error_event_is_retried() -> None:
    source = ScriptedSource([event("ERROR", {"code": 500, "message": "etcd leader changed"})],
                            (job("Succeeded", "5"), "5"))
    reports, sleeps = run(source, START)
    assert (sleeps, reports[-1].job.verdict) == ([0.5], "Succeeded")


@pytest.mark.parametrize("minutes", [1, 10, 60])
def test_requests_per_job_are_one_watch_per_server_timeout(minutes: int) -> None:
    """A job that runs `minutes` with a status change a minute: the watch requests it
    takes (the server ends each watch after WATCH_SECONDS); polling made 60 a minute."""
    from taskops.cli.watching import WATCH_SECONDS

    per_watch = WATCH_SECONDS // 60
    changes = [event("MODIFIED", job("Running", str(v))) for v in range(2, minutes + 1)]
    changes.append(event("MODIFIED", job("Succeeded", str(minutes + 1))))
    watches = [changes[i:i + per_watch] for i in range(0, len(changes), per_watch)]
    source = ScriptedSource(*watches)
    run(source, START)
    assert len(source.requests) == -(-minutes // per_watch)


# ----------------------------------------------------------------------------- await_creation


def test_a_run_that_exists_already_is_returned_from_the_list() -> None:
    source = ScriptedSource((job(None, "4"), "4"))
    assert await_creation("hello", source, lambda _: None) == job(None, "4")
    assert source.requests == [("list", None)]


def test_a_run_not_created_yet_is_watched_for_across_server_timeouts() -> None:
    # A suspended schedule's run waits for the resume: one watch per WATCH_SECONDS.
    source = ScriptedSource((None, "10"), [event("BOOKMARK", {"metadata": {
        "resourceVersion": "15"}})], [event("ADDED", job(None, "16"))])
    assert await_creation("hello", source, lambda _: None) == job(None, "16")
    assert source.requests == [("list", None), ("watch", "10"), ("watch", "15")]


def test_waiting_for_a_run_rides_out_an_unreachable_server_and_a_refused_watch() -> None:
    down = CliError("cannot reach the API server: refused", transient=True)
    forbidden = CliError("from server (Forbidden): cannot watch", status=403)
    problems: list[str] = []
    sleeps: list[float] = []
    source = ScriptedSource(down, (None, "3"), forbidden, None, job(None, "5"))
    assert await_creation("hello", source, problems.append, sleeps.append) == job(None, "5")
    assert [r for r, _ in source.requests] == ["list", "list", "watch", "get", "get"]
    assert problems == ["cannot reach the API server: refused"]
    assert sleeps == [0.5, POLL_SECONDS]


def test_waiting_for_a_run_ends_at_an_error_that_will_not_pass() -> None:
    source = ScriptedSource(CliError("from server (Unauthorized): no", status=401))
    with pytest.raises(CliError, match="Unauthorized"):
        await_creation("hello", source, lambda _: None)
