"""The bench's audit-log counting: whose requests, which verbs, from where."""

from __future__ import annotations

import json
from pathlib import Path

from bench.scale import audit


def line(user: str, verb: str, resource: str, subresource: str = "") -> bytes:
    ref = {"resource": resource, **({"subresource": subresource} if subresource else {})}
    return json.dumps({"user": {"username": user}, "verb": verb, "objectRef": ref}).encode() + b"\n"


def test_requests_split_into_writes_events_and_reads_per_user(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join([
        line(audit.OPERATOR, "create", "pods"),
        line(audit.OPERATOR, "patch", "taskjobs", "status"),
        line(audit.OPERATOR, "patch", "taskjobs", "status"),
        line(audit.OPERATOR, "create", "events"),
        line(audit.OPERATOR, "watch", "pods"),
        line(audit.JOB_CONTROLLER, "update", "jobs", "status"),
        json.dumps({"user": {"username": audit.OPERATOR}, "verb": "get"}).encode() + b"\n",
    ]))
    got = audit.requests_of(audit.OPERATOR, audit.records(log))
    assert got.as_dict() == {"writes": {"create pods": 1, "patch taskjobs/status": 2},
                             "total_writes": 3, "events": 1, "reads": {"watch pods": 1}}


def test_reading_from_an_offset_inside_a_line_starts_at_the_next_whole_one(
        tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    first, second = line(audit.OPERATOR, "create", "pods"), line(audit.OPERATOR, "delete", "pods")
    log.write_bytes(first + second + b'{"user": {"userna')  # the server still writing
    for offset, expected in ((0, 2), (5, 1), (len(first), 1), (len(first) + 3, 0)):
        got = audit.requests_of(audit.OPERATOR, audit.records(log, offset))
        assert got.total_writes == expected, offset
