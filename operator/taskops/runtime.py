"""Wires the operator together: watches (kopf), the work queue, the API client,
health, metrics, and an orderly shutdown.

kopf is used for what it is good at, watching: its `on.event` handlers only
feed the stores and enqueue keys, so kopf writes nothing to our objects (no
progress annotations, no last-handled-configuration, no finalizer of its own).
Decisions happen in the reconcilers' workers.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeAlias

import kopf
from kubernetes.client import ApiClient

from taskops import kopf_json, kopf_watch
from taskops.api.taskjob import GROUP, VERSION
from taskops.api_probe import probe_client, watch_api
from taskops.core.admission import Caps
from taskops.core.labels import LABEL_TASKJOB_UID
from taskops.handlers.taskjobs import TaskJobReconciler
from taskops.handlers.taskschedules import TaskScheduleReconciler
from taskops.health import HealthState, heartbeat, start_health_server
from taskops.kopf_storage import NoDiffBase
from taskops.kube.client import KubeClient, RateLimitedApiClient, load_api_client
from taskops.kube.login import register_login
from taskops.kube.ratelimit import TokenBucket
from taskops.leader import LeaderElector
from taskops.metrics import Metrics, start_metrics_server
from taskops.settings import Settings
from taskops.startup import check_access, load_clients, serve
from taskops.workqueue import work

log = logging.getLogger(__name__)


def schedule_workers(workers: int) -> int:
    """TaskSchedule workers beside `workers` TaskJob workers: half as many. A
    schedule's pass at its fire time is one create, and when many schedules
    share a minute those creates are what is late (1,000 schedules on one
    minute: lateness p99 14 s with a quarter, 9 s with half; docs/schedules.md)."""
    return max(2, workers // 2)


# Upper bound for finishing in-flight writes after SIGTERM; the chart's grace
# period is longer, so the process exits on its own before being killed.
SHUTDOWN_DRAIN_SECONDS = 20.0
# Then for the Events sent without waiting; the two fit the chart's
# `terminationGracePeriodSeconds` (at least preStopSleepSeconds + 25).
EVENT_SETTLE_SECONDS = 5.0
# The leader elector makes one call at a time; the second thread takes over while
# an abandoned (timed-out) call still holds the first until its request timeout.
LEADER_THREADS = 2


EventConsumer: TypeAlias = Callable[[str | None, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Watch:
    """One watched resource and the consumers of its objects.

    The kopf watch and the warm-up list both deliver through it, so a kind or a
    consumer is added in one place: `watches`.
    """

    kind: str  # as health reports the last event seen
    group: str  # "" for the core API group
    version: str
    plural: str
    label: str | None  # only objects with this label, filtered by the API server
    consumers: tuple[EventConsumer, ...]

    def deliver(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Hand one object (None as the event type: listed, not watched) to every consumer."""
        for consume in self.consumers:
            consume(event_type, body)

    def list_page(self, kube: KubeClient, namespace: str | None,
                  token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the objects as they are now, in one namespace or all, and
        the token of the next page (None after the last)."""
        if self.group == "":
            assert self.plural == "pods", "pods are the only core kind KubeClient lists"
            return kube.pods_page(namespace, self.label or "", token)
        assert self.label is None, "KubeClient lists custom objects without a selector"
        return kube.custom_page(self.plural, namespace, token)


def watches(reconciler: TaskJobReconciler,
            schedules: TaskScheduleReconciler) -> tuple[Watch, ...]:
    """What the operator watches and who is told. Listed in this order when warming:
    pods before TaskJobs, since a job reconciled before its pods are known would
    look like it has none."""
    return (
        Watch("Pod", "", "v1", "pods", LABEL_TASKJOB_UID, (reconciler.on_pod_event,)),
        Watch("TaskJob", GROUP, VERSION, "taskjobs", None,
              (reconciler.on_job_event, schedules.on_run_event)),
        Watch("TaskSchedule", GROUP, VERSION, "taskschedules", None,
              (schedules.on_schedule_event,)),
    )


def event_routes(watched: Sequence[Watch], health: HealthState) -> dict[kopf_watch.Route,
                                                                        kopf_watch.Handler]:
    """The handler of each watched resource, by (group, version, plural)."""
    return {(watch.group, watch.version, watch.plural): _event_handler(watch, health)
            for watch in watched}


def build_registry(watched: Sequence[Watch], routes: Mapping[kopf_watch.Route,
                                                              kopf_watch.Handler],
                   kubeconfig: str | None = None) -> kopf.OperatorRegistry:
    # Not kopf's "smart" registry: its login ignores --kubeconfig (kube/login.py).
    registry = kopf.OperatorRegistry()
    register_login(registry, kubeconfig)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Only our own pods (by label): filtered by the API server, not in this process.
        for watch in watched:
            if watch.label is not None:
                settings.watching.label_selectors[watch.group, watch.version,
                                                  watch.plural] = watch.label
        settings.watching.inactivity_timeout = 70
        settings.watching.chunk_size = 500
        settings.posting.level = logging.WARNING
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.networking.request_timeout = 60

    # Registered so that kopf watches these resources, with these selectors; with
    # kopf_watch installed (run_operator), their events reach the same handlers
    # outside kopf's per-event machinery.
    for watch in watched:
        labels = None if watch.label is None else {watch.label: kopf.PRESENT}
        kopf.on.event(watch.group, watch.version, watch.plural, labels=labels,
                      id=f"{watch.kind.lower()}_event", registry=registry)(
            routes[watch.group, watch.version, watch.plural])
    return registry


def _event_handler(watch: Watch, health: HealthState) -> Callable[..., Awaitable[None]]:
    async def on_event(event: kopf.RawEvent, **_: Any) -> None:
        health.saw_event(watch.kind)
        watch.deliver(event.get("type"), event["object"])

    return on_event


async def warm_caches(watched: Sequence[Watch], reconciler: TaskJobReconciler,
                      schedules: TaskScheduleReconciler, kube: KubeClient, settings: Settings,
                      executor: ThreadPoolExecutor) -> None:
    """List every watched kind once before reconciling.

    A job reconciled before its pods are known would look like it has none;
    the watches then only keep the stores current. Page by page: the stores
    keep trimmed copies, and only one page of whole objects is held at a time.
    """
    loop = asyncio.get_running_loop()
    scopes: list[str | None] = list(settings.namespaces) or [None]
    for namespace in scopes:
        for watch in watched:
            token: str | None = None
            while True:
                page, token = await loop.run_in_executor(executor, watch.list_page, kube,
                                                         namespace, token)
                for body in page:
                    watch.deliver(None, body)
                if token is None:
                    break
    reconciler.warm = True
    log.info("caches warm: %d TaskJobs, %d pods, %d TaskSchedules", len(reconciler.jobs),
             len(reconciler.pods), len(schedules.schedules))


def api_clients(settings: Settings) -> tuple[ApiClient, ApiClient | None]:
    """The reconcilers' API client, and the leader elector's (None without leader election).

    Every call of the reconcilers (and of the warm-up lists) takes a token from
    one bucket of ``--kube-api-qps`` / ``--kube-api-burst``. The elector's client
    is outside it: when the reconcilers saturate the bucket their calls queue,
    each holding a thread while it waits for a token, and a Lease renewal
    queued behind them could miss its deadline and cost the leadership. Its
    load is small and bounded: at most two calls per retry period.
    """
    api = load_api_client(settings.kubeconfig, pool_size=settings.worker_limit,
                          rate_limit=TokenBucket(settings.kube_api_qps, settings.kube_api_burst))
    if not settings.leader_election:
        return api, None
    return api, load_api_client(settings.kubeconfig, pool_size=LEADER_THREADS)


async def run_operator(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT, finish in-flight writes, return the exit status.

    With leader election, reconcile only while holding the Lease: stand by
    (ready) until it is ours, and if it is lost stop at once and return 1.
    """
    kopf_json.install()
    if settings.log_level != "DEBUG":
        # kopf logs every handled watch event at INFO: a line per pod change.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # Our own handlers from the start: as PID 1 of its container the process
    # would otherwise ignore SIGTERM until kopf installs its handlers, so a
    # standby would hold up every rollout for the whole grace period.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    workers = settings.worker_limit
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taskops-api")
    api, leader_api = load_clients(settings, api_clients)
    kube = KubeClient(api)
    metrics = Metrics()
    if isinstance(api, RateLimitedApiClient):
        api.on_wait = metrics.rate_limit_wait.observe
    health = HealthState(identity=settings.identity)
    health_server = serve("--health-port", settings.bind_address, settings.health_port,
                          lambda: start_health_server(settings, health))
    metrics_server = serve("--metrics-port", settings.bind_address, settings.metrics_port,
                           lambda: start_metrics_server(settings, metrics))
    try:
        # Before standing by too: a standby that could never work says so now.
        await loop.run_in_executor(executor, check_access, api, settings)
    except BaseException:
        health_server.stop()
        metrics_server.stop()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    reconciler = TaskJobReconciler(kube, executor, metrics,
                                   caps=Caps(settings.max_running,
                                             settings.max_running_per_namespace))
    schedules = TaskScheduleReconciler(kube, executor, metrics)
    watched = watches(reconciler, schedules)
    routes = event_routes(watched, health)
    registry = build_registry(watched, routes, settings.kubeconfig)
    kinds = {(w.group, w.version, w.plural): w.kind for w in watched}

    def heard(route: kopf_watch.Route) -> None:  # a bookmark: the stream is alive
        health.saw_event(kinds[route])
        metrics.saw_event(kinds[route])

    kopf_watch.install(routes, heard)
    beat = asyncio.create_task(heartbeat(health))
    probe_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taskops-probe")

    def api_verdict(problem: str | None) -> None:
        health.set_api_problem(problem)
        metrics.api_reachable.set(0 if problem else 1)

    probing = asyncio.create_task(
        watch_api(probe_client(settings.kubeconfig), probe_executor, api_verdict))
    # The elector's own threads, for the same reason as its own client (api_clients).
    leader_executor: ThreadPoolExecutor | None = None
    elector: LeaderElector | None = None
    if leader_api is not None:
        leader_executor = ThreadPoolExecutor(max_workers=LEADER_THREADS,
                                             thread_name_prefix="taskops-leader")
        elector = LeaderElector(settings, leader_api, leader_executor)
    worker_tasks: list[asyncio.Task[None]] = []
    refreshing: asyncio.Task[None] | None = None
    holding: asyncio.Task[None] | None = None
    lost = False

    async def keep_leading() -> None:
        nonlocal lost
        assert elector is not None
        try:
            await elector.hold()
        except Exception:
            # Unwatched leadership could mean two leaders: count it as lost.
            log.exception("leader election failed")
        lost = True
        health.set_leader(False)
        metrics.set_leader(settings.identity, False)
        stop.set()

    try:
        if elector is not None:
            # Ready while standing by: readiness is health, not leadership, or a
            # RollingUpdate would wait forever for a pod that cannot lead yet.
            metrics.set_leader(settings.identity, False)
            health.mark_ready()
            acquiring = asyncio.create_task(elector.acquire())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not acquiring.done():
                acquiring.cancel()
                log.info("taskops stopped while standing by")
                return 0
            holding = asyncio.create_task(keep_leading())
        await warm_caches(watched, reconciler, schedules, kube, settings, executor)
        worker_tasks += [asyncio.create_task(work(reconciler.queue, reconciler.reconcile, log),
                                             name=f"taskjob-worker-{i}")
                         for i in range(workers)]
        worker_tasks += [asyncio.create_task(work(schedules.queue, schedules.reconcile, log),
                                             name=f"taskschedule-worker-{i}")
                         for i in range(schedule_workers(workers))]
        refreshing = asyncio.create_task(reconciler.refresh_admission(),
                                         name="admission-refresh")
        health.set_leader(True)
        metrics.set_leader(settings.identity, True)
        health.mark_ready()
        log.info("taskops running: identity=%s namespaces=%s workers=%d", settings.identity,
                 ",".join(settings.namespaces) or "<all>", workers)
        if not stop.is_set():
            await kopf.operator(
                registry=registry,
                standalone=True,
                clusterwide=settings.watches_all_namespaces,
                namespaces=settings.namespaces,
                stop_flag=stop,
            )
    finally:
        if holding is not None:
            holding.cancel()
        if refreshing is not None:
            refreshing.cancel()
        health.mark_stopping()
        if lost:
            # Another replica may lead by now: no write may follow, not even a drain.
            for task in worker_tasks:
                task.cancel()
        # Stop taking work; let the reconciles in flight finish their writes.
        reconciler.queue.shut_down()
        schedules.queue.shut_down()
        if worker_tasks:
            done, pending = await asyncio.wait(worker_tasks, timeout=SHUTDOWN_DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            log.info("taskops stopped: %d workers drained, %d cancelled", len(done),
                     len(pending))
        if not lost:
            # The Events the workers sent without waiting (best effort, but a
            # clean stop does not drop them).
            _, unsent = await asyncio.wait(
                [asyncio.create_task(r.settle()) for r in (reconciler, schedules)],
                timeout=EVENT_SETTLE_SECONDS)
            for task in unsent:
                task.cancel()
        if elector is not None and not lost:
            # After the drain, so that no write of ours follows the standby's first.
            await loop.run_in_executor(None, elector.release)
        beat.cancel()
        probing.cancel()
        probe_executor.shutdown(wait=False, cancel_futures=True)
        executor.shutdown(wait=False, cancel_futures=True)
        if leader_executor is not None:
            leader_executor.shutdown(wait=False, cancel_futures=True)
        health_server.stop()
        metrics_server.stop()
    return 1 if lost else 0
