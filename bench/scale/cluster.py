"""The bench cluster as the harness sees it: bring it up, find its processes,
talk to its API server."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
UP = ROOT / "bench" / "cluster" / "up"
CACHE = Path(os.environ.get("TASKOPS_CACHE", Path.home() / ".cache" / "taskops"))
STATE = Path(os.environ.get("TASKOPS_BENCH_DIR", CACHE / "bench-cluster"))
KUBECTL = CACHE / "bin" / "current" / "kubectl"
# kube-controller-manager's own defaults: the Job and CronJob controllers
# ship with these.
KCM_DEFAULT_QPS = 20.0
KCM_DEFAULT_BURST = 30


@dataclass(frozen=True)
class BenchCluster:
    admin_kubeconfig: Path
    operator_kubeconfig: Path
    audit_log: Path

    @classmethod
    def up(cls, *, fresh: bool, kcm_qps: float = KCM_DEFAULT_QPS,
           kcm_burst: int = KCM_DEFAULT_BURST, nodes: int = 16) -> BenchCluster:
        args = [str(UP), "--kcm-qps", str(kcm_qps), "--kcm-burst", str(kcm_burst),
                "--nodes", str(nodes)]
        if fresh:
            args.append("--fresh")
        out = subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True,
                             stderr=subprocess.DEVNULL if fresh else None)
        admin = Path(out.stdout.strip().splitlines()[-1])
        cluster = cls(admin, STATE / "operator.kubeconfig", STATE / "audit" / "audit.log")
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        return cluster

    def pid(self, component: str) -> int:
        return int((STATE / "pids" / f"{component}.pid").read_text())

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return subprocess.run([str(KUBECTL), "--kubeconfig", str(self.admin_kubeconfig), *args],
                              check=True, capture_output=True, text=True, input=input).stdout

    def api(self, *, pool: int = 32) -> client.ApiClient:
        """An unthrottled client for the bench's own requests."""
        cfg = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            str(self.admin_kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = pool
        return client.ApiClient(cfg)

    def audit_offset(self) -> int:
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0


def request(api: client.ApiClient, method: str, path: str, *,
            query: list[tuple[str, str]] | None = None, body: object = None,
            timeout: float | None = 60, ok: tuple[int, ...] = (200, 201),
            stream: bool = False, content_type: str = "application/json") -> Any:
    """One raw request: the decoded JSON body, or with `stream` the urllib3
    response unread (a watch reads it as it comes)."""
    _, url, headers, data, _ = api.param_serialize(
        method, path, query_params=query or [], body=body,
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        auth_settings=["BearerToken"])
    resp = api.call_api(method, url, header_params=headers, body=data, _request_timeout=timeout)
    if resp.status not in ok:
        raise RuntimeError(f"{method} {path}: {resp.status} {resp.read()[:500]!r}")  # type: ignore[no-untyped-call]
    if stream:
        return resp.response
    return json.loads(resp.read())  # type: ignore[no-untyped-call]


def create_all(api: client.ApiClient, path: str, bodies: list[dict[str, Any]],
               workers: int = 16) -> dict[str, float]:
    """Creates every body, returns name -> monotonic time its create returned."""
    def create(body: dict[str, Any]) -> tuple[str, float]:
        request(api, "POST", path, body=body)
        return body["metadata"]["name"], time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(create, bodies))
