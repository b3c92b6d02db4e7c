"""A real Prometheus (the pinned build from e2e/cluster/build) scrapes the operator
running in the cluster through the chart's metrics Service, as the chart's
ServiceMonitor has the Prometheus Operator do, and evaluates the chart's alert
rules: the dashboard and the rules checked against live series, not only names.

The Prometheus is a host process: Kubernetes service discovery (role
endpointslice, with the test's kubeconfig) finds the Service's endpoints, the
relabelling is the one a ServiceMonitor generates from the chart's own
ServiceMonitor (its selector and port), and the pods' IPs are reachable from
the host on the local cluster. The operator is installed with the chart as in
e2e/test_install.py (its helpers and fixtures, imported), from an image tagged
for this module alone, so that importing it never retags the image other tests
run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube import Kubectl, wait_for, worker_lock
from local_cluster import CACHE, is_local_cluster
from operator_process import ROOT
from test_install import (  # noqa: F401  (helm, namespaces, service_ips: fixtures)
    CHART,
    RESTRICTED,
    Helm,
    Namespaces,
    Release,
    _ctr,
    _imported_config,
    _tar_image,
    helm,
    namespaces,
    service_ips,
    taskjob,
    wait_phase,
)

IMAGE_TAG = "taskops.dev/taskops:e2e-prometheus"
SCRAPE_INTERVAL = "2s"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# The unit tests' reading of PromQL names (tests/promql.py): one checker for both.
promql = _load("taskops_promql", ROOT / "tests" / "promql.py")


def prometheus_binary() -> str:
    pinned = CACHE / "bin/current/prometheus"
    if not pinned.exists():
        pytest.skip("prometheus not built: run e2e/cluster/build prometheus")
    return str(pinned)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def operator_image(kubeconfig: str) -> str:
    """The operator image under this module's own tag, present on the node."""
    configured = os.environ.get("TASKOPS_IMAGE")
    if configured:
        return configured
    if not is_local_cluster(kubeconfig):
        pytest.skip("not the local cluster: set TASKOPS_IMAGE to an image its nodes have")
    # Both install modules build (their own tags) into one cache: one at a time.
    with worker_lock("image"):
        built = subprocess.run(["nice", "-n", "10", str(ROOT / "e2e/image/build"),
                                "--tag", IMAGE_TAG], capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, f"e2e/image/build failed:\n{built.stderr[-4000:]}"
    tar = Path(built.stdout.strip().splitlines()[-1])
    tag, config = _tar_image(tar)
    assert tag == IMAGE_TAG, tag
    if _imported_config(tag) != config:
        imported = _ctr("images", "import", str(tar))
        assert imported.returncode == 0, imported.stderr
    return tag


@pytest.fixture(scope="module")
def release(k: Kubectl, helm: Helm, namespaces: Namespaces, operator_image: str,  # noqa: F811
            service_ips: None, crds: None) -> Iterator[Release]:  # noqa: F811
    """One replica under a cap of one running TaskJob, so that the queue has a say."""
    operator_ns = namespaces.make("prom", RESTRICTED)
    watched = namespaces.make("promwork", RESTRICTED)
    rel = Release(helm, k, f"p{secrets.token_hex(2)}", operator_ns, watched, operator_image)
    try:
        rel.install("--set", "maxRunning=1")
        yield rel
    finally:
        rel.remove()


def chart_objects(release: Release) -> list[dict[str, Any]]:
    """The release's chart with the ServiceMonitor, the rules and the dashboard on."""
    server = json.loads(release.k.run("version", "-o", "json").stdout)["serverVersion"]
    proc = release.helm.run("template", release.name, str(CHART), "-n", release.namespace,
                            "--kube-version", server["gitVersion"],
                            "--skip-tests", "--set", "metrics.serviceMonitor.enabled=true",
                            "--set", "metrics.prometheusRule.enabled=true",
                            "--set", "grafana.dashboard.enabled=true")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def _meta_label(label: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


def scrape_config(monitor: dict[str, Any], kubeconfig: str) -> dict[str, Any]:
    """The scrape a Prometheus Operator makes of ``monitor`` (a ServiceMonitor):
    the Service's endpoints by its labels and port name, labelled job=<service>,
    namespace, service, pod, container, endpoint."""
    spec = monitor["spec"]
    [endpoint] = spec["endpoints"]
    keep = [{"action": "keep",
             "source_labels": [f"__meta_kubernetes_service_label_{_meta_label(key)}"],
             "regex": value}
            for key, value in spec["selector"]["matchLabels"].items()]
    keep.append({"action": "keep", "source_labels": ["__meta_kubernetes_endpointslice_port_name"],
                 "regex": endpoint["port"]})

    def copy(source: str, target: str) -> dict[str, Any]:
        return {"source_labels": [source], "target_label": target}

    return {
        "job_name": f"serviceMonitor/{monitor['metadata']['namespace']}/"
                    f"{monitor['metadata']['name']}/0",
        "scrape_interval": SCRAPE_INTERVAL,
        "metrics_path": endpoint["path"],
        "kubernetes_sd_configs": [{"role": "endpointslice", "kubeconfig_file": kubeconfig,
                                   "namespaces": {"names": spec["namespaceSelector"][
                                       "matchNames"]}}],
        "relabel_configs": [
            *keep,
            copy("__meta_kubernetes_namespace", "namespace"),
            copy("__meta_kubernetes_service_name", "service"),
            copy("__meta_kubernetes_pod_name", "pod"),
            copy("__meta_kubernetes_pod_container_name", "container"),
            copy("__meta_kubernetes_service_name", "job"),
            {"target_label": "endpoint", "replacement": endpoint["port"]},
        ],
    }


class Prometheus:
    """A Prometheus process on 127.0.0.1 and its HTTP API."""

    def __init__(self, directory: Path, config: dict[str, Any],
                 rule_groups: list[dict[str, Any]]) -> None:
        self.directory = directory
        (directory / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups}))
        (directory / "prometheus.yaml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.log = (directory / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [prometheus_binary(), f"--config.file={directory / 'prometheus.yaml'}",
             f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=directory)

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}{query}",
                                    timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"prometheus exited:\n{self.logs()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready",
                                        timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def logs(self) -> str:
        self.log.flush()
        return (self.directory / "prometheus.log").read_text()[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def objects(release: Release) -> list[dict[str, Any]]:
    return chart_objects(release)


@pytest.fixture(scope="module")
def prometheus(release: Release, objects: list[dict[str, Any]], kubeconfig: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    rules = of_kind(objects, "PrometheusRule")["spec"]["groups"]
    config = {"global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "5s"},
              "rule_files": ["rules.yaml"],
              "scrape_configs": [scrape_config(of_kind(objects, "ServiceMonitor"), kubeconfig)]}
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), config, rules)
    try:
        wait_for("prometheus ready", prom.ready, 60, on_timeout=prom.logs)
        yield prom
    finally:
        prom.stop()


@pytest.fixture(scope="module")
def workload(release: Release) -> None:
    """TaskJobs that succeed, fail after a retry and wait in the queue, and a
    TaskSchedule: something behind most series."""
    ok = taskjob("ok", "sleep 3; echo done")
    failing = taskjob("failing", "exit 1")
    failing["spec"]["retry"] = {"limit": 1, "backoff": {"policy": "Fixed",
                                                        "initialDelaySeconds": 1}}
    queued = taskjob("queued", "echo queued")
    for job in (ok, failing, queued):
        release.k.apply(job, release.watched)
    schedule = {"apiVersion": "taskops.dev/v1alpha1", "kind": "TaskSchedule",
                "metadata": {"name": "every-ten"},
                "spec": {"schedule": "*/10 * * * * *", "concurrencyPolicy": "Forbid",
                         "taskJobTemplate": {"spec": taskjob("x", "true")["spec"]}}}
    release.k.apply(schedule, release.watched)
    for name, phase in (("ok", "Succeeded"), ("failing", "Failed"), ("queued", "Succeeded")):
        wait_phase(release, name, (phase,), timeout=180)
    wait_for("a scheduled run", lambda: release.k.list(
        "taskjobs.taskops.dev", release.watched, selector="taskops.dev/schedule=every-ten"), 60)


# ----------------------------------------------------------------------------- tests


def test_prometheus_scrapes_the_operator_through_the_service(
        release: Release, prometheus: Prometheus) -> None:
    job = f"{release.fullname}-metrics"

    def scraped() -> list[dict[str, Any]]:
        return [t for t in prometheus.get("/api/v1/targets", state="active")["activeTargets"]
                if t["health"] == "up"]

    targets = wait_for("the operator's target up", scraped, 90, on_timeout=prometheus.logs)
    [pod] = [p["metadata"]["name"] for p in release.pods()]
    assert [(t["labels"]["job"], t["labels"]["namespace"], t["labels"]["pod"],
             t["labels"]["service"]) for t in targets] == [(job, release.namespace, pod, job)]
    # The label set the alerts select by.
    wait_for("up == 1 under the alerts' selector", lambda: prometheus.query(
        f'up{{job="{job}", namespace="{release.namespace}"}} == 1'), 30)
    series = wait_for("taskops_ series", lambda: prometheus.query('{__name__=~"taskops_.+"}'), 30)
    names = {s["metric"]["__name__"] for s in series}
    assert {"taskops_leader", "taskops_api_reachable", "taskops_reconcile_errors_total",
            "taskops_schedule_runs_total"} <= names, names
    leader = prometheus.query(f'taskops_leader{{job="{job}"}} == 1')
    assert [s["metric"]["identity"] for s in leader] == [pod], leader


def test_every_name_of_the_dashboard_and_rules_is_a_live_series(
        release: Release, prometheus: Prometheus, objects: list[dict[str, Any]],
        workload: None) -> None:
    dashboard = json.loads(of_kind(objects, "ConfigMap")["data"]["taskops.json"])
    expressions = [target["expr"] for panel in dashboard["panels"]
                   for target in panel.get("targets", [])]
    expressions += [rule["expr"] for group in of_kind(objects, "PrometheusRule")["spec"]["groups"]
                    for rule in group["rules"]]
    used = {name for expr in expressions for name in promql.names(expr).metrics}
    assert len(used) >= 15, used

    def missing() -> set[str]:
        live = set(prometheus.get("/api/v1/label/__name__/values"))
        return used - live

    # A scrape or two after the workload: everything it caused is a series.
    time.sleep(5)
    absent = missing()
    # What has no series yet (a cap never hit, say) must at least be announced by
    # the operator: Prometheus keeps the metadata of every family it scraped.
    metadata = prometheus.get("/api/v1/metadata")
    for name in sorted(absent):
        family = re.sub(r"_(bucket|sum|count|total)$", "", name)
        assert name in metadata or family in metadata, (
            f"{name} is used by the dashboard or the rules but the operator exports no such "
            f"series or family; live taskops_ names: "
            f"{sorted(n for n in metadata if n.startswith('taskops_'))}")
    print(f"\nlive series for {len(used) - len(absent)} of {len(used)} names; "
          f"metadata only: {sorted(absent)}")


def test_every_dashboard_query_and_alert_rule_evaluates_on_live_data(
        release: Release, prometheus: Prometheus, objects: list[dict[str, Any]],
        workload: None) -> None:
    dashboard = json.loads(of_kind(objects, "ConfigMap")["data"]["taskops.json"])
    variables = {"$job": f"{release.fullname}-metrics", "$namespace": release.namespace}
    empty = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = promql.as_plain_promql(target["expr"])
            for variable, value in variables.items():
                expr = expr.replace(variable, value)
            if not prometheus.query(expr):
                empty.append(f"{panel['title']}: {expr}")
    # Every panel answers from the live operator; a few may have nothing to say
    # yet (a missed run, a reconcile error): those are listed, not failed.
    print("\nempty queries:\n" + "\n".join(empty))
    panels_with_data = {p["title"] for p in dashboard["panels"] if p.get("targets")} - {
        e.split(":")[0] for e in empty}
    for title in ("Leader", "TaskJobs by phase", "Finishes by result and reason",
                  "Attempts by outcome, and retries", "Run duration", "Queue wait",
                  "Schedule runs by outcome", "Reconcile duration", "API requests (reconcilers)"):
        assert title in panels_with_data, f"{title} shows nothing: {empty}"

    def evaluated() -> list[dict[str, Any]] | None:
        rules = [r for g in prometheus.get("/api/v1/rules")["groups"] for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("2")
                                      and r["health"] != "unknown" for r in rules) else None

    rules = wait_for("every rule evaluated", evaluated, 60, on_timeout=prometheus.logs)
    assert {r["name"]: r["health"] for r in rules} == {r["name"]: "ok" for r in rules}
    # A healthy operator with a leader: neither critical alert is pending or firing.
    alerts = {a["labels"]["alertname"] for a in prometheus.get("/api/v1/alerts")["alerts"]}
    assert not alerts & {"TaskopsOperatorDown", "TaskopsNoLeader"}, alerts
