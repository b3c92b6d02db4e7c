"""Runs the taskops operator as a real process against the test cluster.

Per test, watching only the test's namespace, so a test may kill, restart or
scrape its operator without disturbing others, and its metrics count only
what that test did.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OperatorProcess:
    def __init__(self, kubeconfig: str, namespace: str, log_dir: Path,
                 extra_args: list[str] | None = None, name: str = "taskops") -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.extra_args = extra_args or []
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.log_path = log_dir / f"{name}-{namespace}.log"
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        args = [sys.executable, "-m", "taskops", "--kubeconfig", self.kubeconfig,
                "--namespaces", self.namespace, "--health-port", str(self.health_port),
                "--metrics-port", str(self.metrics_port), "--bind-address", "127.0.0.1",
                "--identity", f"{self.name}-{os.getpid()}", "--log-level", "DEBUG",
                *self.extra_args]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.wait_ready()
        return self

    def _get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited ({self.proc.returncode}):\n{self.logs()}")
            try:
                if self._get(self.health_port, "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"operator not ready after {timeout}s:\n{self.logs()}")

    def health(self, path: str = "/healthz") -> tuple[int, str]:
        return self._get(self.health_port, path)

    def metrics(self) -> str:
        return self._get(self.metrics_port, "/metrics")[1]

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample (0 when absent), from the live /metrics."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            series, _, value = line.rpartition(" ")
            metric_name, _, label_text = series.partition("{")
            if metric_name != name:
                continue
            if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += float(value)
        return total

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and wait for the exit; return the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"operator did not exit {timeout}s after signal {sig}") from None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def logs(self, tail: int = 80) -> str:
        if not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])
