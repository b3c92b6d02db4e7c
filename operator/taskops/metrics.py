"""The operator's Prometheus metrics: the one place where metric objects are defined.

All metrics live on a :class:`Metrics` instance with its own ``CollectorRegistry``
rather than on prometheus-client's global registry, so that tests, and several
operator instances in one process, never see each other's samples. The shell
creates one ``Metrics`` at start and hands it to the reconcilers; nothing here
decides anything about TaskJobs.

Exported names (all prefixed ``taskops_``):

- ``taskops_taskjobs{phase,namespace}``: gauge, TaskJobs by phase (a recount, see
  :class:`PhaseGauge`)
- ``taskops_taskjobs_finished_total{result,reason}``: counter
- ``taskops_attempts_total{outcome}``, ``taskops_retries_total``: counters
- ``taskops_queue_wait_seconds``, ``taskops_run_duration_seconds``: histograms; the
  queue wait is observed at each admission (0 for a job admitted at once)
- ``taskops_queue_depth{namespace}``: gauge, TaskJobs waiting for a slot
- ``taskops_slots_in_use{scope}``, ``taskops_slots_cap{scope}``: gauges, TaskJobs
  holding a slot and the cap, ``scope`` is ``cluster`` or a namespace (caps only
  where one is set)
- ``taskops_schedule_runs_total{outcome}``: counter, outcome in SCHEDULE_OUTCOMES
- ``taskops_schedule_lateness_seconds``: histogram
- ``taskops_reconcile_duration_seconds{kind}``, ``taskops_reconcile_errors_total{kind}``
- ``taskops_client_rate_limit_wait_seconds``: histogram, the wait of every API
  request of the reconcilers for the ``--kube-api-qps`` / ``--kube-api-burst``
  bucket (its count is the number of requests; a sum well above 0 means the
  limit, not the API server, sets the pace)
- ``taskops_leader{identity}``: gauge, 1 while this replica holds the Lease
- ``taskops_watch_last_event_timestamp_seconds{kind}``: gauge, Unix time
  the watch last delivered an event or a bookmark
- ``taskops_api_reachable``: gauge, 1 while the API server answers the probe
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)

from taskops.settings import Settings

#: status.phase values of a TaskJob (api.md); each namespace with any TaskJob
#: exports all of them, zeros included, so that dashboards show 0 rather than a gap.
TASKJOB_PHASES: tuple[str, ...] = (
    "Pending",
    "Waiting",
    "Queued",
    "Running",
    "BackingOff",
    "Succeeded",
    "Failed",
    "Suspended",
)
#: Values of the ``outcome`` label of ``taskops_schedule_runs_total``.
SCHEDULE_OUTCOMES: tuple[str, ...] = ("created", "skipped", "missed", "replaced", "triggered")
#: Kinds the operator reconciles; their error counters start at 0 so rate() works at once.
RECONCILE_KINDS: tuple[str, ...] = ("TaskJob", "TaskSchedule")

# Tasks run from seconds to a day; buckets roughly x2-x3 apart over that range.
RUN_DURATION_BUCKETS: tuple[float, ...] = (
    1,
    5,
    15,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    14400,
    28800,
    43200,
    86400,
)
# Queue waits are short without a cap and can reach hours behind a busy one.
QUEUE_WAIT_BUCKETS: tuple[float, ...] = (
    0.1,
    0.5,
    1,
    5,
    15,
    30,
    60,
    300,
    900,
    1800,
    3600,
    7200,
    21600,
)
# Lateness of a schedule run against its instant (jitter excluded): milliseconds
# when healthy, seconds when the loop or the API server is struggling.
SCHEDULE_LATENESS_BUCKETS: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)
# One reconcile is an in-memory decision plus a few API calls.
RECONCILE_DURATION_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)


class PhaseGauge:
    """Keeps ``taskops_taskjobs{phase,namespace}`` equal to a count of known TaskJobs.

    The shell reports each TaskJob's current phase with :meth:`set_phase` (on
    every event, repeats are harmless) and :meth:`forget` when it is deleted.
    The gauge is then set from the count of the remembered jobs, never
    incremented or decremented, so a missed or repeated event cannot make it
    drift. A namespace with no TaskJobs left exports no series at all, so that
    deleted namespaces do not linger. Thread-safe: kopf runs sync handlers in a
    thread pool.
    """

    def __init__(self, gauge: Gauge, phases: Sequence[str] = TASKJOB_PHASES) -> None:
        self._gauge = gauge
        self._phases = tuple(phases)
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[str, str]] = {}
        self._counts: Tally[tuple[str, str]] = Tally()
        self._published: dict[str, set[str]] = {}

    def set_phase(self, uid: str, namespace: str, phase: str) -> None:
        """Record that the TaskJob ``uid`` in ``namespace`` is now in ``phase``."""
        with self._lock:
            previous = self._jobs.get(uid)
            if previous == (namespace, phase):
                return
            if previous is not None:
                self._counts[previous] -= 1
            self._jobs[uid] = (namespace, phase)
            self._counts[(namespace, phase)] += 1
            self._publish(namespace)
            if previous is not None and previous[0] != namespace:
                self._publish(previous[0])

    def forget(self, uid: str) -> None:
        """Stop counting the TaskJob ``uid`` (deleted); unknown uids are ignored."""
        with self._lock:
            previous = self._jobs.pop(uid, None)
            if previous is None:
                return
            self._counts[previous] -= 1
            self._publish(previous[0])

    def counts(self) -> dict[tuple[str, str], int]:
        """Current non-zero counts by ``(namespace, phase)``."""
        with self._lock:
            return {key: count for key, count in self._counts.items() if count > 0}

    def _publish(self, namespace: str) -> None:
        # Drop zero entries so the tally does not grow with every (namespace, phase) ever seen.
        for key in [key for key, n in self._counts.items() if n <= 0]:
            del self._counts[key]
        present = {phase for (ns, phase) in self._counts if ns == namespace}
        wanted = set(self._phases) | present if present else set()
        published = self._published.pop(namespace, set())
        # Series of phases outside TASKJOB_PHASES vanish when their count reaches 0,
        # and every series of a namespace vanishes with its last TaskJob.
        for phase in published - wanted:
            self._gauge.remove(phase, namespace)
        for phase in wanted:
            self._gauge.labels(phase=phase, namespace=namespace).set(
                self._counts[(namespace, phase)]
            )
        if wanted:
            self._published[namespace] = wanted


class Metrics:
    """Every metric of one operator instance, on its own registry.

    The attributes are plain prometheus-client objects (``.labels(...).inc()``,
    ``.observe(...)``); the methods cover the few uses with a rule attached.

    Label conventions: ``kind`` is the Kubernetes kind (``TaskJob``,
    ``TaskSchedule``, ``Pod``); ``result`` is the final phase (``Succeeded`` or
    ``Failed``) and ``reason`` its status.reason (``Completed`` for success is
    a reasonable choice for the shell); ``outcome`` of attempts is the attempt's
    result (e.g. ``succeeded``, ``failed``, ``disrupted``), kept to a small
    fixed set by the caller because every value is a new series.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        process_collectors: bool = True,
    ) -> None:
        """Create the metrics on ``registry`` (a fresh one when None).

        ``process_collectors`` adds the standard ``process_*``, ``python_*`` and
        GC metrics that the global registry would have had.
        """
        # The *_created series double every counter and histogram in the text format
        # and no dashboard of ours reads them. The switch is process-wide and read when
        # a metric is created, hence here; the operator owns its process.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process_collectors:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

        self.taskjobs = Gauge(
            "taskops_taskjobs",
            "TaskJobs known to the operator, by phase.",
            ["phase", "namespace"],
            registry=r,
        )
        self.phases = PhaseGauge(self.taskjobs)
        self.taskjobs_finished = Counter(
            "taskops_taskjobs_finished",
            "TaskJobs that reached Succeeded or Failed.",
            ["result", "reason"],
            registry=r,
        )
        self.attempts = Counter(
            "taskops_attempts",
            "Finished attempts (pods) of TaskJobs, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.retries = Counter(
            "taskops_retries",
            "Attempts started as a retry of a failed attempt.",
            registry=r,
        )
        self.queue_wait = Histogram(
            "taskops_queue_wait_seconds",
            "Time TaskJobs spent Queued before admission.",
            buckets=QUEUE_WAIT_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "taskops_queue_depth",
            "TaskJobs waiting for a slot under the concurrency caps, by namespace.",
            ["namespace"],
            registry=r,
        )
        self.slots_in_use = Gauge(
            "taskops_slots_in_use",
            "TaskJobs holding a slot (Admitted=True), cluster-wide and by namespace.",
            ["scope"],
            registry=r,
        )
        self.slots_cap = Gauge(
            "taskops_slots_cap",
            "The concurrency cap in force: scope cluster (--max-running) and each namespace "
            "with TaskJobs (--max-running-per-namespace); absent when unlimited.",
            ["scope"],
            registry=r,
        )
        self.run_duration = Histogram(
            "taskops_run_duration_seconds",
            "Time from a TaskJob's first admission to its completion.",
            buckets=RUN_DURATION_BUCKETS,
            registry=r,
        )
        self.schedule_runs = Counter(
            "taskops_schedule_runs",
            "TaskSchedule runs, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.schedule_lateness = Histogram(
            "taskops_schedule_lateness_seconds",
            "Delay between a run's scheduled instant (plus jitter) and its creation.",
            buckets=SCHEDULE_LATENESS_BUCKETS,
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "taskops_reconcile_duration_seconds",
            "Duration of one reconcile, by kind.",
            ["kind"],
            buckets=RECONCILE_DURATION_BUCKETS,
            registry=r,
        )
        self.reconcile_errors = Counter(
            "taskops_reconcile_errors",
            "Reconciles that raised, by kind.",
            ["kind"],
            registry=r,
        )
        self.rate_limit_wait = Histogram(
            "taskops_client_rate_limit_wait_seconds",
            "Time each API request of the reconcilers waited for the client-side rate limit.",
            buckets=RECONCILE_DURATION_BUCKETS,
            registry=r,
        )
        self.leader = Gauge(
            "taskops_leader",
            "1 while this replica holds the leader Lease, else 0.",
            ["identity"],
            registry=r,
        )
        self.api_reachable = Gauge(
            "taskops_api_reachable",
            "1 while the API server answers the operator's probe (taskops.api_probe), else 0.",
            registry=r,
        )
        self.watch_last_event = Gauge(
            "taskops_watch_last_event_timestamp_seconds",
            "Unix time the watch of a kind last delivered anything, an event or a bookmark "
            "(the API server sends one a minute): time() minus it is the watch's silence.",
            ["kind"],
            registry=r,
        )

        # Series that exist from the start, so that increase()/rate() see the first event.
        for outcome in SCHEDULE_OUTCOMES:
            self.schedule_runs.labels(outcome=outcome)
        for kind in RECONCILE_KINDS:
            self.reconcile_errors.labels(kind=kind)

    def set_admission(self, depth: Mapping[str, int], holding: Mapping[str, int],
                      total_cap: int | None, namespace_cap: int | None) -> None:
        """Report queue depth and slots: a recount, so namespaces that emptied read 0."""
        for ns in {key[0] for key, _ in _series(self.queue_depth)} - depth.keys():
            self.queue_depth.labels(namespace=ns).set(0)
        for ns, count in depth.items():
            self.queue_depth.labels(namespace=ns).set(count)
        scopes = {"cluster": sum(holding.values()), **holding}
        for scope in {key[0] for key, _ in _series(self.slots_in_use)} - scopes.keys():
            self.slots_in_use.labels(scope=scope).set(0)
        for scope, count in scopes.items():
            self.slots_in_use.labels(scope=scope).set(count)
        if total_cap is not None:
            self.slots_cap.labels(scope="cluster").set(total_cap)
        if namespace_cap is not None:
            for scope in scopes.keys() - {"cluster"} | depth.keys():
                self.slots_cap.labels(scope=scope).set(namespace_cap)

    def set_leader(self, identity: str, leading: bool) -> None:
        """Report whether the replica ``identity`` currently holds the Lease."""
        self.leader.labels(identity=identity).set(1 if leading else 0)

    def saw_event(self, kind: str, timestamp: float | None = None) -> None:
        """Record a watch event of ``kind`` at ``timestamp`` (Unix seconds; now if None)."""
        self.watch_last_event.labels(kind=kind).set(time.time() if timestamp is None else timestamp)

    @contextmanager
    def reconcile(self, kind: str) -> Iterator[None]:
        """Time the enclosed reconcile of ``kind``; count it as an error if it raises.

        The exception propagates unchanged. Cancellation (a BaseException) is
        timed but not counted as an error: it is shutdown, not a failure.
        """
        started = time.perf_counter()
        try:
            yield
        except Exception:
            self.reconcile_errors.labels(kind=kind).inc()
            raise
        finally:
            self.reconcile_duration.labels(kind=kind).observe(time.perf_counter() - started)


def _series(gauge: Gauge) -> list[tuple[tuple[str, ...], object]]:
    # prometheus-client keeps a labelled metric's children in `_metrics`; there
    # is no public way to list the label values already exported.
    return [(tuple(key), child) for key, child in gauge._metrics.items()]


def exposition(metrics: Metrics) -> str:
    """The Prometheus text exposition of ``metrics``, as served on ``/metrics``."""
    return generate_latest(metrics.registry).decode("utf-8")


@dataclass
class MetricsServer:
    """A running ``/metrics`` server (daemon thread); :meth:`stop` shuts it down."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop serving and close the socket; waits for the serving thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_server(settings: Settings, metrics: Metrics) -> MetricsServer:
    """Serve ``metrics`` on ``settings.bind_address:settings.metrics_port`` at ``/metrics``.

    Runs in a daemon thread, so it keeps answering while the event loop is busy
    and never blocks process exit. Raises ``OSError`` if the port is taken.
    """
    server, thread = start_http_server(
        settings.metrics_port,
        settings.bind_address,
        registry=metrics.registry,
    )
    return MetricsServer(server=server, thread=thread)
