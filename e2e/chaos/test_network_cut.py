"""A network cut between the operator and the API server, and nothing else.

The operator reaches the API server through a plain TCP relay on a loopback
port of its own; an iptables rule dropping that port's packets (loopback only)
cuts exactly the operator's connections, its watches and its requests, for
30 s, while the cluster and this test keep talking to the API server
directly. Packets are dropped, not refused: the connections go half-open, the
failure that gives no error. The operator must notice (readiness 503
`unreachable`, `taskops_api_reachable` 0), and recover without a restart: a
TaskJob created during the cut runs once the cut ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from kube import Kubectl, describe_namespace, wait_for
from operator_process import OperatorProcess
from test_taskjob import taskjob, wait_phase

pytestmark = pytest.mark.chaos

CUT_SECONDS = 30


class Relay(threading.Thread):
    """127.0.0.1:`port` -> `upstream`, byte for byte (TLS passes through)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]

    def run(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def iptables(action: str, port: int) -> None:
    for rule in (["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port)],
                 ["OUTPUT", "-o", "lo", "-p", "tcp", "--sport", str(port)]):
        subprocess.run(["iptables", action, rule[0], *rule[1:], "-j", "DROP"], check=True,
                       capture_output=True, timeout=10)


@pytest.fixture
def relayed(kubeconfig: str, tmp_path: Path) -> Iterator[tuple[Relay, str]]:
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        pytest.skip("the cut is an iptables rule: needs root and iptables")
    config = yaml.safe_load(Path(kubeconfig).read_text())
    server = urlparse(config["clusters"][0]["cluster"]["server"])
    if server.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("the relay keeps the API server's certificate valid only on loopback")
    relay = Relay((server.hostname, server.port or 443))
    relay.start()
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    path = tmp_path / "relayed.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield relay, str(path)
    subprocess.run(["iptables", "-D", "INPUT", "-i", "lo", "-p", "tcp", "--dport",
                    str(relay.port), "-j", "DROP"], capture_output=True, check=False)
    subprocess.run(["iptables", "-D", "OUTPUT", "-o", "lo", "-p", "tcp", "--sport",
                    str(relay.port), "-j", "DROP"], capture_output=True, check=False)
    relay.close()


def test_a_30_s_cut_is_noticed_reported_and_survived_without_a_restart(
        k: Kubectl, namespace: str, crds: None, relayed: tuple[Relay, str],
        operator_logs: Path) -> None:
    relay, kubeconfig = relayed
    op = OperatorProcess(kubeconfig, namespace, operator_logs, name="cut").start()
    try:
        k.apply(taskjob("before", "true"), namespace)
        assert wait_phase(k, namespace, "before", ("Succeeded", "Failed"))["phase"] == (
            "Succeeded")
        assert op.metric("taskops_api_reachable") == 1
        pid = op.proc.pid if op.proc else None

        iptables("-I", relay.port)
        cut = time.monotonic()
        try:
            k.apply(taskjob("during", "echo -n ran > /dev/termination-log"), namespace)
            status = wait_for("readiness to say unreachable", lambda: (
                op.health("/readyz")[0] == 503 and "unreachable" in op.health("/readyz")[1]),
                timeout=CUT_SECONDS - 5, interval=0.5)
            noticed = time.monotonic() - cut
            assert status
            assert op.metric("taskops_api_reachable") == 0
            assert op.health("/healthz")[0] == 200, "a cut is not a reason to be killed"
            time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut)))
        finally:
            iptables("-D", relay.port)
        healed = time.monotonic()
        wait_for("ready again", lambda: op.health("/readyz")[0] == 200, timeout=30,
                 interval=0.5)
        ready_again = time.monotonic() - healed
        status = wait_phase(k, namespace, "during", ("Succeeded", "Failed"), timeout=120)
        ran_after = time.monotonic() - healed
        assert status["phase"] == "Succeeded" and status["result"] == "ran", status
        assert status["attemptCount"] == 1, status
        assert op.proc is not None and op.proc.poll() is None and op.proc.pid == pid, (
            "the operator restarted")
        k.apply(taskjob("after", "true"), namespace)
        assert wait_phase(k, namespace, "after", ("Succeeded", "Failed"))["phase"] == (
            "Succeeded")
        print(f"\nnetwork cut {CUT_SECONDS}s: not ready after {noticed:.1f}s, ready "
              f"{ready_again:.1f}s after the cut ended, the job made during the cut "
              f"succeeded {ran_after:.1f}s after")
    except BaseException:
        print(describe_namespace(k, namespace) + op.logs(150))
        raise
    finally:
        k.run("delete", "taskjobs.taskops.dev", "--all", "-n", namespace, "--wait=true",
              "--timeout=60s", check=False, timeout=90)
        op.stop()
