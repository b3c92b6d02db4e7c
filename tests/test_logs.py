"""The log contract: with format json every record is one JSON object on one line with
time, level, logger and message, plus namespace/name when the record is about an
object; kopf's loggers go through the same handler."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from taskops.logs import configure_logging, object_extra

RFC3339_UTC_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back after each test."""
    root = logging.getLogger()
    others = [logging.getLogger(name) for name in ("kopf", "asyncio")]
    saved_root = (root.handlers[:], root.level)
    saved_others = [(lg.handlers[:], lg.level, lg.propagate) for lg in others]
    yield
    root.handlers[:], root.level = saved_root
    for lg, (handlers, level, propagate) in zip(others, saved_others, strict=True):
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
    logging.captureWarnings(False)


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_time_level_logger_and_message(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    logging.getLogger("taskops.handlers").info("admitted %s", "job-1")

    (entry,) = lines(stream)
    assert entry.keys() == {"time", "level", "logger", "message"}
    assert RFC3339_UTC_MILLIS.match(entry["time"])
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "INFO",
        "taskops.handlers",
        "admitted job-1",
    )


def test_json_line_carries_the_object_from_extra(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    logging.getLogger("taskops").info(
        "phase changed",
        extra=object_extra("team-a", "nightly-1", "TaskJob") | {"phase": "Running", "attempt": 2},
    )

    (entry,) = lines(stream)
    assert entry["namespace"] == "team-a"
    assert entry["name"] == "nightly-1"
    assert entry["kind"] == "TaskJob"
    # Other extras become fields of their own, typed as given.
    assert (entry["phase"], entry["attempt"]) == ("Running", 2)
    assert "object_name" not in entry


def test_json_line_carries_the_object_of_kopfs_object_logger(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    body = kopf.Body(
        {
            "apiVersion": "taskops.dev/v1alpha1",
            "kind": "TaskJob",
            "metadata": {"namespace": "team-b", "name": "etl", "uid": "u-1"},
        }
    )
    kopf.LocalObjectLogger(body=body, settings=kopf.OperatorSettings()).info("handled")

    (entry,) = lines(stream)
    assert (entry["logger"], entry["message"]) == ("kopf.objects", "handled")
    assert (entry["namespace"], entry["name"], entry["kind"]) == ("team-b", "etl", "TaskJob")
    # kopf's private attributes (its settings object among them) stay out of the line.
    assert not {"settings", "k8s_ref", "k8s_skip"} & entry.keys()


def test_multiline_messages_and_tracebacks_stay_on_one_line(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("taskops").exception("first\nsecond")

    assert len(stream.getvalue().splitlines()) == 1
    (entry,) = lines(stream)
    assert (entry["level"], entry["message"]) == ("ERROR", "first\nsecond")
    assert "RuntimeError: boom" in entry["exception"]


def test_level_filters_root_and_kopf_loggers(stream: io.StringIO) -> None:
    logging.getLogger("kopf").setLevel(logging.DEBUG)  # as `kopf run --verbose` leaves it
    configure_logging("json", "warning", stream=stream)
    logging.getLogger("taskops").info("hidden")
    logging.getLogger("kopf.reactor").info("hidden too")
    logging.getLogger("kopf.reactor").warning("shown")

    assert [entry["message"] for entry in lines(stream)] == ["shown"]


def test_text_format_prefixes_the_object(stream: io.StringIO) -> None:
    configure_logging("text", "INFO", stream=stream)
    logging.getLogger("taskops").info("admitted", extra=object_extra("team-a", "job-1"))
    logging.getLogger("taskops").info("no object")

    first, second = stream.getvalue().splitlines()
    assert first.endswith(" INFO    taskops: [team-a/job-1] admitted")
    assert second.endswith(" INFO    taskops: no object")


def test_configuring_twice_replaces_the_handler(stream: io.StringIO) -> None:
    configure_logging("text", "INFO", stream=io.StringIO())
    configure_logging("json", "INFO", stream=stream)
    logging.getLogger("taskops").info("once")

    assert [entry["message"] for entry in lines(stream)] == ["once"]


def test_configuring_replaces_kopfs_own_stream_handler(stream: io.StringIO) -> None:
    kopf.configure(verbose=True)  # what `kopf run` does; would print every line twice
    configure_logging("json", "INFO", stream=stream)
    names = [type(h).__name__ for h in logging.getLogger().handlers]
    assert "_KopfStreamHandler" not in names


@pytest.mark.parametrize(("fmt", "level"), [("yaml", "INFO"), ("json", "LOUD")])
def test_unknown_format_or_level_is_rejected(fmt: str, level: str) -> None:
    with pytest.raises(ValueError):
        configure_logging(fmt, level)
