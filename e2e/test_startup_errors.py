"""The operator's own mistakes at startup: one line naming the problem on stderr
and exit status 2, never a traceback (issue 10, item 10). Real processes
against the real API server; the account without permissions is a real
ServiceAccount with a real token."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kube import Kubectl
from operator_process import ROOT, free_port


def run_operator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskops", "--health-port", str(free_port()),
         "--metrics-port", str(free_port()), "--bind-address", "127.0.0.1", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT)


def assert_one_line(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("taskops: "), proc.stderr[-2000:]
    for word in words:
        assert word in line, (word, line)
    return line


def test_a_kubeconfig_that_does_not_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.kubeconfig")
    assert_one_line(run_operator("--kubeconfig", missing), "--kubeconfig", missing,
                    "no such file")


def test_a_kubeconfig_that_is_not_one(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("just some words\n")
    assert_one_line(run_operator("--kubeconfig", str(junk)), str(junk),
                    "not a usable kubeconfig")


def test_a_namespace_that_does_not_exist(kubeconfig: str, crds: None) -> None:
    assert_one_line(run_operator("--kubeconfig", kubeconfig, "--namespaces",
                                 "no-such-namespace-here"),
                    "--namespaces", "'no-such-namespace-here' does not exist")


def test_a_port_already_in_use(kubeconfig: str, crds: None, namespace: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_operator("--kubeconfig", kubeconfig, "--namespaces", namespace,
                            "--health-port", str(port))
    assert_one_line(proc, f"--health-port {port}", "already in use")


@pytest.fixture
def powerless_kubeconfig(k: Kubectl, kubeconfig: str, namespace: str,
                         tmp_path: Path) -> Iterator[str]:
    """A kubeconfig for a ServiceAccount bound to nothing."""
    k.run("create", "serviceaccount", "nobody", "-n", namespace)
    token = k.run("create", "token", "nobody", "-n", namespace).stdout.strip()
    admin = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "nobody",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "nobody", "user": {"token": token}}],
        "contexts": [{"name": "nobody", "context": {"cluster": "c", "user": "nobody"}}],
    }
    path = tmp_path / "nobody.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield str(path)


def test_no_permission_to_list_taskjobs(powerless_kubeconfig: str, crds: None,
                                        namespace: str) -> None:
    assert_one_line(run_operator("--kubeconfig", powerless_kubeconfig, "--namespaces",
                                 namespace),
                    "no permission to list taskjobs.taskops.dev", f"in namespace {namespace}",
                    "403")
