"""Whether the API server answers, for readiness and a metric.

Every `PROBE_SECONDS` the operator asks the API server for `/version` (every
authenticated client may: `system:public-info-viewer`) on a client and a
thread of its own, with a short timeout and no retries, so neither a
saturated reconcile pool nor the rate limit can make it fail, and a cut
connection is noticed within seconds. After `FAILURES_TO_UNREADY` failures
in a row readiness answers 503 `unreachable` with the reason, and
`taskops_api_reachable` reads 0; the first success makes it ready again.
Nothing restarts: the watches reconnect on their own (kopf restarts a watch
that has delivered nothing, not even a bookmark, for 70 s), and the
reconcilers' calls time out and are retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from taskops.kube.client import TimedApiClient, load_configuration

log = logging.getLogger(__name__)

PROBE_SECONDS: Final = 5.0
PROBE_TIMEOUT: Final = (3.0, 3.0)  # connect, read
FAILURES_TO_UNREADY: Final = 2


def probe_client(kubeconfig: str | None) -> TimedApiClient:
    """A client for the probe alone: one connection, no retries (a retried read
    would hide a cut for four timeouts)."""
    configuration = load_configuration(kubeconfig)
    configuration.retries = 0
    configuration.connection_pool_maxsize = 1
    return TimedApiClient(configuration, PROBE_TIMEOUT)


def probe(api: k8s.ApiClient) -> str | None:
    """None when the API server answers `/version`, else why not. Blocking."""
    try:
        version: Any = k8s.VersionApi(api)
        version.get_code(_preload_content=False).read()
    except ApiException as err:
        return f"the API server answers HTTP {err.status} {err.reason} to /version"
    except Exception as err:  # any transport failure is "cannot reach"
        reason = getattr(err, "reason", None) or err
        return f"cannot reach the API server at {api.configuration.host}: {reason}"
    return None


@dataclass
class Reachability:
    """Turns probe outcomes into a verdict: unreachable after `failures` in a row."""

    failures: int = FAILURES_TO_UNREADY
    _in_a_row: int = 0

    def observe(self, problem: str | None) -> str | None:
        """The problem to report now (None: reachable)."""
        if problem is None:
            self._in_a_row = 0
            return None
        self._in_a_row += 1
        return problem if self._in_a_row >= self.failures else None


async def watch_api(api: k8s.ApiClient, executor: Executor,
                    report: Callable[[str | None], None],
                    interval: float = PROBE_SECONDS) -> None:
    """Probe until cancelled; `report(problem)` after every probe."""
    loop = asyncio.get_running_loop()
    verdict = Reachability()
    reported: str | None = None
    while True:
        problem = verdict.observe(await loop.run_in_executor(executor, probe, api))
        if (problem is None) != (reported is None):
            if problem is None:
                log.info("the API server answers again")
            else:
                log.warning("not ready: %s", problem)
        reported = problem
        report(problem)
        await asyncio.sleep(interval)
