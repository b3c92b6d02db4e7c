"""Log formatting for the operator: human text lines or one JSON object per line.

Records may carry the object they are about, either because they come from
kopf's per-object logger (the ``logger`` kwarg of a handler; kopf attaches a
``k8s_ref``) or because the caller passes ``extra=object_extra(namespace, name)``.
The object appears as a ``[namespace/name]`` prefix in text and as ``namespace``
and ``name`` (and ``kind`` when known) fields in JSON.

Beware: ``extra={"name": ...}`` raises ``KeyError`` in the standard library,
because ``name`` is the LogRecord's logger name; :func:`object_extra` uses
``object_name`` for that reason.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has, plus those the Formatter adds and those kopf's
# object logger adds for its own use (the settings object is not serialisable).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "k8s_ref",
    "k8s_skip",
    "settings",
}
_OBJECT_KEYS = ("namespace", "object_name", "kind")
_KOPF_LOGGERS = ("kopf",)
_FORMATS = ("text", "json")
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def object_extra(namespace: str | None, name: str, kind: str | None = None) -> dict[str, Any]:
    """The ``extra=`` that ties a log record to a Kubernetes object.

    ``logger.info("admitted", extra=object_extra(ns, name, "TaskJob"))``.
    """
    extra: dict[str, Any] = {"namespace": namespace, "object_name": name}
    if kind is not None:
        extra["kind"] = kind
    return extra


def _object_of(record: logging.LogRecord) -> tuple[str | None, str | None, str | None]:
    """(namespace, name, kind) of the record's object, from our extra or kopf's k8s_ref."""
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, dict):
        return ref.get("namespace"), ref.get("name"), ref.get("kind")
    return (
        getattr(record, "namespace", None),
        getattr(record, "object_name", None),
        getattr(record, "kind", None),
    )


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: [namespace/name] message`` plus the traceback if any."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        namespace, name, _ = _object_of(record)
        if name is None:
            return super().formatMessage(record)
        prefix = f"[{namespace}/{name}] " if namespace else f"[{name}] "
        # A copy: other handlers (pytest's capture, kopf's event poster) share the record.
        record = copy.copy(record)
        record.message = prefix + record.message
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Keys: ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``,
    ``message``; ``namespace``, ``name``, ``kind`` when the record is about an
    object; ``exception`` / ``stack`` when present; then any other ``extra``
    fields, rendered with ``str()`` when not JSON-native.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        namespace, name, kind = _object_of(record)
        if namespace is not None:
            entry["namespace"] = namespace
        if name is not None:
            entry["name"] = name
        if kind is not None:
            entry["kind"] = kind
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in _OBJECT_KEYS and key not in entry:
                entry[key] = value
        # A newline inside a value is escaped by json.dumps, so one record stays one line.
        return json.dumps(entry, default=str, ensure_ascii=False)


class _TaskopsHandler(logging.StreamHandler[TextIO]):
    """Marks the handler configure_logging installs, so a second call replaces it."""


def configure_logging(format: str, level: str, stream: TextIO | None = None) -> None:
    """Send all logging (root and kopf's loggers) to ``stream`` (stderr) as text or JSON.

    ``format`` is ``text`` or ``json``; ``level`` a level name (``INFO``...).
    Idempotent: calling again replaces the previous configuration. It also
    removes the stream handler that ``kopf.configure()`` / ``kopf run`` install,
    so do not call those afterwards. Other handlers (kopf's Kubernetes-event
    poster on ``kopf.objects``, pytest's capture) are left alone.
    Raises ``ValueError`` for an unknown format or level.
    """
    if format not in _FORMATS:
        raise ValueError(f"log format must be one of {', '.join(_FORMATS)}, got {format!r}")
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")

    handler = _TaskopsHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())

    root = logging.getLogger()
    root.handlers[:] = [
        existing
        for existing in root.handlers
        if not isinstance(existing, _TaskopsHandler)
        # kopf's own stream handler (kopf.configure); matched by name as it is private.
        and type(existing).__name__ != "_KopfStreamHandler"
    ]
    root.addHandler(handler)
    root.setLevel(numeric_level)

    # kopf's loggers must reach our handler through the root with the same level:
    # a level set on them earlier (kopf --verbose, a test) would otherwise win.
    for name in _KOPF_LOGGERS:
        kopf_logger = logging.getLogger(name)
        kopf_logger.setLevel(numeric_level)
        kopf_logger.propagate = True

    # Python warnings (deprecations from the client libraries) then share the format.
    logging.captureWarnings(True)
