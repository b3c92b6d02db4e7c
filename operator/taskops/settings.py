"""The operator's configuration: command-line flags, each with an environment twin.

Every setting can be given as a flag (``--max-running 10``) or as an environment
variable (``TASKOPS_MAX_RUNNING=10``), which is how the Helm chart passes its
values. Precedence: a flag wins over its variable, a variable wins over the
default. An empty variable counts as unset, because Helm renders an unset value
as ``""`` and that must not be an error.

Each fact has one home: a setting's default is its ``Settings`` field default,
and everything else about it (flag, variable, converter, help) is its row of
``_OPTIONS``. The parser, ``--help`` and the resolution order are all built
from those two, so a setting cannot be documented in one place and behave
differently in another.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# client-go refuses renewDeadline <= JitterFactor * retryPeriod: a renewal
# attempt must fit at least once, with jitter, before the deadline passes.
_LEADER_ELECTION_JITTER = 1.2

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_UNLIMITED = "unlimited"
# Far above any sane setting; beyond them a typo (an extra zero or two) is likelier.
_MAX_KUBE_API_QPS = 10_000.0
_MAX_KUBE_API_BURST = 100_000


def _hostname() -> str:
    return socket.gethostname()


@dataclass(frozen=True)
class Settings:
    """The operator's resolved configuration; built by :func:`parse_settings`.

    Constructing it directly (tests, embedding) skips validation. The defaults
    here are the command-line defaults too, except that there ``identity`` and
    ``lease_namespace`` consult ``POD_NAME`` / ``POD_NAMESPACE`` first.
    """

    #: Namespaces to watch; empty means every namespace (cluster-wide).
    namespaces: tuple[str, ...] = ()
    #: Cap on running TaskJobs across the cluster; None means unlimited.
    max_running: int | None = None
    #: Cap on running TaskJobs in any one namespace; None means unlimited.
    max_running_per_namespace: int | None = None
    log_format: LogFormat = "text"
    #: One of LOG_LEVELS, upper case.
    log_level: str = "INFO"
    health_port: int = 8081
    metrics_port: int = 8080
    #: Address both the health and the metrics servers listen on.
    bind_address: str = "0.0.0.0"
    leader_election: bool = False
    lease_name: str = "taskops-leader"
    lease_namespace: str = "default"
    #: Seconds a Lease stays valid after its last renewal. With the two below,
    #: the chart's values: a crashed leader is replaced within
    #: lease_duration + 2 * retry_period = 12 s, inside the 15 s promised
    #: (client-go's 15 / 10 / 2 would give 19 s).
    lease_duration: float = 10.0
    #: Seconds the leader keeps trying to renew before it gives up (and exits).
    renew_deadline: float = 6.0
    #: Seconds between attempts to acquire or renew the Lease.
    retry_period: float = 1.0
    #: This replica's name in the Lease (holderIdentity) and in metrics.
    identity: str = field(default_factory=_hostname)
    #: Reconcile workers, and threads for blocking API calls (see runtime.py).
    worker_limit: int = 16
    #: Path to a kubeconfig; None means in-cluster config or the client's defaults.
    kubeconfig: str | None = None
    #: Sustained API requests per second (client-side token bucket, as client-go's QPS).
    #: kube-controller-manager's controllers use 20 each; at 50 the operator finishes
    #: 1,000 one-pod TaskJobs in 120 s where the Job controller takes 298 s, and
    #: unlimited it reaches about 125 requests a second on 2 cores (bench/README.md).
    kube_api_qps: float = 50.0
    #: Requests allowed at once above the sustained rate (the bucket's size).
    kube_api_burst: int = 100

    @property
    def watches_all_namespaces(self) -> bool:
        """True when the operator is cluster-wide rather than namespace-scoped."""
        return not self.namespaces


# --- converters: raw string -> typed value, ValueError(reason) when bad --------------------


def _namespaces(raw: str) -> tuple[str, ...]:
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip()
        if not name:
            continue
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            raise ValueError(f"{name!r} is not a valid namespace name (RFC 1123 label)")
        if name not in names:
            names.append(name)
    return tuple(names)


def _positive_int_or_unlimited(raw: str) -> int | None:
    text = raw.strip()
    # "unlimited" exists so that a flag can override a cap set in the environment.
    if text.lower() == _UNLIMITED:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a positive integer or {_UNLIMITED!r}") from None
    if value < 1:
        raise ValueError(f"must be a positive integer or {_UNLIMITED!r}")
    return value


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("must be a positive integer") from None
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _log_format(raw: str) -> str:
    text = raw.strip().lower()
    if text not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return text


def _log_level(raw: str) -> str:
    text = raw.strip().upper()
    if text not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return text


def _port(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("must be a port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise ValueError("must be a port number (1-65535)")
    return value


def _bind_address(raw: str) -> str:
    text = raw.strip()
    if text == "localhost":
        return text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("must be an IP address (0.0.0.0 or :: for all interfaces)") from None
    return text


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    # NaN and infinity parse as floats but make every timing comparison false.
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number of seconds")
    return value


_N = TypeVar("_N", int, float)


def _bounded(raw: str, convert: Callable[[str], _N], accept: Callable[[_N], bool],
             reason: str) -> _N:
    """`raw` converted, or ValueError(reason) when it does not convert or is refused."""
    try:
        value = convert(raw.strip())
    except ValueError:
        raise ValueError(reason) from None
    if not accept(value):
        raise ValueError(reason)
    return value


def _kube_api_qps(raw: str) -> float:
    # NaN fails both comparisons, infinity the second.
    return _bounded(raw, float, lambda v: 0 < v <= _MAX_KUBE_API_QPS,
                    "must be a number of requests per second, above 0 and at most "
                    f"{_MAX_KUBE_API_QPS:g}")


def _kube_api_burst(raw: str) -> int:
    return _bounded(raw, int, lambda v: 1 <= v <= _MAX_KUBE_API_BURST,
                    f"must be a whole number of requests from 1 to {_MAX_KUBE_API_BURST}")


def _boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false")


def _dns_subdomain(raw: str) -> str:
    text = raw.strip()
    if len(text) > 253 or not _DNS1123_SUBDOMAIN.match(text):
        raise ValueError(f"{text!r} is not a valid object name (RFC 1123 subdomain)")
    return text


def _namespace(raw: str) -> str:
    text = raw.strip()
    if len(text) > 63 or not _DNS1123_LABEL.match(text):
        raise ValueError(f"{text!r} is not a valid namespace name (RFC 1123 label)")
    return text


def _non_empty(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise ValueError("must not be empty")
    return text


@dataclass(frozen=True)
class _Option:
    """One setting. Its Settings field and its variable derive from the flag, so the
    three spellings cannot disagree: ``--max-running`` is ``max_running`` and
    ``TASKOPS_MAX_RUNNING``."""

    flag: str
    convert: Callable[[str], Any]
    help: str
    #: Shown in --help instead of the default (for None and computed defaults).
    default_text: str | None = None
    metavar: str | None = None
    #: Further variables consulted, in order, after ``env`` (Downward API fields).
    fallback_envs: tuple[str, ...] = ()
    boolean: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        return "TASKOPS_" + self.dest.upper()

    def default_value(self) -> Any:
        """The ``Settings`` field's default: used when no flag or variable is given."""
        settings_field = _FIELDS[self.dest]
        if settings_field.default_factory is not dataclasses.MISSING:
            return settings_field.default_factory()
        return settings_field.default

    def shown_default(self) -> str:
        """The default as ``--help`` shows it."""
        if self.default_text is not None:
            return self.default_text
        value = self.default_value()
        return f"{value:g}" if isinstance(value, float) else str(value)


_FIELDS: dict[str, dataclasses.Field[Any]] = {
    settings_field.name: settings_field for settings_field in dataclasses.fields(Settings)
}


_OPTIONS: tuple[_Option, ...] = (
    _Option(
        "--namespaces",
        _namespaces,
        "Comma-separated namespaces to watch; empty watches every namespace.",
        default_text="all namespaces",
        metavar="NS[,NS...]",
    ),
    _Option(
        "--max-running",
        _positive_int_or_unlimited,
        "Most TaskJobs running at once across the cluster; further ones wait in phase Queued.",
        default_text="unlimited",
        metavar="N|unlimited",
    ),
    _Option(
        "--max-running-per-namespace",
        _positive_int_or_unlimited,
        "Most TaskJobs running at once in any one namespace.",
        default_text="unlimited",
        metavar="N|unlimited",
    ),
    _Option(
        "--log-format",
        _log_format,
        "Log line format: text, or json (one JSON object per line).",
        metavar="text|json",
    ),
    _Option(
        "--log-level",
        _log_level,
        f"Least severe level logged: {', '.join(LOG_LEVELS)}.",
        metavar="LEVEL",
    ),
    _Option(
        "--health-port",
        _port,
        "Port of the /healthz (liveness) and /readyz (readiness) endpoints.",
        metavar="PORT",
    ),
    _Option(
        "--metrics-port",
        _port,
        "Port of the Prometheus /metrics endpoint.",
        metavar="PORT",
    ),
    _Option(
        "--bind-address",
        _bind_address,
        "Address the health and metrics servers listen on.",
        metavar="ADDR",
    ),
    _Option(
        "--leader-election",
        _boolean,
        "Hold a coordination.k8s.io Lease so that only one replica is active; "
        "required when running more than one replica.",
        default_text="off",
        boolean=True,
    ),
    _Option(
        "--lease-name",
        _dns_subdomain,
        "Name of the leader-election Lease.",
        metavar="NAME",
    ),
    _Option(
        "--lease-namespace",
        _namespace,
        "Namespace of the leader-election Lease.",
        default_text="$POD_NAMESPACE, else default",
        metavar="NS",
        fallback_envs=("POD_NAMESPACE",),
    ),
    _Option(
        "--lease-duration",
        _seconds,
        "Seconds a Lease stays valid after its last renewal; a standby takes over "
        "at most this long (plus one retry period) after the leader dies.",
        metavar="SECONDS",
    ),
    _Option(
        "--renew-deadline",
        _seconds,
        "Seconds the leader keeps failing to renew before it stops working; "
        "must be less than the lease duration.",
        metavar="SECONDS",
    ),
    _Option(
        "--retry-period",
        _seconds,
        "Seconds between attempts to acquire or renew the Lease.",
        metavar="SECONDS",
    ),
    _Option(
        "--identity",
        _non_empty,
        "This replica's name in the Lease and in metrics; must differ between replicas.",
        default_text="$POD_NAME, else the hostname",
        metavar="NAME",
        fallback_envs=("POD_NAME",),
    ),
    _Option(
        "--worker-limit",
        _positive_int,
        "Most TaskJobs reconciled at once: the number of reconcile workers, and of "
        "threads for blocking Kubernetes API calls; TaskSchedules get half as many "
        "workers (at least 2).",
        metavar="N",
    ),
    _Option(
        "--kubeconfig",
        _non_empty,
        "Path to a kubeconfig file; without it the in-cluster service account is "
        "used, or the client's usual discovery ($KUBECONFIG, ~/.kube/config).",
        default_text="none",
        metavar="PATH",
    ),
    _Option(
        "--kube-api-qps",
        _kube_api_qps,
        "Sustained Kubernetes API requests per second, all of the operator's calls "
        "together (a client-side token bucket, like kube-controller-manager's, whose "
        "default is 20); the watches and the leader election's Lease calls are not "
        "counted; bench/README.md measures the default against the Job controller's.",
        metavar="QPS",
    ),
    _Option(
        "--kube-api-burst",
        _kube_api_burst,
        "Most Kubernetes API requests sent at once after a quiet spell, before "
        "--kube-api-qps paces them: the token bucket's size (kube-controller-manager's "
        "default is 30). Provisional, like --kube-api-qps.",
        metavar="N",
    ),
)

_BY_DEST: dict[str, _Option] = {option.dest: option for option in _OPTIONS}


def build_parser() -> argparse.ArgumentParser:
    """The ``taskops`` argument parser; every flag's help names its variable and default.

    Flags are parsed as raw strings (no ``type=``): conversion happens in
    :func:`parse_settings` so that a bad value from a flag and a bad value from
    the environment produce the same error, naming both spellings.
    """
    parser = argparse.ArgumentParser(
        prog="taskops",
        # Prefix matching would make a future flag silently change what an old prefix means.
        allow_abbrev=False,
        description="taskops: a Kubernetes operator for task workloads (TaskJob, TaskSchedule).",
        epilog=(
            "Every flag has an environment variable twin, shown in brackets. A flag wins "
            "over its variable, a variable over the default; an empty variable counts as "
            "unset."
        ),
    )
    for option in _OPTIONS:
        help_text = f"{option.help} [env: {option.env}; default: {option.shown_default()}]"
        if option.boolean:
            parser.add_argument(
                option.flag,
                dest=option.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.dest,
                default=None,
                metavar=option.metavar,
                help=help_text,
            )
    return parser


def _spelling(option: _Option) -> str:
    return f"{option.flag} / {option.env}"


def parse_settings(argv: Sequence[str] | None, env: Mapping[str, str]) -> Settings:
    """Resolve the settings from ``argv`` (without the program name) and ``env``.

    ``argv=None`` reads ``sys.argv[1:]``, as argparse does. For each setting the
    flag wins, then its ``TASKOPS_*`` variable, then (for the lease namespace and
    the identity) ``POD_NAMESPACE`` / ``POD_NAME``, then the default.

    A bad value, an unknown flag or an inconsistent combination exits through
    ``argparse`` (``SystemExit(2)`` with the usage and a message on stderr); the
    message names the flag and its variable and says where the value came from.
    ``--help`` prints the help and exits with 0.
    """
    parser = build_parser()
    flags = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for option in _OPTIONS:
        given = getattr(flags, option.dest)
        if given is not None:
            if isinstance(given, bool):
                # BooleanOptionalAction already converted --flag / --no-flag.
                values[option.dest] = given
                continue
            raw, source = str(given), f"flag {option.flag}"
        else:
            found = _from_env(option, env)
            if found is None:
                values[option.dest] = option.default_value()
                continue
            raw, source = found
        try:
            values[option.dest] = option.convert(raw)
        except ValueError as error:
            parser.error(f"{_spelling(option)}: {error} (got {raw!r} from {source})")
    _check_combinations(parser, values)
    return Settings(**values)


def _from_env(option: _Option, env: Mapping[str, str]) -> tuple[str, str] | None:
    for name in (option.env, *option.fallback_envs):
        raw = env.get(name)
        if raw is not None and raw.strip() != "":
            return raw, f"environment variable {name}"
    return None


def _check_combinations(parser: argparse.ArgumentParser, values: Mapping[str, Any]) -> None:
    if values["health_port"] == values["metrics_port"]:
        parser.error(
            f"{_spelling(_BY_DEST['health_port'])} and {_spelling(_BY_DEST['metrics_port'])} "
            f"must differ (both are {values['health_port']})"
        )
    # Checked even with leader election off: a chart that ships bad timings should
    # fail the day it is installed, not the day someone scales to two replicas.
    duration, deadline, retry = (
        values["lease_duration"],
        values["renew_deadline"],
        values["retry_period"],
    )
    if not duration > deadline:
        parser.error(
            f"{_spelling(_BY_DEST['lease_duration'])} ({duration:g}) must be greater than "
            f"{_spelling(_BY_DEST['renew_deadline'])} ({deadline:g})"
        )
    if not deadline > _LEADER_ELECTION_JITTER * retry:
        parser.error(
            f"{_spelling(_BY_DEST['renew_deadline'])} ({deadline:g}) must be greater than "
            f"{_LEADER_ELECTION_JITTER:g} x {_spelling(_BY_DEST['retry_period'])} ({retry:g})"
        )
