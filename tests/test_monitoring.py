"""The Grafana dashboard and the alert rules, as the chart renders them: every
metric and label they use is one the operator registers (Argo's dashboard once
grouped by a label that does not exist), the PromQL parses, each alert has its
runbook section, and `promtool test rules` fires and spares each alert
(tests/promtool/alerts_test.yaml).

No cluster needed: helm and promtool come from e2e/cluster/build (`make unit`
builds both).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import promql
from test_chart import CHART, KUBE, ROOT, one, render, render_error, render_module, run_helm

DOCS = ROOT / "docs" / "alerts.md"
PROMTOOL_TESTS = ROOT / "tests" / "promtool"
#: The chart's alerts, each with its section in docs/alerts.md.
ALERTS = {"TaskopsOperatorDown", "TaskopsNoLeader", "TaskopsReconcileErrors",
          "TaskopsTaskJobFailureRatioHigh", "TaskopsSchedulesLate", "TaskopsScheduleRunsMissed",
          "TaskopsQueueWaitHigh"}


@cache
def exported() -> dict[str, frozenset[str]]:
    return promql.exported_series(promql.operator_families())


def promtool() -> str:
    cache_dir = Path(os.environ.get("TASKOPS_CACHE", Path.home() / ".cache/taskops"))
    pinned = cache_dir / "bin/current/promtool"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool not found: run `e2e/cluster/build promtool` (make unit does)")
    return found


@cache
def rendered() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the dashboard from the chart's ConfigMap, the PrometheusRule's groups) of the
    release tests/promtool/ expects: `taskops` in `taskops-system`, default thresholds."""
    proc = run_helm("template", "taskops", str(CHART), "-n", "taskops-system", "--kube-version",
                    KUBE, "--skip-tests", "--set", "grafana.dashboard.enabled=true",
                    "--set", "metrics.prometheusRule.enabled=true")
    assert proc.returncode == 0, proc.stderr
    objects = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    configmap = one(objects, "ConfigMap", "taskops-dashboard")
    dashboard = json.loads(configmap["data"]["taskops.json"])
    groups: list[dict[str, Any]] = one(objects, "PrometheusRule")["spec"]["groups"]
    return dashboard, groups


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def dashboard_expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query of every panel."""
    return [(panel["title"], target["expr"]) for panel in panels(dashboard)
            for target in panel.get("targets", [])]


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append((variable["name"], query["query"] if isinstance(query, dict) else query))
    return found


def rule_expressions(groups: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(rule.get("alert") or rule["record"], rule["expr"]) for group in groups
            for rule in group["rules"]]


# ----------------------------------------------------------------------------- the checker


def test_the_checker_finds_names_the_operator_does_not_export() -> None:
    series = exported()
    assert promql.problems(
        'histogram_quantile(0.9, sum by (le, kind) (rate(taskops_reconcile_duration_seconds_bucket'
        '{job="$job", kind="TaskJob"}[$__rate_interval])))', series) == []
    wrong = {
        # A name from another operator; a histogram without its suffix; a counter
        # without _total; a gauge with one.
        "sum(argo_workflows_count)": "metric argo_workflows_count",
        "rate(taskops_run_duration_seconds[5m])": "metric taskops_run_duration_seconds",
        "rate(taskops_attempts[5m])": "metric taskops_attempts",
        "taskops_queue_depth_total": "metric taskops_queue_depth_total",
        # A label on the wrong metric, in a selector, a by() and a without().
        'taskops_attempts_total{phase="Failed"}': "label phase",
        "sum by (reason) (rate(taskops_attempts_total[5m]))": "label reason",
        "sum(rate(taskops_attempts_total[5m])) by (status)": "label status",
        "sum without (kind) (taskops_retries_total)": "label kind",
        # le only on buckets.
        "sum by (le) (rate(taskops_queue_wait_seconds_count[5m]))": "label le",
        # on() checks against both sides.
        "taskops_slots_in_use / on (scope, cluster) taskops_slots_cap": "label cluster",
        'label_replace(taskops_leader, "x", "$1", "identity", "(.*)")': "label_replace",
    }
    for expr, expected in wrong.items():
        found = promql.problems(expr, series)
        assert any(expected in problem for problem in found), (expr, found)


def test_exported_namespace_is_the_operators_namespace_label_renamed_by_the_scrape() -> None:
    series = exported()
    assert promql.problems("sum by (exported_namespace) (taskops_queue_depth)", series) == []
    assert promql.problems("sum by (exported_namespace) (taskops_retries_total)", series)
    assert promql.problems("sum by (exported_phase) (taskops_taskjobs)", series)


# ----------------------------------------------------------------------------- the dashboard


def test_every_dashboard_query_uses_only_what_the_operator_exports() -> None:
    dashboard, _ = rendered()
    checked = dashboard_expressions(dashboard) + variable_queries(dashboard)
    assert len(checked) >= 20
    found = {f"{title}: {expr}": problems for title, expr in checked
             if (problems := promql.variable_query_problems(expr, exported()))}
    assert not found, json.dumps(found, indent=2)


def test_every_alert_rule_uses_only_what_the_operator_exports() -> None:
    _, groups = rendered()
    found = {f"{name}: {expr}": problems for name, expr in rule_expressions(groups)
             if (problems := promql.problems(expr, exported()))}
    assert not found, json.dumps(found, indent=2)


def test_the_dashboard_shows_every_topic() -> None:
    dashboard, _ = rendered()
    all_used = {metric for _, expr in dashboard_expressions(dashboard)
                for metric in promql.names(expr).metrics}
    for metric in ("taskops_taskjobs", "taskops_taskjobs_finished_total", "taskops_attempts_total",
                   "taskops_retries_total", "taskops_run_duration_seconds_bucket",
                   "taskops_queue_depth", "taskops_queue_wait_seconds_bucket",
                   "taskops_schedule_lateness_seconds_bucket", "taskops_schedule_runs_total",
                   "taskops_reconcile_duration_seconds_bucket", "taskops_reconcile_errors_total",
                   "taskops_client_rate_limit_wait_seconds_count", "taskops_leader"):
        assert metric in all_used, metric
    grouped = {label for _, expr in dashboard_expressions(dashboard)
               for _, label in promql.names(expr).grouping_labels}
    assert {"phase", "result", "reason", "outcome", "kind", "identity"} <= grouped
    # Every panel queries the operator picked in the variables.
    for title, expr in dashboard_expressions(dashboard):
        if "taskops_" in expr:
            assert 'job="$job", namespace="$namespace"' in expr, title
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource", "namespace",
                                                                    "job"]
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
            assert panel.get("description"), panel["title"]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses recording rules' expressions: one rule per query.
    dashboard, _ = rendered()
    rules = [{"record": f"dashboard:query:{i}", "expr": promql.as_plain_promql(expr)}
             for i, (_, expr) in enumerate(dashboard_expressions(dashboard))]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_dashboard_configmap_is_off_by_default_and_loaded_by_the_grafana_sidecar() -> None:
    assert not [o for o in render() if o["kind"] == "ConfigMap"]
    objects = render("grafana.dashboard.enabled=true", "grafana.dashboard.labels.team=ops",
                     "grafana.dashboard.annotations.grafana_folder=Batch")
    configmap = one(objects, "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["labels"]["team"] == "ops"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Batch"}
    assert configmap["metadata"]["namespace"] == "ops"
    # The chart ships the file unchanged, and deploy/ a copy (deploy/render).
    source = render_module.DASHBOARD_SOURCE.read_text()
    assert configmap["data"]["taskops.json"] == source.rstrip("\n")
    assert render_module.DASHBOARD.read_text() == source, (
        "deploy/grafana-dashboard.json is stale: run deploy/render and commit the result")


# ----------------------------------------------------------------------------- the alerts


def runbook_sections() -> dict[str, str]:
    text = DOCS.read_text()
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {part.splitlines()[0].strip(): part for part in parts}


def test_every_alert_has_a_summary_a_description_and_a_runbook_section() -> None:
    _, groups = rendered()
    rules = {rule["alert"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == ALERTS
    sections = runbook_sections()
    for name, rule in rules.items():
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook"] == f"docs/alerts.md#{name.lower()}", name
        assert "runbook_url" not in annotations  # no address of the docs by default
        section = sections.get(name)
        assert section is not None, f"docs/alerts.md has no section for {name}"
        for part in ("**What it means.**", "**What to check.**", "**How to fix.**"):
            assert part in section, f"{name}: {part}"
        assert rule["labels"]["severity"] in ("critical", "warning"), name
    assert {name for name in sections if name.startswith("Taskops")} == ALERTS


def test_runbook_url_follows_the_docs_address_and_thresholds_follow_the_values() -> None:
    values = {"enabled": True, "runbookUrl": "https://git.example/taskops/docs/alerts.md",
              "failureRatio": 0.2, "failureRatioMinFailed": 10, "failureRatioWindow": "6h",
              "queueWaitSeconds": 600, "reconcileErrors": 0, "missedRuns": 2}
    # --set-json: `--set` would pass 0.2 as a string.
    proc = run_helm("template", "rel", str(CHART), "-n", "ops", "--kube-version", KUBE,
                    "--set-json", f"metrics.prometheusRule={json.dumps(values)}")
    assert proc.returncode == 0, proc.stderr
    objects = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    rules = {r["alert"]: r for r in one(objects, "PrometheusRule")["spec"]["groups"][0]["rules"]}
    for name, rule in rules.items():
        assert rule["annotations"]["runbook_url"] == (
            f"https://git.example/taskops/docs/alerts.md#{name.lower()}")
    ratio = rules["TaskopsTaskJobFailureRatioHigh"]["expr"]
    assert "> 0.2 and" in ratio and ratio.endswith(">= 10") and ratio.count("[6h]") == 3
    assert rules["TaskopsQueueWaitHigh"]["expr"].endswith("> 600")
    assert rules["TaskopsReconcileErrors"]["expr"].endswith("> 0")
    assert rules["TaskopsScheduleRunsMissed"]["expr"].endswith("> 2")
    # Thresholds a histogram cannot show are refused, naming the key.
    assert "scheduleLatenessSeconds" in render_error(
        "metrics.prometheusRule.scheduleLatenessSeconds=60")
    assert "queueWaitSeconds" in render_error("metrics.prometheusRule.queueWaitSeconds=21600")
    assert "failureRatio" in render_error("metrics.prometheusRule.failureRatio=2")


def test_histogram_thresholds_stay_below_the_highest_bucket() -> None:
    # histogram_quantile answers the highest finite bucket's bound for anything
    # above it, so a threshold at or above that bound could never fire.
    from taskops.metrics import QUEUE_WAIT_BUCKETS, SCHEDULE_LATENESS_BUCKETS

    schema = json.loads((ROOT / "charts/taskops/values.schema.json").read_text())
    rule = schema["properties"]["metrics"]["properties"]["prometheusRule"]["properties"]
    assert rule["scheduleLatenessSeconds"]["exclusiveMaximum"] == SCHEDULE_LATENESS_BUCKETS[-1]
    assert rule["queueWaitSeconds"]["exclusiveMaximum"] == QUEUE_WAIT_BUCKETS[-1]


def write_rules(directory: Path) -> Path:
    """The rendered PrometheusRule's groups as a plain Prometheus rules file."""
    _, groups = rendered()
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def test_promtool_checks_the_rendered_rules(tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    proc = subprocess.run([promtool(), "check", "rules", "--lint=all", "--lint-fatal", str(rules)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout, proc.stdout


def test_promtool_fires_and_spares_each_alert(tmp_path: Path) -> None:
    write_rules(tmp_path)
    test_file = tmp_path / "alerts_test.yaml"
    shutil.copy(PROMTOOL_TESTS / "alerts_test.yaml", test_file)
    cases = yaml.safe_load(test_file.read_text())["tests"]
    fired = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    spared = {t["alertname"] for case in cases for t in case["alert_rule_test"]
              if not t["exp_alerts"]}
    assert fired == ALERTS and spared == ALERTS
    proc = subprocess.run([promtool(), "test", "rules", str(test_file)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
