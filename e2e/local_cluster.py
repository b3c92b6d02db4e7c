"""The local test cluster's processes (e2e/cluster/up), for the tests that stop
and start them: the control plane restarts and the node loss. Other clusters
(kind) have no such processes; those tests skip there."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from kube import CLUSTER_DIR, wait_for

CACHE = Path(os.environ.get("TASKOPS_CACHE", Path.home() / ".cache/taskops"))
STATE = Path(os.environ.get("TASKOPS_CLUSTER_DIR", CACHE / "cluster"))


def is_local_cluster(kubeconfig: str) -> bool:
    return Path(kubeconfig).resolve() == (STATE / "admin.kubeconfig").resolve()


def pid_of(component: str) -> int:
    return int((STATE / "pids" / f"{component}.pid").read_text())


def kill(component: str) -> None:
    """SIGKILL, and wait until it is gone: `up` must not find it still running."""
    pid = pid_of(component)
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, IndexError):
            return True
        return state == "Z"

    wait_for(f"{component} gone", gone, timeout=10, interval=0.1)


def bring_up() -> float:
    """e2e/cluster/up starts what is not running; returns the seconds it took."""
    started = time.monotonic()
    proc = subprocess.run([str(CLUSTER_DIR / "up")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.monotonic() - started
