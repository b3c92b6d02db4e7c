"""Installing taskops like a user: the operator image, the Helm chart, the real helm
binary, the operator running in-cluster under its own ServiceAccount.

What a user relies on, each asserted on the real cluster: `helm install` into a
namespace enforcing the `restricted` Pod Security Standard succeeds and the pods
become Ready through their probes; a TaskJob succeeds with the operator's own RBAC,
which can read no Secret and touch no namespace it does not watch; an unwatched
namespace is left alone; `/metrics` is scraped through the Service; `helm test`
passes; with two replicas the active one's pod deleted mid-job, the other takes over
within 15 s and the job runs once; `helm upgrade` rolls without losing a job;
`helm uninstall` leaves only the CRDs; a wrong value is rejected by the schema.

Image: built by e2e/image/build and imported into the local cluster's containerd
only when missing; on another cluster (kind) set TASKOPS_IMAGE to an image the
nodes already have (e2e/kind/Makefile does). Every namespace here starts with
`install-` and is deleted afterwards; no release watches all namespaces, so a
shared cluster's other tests are never reconciled by these operators.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube import CLUSTER_DIR, Kubectl, describe_namespace, wait_for, worker_lock
from local_cluster import CACHE, STATE, is_local_cluster
from operator_process import ROOT
from taskops.kube.client import load_api_client
from taskops.leader import LeaderElector, replica_of
from taskops.settings import Settings

CTR_SOCK = STATE / "containerd" / "containerd.sock"
CHART = ROOT / "charts" / "taskops"
TASK_IMAGE = "docker.io/library/busybox:1.35"
TAKEOVER_LIMIT = 15.0
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}
MEASURED: dict[str, float] = {}


def helm_binary() -> str:
    pinned = CACHE / "bin/current/helm"
    if pinned.exists():
        return str(pinned)
    raise RuntimeError("helm not found: run e2e/cluster/build")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def service_ips(kubeconfig: str) -> None:
    """Pods reach the API server at the `kubernetes` Service: kube-proxy on the local cluster."""
    if is_local_cluster(kubeconfig):
        proc = subprocess.run([str(CLUSTER_DIR / "kube-proxy"), "start"], capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, f"e2e/cluster/kube-proxy start failed:\n{proc.stderr}"


def _tar_image(tar: Path) -> tuple[str, str]:
    """(tag, config digest) of a docker-archive tarball."""
    with tarfile.open(tar) as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        manifest = json.load(member)[0]
    return manifest["RepoTags"][0], "sha256:" + manifest["Config"].removesuffix(".json")


def _ctr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ctr", "--address", str(CTR_SOCK), "-n", "k8s.io", *args],
                          capture_output=True, text=True, timeout=300)


def _imported_config(tag: str) -> str | None:
    """The config digest the cluster's containerd has under ``tag`` (None: absent)."""
    listed = _ctr("images", "ls", f"name=={tag}")
    lines = listed.stdout.splitlines()[1:]
    if listed.returncode != 0 or not lines:
        return None
    manifest = _ctr("content", "get", lines[0].split()[2])
    if manifest.returncode != 0:
        return None
    digest: str = json.loads(manifest.stdout)["config"]["digest"]
    return digest


@pytest.fixture(scope="session")
def operator_image(kubeconfig: str) -> str:
    """The operator image, present on the cluster's node."""
    configured = os.environ.get("TASKOPS_IMAGE")
    if configured:
        return configured
    if not is_local_cluster(kubeconfig):
        pytest.skip("not the local cluster: set TASKOPS_IMAGE to an image its nodes have")
    # Both install modules build (their own tags) into one cache: one at a time,
    # timed from the lock, so the figure is this build's, not the wait for the other.
    with worker_lock("image"):
        started = time.monotonic()
        built = subprocess.run([str(ROOT / "e2e/image/build")], capture_output=True, text=True,
                               timeout=1800)
    assert built.returncode == 0, f"e2e/image/build failed:\n{built.stderr[-4000:]}"
    tar = Path(built.stdout.strip().splitlines()[-1])
    MEASURED["image build (s)"] = round(time.monotonic() - started, 1)
    tag, config = _tar_image(tar)
    if _imported_config(tag) != config:
        started = time.monotonic()
        imported = _ctr("images", "import", str(tar))
        assert imported.returncode == 0, imported.stderr
        MEASURED["image import (s)"] = round(time.monotonic() - started, 1)
        assert _imported_config(tag) == config
    return tag


@dataclass
class Helm:
    kubeconfig: str
    binary: str = field(default_factory=helm_binary)

    def run(self, *args: str, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([self.binary, "--kubeconfig", self.kubeconfig, *args],
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr}{proc.stdout}")
        return proc


@pytest.fixture(scope="session")
def helm(kubeconfig: str) -> Helm:
    return Helm(kubeconfig)


class Namespaces:
    """`install-*` namespaces made by this module, deleted at the end."""

    def __init__(self, k: Kubectl) -> None:
        self.k = k
        self.made: list[str] = []

    def make(self, purpose: str, labels: dict[str, str] | None = None) -> str:
        name = f"install-{purpose}-{secrets.token_hex(3)}"
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": labels or {}}}
        self.k.apply(manifest)
        self.made.append(name)
        wait_for(f"default ServiceAccount in {name}",
                 lambda: self.k.get("serviceaccount", "default", name), 30)
        return name

    def delete_all(self) -> None:
        for name in self.made:
            # Every operator of this module is uninstalled by now: nothing would
            # remove its finalizers, and the namespace would hang in Terminating.
            strip_finalizers(self.k, name)
            self.k.run("delete", "namespace", name, "--wait=false", "--ignore-not-found",
                       check=False)


def strip_finalizers(k: Kubectl, namespace: str) -> None:
    """Drop the finalizers of the TaskJobs and pods left in ``namespace``."""
    for kind in ("taskjobs.taskops.dev", "pods"):
        listed = k.run("get", kind, "-n", namespace, "-o", "name", check=False)
        for name in listed.stdout.split():
            k.run("patch", name, "-n", namespace, "--type", "merge",
                  "-p", '{"metadata":{"finalizers":null}}', check=False)


@pytest.fixture(scope="module")
def namespaces(k: Kubectl) -> Iterator[Namespaces]:
    made = Namespaces(k)
    yield made
    made.delete_all()


def image_values(image: str) -> list[str]:
    repository, _, tag = image.rpartition(":")
    return ["--set", f"image.repository={repository}", "--set", f"image.tag={tag}"]


@dataclass
class Release:
    helm: Helm
    k: Kubectl
    name: str
    namespace: str  # the operator's
    watched: str  # the one namespace it watches
    image: str

    @property
    def fullname(self) -> str:
        return f"{self.name}-taskops"

    @property
    def account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.fullname}"

    def install(self, *values: str, timeout: str = "180s") -> float:
        """`helm install --wait`; returns the seconds until the pods were Ready."""
        started = time.monotonic()
        self.helm.run("install", self.name, str(CHART), "-n", self.namespace, "--wait",
                      "--timeout", timeout, *image_values(self.image),
                      "--set", f"watchNamespaces={{{self.watched}}}", *values, timeout=400)
        return time.monotonic() - started

    def remove(self) -> None:
        """Delete the TaskJobs while the operator still runs (it drains their pods and
        drops its finalizers), then uninstall; also after a failed install."""
        if self.watched:
            self.k.run("delete", "taskjobs.taskops.dev", "--all", "-n", self.watched,
                       "--wait=true", "--timeout=60s", check=False, timeout=90)
        self.helm.run("uninstall", self.name, "-n", self.namespace, "--wait", "--timeout",
                      "120s", "--ignore-not-found", check=False)

    def pods(self) -> list[dict[str, Any]]:
        return [p for p in self.k.list("pods", self.namespace,
                                       selector=f"app.kubernetes.io/instance={self.name},"
                                                "app.kubernetes.io/component=operator")
                if not p["metadata"].get("deletionTimestamp")]

    def lease(self) -> dict[str, Any]:
        spec: dict[str, Any] = (self.k.get("lease", f"{self.fullname}-leader", self.namespace)
                                or {}).get("spec") or {}
        return spec

    def leader(self) -> str | None:
        """The pod holding the Lease, when it is one of the live operator pods."""
        holder = self.lease().get("holderIdentity")
        pod = replica_of(holder) if holder else None
        return pod if pod in {p["metadata"]["name"] for p in self.pods()} else None

    def health(self, pod: str, path: str) -> dict[str, Any]:
        """A pod's health endpoint through the API server's pod proxy (200 or 503 alike)."""
        proc = self.k.run("get", "--raw",
                          f"/api/v1/namespaces/{self.namespace}/pods/{pod}:8081/proxy{path}",
                          check=False)
        body = proc.stdout or proc.stderr[proc.stderr.find("{"):]
        result: dict[str, Any] = json.loads(body)
        return result

    def can(self, *args: str) -> bool:
        proc = self.k.run("auth", "can-i", *args, "--as", self.account, check=False)
        assert proc.stdout.strip() in ("yes", "no"), proc.stderr
        return proc.stdout.strip() == "yes"

    def debug(self) -> str:
        lease = self.k.run("get", "lease", "-n", self.namespace, "-o", "yaml", check=False)
        return "\n".join([describe_namespace(self.k, self.namespace),
                          describe_namespace(self.k, self.watched) if self.watched else "",
                          f"--- leases ---\n{lease.stdout}"])


def taskjob(name: str, script: str) -> dict[str, Any]:
    """A TaskJob whose pod meets the restricted profile (the watched namespace enforces it)."""
    return {
        "apiVersion": "taskops.dev/v1alpha1", "kind": "TaskJob", "metadata": {"name": name},
        "spec": {
            "shutdown": {"gracePeriodSeconds": 5},
            "template": {"spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "main", "image": TASK_IMAGE, "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", script],
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]}},
                }]}},
        },
    }


def job_status(k: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = ((k.get("taskjob", name, namespace) or {}).get("status") or {})
    return status


def wait_phase(release: Release, name: str, phases: tuple[str, ...],
               timeout: float = 120) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = job_status(release.k, release.watched, name)
        return status if status.get("phase") in phases else None

    return wait_for(f"TaskJob {name} in {phases}", probe, timeout, on_timeout=release.debug)


def job_pods(release: Release, name: str) -> list[dict[str, Any]]:
    return release.k.list("pods", release.watched, selector=f"taskops.dev/taskjob={name}")


@pytest.fixture(scope="module")
def release(k: Kubectl, helm: Helm, namespaces: Namespaces, operator_image: str,
            service_ips: None, crds: None) -> Iterator[Release]:
    """Two replicas in a restricted namespace, watching one other restricted namespace."""
    operator_ns = namespaces.make("op", RESTRICTED)
    watched = namespaces.make("work", RESTRICTED)
    rel = Release(helm, k, f"t{secrets.token_hex(2)}", operator_ns, watched, operator_image)
    try:
        MEASURED["helm install to Ready, 2 replicas (s)"] = round(
            rel.install("--set", "replicas=2"), 1)
        yield rel
    finally:
        rel.remove()


@pytest.fixture(autouse=True)
def _explain_failures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and "release" in request.fixturenames:
        print(request.getfixturevalue("release").debug())


def teardown_module() -> None:
    if MEASURED:
        print("\nmeasured:", json.dumps(MEASURED, indent=2))


# ----------------------------------------------------------------------------- tests


def test_the_image_runs_what_the_recipe_says(operator_image: str, kubeconfig: str) -> None:
    if not is_local_cluster(kubeconfig):
        pytest.skip("the image config is checked where e2e/image/build made it")
    tar = Path(subprocess.run([str(ROOT / "e2e/image/build")], capture_output=True, text=True,
                              check=True).stdout.strip().splitlines()[-1])
    with tarfile.open(tar) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        config = json.load(archive.extractfile(manifest["Config"]))["config"]  # type: ignore[arg-type]
    assert config["Entrypoint"] == ["/opt/taskops/bin/python", "-m", "taskops"]
    assert config["User"] == "65532:65532"
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]
    MEASURED["image size (MiB)"] = round(tar.stat().st_size / 2**20)


def test_install_into_a_restricted_namespace_gets_ready_through_the_probes(
        release: Release) -> None:
    labels = release.k.get("namespace", release.namespace)["metadata"]["labels"]  # type: ignore[index]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = release.pods()
    assert len(pods) == 2
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container)
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions["Ready"] == "True", pod["status"]
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
        assert pod["spec"]["serviceAccountName"] == release.fullname


def test_a_taskjob_succeeds_with_the_operators_own_service_account(release: Release) -> None:
    release.k.apply(taskjob("hello", "printf 'hello from the cluster' > /dev/termination-log"),
                    release.watched)
    status = wait_phase(release, "hello", ("Succeeded", "Failed"))
    assert status["phase"] == "Succeeded", status
    assert status["result"] == "hello from the cluster"
    # The operator's own pods made it (its account, not ours).
    pod = job_pods(release, "hello")[0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "TaskJob"


def test_the_operator_can_read_no_secret_and_touch_no_other_namespace(
        release: Release, namespaces: Namespaces) -> None:
    other = namespaces.make("other")
    ns, watched = release.namespace, release.watched
    lease = f"leases/{release.fullname}-leader"
    # What it needs.
    assert release.can("create", "pods", "-n", watched)
    assert release.can("patch", "taskjobs.taskops.dev", "--subresource=status", "-n", watched)
    assert release.can("delete", "taskjobs.taskops.dev", "-n", watched)
    assert release.can("create", "events", "-n", watched)
    assert release.can("update", lease, "-n", ns)
    assert release.can("list", "customresourcedefinitions.apiextensions.k8s.io")
    # What it must not.
    for where in (watched, ns, other):
        assert not release.can("get", "secrets", "-n", where), where
        assert not release.can("list", "secrets", "-n", where), where
    assert not release.can("list", "secrets", "--all-namespaces")
    for verb, resource in (("get", "taskjobs.taskops.dev"), ("create", "pods"),
                           ("list", "pods"), ("create", "events")):
        assert not release.can(verb, resource, "-n", other), (verb, resource)
    assert not release.can("create", "pods", "-n", ns)  # its own namespace is not watched
    assert not release.can("update", "leases/anything-else", "-n", ns)
    assert not release.can("update", lease, "-n", watched)
    assert not release.can("delete", "namespaces")
    assert not release.can("create", "namespaces")
    assert not release.can("get", "configmaps", "-n", watched)
    assert not release.can("patch", "deployments.apps", "-n", ns)


def test_a_taskjob_in_an_unwatched_namespace_is_left_alone(
        release: Release, namespaces: Namespaces) -> None:
    other = namespaces.make("unwatched", RESTRICTED)
    release.k.apply(taskjob("ignored", "true"), other)
    # A control job in the watched namespace, applied after it, finishes first.
    release.k.apply(taskjob("control", "true"), release.watched)
    wait_phase(release, "control", ("Succeeded",))
    time.sleep(3)
    job = release.k.get("taskjob", "ignored", other)
    assert job is not None and not job.get("status"), job
    assert not job["metadata"].get("finalizers"), job["metadata"]
    assert release.k.list("pods", other) == []


def test_metrics_are_scraped_through_the_service(release: Release) -> None:
    path = (f"/api/v1/namespaces/{release.namespace}/services/"
            f"{release.fullname}-metrics:metrics/proxy/metrics")
    pods = {p["metadata"]["name"] for p in release.pods()}
    seen: dict[str, str] = {}

    def scrape_every_replica() -> bool:
        # The Service spreads scrapes over the replicas; each says who it is.
        text = release.k.run("get", "--raw", path).stdout
        assert "# TYPE taskops_leader gauge" in text
        for pod in pods:
            if f'taskops_leader{{identity="{pod}"}}' in text:
                seen[pod] = text
        return set(seen) == pods

    wait_for("a scrape of every replica through the Service", scrape_every_replica, 60,
             interval=0.2)
    leading = [text for pod, text in seen.items() if f'taskops_leader{{identity="{pod}"}} 1.0'
               in text]
    assert len(leading) == 1, "exactly one replica reports leading"
    # The leader reconciled this module's TaskJobs.
    assert 'taskops_reconcile_duration_seconds_bucket{kind="TaskJob"' in leading[0]


def test_helm_test_runs_a_taskjob_to_success(release: Release) -> None:
    # No --logs: the pod is gone by then (hook-succeeded), which is the point.
    proc = release.helm.run("test", release.name, "-n", release.namespace, "--timeout", "180s",
                            check=False, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Phase:          Succeeded" in proc.stdout
    # Its pod, account and role are gone (hook-succeeded), so uninstall has nothing to miss.
    assert release.k.get("pod", f"{release.fullname}-test", release.namespace) is None
    assert release.k.get("serviceaccount", f"{release.fullname}-test", release.namespace) is None


def test_exactly_one_replica_leads_and_both_are_ready(release: Release) -> None:
    leader = wait_for("a leader", release.leader, 30, on_timeout=release.debug)
    # Readiness is about health: the standby is Ready too, and says it does not lead.
    bodies = {p["metadata"]["name"]: release.health(p["metadata"]["name"], "/readyz")
              for p in release.pods()}
    assert all(body["status"] == "ok" for body in bodies.values()), bodies
    assert {name for name, body in bodies.items() if body["leader"]} == {leader}, bodies


def test_the_standby_takes_over_within_15_s_when_the_leaders_pod_is_deleted_mid_job(
        release: Release) -> None:
    leader = wait_for("a leader", release.leader, 30, on_timeout=release.debug)
    transitions = release.lease().get("leaseTransitions", 0)
    release.k.apply(taskjob("ha", "sleep 15; printf once > /dev/termination-log"),
                    release.watched)
    wait_phase(release, "ha", ("Running",), timeout=60)
    deleted = time.monotonic()
    release.k.run("delete", "pod", leader, "-n", release.namespace, "--wait=false")

    def new_leader() -> str | None:
        current = release.leader()
        return current if current not in (None, leader) else None

    successor = wait_for("another replica to lead", new_leader, TAKEOVER_LIMIT + 15,
                         interval=0.2, on_timeout=release.debug)
    took = time.monotonic() - deleted
    MEASURED["takeover after the leader's pod is deleted (s)"] = round(took, 1)
    assert took <= TAKEOVER_LIMIT, f"{successor} took over after {took:.1f}s"
    assert release.lease()["leaseTransitions"] == transitions + 1
    status = wait_phase(release, "ha", ("Succeeded", "Failed"), timeout=90)
    # Exactly once: one attempt, one pod, whoever created it.
    assert status["phase"] == "Succeeded" and status["result"] == "once", status
    assert status["attemptCount"] == 1 and status["succeeded"] == 1, status
    assert len(job_pods(release, "ha")) == 1
    wait_for("two Ready replicas again", lambda: len([
        p for p in release.pods()
        if all(c.get("ready") for c in p["status"].get("containerStatuses", []))]) == 2, 90)


def test_a_killed_leader_is_replaced_within_15_s_and_the_job_runs_once(
        release: Release, kubeconfig: str) -> None:
    """SIGKILL: no drain, no release. The kubelet restarts the killed container
    within seconds, under the same pod name; the *other* replica must take the
    Lease over (the restarted process is a new holder and may not take the Lease
    back as its own), within 15 s, and the job in flight must run exactly once."""
    if not is_local_cluster(kubeconfig):
        pytest.skip("kills the container through the local cluster's containerd")
    leader = wait_for("a leader", release.leader, 60, on_timeout=release.debug)
    release.k.apply(taskjob("crash", "sleep 15; printf once > /dev/termination-log"),
                    release.watched)
    wait_phase(release, "crash", ("Running",), timeout=60)
    pod = release.k.get("pod", leader, release.namespace)
    assert pod is not None
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("//")[-1]
    killed = _now()
    started = time.monotonic()
    assert _ctr("tasks", "kill", "-s", "SIGKILL", container_id).returncode == 0

    transitions = release.lease().get("leaseTransitions", 0)

    def renewed_after_the_kill() -> str | None:
        lease = release.lease()
        renew = lease.get("renewTime")
        holder = lease.get("holderIdentity")
        return holder if holder and renew and _parse(renew) > killed else None

    holder = wait_for("a renewal of the Lease after the kill", renewed_after_the_kill,
                      TAKEOVER_LIMIT + 15, interval=0.2, on_timeout=release.debug)
    took = time.monotonic() - started
    MEASURED["another replica leads after SIGKILL of the leader (s)"] = round(took, 1)
    restarts = (release.k.get("pod", leader, release.namespace) or {}).get(
        "status", {}).get("containerStatuses", [{}])[0].get("restartCount", 0)
    assert restarts >= 1, "the kill did not restart the container"
    assert replica_of(holder) != leader, f"the killed replica's restart took the Lease: {holder}"
    assert replica_of(holder) in {p["metadata"]["name"] for p in release.pods()}, holder
    assert release.lease()["leaseTransitions"] == transitions + 1
    assert took <= TAKEOVER_LIMIT, f"{holder} renewed {took:.1f}s after the kill"
    status = wait_phase(release, "crash", ("Succeeded", "Failed"), timeout=90)
    assert status["phase"] == "Succeeded" and status["attemptCount"] == 1, status
    assert len(job_pods(release, "crash")) == 1
    wait_for("two Ready replicas again", lambda: len([
        p for p in release.pods()
        if all(c.get("ready") for c in p["status"].get("containerStatuses", []))]) == 2, 90)


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_namespace_users_get_taskjobs_with_the_view_and_edit_roles_they_already_have(
        release: Release) -> None:
    """The chart's aggregated ClusterRoles, checked by impersonating two users bound
    only to the built-in `view` and `edit` ClusterRoles in the watched namespace."""
    k, ns = release.k, release.watched
    for user, role in (("alice-viewer", "view"), ("bob-editor", "edit")):
        k.run("create", "rolebinding", f"{user}-{role}", "-n", ns, f"--clusterrole={role}",
              f"--user={user}")

    def can(user: str, verb: str, resource: str, namespace: str = ns,
            subresource: str | None = None) -> bool:
        proc = k.run("auth", "can-i", verb, resource, "-n", namespace, "--as", user,
                     *([f"--subresource={subresource}"] if subresource else []), check=False)
        return proc.stdout.strip() == "yes"

    # Aggregation is asynchronous: wait for the controller to fold our rules in.
    wait_for("view to include TaskJobs", lambda: can("alice-viewer", "list",
                                                     "taskjobs.taskops.dev"), 30)
    wait_for("edit to include TaskJobs", lambda: can("bob-editor", "create",
                                                     "taskjobs.taskops.dev"), 30)
    assert can("alice-viewer", "get", "taskjobs.taskops.dev", subresource="status")
    assert can("alice-viewer", "watch", "taskschedules.taskops.dev")
    assert not can("alice-viewer", "create", "taskjobs.taskops.dev")
    assert not can("alice-viewer", "patch", "taskschedules.taskops.dev")
    assert can("bob-editor", "patch", "taskschedules.taskops.dev")  # the trigger
    assert not can("bob-editor", "patch", "taskjobs.taskops.dev", subresource="status")
    for user in ("alice-viewer", "bob-editor"):
        for verb in ("get", "update", "delete"):
            lease = f"leases.coordination.k8s.io/{release.fullname}-leader"
            assert not can(user, verb, lease, release.namespace), (user, verb)

    # For real, as the users: the editor's TaskJob runs; the viewer's is refused.
    refused = k.run("create", "-n", ns, "--as", "alice-viewer", "-f", "-", check=False,
                    input=json.dumps(taskjob("by-alice", "true")))
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    k.run("create", "-n", ns, "--as", "bob-editor", "-f", "-",
          input=json.dumps(taskjob("by-bob", "echo -n bob > /dev/termination-log")))
    status = wait_phase(release, "by-bob", ("Succeeded", "Failed"), timeout=90)
    assert status["phase"] == "Succeeded" and status["result"] == "bob", status
    schedule = {"apiVersion": "taskops.dev/v1alpha1", "kind": "TaskSchedule",
                "metadata": {"name": "bobs"},
                "spec": {"schedule": "0 0 1 1 *", "taskJobTemplate": {
                    "spec": taskjob("x", "true")["spec"]}}}
    k.run("create", "-n", ns, "--as", "bob-editor", "-f", "-", input=json.dumps(schedule))
    k.run("annotate", "taskschedule", "bobs", "-n", ns, "--as", "bob-editor",
          "taskops.dev/trigger=now-1")
    wait_for("the triggered run", lambda: [
        j for j in k.list("taskjobs.taskops.dev", ns)
        if j["metadata"].get("annotations", {}).get("taskops.dev/trigger") == "now-1"], 60)
    denied = k.run("annotate", "taskschedule", "bobs", "-n", ns, "--as", "alice-viewer",
                   "--overwrite", "taskops.dev/trigger=now-2", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr


def test_helm_upgrade_rolls_the_pods_without_losing_a_job(release: Release) -> None:
    before = {p["metadata"]["name"] for p in release.pods()}
    release.k.apply(taskjob("rolling", "sleep 12; printf survived > /dev/termination-log"),
                    release.watched)
    wait_phase(release, "rolling", ("Running",), timeout=60)
    release.helm.run("upgrade", release.name, str(CHART), "-n", release.namespace,
                     "--reuse-values", "--set", "logLevel=DEBUG", "--wait", "--timeout", "240s",
                     timeout=300)
    after = {p["metadata"]["name"] for p in release.pods()}
    assert not before & after, "the pods were not replaced"
    env = {e["name"]: e.get("value") for e in
           release.pods()[0]["spec"]["containers"][0]["env"]}
    assert env["TASKOPS_LOG_LEVEL"] == "DEBUG"
    status = wait_phase(release, "rolling", ("Succeeded", "Failed"), timeout=120)
    assert status["phase"] == "Succeeded" and status["result"] == "survived", status
    assert status["attemptCount"] == 1, status
    assert len(job_pods(release, "rolling")) == 1
    wait_for("a leader after the upgrade", release.leader, 30)


def test_a_wrong_value_is_rejected_by_the_schema_naming_the_key(
        helm: Helm, namespaces: Namespaces, operator_image: str) -> None:
    ns = namespaces.make("schema")
    for value, key in (("replicas=two", "replicas"), ("logLevel=LOUD", "logLevel"),
                       ("colour=blue", "colour")):
        proc = helm.run("install", "bad", str(CHART), "-n", ns, "--set", value, check=False)
        assert proc.returncode != 0, value
        assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr
        assert key in proc.stderr, proc.stderr
    assert helm.run("list", "-n", ns, "-q").stdout.strip() == ""


def test_helm_uninstall_leaves_nothing_but_the_crds(
        k: Kubectl, helm: Helm, namespaces: Namespaces, operator_image: str,
        service_ips: None, crds: None) -> None:
    ns = namespaces.make("uninstall", RESTRICTED)
    rel = Release(helm, k, "gone", ns, ns, operator_image)
    try:
        MEASURED["helm install to Ready, 1 replica (s)"] = round(rel.install(), 1)
        helm.run("test", rel.name, "-n", ns, "--timeout", "180s", timeout=240)
        wait_for("the Lease to be held", rel.leader, 30, on_timeout=rel.debug)
    finally:
        rel.remove()  # the cluster-scoped objects must not outlive a failed test either
    selector = f"app.kubernetes.io/instance={rel.name}"
    kinds = ("all,serviceaccounts,roles,rolebindings,leases,poddisruptionbudgets,configmaps,"
             "secrets,events.events.k8s.io")
    # What Kubernetes itself puts in every namespace, and the operator's Events
    # (they expire on their own). The pods go a little after their Deployment.
    expected = {"serviceaccount/default", "configmap/kube-root-ca.crt"}

    def only_expected() -> bool:
        left = k.run("get", kinds, "-n", ns, "-o", "name").stdout.split()
        return {o for o in left if not o.startswith("event.events.k8s.io/")} == expected

    wait_for("only Kubernetes' own objects in the namespace", only_expected, 90,
             on_timeout=lambda: k.run("get", kinds, "-n", ns, "-o", "name").stdout)
    cluster_left = k.run("get", "clusterroles,clusterrolebindings", "-l", selector,
                         "-o", "name").stdout.split()
    assert cluster_left == []
    # The CRDs stay (Helm never deletes crds/), and with them TaskJobs elsewhere.
    for crd in sorted((ROOT / "crds").glob("*.yaml")):
        name = yaml.safe_load(crd.read_text())["metadata"]["name"]
        assert k.get("crd", name) is not None, name


def test_watching_all_namespaces_binds_a_cluster_role_that_still_reads_no_secret(
        k: Kubectl, helm: Helm, namespaces: Namespaces, operator_image: str) -> None:
    # replicas=0: the RBAC is installed, no operator runs (it would reconcile every
    # namespace of a shared cluster).
    ns = namespaces.make("clusterwide")
    rel = Release(helm, k, "wide", ns, "", operator_image)
    helm.run("install", rel.name, str(CHART), "-n", ns, "--set", "replicas=0",
             *image_values(operator_image))
    try:
        assert rel.can("create", "pods", "-n", "default")
        assert rel.can("patch", "taskjobs.taskops.dev", "--subresource=status", "-n", "kube-system")
        assert not rel.can("get", "secrets", "-n", "default")
        assert not rel.can("list", "secrets", "--all-namespaces")
        assert not rel.can("list", "namespaces")  # not needed when watching everything
        assert not rel.can("delete", "namespaces")
    finally:
        rel.remove()


def test_two_electors_against_the_real_api_server(
        kubeconfig: str, namespaces: Namespaces, k: Kubectl) -> None:
    """The Lease as the API server stores it: one of two electors leads; when it
    stops renewing (dies without releasing) the other leads within lease duration
    + 2 retry periods; a release hands over at the next poll."""
    import asyncio

    ns = namespaces.make("lease")
    settings = Settings(lease_namespace=ns, lease_name="election", lease_duration=3.0,
                        renew_deadline=2.0, retry_period=0.5, kubeconfig=kubeconfig)
    api = load_api_client(kubeconfig, pool_size=4)
    executor = ThreadPoolExecutor(max_workers=4)

    async def scenario() -> tuple[float, float]:
        a = LeaderElector(replace(settings, identity="a"), api, executor)
        b = LeaderElector(replace(settings, identity="b"), api, executor)
        await asyncio.wait_for(a.acquire(), 10)
        holding = asyncio.create_task(a.hold())
        standby = asyncio.create_task(b.acquire())
        await asyncio.sleep(4)  # longer than the lease: a's renewals keep it
        assert not standby.done() and a.is_leader and b.holder == a.identity
        holding.cancel()  # a dies: no more renewals, no release
        died = time.monotonic()
        await asyncio.wait_for(standby, 10)
        took_over = time.monotonic() - died
        c = LeaderElector(replace(settings, identity="c"), api, executor)
        waiting = asyncio.create_task(c.acquire())
        await asyncio.sleep(1)
        released = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(executor, b.release)
        await asyncio.wait_for(waiting, 5)
        return took_over, time.monotonic() - released

    try:
        took_over, handed_over = asyncio.run(scenario())
    finally:
        executor.shutdown(wait=False)
    MEASURED["real API: takeover after a dead leader, lease 3 s retry 0.5 s (s)"] = round(
        took_over, 2)
    MEASURED["real API: takeover after a release (s)"] = round(handed_over, 2)
    assert 3.0 <= took_over <= 3.0 + 2 * 0.5 + 1.0
    assert handed_over <= 0.5 + 1.0
    spec = (k.get("lease", "election", ns) or {})["spec"]
    assert replica_of(spec["holderIdentity"]) == "c" and spec["leaseTransitions"] == 2
    assert spec["renewTime"].endswith("Z") and len(spec["renewTime"]) == 27  # MicroTime
