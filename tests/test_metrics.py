"""The metrics contract: taskops_-prefixed names and labels on a private registry,
a phase gauge that is always a recount, and a /metrics endpoint serving them."""

from __future__ import annotations

import dataclasses
import urllib.request

import pytest
from prometheus_client import REGISTRY

from taskops.metrics import (
    SCHEDULE_OUTCOMES,
    TASKJOB_PHASES,
    Metrics,
    exposition,
    start_metrics_server,
)
from taskops.settings import Settings


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def taskjob_series(metrics: Metrics) -> dict[tuple[str, str], float]:
    """Every exported taskops_taskjobs sample, by (namespace, phase)."""
    return {
        (sample.labels["namespace"], sample.labels["phase"]): sample.value
        for family in metrics.registry.collect()
        if family.name == "taskops_taskjobs"
        for sample in family.samples
    }


EXPECTED_FAMILIES: dict[str, tuple[str, set[str]]] = {
    # name as collected (without _total) -> (type, label names)
    "taskops_taskjobs": ("gauge", {"phase", "namespace"}),
    "taskops_taskjobs_finished": ("counter", {"result", "reason"}),
    "taskops_attempts": ("counter", {"outcome"}),
    "taskops_retries": ("counter", set()),
    "taskops_queue_wait_seconds": ("histogram", set()),
    "taskops_run_duration_seconds": ("histogram", set()),
    "taskops_schedule_runs": ("counter", {"outcome"}),
    "taskops_schedule_lateness_seconds": ("histogram", set()),
    "taskops_reconcile_duration_seconds": ("histogram", {"kind"}),
    "taskops_reconcile_errors": ("counter", {"kind"}),
    "taskops_leader": ("gauge", {"identity"}),
    "taskops_watch_last_event_timestamp_seconds": ("gauge", {"kind"}),
    "taskops_api_reachable": ("gauge", set()),
    "taskops_queue_depth": ("gauge", {"namespace"}),
    "taskops_slots_in_use": ("gauge", {"scope"}),
    "taskops_slots_cap": ("gauge", {"scope"}),
    "taskops_client_rate_limit_wait_seconds": ("histogram", set()),
}


def test_every_metric_has_its_name_type_and_labels(metrics: Metrics) -> None:
    metrics.phases.set_phase("uid-1", "ns", "Running")
    metrics.taskjobs_finished.labels(result="Failed", reason="DeadlineExceeded").inc()
    metrics.attempts.labels(outcome="failed").inc()
    metrics.retries.inc()
    metrics.queue_wait.observe(3)
    metrics.run_duration.observe(120)
    metrics.schedule_runs.labels(outcome="created").inc()
    metrics.schedule_lateness.observe(0.02)
    with metrics.reconcile("TaskJob"):
        pass
    metrics.set_leader("replica-1", True)
    metrics.saw_event("Pod", timestamp=1_700_000_000.0)

    families = {f.name: f for f in metrics.registry.collect() if f.name.startswith("taskops_")}
    assert set(families) == set(EXPECTED_FAMILIES)
    for name, (kind, labels) in EXPECTED_FAMILIES.items():
        family = families[name]
        assert family.type == kind, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)


def test_exposition_names_every_metric_with_the_taskops_prefix(metrics: Metrics) -> None:
    text = exposition(metrics)
    for name in (
        "taskops_taskjobs",
        "taskops_taskjobs_finished_total",
        "taskops_attempts_total",
        "taskops_retries_total",
        "taskops_queue_wait_seconds_bucket",
        "taskops_run_duration_seconds_bucket",
        "taskops_schedule_runs_total",
        "taskops_schedule_lateness_seconds_bucket",
        "taskops_reconcile_duration_seconds",
        "taskops_reconcile_errors_total",
        "taskops_leader",
        "taskops_watch_last_event_timestamp_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_bucket')} " in text, name
    assert "_created" not in text
    assert "process_resident_memory_bytes" in text


def test_registry_is_private_not_the_global_one(metrics: Metrics) -> None:
    other = Metrics()
    metrics.retries.inc()
    assert value(metrics, "taskops_retries_total") == 1
    assert value(other, "taskops_retries_total") == 0
    assert REGISTRY.get_sample_value("taskops_retries_total") is None


def test_histogram_buckets_span_the_documented_ranges(metrics: Metrics) -> None:
    def bounds(name: str) -> list[float]:
        (family,) = [f for f in metrics.registry.collect() if f.name == name]
        return [
            float(s.labels["le"])
            for s in family.samples
            if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"
        ]

    run = bounds("taskops_run_duration_seconds")
    assert (run[0], run[-1]) == (1, 24 * 3600)
    lateness = bounds("taskops_schedule_lateness_seconds")
    assert (lateness[0], lateness[-1]) == (0.001, 60)


def test_schedule_outcomes_and_reconcile_errors_start_at_zero(metrics: Metrics) -> None:
    for outcome in SCHEDULE_OUTCOMES:
        assert value(metrics, "taskops_schedule_runs_total", outcome=outcome) == 0
    for kind in ("TaskJob", "TaskSchedule"):
        assert value(metrics, "taskops_reconcile_errors_total", kind=kind) == 0


def test_phase_gauge_counts_jobs_per_namespace_and_phase(metrics: Metrics) -> None:
    metrics.phases.set_phase("a", "team-a", "Running")
    metrics.phases.set_phase("b", "team-a", "Running")
    metrics.phases.set_phase("c", "team-a", "Queued")
    metrics.phases.set_phase("d", "team-b", "Succeeded")

    series = taskjob_series(metrics)
    assert series[("team-a", "Running")] == 2
    assert series[("team-a", "Queued")] == 1
    assert series[("team-b", "Succeeded")] == 1
    # Every known phase is exported for a namespace with jobs, zeros included.
    assert {phase for ns, phase in series if ns == "team-b"} == set(TASKJOB_PHASES)
    assert series[("team-b", "Running")] == 0


def test_phase_gauge_is_a_recount_so_repeated_events_do_not_drift(metrics: Metrics) -> None:
    for _ in range(5):
        metrics.phases.set_phase("a", "ns", "Running")
    metrics.phases.forget("never-seen")
    assert taskjob_series(metrics)[("ns", "Running")] == 1

    metrics.phases.set_phase("a", "ns", "Succeeded")
    metrics.phases.set_phase("a", "ns", "Succeeded")
    series = taskjob_series(metrics)
    assert (series[("ns", "Running")], series[("ns", "Succeeded")]) == (0, 1)

    metrics.phases.forget("a")
    metrics.phases.forget("a")
    assert metrics.phases.counts() == {}


def test_phase_gauge_drops_a_namespace_when_its_last_job_is_forgotten(metrics: Metrics) -> None:
    metrics.phases.set_phase("a", "gone", "Failed")
    metrics.phases.set_phase("b", "kept", "Running")
    metrics.phases.forget("a")
    assert {ns for ns, _ in taskjob_series(metrics)} == {"kept"}


def test_phase_gauge_exports_an_unknown_phase_only_while_counted(metrics: Metrics) -> None:
    metrics.phases.set_phase("a", "ns", "Mystery")
    assert taskjob_series(metrics)[("ns", "Mystery")] == 1
    metrics.phases.set_phase("a", "ns", "Running")
    assert ("ns", "Mystery") not in taskjob_series(metrics)


def test_phase_gauge_follows_a_job_whose_namespace_changes(metrics: Metrics) -> None:
    # Impossible for one uid in Kubernetes, but the recount must stay exact anyway.
    metrics.phases.set_phase("a", "first", "Running")
    metrics.phases.set_phase("a", "second", "Running")
    assert metrics.phases.counts() == {("second", "Running"): 1}
    assert {ns for ns, _ in taskjob_series(metrics)} == {"second"}


def test_reconcile_times_and_counts_errors_then_reraises(metrics: Metrics) -> None:
    with metrics.reconcile("TaskJob"):
        pass
    with pytest.raises(RuntimeError), metrics.reconcile("TaskJob"):
        raise RuntimeError("boom")

    assert value(metrics, "taskops_reconcile_duration_seconds_count", kind="TaskJob") == 2
    assert value(metrics, "taskops_reconcile_errors_total", kind="TaskJob") == 1


def test_leader_gauge_and_watch_timestamp(metrics: Metrics) -> None:
    metrics.set_leader("replica-1", True)
    assert value(metrics, "taskops_leader", identity="replica-1") == 1
    metrics.set_leader("replica-1", False)
    assert value(metrics, "taskops_leader", identity="replica-1") == 0

    metrics.saw_event("TaskJob", timestamp=1234.5)
    assert value(metrics, "taskops_watch_last_event_timestamp_seconds", kind="TaskJob") == 1234.5
    metrics.saw_event("Pod")
    assert (value(metrics, "taskops_watch_last_event_timestamp_seconds", kind="Pod") or 0) > 1e9


def test_metrics_server_serves_the_registry_on_slash_metrics(metrics: Metrics) -> None:
    metrics.retries.inc(3)
    settings = dataclasses.replace(Settings(), metrics_port=0, bind_address="127.0.0.1")
    server = start_metrics_server(settings, metrics)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        assert response.status == 200
        assert "taskops_retries_total 3.0" in body
    finally:
        server.stop()


def test_admission_gauges_are_a_recount() -> None:
    """Queue depth and slots read what the book says now: a namespace that
    emptied reads 0, and caps appear only where one is set."""
    metrics = Metrics()
    metrics.set_admission({"a": 4, "b": 1}, {"a": 2}, total_cap=3, namespace_cap=None)
    assert value(metrics, "taskops_queue_depth", namespace="a") == 4
    assert value(metrics, "taskops_slots_in_use", scope="cluster") == 2
    assert value(metrics, "taskops_slots_cap", scope="cluster") == 3
    assert value(metrics, "taskops_slots_cap", scope="a") is None
    metrics.set_admission({"b": 1}, {}, total_cap=3, namespace_cap=2)
    assert value(metrics, "taskops_queue_depth", namespace="a") == 0
    assert value(metrics, "taskops_slots_in_use", scope="a") == 0
    assert value(metrics, "taskops_slots_cap", scope="b") == 2
