"""The Helm chart, rendered by the real helm binary: the pod is locked down to the
`restricted` profile, RBAC grants exactly what the operator does and nothing in
unwatched namespaces, leader election is on whenever two pods can run at once
and its timings keep the 15 s takeover promise, every value is validated (a wrong
one names the key), and what is derived from the chart (deploy/, the docs' values
table) is never stale.

No cluster needed; the helm binary comes from e2e/cluster/build.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskops.settings import _OPTIONS, Settings, parse_settings

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "taskops"
KUBE = "1.34.0"


def _load_render_module() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_render", ROOT / "deploy" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_module = _load_render_module()


@cache
def helm() -> str:
    try:
        found: str = render_module.helm_binary()
    except RuntimeError as err:
        pytest.fail(str(err))
    return found


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, timeout=60)


def render(*sets: str, kube: str = KUBE, namespace: str = "ops",
           tests: bool = False) -> list[dict[str, Any]]:
    """The chart's objects for these --set flags (helm test hooks only when ``tests``)."""
    args = ["template", "rel", str(CHART), "-n", namespace, "--kube-version", kube]
    for s in sets:
        args += ["--set", s]
    if not tests:
        args.append("--skip-tests")
    proc = run_helm(*args)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def render_error(*sets: str) -> str:
    args = ["template", "rel", str(CHART), "-n", "ops", "--kube-version", KUBE]
    for s in sets:
        args += ["--set", s]
    proc = run_helm(*args)
    assert proc.returncode != 0, f"helm accepted {sets}"
    return proc.stderr


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    names = [o["metadata"]["name"] for o in found]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}: {names}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    c: dict[str, Any] = pod["containers"][0]
    return c


def env(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}


def pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        version: str = tomllib.load(f)["project"]["version"]
    return version


# ----------------------------------------------------------------------------- the chart


def test_lint_is_clean() -> None:
    proc = run_helm("lint", str(CHART), "--strict", "--kube-version", KUBE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


def test_chart_image_and_versions_follow_the_project() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == pyproject_version()
    assert chart["kubeVersion"] == ">=1.30.0-0"
    recipe = image_recipe()
    c = container(render())
    # What e2e/image/build tags and imports is what the chart runs by default.
    assert c["image"] == f"{recipe['IMAGE_REPOSITORY']}:{pyproject_version()}"
    assert c["imagePullPolicy"] == "IfNotPresent"


def test_the_pod_meets_the_restricted_profile() -> None:
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532,
                                      "runAsGroup": 65532,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    c = pod["containers"][0]
    assert c["securityContext"] == {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True, "privileged": False,
                                    "capabilities": {"drop": ["ALL"]}}
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["emptyDir"]
    assert int(image_recipe()["USER_ID"]) == pod["securityContext"]["runAsUser"]


def test_probes_hit_the_health_endpoints_on_the_health_port() -> None:
    c = container(render("ports.health=9000"))
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 9000, "metrics": 8080}
    # The startup probe allows a slow first start; liveness outlasts the health
    # module's 30 s staleness limit only by its own period.
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_rolling_update_never_lowers_the_ready_count() -> None:
    strategy = one(render(), "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    assert one(render("updateStrategy=Recreate"), "Deployment")["spec"]["strategy"] == {
        "type": "Recreate"}


def test_every_env_var_is_an_operator_setting_and_the_operator_accepts_them() -> None:
    objects = render("watchNamespaces={a,b}", "maxRunning=5", "maxRunningPerNamespace=2",
                     "logFormat=text", "logLevel=DEBUG", "replicas=2", "kubeApiQps=10000",
                     "kubeApiBurst=100000")
    variables = env(objects)
    known = {o.env for o in _OPTIONS} | {"POD_NAME", "POD_NAMESPACE"}
    assert set(variables) <= known, set(variables) - known
    assert variables["TASKOPS_NAMESPACES"] == "a,b"
    assert variables["TASKOPS_MAX_RUNNING"] == "5"
    assert variables["TASKOPS_LEADER_ELECTION"] == "true"
    assert variables["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert variables["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    # The operator's own parser takes exactly what the chart renders.
    plain = {k: v for k, v in variables.items() if isinstance(v, str)}
    settings = parse_settings([], plain | {"POD_NAME": "rel-taskops-x", "POD_NAMESPACE": "ops"})
    assert settings.namespaces == ("a", "b") and settings.max_running == 5
    assert settings.max_running_per_namespace == 2 and settings.log_level == "DEBUG"
    assert settings.leader_election and settings.lease_name == "rel-taskops-leader"
    assert settings.lease_namespace == "ops" and settings.identity == "rel-taskops-x"
    assert (settings.kube_api_qps, settings.kube_api_burst) == (10000.0, 100000)


def test_defaults_parse_as_operator_settings() -> None:
    variables = {k: v for k, v in env(render()).items() if isinstance(v, str)}
    settings = parse_settings([], variables)
    assert settings.watches_all_namespaces and settings.max_running is None
    assert settings.log_format == "json"
    # The chart's rate limit is the operator's own (provisional) default.
    assert (settings.kube_api_qps, settings.kube_api_burst) == (
        Settings().kube_api_qps, Settings().kube_api_burst)


def test_a_fractional_kube_api_qps_from_a_values_file_reaches_the_operator(
        tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("kubeApiQps: 0.5\nkubeApiBurst: 1\n")
    proc = run_helm("template", "rel", str(CHART), "-n", "ops", "--kube-version", KUBE,
                    "--skip-tests", "-f", str(values))
    assert proc.returncode == 0, proc.stderr
    variables = env([doc for doc in yaml.safe_load_all(proc.stdout) if doc])
    assert (variables["TASKOPS_KUBE_API_QPS"], variables["TASKOPS_KUBE_API_BURST"]) == ("0.5", "1")
    settings = parse_settings([], {k: v for k, v in variables.items() if isinstance(v, str)})
    assert (settings.kube_api_qps, settings.kube_api_burst) == (0.5, 1)


def test_leader_election_is_on_whenever_two_pods_can_run_at_once() -> None:
    def election(*sets: str) -> tuple[str, list[str]]:
        objects = render(*sets)
        return env(objects)["TASKOPS_LEADER_ELECTION"], kinds(objects)

    # A RollingUpdate runs the old and the new pod together, even with one replica.
    on, objects = election()
    assert on == "true" and "Lease" in objects and "PodDisruptionBudget" not in objects
    on, objects = election("replicas=2")
    assert on == "true" and "PodDisruptionBudget" in objects
    on, objects = election("updateStrategy=Recreate")
    assert on == "false" and "Lease" not in objects
    assert [o for o in render("updateStrategy=Recreate") if o["kind"] == "Role"] == []
    assert "needs replicas: 1" in render_error("replicas=3", "leaderElection.enabled=false")


def test_chart_timings_keep_the_15_second_takeover_promise() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["leaderElection"]
    lease, deadline, retry = (values["leaseDurationSeconds"], values["renewDeadlineSeconds"],
                              values["retryPeriodSeconds"])
    # A dead leader's last renewal is seen at most one retry late, expires a lease
    # duration later, and is taken at the next poll: lease + 2 x retry, leaving
    # time for the new leader to warm its caches within 15 s.
    assert lease + 2 * retry <= 12
    # The leader stops renew_deadline after its last renewal, before any standby
    # may consider the Lease expired.
    assert deadline < lease and deadline > 1.2 * retry
    settings = parse_settings([], {k: v for k, v in env(render()).items() if isinstance(v, str)})
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (
        lease, deadline, retry)


def test_grace_period_covers_the_prestop_and_the_drain() -> None:
    from taskops.runtime import SHUTDOWN_DRAIN_SECONDS

    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    drain = re.search(r'define "taskops.drainSeconds" -}}(\d+)', helpers)
    assert drain and float(drain.group(1)) == SHUTDOWN_DRAIN_SECONDS
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] >= sleep + SHUTDOWN_DRAIN_SECONDS + 5
    assert "must be at least" in render_error("terminationGracePeriodSeconds=10")


def test_prestop_uses_the_sleep_action_and_older_clusters_are_refused() -> None:
    hook = container(render(kube="1.30.0"))["lifecycle"]["preStop"]
    assert hook == {"sleep": {"seconds": 2}}
    assert "lifecycle" not in container(render("preStopSleepSeconds=0"))
    # 1.29 has the sleep action off, for the operator's pod and for TaskJobs'
    # drains alike: the chart refuses it, as the operator does at startup.
    proc = run_helm("template", "rel", str(CHART), "-n", "ops", "--kube-version", "1.29.9")
    assert proc.returncode != 0
    assert "incompatible with Kubernetes v1.29.9" in proc.stderr, proc.stderr


def test_metrics_service_selects_the_operator_pods() -> None:
    objects = render()
    service = one(objects, "Service", "rel-taskops-metrics")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080,
                                         "targetPort": "metrics", "protocol": "TCP"}]


def test_api_server_override_reaches_the_operator_and_the_test_pod() -> None:
    objects = render("apiServerOverride.host=192.0.2.2", "apiServerOverride.port=6443",
                     tests=True)
    assert env(objects)["KUBERNETES_SERVICE_HOST"] == "192.0.2.2"
    assert env(objects)["KUBERNETES_SERVICE_PORT"] == "6443"
    test_pod = one(objects, "Pod")["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in test_pod["env"]} == {
        "KUBERNETES_SERVICE_HOST": "192.0.2.2", "KUBERNETES_SERVICE_PORT": "6443"}
    assert "KUBERNETES_SERVICE_HOST" not in env(render())


# ----------------------------------------------------------------------------- RBAC


NAMESPACED_RULES = [
    {"apiGroups": ["taskops.dev"], "resources": ["taskjobs", "taskschedules"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": ["taskops.dev"], "resources": ["taskjobs/status", "taskschedules/status"],
     "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
CRD_READ = {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
            "verbs": ["list", "watch"]}


def rbac(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["apiVersion"].startswith("rbac.authorization.k8s.io")]


def test_watching_all_namespaces_uses_one_cluster_role() -> None:
    objects = render()
    role = one(objects, "ClusterRole", "ops-rel-taskops")  # per namespace: no clash
    assert role["rules"] == [*NAMESPACED_RULES, CRD_READ]
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rel-taskops",
                                    "namespace": "ops"}]
    assert [r["metadata"]["namespace"] for r in objects if r["kind"] == "Role"] == ["ops"]


def test_watching_listed_namespaces_grants_nothing_outside_them() -> None:
    objects = render("watchNamespaces={team-a,team-b}")
    roles = {o["metadata"]["namespace"]: o for o in objects
             if o["kind"] == "Role" and o["metadata"]["name"] == "rel-taskops"}
    assert set(roles) == {"team-a", "team-b"}
    assert all(role["rules"] == NAMESPACED_RULES for role in roles.values())
    bindings = {o["metadata"]["namespace"] for o in objects
                if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "rel-taskops"}
    assert bindings == {"team-a", "team-b"}
    # Cluster-wide: reads of CRDs and Namespaces only (kopf's observers).
    assert one(objects, "ClusterRole", "ops-rel-taskops")["rules"] == [
        CRD_READ, {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]


def test_the_lease_role_is_limited_to_the_lease_in_the_release_namespace() -> None:
    role = one(render(), "Role", "rel-taskops-leader-election")
    assert role["metadata"]["namespace"] == "ops"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "resourceNames": ["rel-taskops-leader"], "verbs": ["get", "update"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]
    lease = one(render(), "Lease")
    assert lease["metadata"]["name"] == "rel-taskops-leader" and lease["spec"] == {}


AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def test_namespace_users_get_both_kinds_through_the_roles_they_already_have() -> None:
    view = one(render(), "ClusterRole", "ops-rel-taskops-view")
    edit = one(render(), "ClusterRole", "ops-rel-taskops-edit")
    labels = {name: {k.removeprefix(AGGREGATE) for k, v in role["metadata"]["labels"].items()
                     if k.startswith(AGGREGATE) and v == "true"}
              for name, role in (("view", view), ("edit", edit))}
    assert labels == {"view": {"view", "edit", "admin"}, "edit": {"edit", "admin"}}
    assert view["rules"] == [{"apiGroups": ["taskops.dev"], "resources": [
        "taskjobs", "taskschedules", "taskjobs/status", "taskschedules/status"],
        "verbs": ["get", "list", "watch"]}]
    (rule,) = edit["rules"]
    assert rule["resources"] == ["taskjobs", "taskschedules"]  # never status, pods or leases
    assert {"create", "patch", "delete"} <= set(rule["verbs"])
    assert not [o for o in render("rbac.create=false") if o["kind"] == "ClusterRole"]


@pytest.mark.parametrize("sets", [(), ("watchNamespaces={a}",), ("replicas=2",)])
def test_no_rule_grants_secrets_wildcards_or_escalation(sets: tuple[str, ...]) -> None:
    for obj in rbac(render(*sets, tests=True)):
        for rule in obj.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
            assert not {"secrets", "configmaps", "serviceaccounts/token"} & set(rule["resources"])
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


def test_without_rbac_creation_no_rbac_objects_are_rendered() -> None:
    assert rbac(render("rbac.create=false")) == []


# ----------------------------------------------------------------------------- values


def test_wrong_values_are_rejected_naming_the_key() -> None:
    assert "replicas" in render_error("replicas=two")
    assert "nope" in render_error("nope=1")
    assert "logLevel" in render_error("logLevel=LOUD")
    assert "watchNamespaces" in render_error("watchNamespaces={Not_A_Namespace}")
    assert "maxRunning" in render_error("maxRunning=0")
    assert "kubeApiQps" in render_error("kubeApiQps=0")
    assert "kubeApiQps" in render_error("kubeApiQps=10001")
    assert "kubeApiBurst" in render_error("kubeApiBurst=0")
    assert "kubeApiBurst" in render_error("kubeApiBurst=100001")
    assert "leaderElection" in render_error("leaderElection.enabled=sometimes")
    assert "image" in render_error("image.colour=blue")
    assert "renewDeadlineSeconds" in render_error("leaderElection.renewDeadlineSeconds=20")
    assert "ports" in render_error("ports.metrics=8081")


def test_every_value_is_in_the_schema_and_every_schema_key_in_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], default: Any, path: str) -> None:
        properties = node.get("properties")
        if node.get("additionalProperties") is False and isinstance(default, dict):
            assert properties is not None, path
            assert set(default) <= set(properties), f"{path}: {set(default) - set(properties)}"
            for key, child in properties.items():
                if key in default:
                    walk(child, default[key], f"{path}.{key}")
                else:
                    assert path == ".resources", f"{path}.{key} is in the schema, not in values"

    assert schema["additionalProperties"] is False
    walk(schema, values, "")
    for path, node, _ in render_module.value_rows(schema, values):
        assert node.get("description"), f"{path} has no description"


def test_deploy_manifests_and_docs_table_are_fresh() -> None:
    stale = []
    if render_module.MANIFESTS.read_text() != render_module.render_manifests():
        stale.append("deploy/taskops.yaml")
    docs = render_module.DOCS.read_text()
    if docs != render_module.docs_with_table(docs):
        stale.append("docs/install.md (values table)")
    readme = render_module.README.read_text()
    if readme != render_module.docs_with_table(readme):
        stale.append("README.md (values table)")
    assert not stale, f"stale: {', '.join(stale)}: run deploy/render and commit the result"


def test_docs_table_lists_exactly_the_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    documented = re.findall(r"^\| `([^`]+)` \|", render_module.DOCS.read_text(), re.M)
    assert documented == [path for path, _, _ in render_module.value_rows(schema, values)]
    assert "resources" in documented and "leaderElection.leaseDurationSeconds" in documented


def test_plain_manifests_create_a_restricted_namespace_and_no_test_hooks() -> None:
    objects = [o for o in yaml.safe_load_all(render_module.MANIFESTS.read_text()) if o]
    namespace = one(objects, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(o["metadata"].get("namespace") in (None, "taskops-system") for o in objects
               if o["kind"] not in ("Role", "RoleBinding"))
    assert not [o for o in objects if "helm.sh/hook" in o["metadata"].get("annotations", {})]
    assert "CustomResourceDefinition" not in kinds(objects)  # those are crds/


# ----------------------------------------------------------------------------- helm test


def test_helm_test_runs_the_selftest_in_a_watched_namespace_with_its_own_account() -> None:
    objects = render("watchNamespaces={team-a}", tests=True)
    hooks = [o for o in objects if o["metadata"].get("annotations", {}).get("helm.sh/hook")]
    assert kinds(hooks) == ["Pod", "Role", "RoleBinding", "ServiceAccount"]
    for hook in hooks:
        # Deleted once passed, so `helm uninstall` leaves none behind.
        assert hook["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == (
            "before-hook-creation,hook-succeeded")
    pod = one(hooks, "Pod")
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["/opt/taskops/bin/python", "-m", "taskops.selftest"]
    assert "--namespace=team-a" in c["args"]
    assert pod["spec"]["serviceAccountName"] == "rel-taskops-test"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    role = one(hooks, "Role")
    assert role["metadata"]["namespace"] == "team-a"
    assert role["rules"] == [{"apiGroups": ["taskops.dev"], "resources": ["taskjobs"],
                              "verbs": ["create", "get", "delete"]}]
    # Weights: the account and its rights exist before the pod starts.
    weights = {o["kind"]: int(o["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))
               for o in hooks}
    assert weights["Pod"] > weights["RoleBinding"] > weights["Role"]
    # Watching everything (or the release namespace): the test runs there.
    assert "--namespace=ops" in one(render(tests=True), "Pod")["spec"]["containers"][0]["args"]


def test_selftest_taskjob_meets_the_restricted_profile() -> None:
    from taskops.selftest import RESULT, taskjob_manifest

    job = taskjob_manifest("busybox:1")
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    main = pod["containers"][0]
    assert main["securityContext"] == {"allowPrivilegeEscalation": False,
                                       "readOnlyRootFilesystem": True,
                                       "capabilities": {"drop": ["ALL"]}}
    assert RESULT in main["command"][-1]
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


# ----------------------------------------------------------------------------- monitoring


def test_service_monitor_and_alerts_are_optional_and_scrape_the_metrics_service() -> None:
    assert not {"ServiceMonitor", "PrometheusRule"} & set(kinds(render()))
    objects = render("metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
                     "metrics.serviceMonitor.labels.release=prom")
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics",
                                             "interval": "30s"}]
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"][
        "labels"].items()
    rules = one(objects, "PrometheusRule")["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    # Which alerts, their names and runbooks: tests/test_monitoring.py.
    selector = 'job="rel-taskops-metrics", namespace="ops"'
    for rule in rules:
        assert selector in rule["expr"], rule["expr"]
        assert rule["annotations"]["description"]
    assert 'result="Failed"' in alerts["TaskopsTaskJobFailureRatioHigh"]["expr"]
    assert "taskops_schedule_lateness_seconds_bucket" in alerts["TaskopsSchedulesLate"]["expr"]
    # Prometheus' own template syntax survives Helm's.
    assert "{{ $value | humanize }}" in alerts["TaskopsScheduleRunsMissed"]["annotations"][
        "description"]


def image_recipe() -> dict[str, str]:
    """e2e/image/recipe.env as a dict (KEY=value, optionally double-quoted)."""
    recipe: dict[str, str] = {}
    for line in (ROOT / "e2e/image/recipe.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            recipe[key] = value.strip('"')
    return recipe
