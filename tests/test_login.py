"""kopf's credentials come from --kubeconfig, not from $KUBECONFIG at import."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
import yaml

from taskops.kube.login import PRIORITY, connection_info
from taskops.runtime import build_registry

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


def write_kubeconfig(path: Path, server: str, user: dict[str, str]) -> str:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server,
                                               "certificate-authority-data": CA}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    return str(path)


def test_a_token_kubeconfig_gives_its_server_and_bearer_token(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", "https://10.1.2.3:16443", {"token": "s3cret"})
    info = connection_info(path)
    assert info.server == "https://10.1.2.3:16443"
    assert (info.scheme, info.token) == ("Bearer", "s3cret")
    assert info.priority == PRIORITY
    assert info.ca_path and Path(info.ca_path).read_bytes().startswith(b"-----BEGIN")


def test_a_certificate_kubeconfig_gives_key_pair_paths(tmp_path: Path) -> None:
    pem = base64.b64encode(b"pem").decode()
    path = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443",
                            {"client-certificate-data": pem, "client-key-data": pem})
    info = connection_info(path)
    assert info.token is None
    assert info.certificate_path and info.private_key_path
    assert Path(info.certificate_path).read_bytes() == b"pem"


def test_the_registry_logs_in_with_the_given_file_whatever_kubeconfig_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    path = write_kubeconfig(tmp_path / "kc", "https://192.0.2.7:443", {"token": "t"})
    registry = build_registry((), {}, kubeconfig=path)
    (handler,) = [h for h in registry._activities.get_all_handlers()
                  if h.activity == "authentication"]
    info = handler.fn()
    if asyncio.iscoroutine(info):
        info = asyncio.run(info)
    assert info.server == "https://192.0.2.7:443"
