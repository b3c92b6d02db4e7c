"""What `wait` shows and decides about a TaskJob: one line per job, the verdict,
the exit code. Pure: bodies in, text and values out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from taskops.cli.errors import EXIT_DELETED, EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT

Verdict = Literal["Succeeded", "Failed", "Deleted"]

_MESSAGE_WIDTH = 120


@dataclass(frozen=True)
class Watched:
    """One TaskJob being waited for: its last body (None once gone) and verdict."""

    name: str
    uid: str | None = None
    body: Mapping[str, Any] | None = None
    verdict: Verdict | None = None

    def observe(self, body: Mapping[str, Any] | None) -> Watched:
        """The next state given the object as read now (None: not found)."""
        if self.verdict is not None:
            return self
        if body is None:
            return Watched(self.name, self.uid, self.body, "Deleted")
        metadata = body.get("metadata") or {}
        uid = str(metadata.get("uid", "")) or None
        if self.uid is not None and uid != self.uid:
            # Deleted and created again under the same name: not the job waited for.
            return Watched(self.name, self.uid, self.body, "Deleted")
        if metadata.get("deletionTimestamp"):
            return Watched(self.name, uid, body, "Deleted")
        phase = (body.get("status") or {}).get("phase")
        verdict: Verdict | None = phase if phase in ("Succeeded", "Failed") else None
        return Watched(self.name, uid, body, verdict)


def _short(text: object) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MESSAGE_WIDTH else flat[: _MESSAGE_WIDTH - 3] + "..."


def job_line(job: Watched) -> str:
    """`hello   Running   0/1 succeeded   attempts 1` and what the job waits for:
    the next retry time, its queue position, the reason it is pending or failed."""
    if job.verdict == "Deleted":
        return f"{job.name}   Deleted"
    body = job.body or {}
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    phase = status.get("phase") or "Pending"
    parts = [job.name, phase,
             f"{status.get('succeeded') or 0}/{spec.get('completions') or 1} succeeded"]
    if status.get("attemptCount"):
        parts.append(f"attempts {status['attemptCount']}")
    if phase == "BackingOff" and status.get("nextAttemptTime"):
        parts.append(f"next retry at {status['nextAttemptTime']}")
    elif phase == "Queued" and status.get("queuePosition"):
        parts.append(f"queue position {status['queuePosition']}")
    if phase in ("Pending", "Waiting", "Queued", "Failed", "Suspended") and status.get("reason"):
        reason = str(status["reason"])
        message = status.get("message")
        parts.append(_short(f"{reason}: {message}" if message else reason))
    return "   ".join(parts)


def result_lines(body: Mapping[str, Any]) -> list[str]:
    """`result: <text>`, or `result[i]: <text>` per index of an Indexed job."""
    status = body.get("status") or {}
    lines: list[str] = []
    if status.get("result") is not None:
        lines.append(_labelled("result", str(status["result"])))
    for index, text in (status.get("results") or {}).items():
        lines.append(_labelled(f"result[{index}]", str(text)))
    return lines


def _labelled(label: str, text: str) -> str:
    if "\n" not in text:
        return f"{label}: {text}"
    return f"{label}:\n" + "\n".join(f"  {line}" for line in text.splitlines())


def verdict_lines(jobs: Sequence[Watched], timed_out: bool,
                  timeout_text: str) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) once waiting ends: results of the jobs that
    succeeded on stdout; which failed and why, which were deleted, which were still
    running at the timeout on stderr."""
    out: list[str] = []
    err: list[str] = []
    for job in jobs:
        status = (job.body or {}).get("status") or {}
        if job.verdict == "Succeeded":
            out.append(f"taskjob/{job.name} succeeded")
            out.extend(result_lines(job.body or {}))
        elif job.verdict == "Failed":
            reason = status.get("reason") or "Failed"
            message = status.get("message")
            err.append(f"taskjob/{job.name} failed: {reason}" + (f": {message}" if message else ""))
        elif job.verdict == "Deleted":
            err.append(f"taskjob/{job.name} was deleted while waited for")
        elif timed_out:
            err.append(f"timed out after {timeout_text} waiting for taskjob/{job.name} "
                       f"(phase {status.get('phase') or 'Pending'})")
    return out, err


def exit_code(jobs: Sequence[Watched], timed_out: bool) -> int:
    """2 on a timeout, else 3 if any was deleted, else 1 if any failed, else 0."""
    if timed_out:
        return EXIT_TIMEOUT
    verdicts = {job.verdict for job in jobs}
    if "Deleted" in verdicts:
        return EXIT_DELETED
    if "Failed" in verdicts:
        return EXIT_FAILED
    return EXIT_OK
