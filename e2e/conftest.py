"""End-to-end fixtures: a real cluster, a fresh namespace per test.

The cluster is the one `$KUBECONFIG` points at when it answers (kind, or any
cluster), otherwise the local one that `e2e/cluster/up` brings up.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from kube import (
    CLUSTER_DIR,
    Kubectl,
    cluster_logs,
    describe_namespace,
    kubectl_binary,
    wait_for,
    worker_lock,
)
from operator_process import ROOT, OperatorProcess


def _reachable(kubeconfig: str) -> bool:
    proc = subprocess.run(
        [kubectl_binary(), "--kubeconfig", kubeconfig, "get", "--raw", "/readyz"],
        capture_output=True, text=True, timeout=20,
    )
    return proc.returncode == 0


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    configured = os.environ.get("KUBECONFIG")
    if configured and Path(configured).exists() and _reachable(configured):
        return configured
    # One worker brings the cluster up; the others wait and find it up (`up` is idempotent).
    with worker_lock("up"):
        proc = subprocess.run([str(CLUSTER_DIR / "up")], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        pytest.exit(f"e2e/cluster/up failed ({proc.returncode})\n{cluster_logs()}", returncode=1)
    path = proc.stdout.strip().splitlines()[-1]
    os.environ["KUBECONFIG"] = path
    return path


@pytest.fixture(scope="session")
def k(kubeconfig: str) -> Kubectl:
    return Kubectl(kubeconfig=kubeconfig, binary=kubectl_binary())


def _namespace_name(request: pytest.FixtureRequest, suffix: str = "") -> str:
    digest = hashlib.sha1((request.node.nodeid + suffix).encode()).hexdigest()[:6]
    base = request.node.name.lower().replace("_", "-")
    base = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-")
    return f"e2e-{base}-{suffix}-{digest}" if suffix else f"e2e-{base}-{digest}"


def _create_namespace(k: Kubectl, name: str) -> None:
    release_finalizers(k, name)
    k.run("delete", "namespace", name, "--ignore-not-found", "--wait=true", timeout=120)
    k.run("create", "namespace", name)
    # Pods can only be created once the namespace's default ServiceAccount exists.
    wait_for("default ServiceAccount", lambda: k.get("serviceaccount", "default", name), 30)


def _delete_namespace(k: Kubectl, name: str, request: pytest.FixtureRequest) -> None:
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(describe_namespace(k, name))
        print(cluster_logs())
    release_finalizers(k, name)
    k.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(k: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted afterwards."""
    name = _namespace_name(request)
    _create_namespace(k, name)
    yield name
    _delete_namespace(k, name, request)


@pytest.fixture
def namespace_factory(k: Kubectl, request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """More fresh namespaces for one test: `namespace_factory("b")` (a short
    suffix, [a-z0-9-], at most 8 characters), each deleted afterwards."""
    made: list[str] = []

    def make(suffix: str) -> str:
        assert len(suffix) <= 8 and suffix.replace("-", "").isalnum(), suffix
        name = _namespace_name(request, suffix.lower())
        _create_namespace(k, name)
        made.append(name)
        return name

    yield make
    for name in made:
        _delete_namespace(k, name, request)


def release_finalizers(k: Kubectl, namespace: str) -> None:
    """Drop taskops' finalizers left in `namespace` by an operator that is gone,
    so the namespace can be deleted (as a user would after uninstalling)."""
    for kind in ("taskjobs.taskops.dev", "taskschedules.taskops.dev", "pods"):
        proc = k.run("get", kind, "-n", namespace, "-o", "name", check=False)
        for obj in proc.stdout.split() if proc.returncode == 0 else []:
            k.run("patch", obj, "-n", namespace, "--type=merge",
                  "-p", '{"metadata": {"finalizers": null}}', check=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(scope="session")
def crds(k: Kubectl) -> None:
    """The CRDs from crds/, applied as a user would, and Established."""
    # Two workers' applies at once: both see no CRD, and the second create fails AlreadyExists.
    with worker_lock("crds"):
        k.run("apply", "-f", str(ROOT / "crds"))
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        k.run("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


@pytest.fixture
def operator_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator")


@pytest.fixture
def taskops(kubeconfig: str, crds: None, namespace: str, operator_logs: Path,
            request: pytest.FixtureRequest) -> Iterator[OperatorProcess]:
    """A taskops operator process watching only this test's namespace."""
    op = OperatorProcess(kubeconfig, namespace, operator_logs).start()
    yield op
    # Delete the test's objects while the operator still runs, so it drains
    # and releases them as it would for a user.
    k = Kubectl(kubeconfig=kubeconfig, binary=kubectl_binary())
    k.run("delete", "taskschedules.taskops.dev,taskjobs.taskops.dev", "--all", "-n", namespace,
          "--wait=true", "--timeout=60s", check=False, timeout=90)
    op.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"--- operator log ({op.log_path}) ---\n{op.logs(200)}")


@pytest.fixture
def operator_factory(kubeconfig: str, crds: None, namespace: str,
                     namespace_factory: Callable[[str], str], operator_logs: Path,
                     request: pytest.FixtureRequest) -> Iterator[Callable[..., OperatorProcess]]:
    """Operator processes with their own flags, for tests that need a cap or
    several namespaces: `operator_factory([ns_a, ns_b], ["--max-running", "3"])`
    starts one watching both (`start=False` only builds it). Torn down like
    `taskops`: the TaskJobs of its namespaces are deleted while it still runs."""
    made: list[tuple[OperatorProcess, list[str]]] = []

    def make(namespaces: Sequence[str], extra_args: Sequence[str] = (), start: bool = True,
             name: str = "taskops") -> OperatorProcess:
        op = OperatorProcess(kubeconfig, ",".join(namespaces), operator_logs,
                             extra_args=list(extra_args), name=name)
        made.append((op, list(namespaces)))
        return op.start() if start else op

    yield make
    k = Kubectl(kubeconfig=kubeconfig, binary=kubectl_binary())
    kinds = "taskschedules.taskops.dev,taskjobs.taskops.dev"
    for _, namespaces in made:
        for ns in namespaces:
            # Requests first, then one wait: kubectl deletes one object at a time,
            # and 300 of them after a full-size chaos run outlasted a single
            # 90 s call (an ERROR at teardown). What is left is the namespace
            # fixture's to clear.
            k.run("delete", kinds, "--all", "-n", ns, "--wait=false", check=False, timeout=300)
    deadline = time.monotonic() + 90
    for _, namespaces in made:
        for ns in namespaces:
            while time.monotonic() < deadline and k.run(
                    "get", kinds, "-n", ns, "-o", "name", check=False).stdout.strip():
                time.sleep(1)
    for op, _ in made:
        op.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for op, _ in made:
            print(f"--- operator log ({op.log_path}) ---\n{op.logs(200)}")
