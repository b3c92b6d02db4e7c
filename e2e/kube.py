"""Helpers for end-to-end tests against a real cluster (the local one or kind).

Everything here talks to a real API server: no mocks. Waits poll with a
deadline and, when they time out, say what they saw; `describe_namespace`
gathers what a person would look at (objects as YAML, events, pod logs).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
CLUSTER_DIR = HERE / "cluster"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.35"


def kubectl_binary() -> str:
    """The pinned kubectl from the cluster build cache, else the one on PATH."""
    cache = Path(os.environ.get("TASKOPS_CACHE", Path.home() / ".cache/taskops"))
    pinned = cache / "bin/current/kubectl"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: run e2e/cluster/build or install kubectl")
    return found


@dataclass
class Kubectl:
    """`kubectl` bound to one kubeconfig, as a user would run it."""

    kubeconfig: str
    binary: str

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, "--kubeconfig", self.kubeconfig, *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
            )
        return proc

    def apply(self, manifest: dict[str, Any] | str, namespace: str | None = None,
              check: bool = True) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.run(*args, input=text, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
        proc = self.run(*args, check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr:
                return None
            raise AssertionError(proc.stderr)
        obj: dict[str, Any] = json.loads(proc.stdout)
        return obj

    def list(self, kind: str, namespace: str | None = None,
             selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else [])
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = json.loads(self.run(*args).stdout)["items"]
        return items


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60,
             interval: float = 0.5, on_timeout: Callable[[], str] | None = None) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            context = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{context}")
        time.sleep(interval)


def describe_namespace(k: Kubectl, namespace: str, tail: int = 40) -> str:
    """What a person would look at when a test fails: objects, events, pod logs."""
    out: list[str] = []
    kinds = "pods,taskjobs.taskops.dev,taskschedules.taskops.dev"
    for kind in kinds.split(","):
        proc = k.run("get", kind, "-n", namespace, "-o", "yaml", check=False)
        if proc.returncode == 0 and "items: []" not in proc.stdout:
            out.append(f"--- {kind} ---\n{proc.stdout[-6000:]}")
    events = k.run("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)
    out.append(f"--- events ---\n{events.stdout}{events.stderr}")
    for pod in k.list("pods", namespace) if events.returncode == 0 else []:
        name = pod["metadata"]["name"]
        logs = k.run("logs", name, "-n", namespace, "--all-containers", f"--tail={tail}",
                     check=False)
        out.append(f"--- logs {name} ---\n{logs.stdout}{logs.stderr}")
    return "\n".join(out)


def cluster_logs(lines: int = 30) -> str:
    """Tails of the local cluster's component logs (empty when using another cluster)."""
    cache = Path(os.environ.get("TASKOPS_CACHE", Path.home() / ".cache/taskops"))
    state = Path(os.environ.get("TASKOPS_CLUSTER_DIR", cache / "cluster"))
    out: list[str] = []
    for log in sorted((state / "logs").glob("*.log")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"--- {log.name} (last {lines} lines) ---\n" + "\n".join(text))
    return "\n".join(out)


class PodWatch:
    """Every version of the pods in a namespace, as `kubectl get -w` streams them.

    For what only shows for a moment: a container's terminated state while
    its pod is still held by a finalizer, just before it is deleted. `events`
    keeps the stream itself, `(type, pod)` in the API server's order, for
    replaying what was true at each moment (`namespace=None`: every namespace,
    one stream, so moments in different namespaces are ordered too).
    """

    def __init__(self, k: Kubectl, namespace: str | None, selector: str | None = None) -> None:
        scope = ["-n", namespace] if namespace else ["-A"]
        self._proc = subprocess.Popen(
            [k.binary, "--kubeconfig", k.kubeconfig, "get", "pods", *scope, "-w",
             "-o", "json", "--output-watch-events", *(["-l", selector] if selector else [])],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.seen: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        import threading

        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        decoder = json.JSONDecoder()
        buffer = ""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            buffer += line
            while buffer.strip():
                try:
                    obj, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                self.events.append((obj.get("type", ""), obj.get("object", obj)))
                self.seen.append(obj.get("object", obj))

    def alive(self) -> bool:
        """True while the watch still streams (a closed watch may have missed changes)."""
        return self._proc.poll() is None

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(5)

    def terminated(self, pod_name: str) -> dict[str, Any] | None:
        """The main container's last terminated state seen for `pod_name`."""
        found = None
        for pod in list(self.seen):
            if pod.get("metadata", {}).get("name") != pod_name:
                continue
            for status in pod.get("status", {}).get("containerStatuses") or []:
                if "terminated" in status.get("state", {}):
                    found = status["state"]["terminated"]
        return found


LOCKS = Path.home() / ".cache" / "taskops"


@contextlib.contextmanager
def worker_lock(name: str) -> Iterator[None]:
    """Held by one pytest-xdist worker at a time (make e2e runs several): for
    what each worker's session sets up on the one cluster they share."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    with (LOCKS / f"e2e-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
