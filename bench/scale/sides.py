"""The two sides of a comparison: the controller that does the work, how to
start it at a client limit, and whose requests the audit log counts."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from . import audit
from .cluster import KCM_DEFAULT_BURST, KCM_DEFAULT_QPS, ROOT, STATE, BenchCluster

sys.path.insert(0, str(ROOT / "e2e"))
from operator_process import OperatorProcess

# The client limits of a run. "defaults": each side as it ships (the Job
# controller at kube-controller-manager's 20/30, the operator at its own
# defaults). "equal": both sides at the same limit, high enough that neither
# waits for it (bench-notes.md: kube-controller-manager at 5000/10000), so the
# figures compare the controllers' own work, not their throttles.
LIMITS = ("defaults", "equal")
EQUAL_QPS = 5000.0
EQUAL_BURST = 10000


def kcm_limits(limits: str) -> tuple[float, int]:
    """kube-controller-manager's --kube-api-qps and --kube-api-burst for a run."""
    return (EQUAL_QPS, EQUAL_BURST) if limits == "equal" else (KCM_DEFAULT_QPS, KCM_DEFAULT_BURST)


@dataclass
class Running:
    pid: int
    audit_user: str
    stop_after: OperatorProcess | None = None


@contextmanager
def controller(side: str, cluster: BenchCluster, namespace: str, limits: str,
               controller_user: str = audit.JOB_CONTROLLER,
               operator_args: Sequence[str] = ()) -> Iterator[Running]:
    """Runs the side's controller for the duration of the block; `operator_args`
    are more flags for the operator (`--max-running 100`)."""
    if side == "builtin":
        yield Running(cluster.pid("kube-controller-manager"), controller_user)
        return
    extra = ["--log-level", "INFO", "--log-format", "json", *operator_args]
    if limits == "equal":
        extra += ["--kube-api-qps", f"{EQUAL_QPS:g}", "--kube-api-burst", str(EQUAL_BURST)]
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    op = OperatorProcess(str(cluster.operator_kubeconfig), namespace, logs, extra_args=extra)
    op.start()
    assert op.proc is not None
    try:
        yield Running(op.proc.pid, audit.OPERATOR, op)
    finally:
        op.stop()
