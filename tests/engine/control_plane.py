"""A throwaway API server for the images' readiness checks: etcd and kube-apiserver
from the cached builds of e2e/cluster/build, on free loopback ports, with their data
in a temporary directory, stopped by their PIDs.

Not the local test cluster (e2e/cluster/up): no kubelet, no network setup, nothing
shared with it; just enough for the operator's startup (version check, CRDs, lists)
and watches, so that /readyz answers 200 for the reason it would in a cluster.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> Path:
    bin_dir = subprocess.run([str(ROOT / "e2e/cluster/build"), "--print"], check=True,
                             capture_output=True, text=True).stdout.strip()
    path = Path(bin_dir) / "current" / name
    if not path.exists():  # built once, cached by version (minutes when cold)
        subprocess.run(["nice", "-n", "19", str(ROOT / "e2e/cluster/build"), name], check=True)
    return path


@dataclass
class ControlPlane:
    kubeconfig: Path
    url: str
    token: str
    logs: Path

    def tail(self) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-20:])
                         for log in sorted(self.logs.glob("*.log")))


def _ready(url: str, token: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only "is it up yet"; the operator verifies the CA
    request = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def control_plane(state: Path) -> Iterator[ControlPlane]:
    state.mkdir(parents=True, exist_ok=True)
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    token = secrets.token_hex(16)
    (state / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")
    subprocess.run(["openssl", "genrsa", "-out", str(state / "sa.key"), "2048"], check=True,
                   capture_output=True)
    # Its own serving certificate for localhost (the one kube-apiserver would make
    # names only kubernetes.default.svc and the like); self-signed, so also the CA.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(state / "serving.key"), "-out", str(state / "serving.crt")],
                   check=True, capture_output=True)
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    commands = {
        "etcd": [str(binary("etcd")), "--name", "throwaway", "--data-dir", str(state / "etcd"),
                 "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--initial-cluster", f"throwaway={peer_url}"],
        "kube-apiserver": [
            str(binary("kube-apiserver")), "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--secure-port", str(api_port),
            "--tls-cert-file", str(state / "serving.crt"),
            "--tls-private-key-file", str(state / "serving.key"),
            "--token-auth-file", str(state / "tokens.csv"), "--authorization-mode", "RBAC",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(state / "sa.key"),
            "--service-account-signing-key-file", str(state / "sa.key"),
            "--service-cluster-ip-range", "10.0.0.0/24",
            # No Service endpoints to keep (and no address to advertise them at).
            "--endpoint-reconciler-type", "none",
        ],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            with (logs / f"{name}.log").open("wb") as log:
                processes.append(subprocess.Popen(["nice", "-n", "10", *command], stdout=log,
                                                  stderr=subprocess.STDOUT,
                                                  start_new_session=True))
        url = f"https://localhost:{api_port}"
        deadline = time.monotonic() + 120
        while not _ready(url, token):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}"
                                  for log in logs.glob("*.log"))
                raise RuntimeError(f"the throwaway API server did not become ready:\n{tails}")
            time.sleep(0.5)
        ca = (state / "serving.crt").read_bytes()
        kubeconfig = state / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "throwaway",
            "clusters": [{"name": "throwaway", "cluster": {
                "server": url, "certificate-authority-data": base64.b64encode(ca).decode()}}],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "throwaway",
                          "context": {"cluster": "throwaway", "user": "admin"}}],
        }))
        kubeconfig.chmod(0o644)  # read by the operator's non-root user in its container
        yield ControlPlane(kubeconfig=kubeconfig, url=url, token=token, logs=logs)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
