"""The settings contract: every flag has a TASKOPS_* twin; flag > variable > default;
a bad value is an argparse error naming both the flag and the variable."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import pytest

from taskops.settings import Settings, build_parser, parse_settings

# (flag, variable, raw value, Settings field, parsed value): one row per setting.
EVERY_SETTING: list[tuple[str, str, str, str, Any]] = [
    ("--namespaces", "TASKOPS_NAMESPACES", "team-a,team-b", "namespaces", ("team-a", "team-b")),
    ("--max-running", "TASKOPS_MAX_RUNNING", "10", "max_running", 10),
    (
        "--max-running-per-namespace",
        "TASKOPS_MAX_RUNNING_PER_NAMESPACE",
        "3",
        "max_running_per_namespace",
        3,
    ),
    ("--log-format", "TASKOPS_LOG_FORMAT", "json", "log_format", "json"),
    ("--log-level", "TASKOPS_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("--health-port", "TASKOPS_HEALTH_PORT", "9091", "health_port", 9091),
    ("--metrics-port", "TASKOPS_METRICS_PORT", "9090", "metrics_port", 9090),
    ("--bind-address", "TASKOPS_BIND_ADDRESS", "127.0.0.1", "bind_address", "127.0.0.1"),
    ("--lease-name", "TASKOPS_LEASE_NAME", "my-lease", "lease_name", "my-lease"),
    ("--lease-namespace", "TASKOPS_LEASE_NAMESPACE", "ops", "lease_namespace", "ops"),
    ("--lease-duration", "TASKOPS_LEASE_DURATION", "20", "lease_duration", 20.0),
    ("--renew-deadline", "TASKOPS_RENEW_DEADLINE", "7.5", "renew_deadline", 7.5),
    ("--retry-period", "TASKOPS_RETRY_PERIOD", "1", "retry_period", 1.0),
    ("--identity", "TASKOPS_IDENTITY", "replica-1", "identity", "replica-1"),
    ("--worker-limit", "TASKOPS_WORKER_LIMIT", "200", "worker_limit", 200),
    ("--kubeconfig", "TASKOPS_KUBECONFIG", "/tmp/kubeconfig", "kubeconfig", "/tmp/kubeconfig"),
    ("--kube-api-qps", "TASKOPS_KUBE_API_QPS", "20.5", "kube_api_qps", 20.5),
    ("--kube-api-burst", "TASKOPS_KUBE_API_BURST", "30", "kube_api_burst", 30),
]
IDS = [row[0] for row in EVERY_SETTING]


def parse_error(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    """Parse, expect argparse's exit 2, and return its message."""
    with pytest.raises(SystemExit) as exited:
        parse_settings(argv, env)
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_defaults_without_flags_or_environment() -> None:
    settings = parse_settings([], {})
    assert settings == Settings(identity=socket.gethostname())
    assert settings.namespaces == ()
    assert settings.watches_all_namespaces
    assert settings.max_running is None
    assert settings.max_running_per_namespace is None
    assert (settings.log_format, settings.log_level) == ("text", "INFO")
    assert (settings.health_port, settings.metrics_port) == (8081, 8080)
    assert settings.bind_address == "0.0.0.0"
    assert settings.leader_election is False
    assert (settings.lease_name, settings.lease_namespace) == ("taskops-leader", "default")
    # The chart's timings: a dead leader is replaced within 10 + 2 x 1 = 12 s (< 15 s).
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (
        10.0,
        6.0,
        1.0,
    )
    assert settings.worker_limit == 16
    assert settings.kubeconfig is None
    # Provisional, above kube-controller-manager's 20 / 30, until the benchmark measures it.
    assert (settings.kube_api_qps, settings.kube_api_burst) == (50.0, 100)


def test_every_settings_field_has_a_flag_and_every_flag_a_field() -> None:
    flags = {action.dest for action in build_parser()._actions if action.dest != "help"}
    assert flags == {field.name for field in dataclasses.fields(Settings)}
    assert {row[3] for row in EVERY_SETTING} | {"leader_election"} == flags


@pytest.mark.parametrize(("flag", "variable", "raw", "field", "expected"), EVERY_SETTING, ids=IDS)
def test_each_flag_sets_its_field(
    flag: str, variable: str, raw: str, field: str, expected: Any
) -> None:
    assert getattr(parse_settings([flag, raw], {}), field) == expected


@pytest.mark.parametrize(("flag", "variable", "raw", "field", "expected"), EVERY_SETTING, ids=IDS)
def test_each_variable_sets_its_field(
    flag: str, variable: str, raw: str, field: str, expected: Any
) -> None:
    assert getattr(parse_settings([], {variable: raw}), field) == expected


@pytest.mark.parametrize(("flag", "variable", "raw", "field", "expected"), EVERY_SETTING, ids=IDS)
def test_flag_wins_over_variable(
    flag: str, variable: str, raw: str, field: str, expected: Any
) -> None:
    # A different but valid value in the environment must lose to the flag.
    other = {
        "namespaces": "elsewhere",
        "log_format": "text",
        "log_level": "ERROR",
        "bind_address": "::",
        "lease_name": "other",
        "lease_namespace": "other",
        "identity": "other",
        "kubeconfig": "/other",
        "lease_duration": "14",
        "renew_deadline": "9",
        "retry_period": "3",
    }.get(field, "7")
    assert getattr(parse_settings([f"{flag}={raw}"], {variable: other}), field) == expected


def test_empty_variable_counts_as_unset() -> None:
    # Helm renders an unset value as "": that must mean "default", not an error.
    env = {"TASKOPS_MAX_RUNNING": "", "TASKOPS_HEALTH_PORT": "  ", "TASKOPS_LOG_FORMAT": ""}
    settings = parse_settings([], env)
    assert (settings.max_running, settings.health_port, settings.log_format) == (
        None,
        8081,
        "text",
    )


def test_namespaces_are_trimmed_deduplicated_and_empty_means_all() -> None:
    assert parse_settings(["--namespaces", " a, b ,,a"], {}).namespaces == ("a", "b")
    assert parse_settings([], {"TASKOPS_NAMESPACES": ","}).namespaces == ()
    # An empty flag overrides a list in the environment: back to all namespaces.
    assert parse_settings(["--namespaces="], {"TASKOPS_NAMESPACES": "a"}).watches_all_namespaces


def test_unlimited_flag_overrides_a_cap_from_the_environment() -> None:
    env = {"TASKOPS_MAX_RUNNING": "5", "TASKOPS_MAX_RUNNING_PER_NAMESPACE": "2"}
    settings = parse_settings(
        ["--max-running", "unlimited", "--max-running-per-namespace", "UNLIMITED"], env
    )
    assert settings.max_running is None
    assert settings.max_running_per_namespace is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("YES", True), ("on", True), ("false", False), ("0", False)],
)
def test_leader_election_variable_accepts_usual_booleans(raw: str, expected: bool) -> None:
    assert parse_settings([], {"TASKOPS_LEADER_ELECTION": raw}).leader_election is expected


def test_leader_election_flags_win_over_the_variable() -> None:
    assert parse_settings(["--leader-election"], {}).leader_election is True
    on = {"TASKOPS_LEADER_ELECTION": "true"}
    assert parse_settings(["--no-leader-election"], on).leader_election is False
    off = {"TASKOPS_LEADER_ELECTION": "false"}
    assert parse_settings(["--leader-election"], off).leader_election is True


def test_lease_namespace_falls_back_to_pod_namespace_then_default() -> None:
    assert parse_settings([], {}).lease_namespace == "default"
    assert parse_settings([], {"POD_NAMESPACE": "taskops"}).lease_namespace == "taskops"
    env = {"POD_NAMESPACE": "taskops", "TASKOPS_LEASE_NAMESPACE": "leases"}
    assert parse_settings([], env).lease_namespace == "leases"
    assert parse_settings(["--lease-namespace", "flagged"], env).lease_namespace == "flagged"


def test_identity_falls_back_to_pod_name_then_hostname() -> None:
    assert parse_settings([], {}).identity == socket.gethostname()
    assert parse_settings([], {"POD_NAME": "taskops-7d9f-x2"}).identity == "taskops-7d9f-x2"
    env = {"POD_NAME": "taskops-7d9f-x2", "TASKOPS_IDENTITY": "chosen"}
    assert parse_settings([], env).identity == "chosen"


BAD_VALUES: list[tuple[str, str, str]] = [
    ("--namespaces", "TASKOPS_NAMESPACES", "Team_A"),
    ("--max-running", "TASKOPS_MAX_RUNNING", "0"),
    ("--max-running", "TASKOPS_MAX_RUNNING", "lots"),
    ("--max-running-per-namespace", "TASKOPS_MAX_RUNNING_PER_NAMESPACE", "-2"),
    ("--log-format", "TASKOPS_LOG_FORMAT", "yaml"),
    ("--log-level", "TASKOPS_LOG_LEVEL", "chatty"),
    ("--health-port", "TASKOPS_HEALTH_PORT", "70000"),
    ("--metrics-port", "TASKOPS_METRICS_PORT", "http"),
    ("--bind-address", "TASKOPS_BIND_ADDRESS", "not an address"),
    ("--leader-election", "TASKOPS_LEADER_ELECTION", "maybe"),
    ("--lease-name", "TASKOPS_LEASE_NAME", "Bad_Name"),
    ("--lease-namespace", "TASKOPS_LEASE_NAMESPACE", "a.b"),
    ("--lease-duration", "TASKOPS_LEASE_DURATION", "-1"),
    ("--renew-deadline", "TASKOPS_RENEW_DEADLINE", "nan"),
    ("--retry-period", "TASKOPS_RETRY_PERIOD", "soon"),
    ("--worker-limit", "TASKOPS_WORKER_LIMIT", "1.5"),
    ("--worker-limit", "TASKOPS_WORKER_LIMIT", "unlimited"),
    ("--kube-api-qps", "TASKOPS_KUBE_API_QPS", "0"),
    ("--kube-api-qps", "TASKOPS_KUBE_API_QPS", "-5"),
    ("--kube-api-qps", "TASKOPS_KUBE_API_QPS", "nan"),
    ("--kube-api-qps", "TASKOPS_KUBE_API_QPS", "inf"),
    ("--kube-api-qps", "TASKOPS_KUBE_API_QPS", "10000.5"),
    ("--kube-api-qps", "TASKOPS_KUBE_API_QPS", "fast"),
    ("--kube-api-burst", "TASKOPS_KUBE_API_BURST", "0"),
    ("--kube-api-burst", "TASKOPS_KUBE_API_BURST", "2.5"),
    ("--kube-api-burst", "TASKOPS_KUBE_API_BURST", "100001"),
]


@pytest.mark.parametrize(
    ("flag", "variable", "raw"), BAD_VALUES, ids=[f"{r[0]}={r[2]}" for r in BAD_VALUES]
)
def test_bad_variable_is_an_error_naming_flag_variable_and_source(
    flag: str, variable: str, raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = parse_error([], {variable: raw}, capsys)
    assert flag in message
    assert variable in message
    assert repr(raw) in message
    assert f"from environment variable {variable}" in message


@pytest.mark.parametrize(
    ("flag", "variable", "raw"),
    [row for row in BAD_VALUES if row[0] != "--leader-election"],
    ids=[f"{r[0]}={r[2]}" for r in BAD_VALUES if r[0] != "--leader-election"],
)
def test_bad_flag_is_an_error_naming_flag_variable_and_source(
    flag: str, variable: str, raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = parse_error([f"{flag}={raw}"], {}, capsys)
    assert f"{flag} / {variable}" in message
    assert f"from flag {flag}" in message


def test_bad_pod_namespace_names_the_fallback_variable(capsys: pytest.CaptureFixture[str]) -> None:
    message = parse_error([], {"POD_NAMESPACE": "Not-Valid"}, capsys)
    assert "--lease-namespace / TASKOPS_LEASE_NAMESPACE" in message
    assert "from environment variable POD_NAMESPACE" in message


def test_health_and_metrics_ports_must_differ(capsys: pytest.CaptureFixture[str]) -> None:
    message = parse_error(["--health-port", "8080"], {}, capsys)
    assert "--health-port / TASKOPS_HEALTH_PORT" in message
    assert "--metrics-port / TASKOPS_METRICS_PORT" in message


def test_lease_duration_must_exceed_renew_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    message = parse_error(["--lease-duration", "6"], {}, capsys)
    assert "--lease-duration / TASKOPS_LEASE_DURATION" in message
    assert "--renew-deadline / TASKOPS_RENEW_DEADLINE" in message


def test_renew_deadline_must_leave_room_for_a_jittered_retry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # client-go's rule: renewDeadline > 1.2 x retryPeriod.
    message = parse_error([], {"TASKOPS_RETRY_PERIOD": "9"}, capsys)
    assert "--retry-period / TASKOPS_RETRY_PERIOD" in message
    parse_settings(["--renew-deadline", "2.5", "--retry-period", "2"], {})


def test_unknown_flag_and_abbreviations_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--max-runing" in parse_error(["--max-runing", "3"], {}, capsys)
    # Abbreviations would let a future flag change what an old prefix meant.
    parse_error(["--kubeconf", "/x"], {}, capsys)


def test_help_documents_every_flag_with_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_settings(["--help"], {})
    assert exited.value.code == 0
    # argparse wraps help text to the terminal; compare without line breaks.
    text = " ".join(capsys.readouterr().out.split())
    for flag, variable, *_ in EVERY_SETTING:
        assert flag in text
        assert f"[env: {variable}; default:" in text
    assert "--leader-election, --no-leader-election" in text
    assert "[env: TASKOPS_LEADER_ELECTION; default: off]" in text
    for default in (
        "default: 8081]",
        "default: 8080]",
        "default: 0.0.0.0]",
        "default: taskops-leader]",
        "default: $POD_NAMESPACE, else default]",
        "default: 10]",
        "default: 6]",
        "default: 1]",
        "default: $POD_NAME, else the hostname]",
        "default: all namespaces]",
        "default: unlimited]",
        "default: text]",
        "default: INFO]",
        "default: 50]",
        "default: 100]",
    ):
        assert default in text
    assert "bench/README.md measures the default" in text


def test_kube_api_limits_accept_their_whole_range_and_say_it_when_out_of_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    low = parse_settings(["--kube-api-qps", "0.01", "--kube-api-burst", "1"], {})
    high = parse_settings([], {"TASKOPS_KUBE_API_QPS": "10000",
                               "TASKOPS_KUBE_API_BURST": "100000"})
    assert (low.kube_api_qps, low.kube_api_burst) == (0.01, 1)
    assert (high.kube_api_qps, high.kube_api_burst) == (10000.0, 100000)
    assert "above 0 and at most 10000" in parse_error(["--kube-api-qps", "0"], {}, capsys)
    assert "from 1 to 100000" in parse_error(["--kube-api-burst", "0"], {}, capsys)


def test_settings_are_frozen() -> None:
    settings = parse_settings([], {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_running = 3  # type: ignore[misc]
