"""kopf's credentials, from the same configuration as our own API clients.

kopf's stock login (`login_via_client`) loads the kubeconfig named by
$KUBECONFIG as it was when the kubernetes library was imported, so
`--kubeconfig` alone never reached kopf's watches: they failed with "Ran out
of valid credentials" while our writes worked. One loader for both keeps them
on the same cluster as the same user.
"""

from __future__ import annotations

from typing import Any

import kopf

from .client import load_configuration

# Above kopf's own login handlers, should any be registered too.
PRIORITY = 100


def connection_info(kubeconfig: str | None) -> kopf.ConnectionInfo:
    config = load_configuration(kubeconfig)
    header = (config.get_api_key_with_prefix("BearerToken")
              or config.get_api_key_with_prefix("authorization"))
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (
        (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1]))
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        priority=PRIORITY,
    )


def register_login(registry: kopf.OperatorRegistry, kubeconfig: str | None) -> None:
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(kubeconfig)
