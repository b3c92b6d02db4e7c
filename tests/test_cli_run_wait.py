"""`run` and `wait` without a cluster: the TaskJob `run` creates, the line per job,
the verdict and the exit codes of `wait`, with fixed objects."""

from __future__ import annotations

from typing import Any

import yaml
from click.testing import CliRunner

from taskops.cli.errors import EXIT_DELETED, EXIT_ERROR, EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT
from taskops.cli.main import cli
from taskops.cli.progress import Watched, exit_code, job_line, verdict_lines
from taskops.cli.wait_cmd import PlainDisplay, Report, follow


def job(phase: str | None, uid: str = "u1", deleting: bool = False, **status: Any
        ) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "hello", "uid": uid}
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-01T10:00:00Z"
    body: dict[str, Any] = {"metadata": metadata, "spec": {"completions": 2},
                            "status": dict(status)}
    if phase:
        body["status"]["phase"] = phase
    return body


# ----------------------------------------------------------------------------- run


def test_run_dry_run_prints_the_taskjob_with_only_the_flags_given() -> None:
    result = CliRunner().invoke(cli, [
        "run", "etl", "--image", "busybox:1.36", "--retries", "2", "--backoff", "5m",
        "--attempt-timeout", "1m", "--timeout", "1h", "--completions", "3", "--indexed",
        "--priority", "7", "--depends-on", "extract, load", "--dry-run", "-n", "batch",
        "--", "sh", "-c", "echo $TASK_INDEX"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == {
        "apiVersion": "taskops.dev/v1alpha1", "kind": "TaskJob",
        "metadata": {"name": "etl", "namespace": "batch"},
        "spec": {
            "template": {"spec": {"containers": [
                {"name": "main", "image": "busybox:1.36",
                 "command": ["sh", "-c", "echo $TASK_INDEX"]}]}},
            "completions": 3, "completionMode": "Indexed", "priority": 7,
            "dependsOn": ["extract", "load"],
            "retry": {"limit": 2, "backoff": {"initialDelaySeconds": 300}},
            "timeouts": {"attemptDeadlineSeconds": 60, "activeDeadlineSeconds": 3600},
        },
    }


def test_run_backoff_longer_than_the_default_cap_raises_the_cap() -> None:
    result = CliRunner().invoke(cli, ["run", "x", "--image", "i", "--backoff", "10m",
                                      "--dry-run", "-o", "json", "-n", "d", "--", "true"])
    assert '"maxDelaySeconds": 600' in result.stdout


def test_run_refuses_a_bad_duration_naming_the_flag() -> None:
    result = CliRunner().invoke(cli, ["run", "x", "--image", "i", "--backoff", "ten",
                                      "--dry-run", "--", "true"])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == ("error: --backoff: 'ten' is not a duration "
                             "(examples: 30s, 5m, 1h30m, 2d)\n")


def test_run_needs_an_image() -> None:
    result = CliRunner().invoke(cli, ["run", "x", "--dry-run", "--", "true"])
    assert result.exit_code == EXIT_ERROR
    assert "Missing option '--image'" in result.stderr


# ----------------------------------------------------------------------------- lines


def test_line_of_a_job_backing_off_shows_the_next_retry() -> None:
    watched = Watched("hello").observe(job("BackingOff", attemptCount=1, succeeded=0,
                                           nextAttemptTime="2026-12-01T10:00:08Z"))
    assert job_line(watched) == ("hello   BackingOff   0/2 succeeded   attempts 1   "
                                 "next retry at 2026-12-01T10:00:08Z")


def test_line_of_a_queued_job_shows_its_position_and_why() -> None:
    watched = Watched("hello").observe(job("Queued", queuePosition=3, reason="Queued",
                                           message="maxRunning 2 reached"))
    assert job_line(watched) == ("hello   Queued   0/2 succeeded   queue position 3   "
                                 "Queued: maxRunning 2 reached")


def test_line_of_a_job_not_seen_by_the_operator_yet_is_pending() -> None:
    assert job_line(Watched("hello").observe(job(None))) == "hello   Pending   0/2 succeeded"


# ----------------------------------------------------------------------------- verdicts


def test_verdicts_name_the_failed_job_and_its_reason_on_stderr() -> None:
    ok = Watched("a").observe(job("Succeeded", result="42", succeeded=2))
    bad = Watched("b").observe(job("Failed", reason="BackoffLimitExceeded",
                                   message="3 attempts failed; the last exited 1"))
    out, err = verdict_lines([ok, bad], False, "")
    assert out == ["taskjob/a succeeded", "result: 42"]
    assert err == ["taskjob/b failed: BackoffLimitExceeded: 3 attempts failed; the last exited 1"]
    assert exit_code([ok, bad], False) == EXIT_FAILED


def test_indexed_results_are_printed_per_index() -> None:
    done = Watched("a").observe(job("Succeeded", results={"0": "x", "1": "two\nlines"}))
    out, _ = verdict_lines([done], False, "")
    assert out == ["taskjob/a succeeded", "result[0]: x", "result[1]:\n  two\n  lines"]
    assert exit_code([done], False) == EXIT_OK


def test_gone_deleting_or_recreated_job_is_deleted() -> None:
    start = Watched("hello", "u1")
    assert start.observe(None).verdict == "Deleted"
    assert start.observe(job("Running", deleting=True)).verdict == "Deleted"
    assert start.observe(job("Running", uid="u2")).verdict == "Deleted"
    deleted = start.observe(None)
    assert exit_code([deleted], False) == EXIT_DELETED
    assert verdict_lines([deleted], False, "") == (
        [], ["taskjob/hello was deleted while waited for"])


def test_timeout_wins_and_names_the_unfinished_job() -> None:
    running = Watched("hello").observe(job("Running"))
    assert exit_code([running], True) == EXIT_TIMEOUT
    assert verdict_lines([running], True, "5s")[1] == [
        "timed out after 5s waiting for taskjob/hello (phase Running)"]


def scripted(*reports: Report) -> Any:
    """A starter whose followers have already told these reports (no thread, no cluster)."""
    def start(position: int, watched: Watched, report: Any) -> None:
        if position == 0:
            for each in reports:
                report(each)
    return start


def test_follow_shows_each_report_until_every_job_has_a_verdict_printing_only_changes(
        capsys: Any) -> None:
    hello = Watched("hello", "u1").observe(job("Running"))
    final, timed_out = follow([hello], scripted(
        Report(0, hello), Report(0, hello.observe(job("Succeeded", succeeded=2)))),
        None, PlainDisplay())
    assert (timed_out, final[0].verdict) == (False, "Succeeded")
    assert capsys.readouterr().out == ("hello   Running   0/2 succeeded\n"
                                       "hello   Succeeded   2/2 succeeded\n")


def test_follow_times_out_when_no_report_gives_a_verdict() -> None:
    hello = Watched("hello").observe(job("Running"))
    final, timed_out = follow([hello], scripted(Report(0, hello)), 0.2, lambda _: None)
    assert timed_out and final[0].verdict is None


def test_follow_starts_no_follower_for_a_job_finished_already() -> None:
    started: list[str] = []
    done = Watched("done").observe(job("Succeeded"))
    final, timed_out = follow([done], lambda _p, w, _r: started.append(w.name), None,
                              lambda _: None)
    assert (started, timed_out, final[0].verdict) == ([], False, "Succeeded")


def test_follow_shows_a_problem_until_the_follower_reaches_the_server_again(
        capsys: Any) -> None:
    hello = Watched("hello").observe(job("Running"))
    plain = PlainDisplay()
    shown: list[list[str]] = []

    def show(lines: list[str]) -> None:
        shown.append(lines)
        plain(lines)

    follow([hello], scripted(
        Report(0, hello, problem="cannot reach the API server: refused"),
        Report(0, hello), Report(0, hello.observe(job("Failed")))), None, show)
    assert shown[-2:] == [["hello   Running   0/2 succeeded"], ["hello   Failed   0/2 succeeded"]]
    assert capsys.readouterr().out == (
        "hello   Running   0/2 succeeded\n"
        "(retrying: cannot reach the API server: refused)\n"
        "hello   Failed   0/2 succeeded\n")


def test_follow_raises_the_error_of_a_follower_that_gave_up() -> None:
    import pytest

    from taskops.cli.errors import CliError

    hello = Watched("hello").observe(job("Running"))
    with pytest.raises(CliError, match="Forbidden"):
        follow([hello], scripted(Report(0, hello, fatal=CliError("from server (Forbidden): no"))),
               None, lambda _: None)
