"""steady state: the operator holding N finished TaskJobs and their pods.

Measured right after a taskops burst of N (`burst --steady`), on the same
objects: the operator's RSS and CPU while idle, then the time from a restart
to Ready (every TaskJob and pod listed back into its caches), and the RSS of
the restarted process, which holds the same N objects without the burst's
history.
"""

from __future__ import annotations

import time
from typing import Any

from . import procstat
from .results import environment
from .sides import Running

SETTLE_SECONDS = 10.0
IDLE_SECONDS = 30.0


def measure(running: Running, n: int) -> dict[str, Any]:
    op = running.stop_after
    assert op is not None and op.proc is not None, "steady state is measured on taskops"
    time.sleep(SETTLE_SECONDS)
    first = procstat.sample(op.proc.pid)
    time.sleep(IDLE_SECONDS)
    idle = procstat.sample(op.proc.pid)
    op.stop()
    started = time.monotonic()
    restart: float | None
    try:
        op.start()  # returns once /readyz answers 200: caches warm
        restart = time.monotonic() - started
    except AssertionError:
        restart = None
    assert op.proc is not None
    time.sleep(SETTLE_SECONDS)
    restarted = procstat.sample(op.proc.pid)
    return {
        "scenario": "steady", "side": "taskops", "n": n, "env": environment(),
        "rss_bytes": idle.rss_bytes,
        "idle_cpu_percent": round((idle.cpu_seconds - first.cpu_seconds) / IDLE_SECONDS * 100, 2),
        "restart_to_ready_seconds": None if restart is None else round(restart, 3),
        "restart_rss_bytes": restarted.rss_bytes,
        "restart_peak_rss_bytes": restarted.peak_rss_bytes,
    }
