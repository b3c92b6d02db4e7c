"""The local kind path (e2e/kind/local, docs/kind.md) names versions in three places
that must agree with e2e/cluster/versions.env: the node image's tag, the etcd image
kubeadm is told to use, and the kind release. Bumping a version in versions.env
without the kind config would only show on a machine that runs kind; this shows it
in make unit."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = dict(line.split("=", 1) for line in (ROOT / "e2e/cluster/versions.env").read_text()
                .splitlines() if line and not line.startswith("#"))


def local_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "e2e/kind/kind-config.local.yaml").read_text())


def test_the_local_cluster_runs_the_node_image_built_for_the_pinned_kubernetes() -> None:
    build = (ROOT / "e2e/kind/node-image/build").read_text()
    assert 'tag=${1:-taskops.dev/kind-node:$KUBE_VERSION}' in build
    images = [node["image"] for node in local_config()["nodes"]]
    assert images == [f"taskops.dev/kind-node:{VERSIONS['KUBE_VERSION']}"]


def test_kubeadm_is_told_the_etcd_tag_the_node_image_carries() -> None:
    build = (ROOT / "e2e/kind/node-image/build").read_text()
    assert 'one_binary "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" etcd' in build
    patches = [yaml.safe_load(p) for p in local_config()["kubeadmConfigPatches"]]
    cluster = next(p for p in patches if p["kind"] == "ClusterConfiguration")
    assert cluster["etcd"]["local"]["imageTag"] == VERSIONS["ETCD_VERSION"].removeprefix("v") + "-0"


def test_the_default_cni_is_off_because_the_node_image_brings_its_own() -> None:
    assert local_config()["networking"]["disableDefaultCNI"] is True
    conflist = ROOT / "e2e/kind/node-image/overrides/etc/cni/net.d/10-bridge.conflist"
    assert '"type": "bridge"' in conflist.read_text()


def test_kind_and_the_node_images_extra_binaries_are_built_only_when_named() -> None:
    build = (ROOT / "e2e/cluster/build").read_text()
    assert 'gobin_install "sigs.k8s.io/kind@$KIND_VERSION" kind' in build
    assert 'for cmd in kubeadm kube-proxy; do\n  [[ "$wanted" == *" $cmd "* ]] || continue' in build
    assert VERSIONS["KIND_VERSION"].startswith("v0.")


def test_the_suite_on_kind_cannot_fall_back_to_the_local_cluster(tmp_path: Path) -> None:
    """e2e/conftest.py brings the local cluster up when KUBECONFIG stops answering; on
    a machine where another run uses that cluster, the kind run must fail instead.
    e2e/kind/local runs the suite with guard/ first on PATH and an empty cluster
    directory; e2e/cluster/up builds before it starts anything, and the build asks
    `go` first: with the guard's `go` it stops there, having made nothing."""
    local = (ROOT / "e2e/kind/local").read_text()
    assert "PATH=$here/guard:$PATH TASKOPS_CLUSTER_DIR=$no_local" in local
    up = (ROOT / "e2e/cluster/up").read_text()
    assert up.index('"$here/build" >&2') < up.index("sysctl -qw") < up.index("start_etcd")
    cache = tmp_path / "cache"
    env = {"PATH": f"{ROOT / 'e2e/kind/guard'}:{os.environ['PATH']}", "HOME": str(tmp_path),
           "TASKOPS_CACHE": str(cache)}
    build = subprocess.run([str(ROOT / "e2e/cluster/build"), "helm"], capture_output=True,
                           text=True, env=env, timeout=60)
    assert build.returncode != 0, build.stdout + build.stderr
    assert not cache.exists()


def test_the_kind_nodes_ranges_are_not_the_local_clusters_and_the_pod_range_is_routed() -> None:
    """The host routes the local cluster's pod range to its bridge and its kube-proxy
    catches its Service range: kind's own defaults (the same ranges) would send what
    the host-side suite (Prometheus) addresses to a pod into the wrong cluster."""
    lib = dict(line.split("=", 1) for line in (ROOT / "e2e/cluster/lib.sh").read_text()
               .splitlines() if line.startswith(("POD_CIDR=", "SERVICE_CIDR=")))
    networking = local_config()["networking"]
    pods, services = (ipaddress.ip_network(networking[k]) for k in ("podSubnet", "serviceSubnet"))
    for taken in lib.values():
        assert not pods.overlaps(ipaddress.ip_network(taken))
        assert not services.overlaps(ipaddress.ip_network(taken))
    conflist = json.loads(
        (ROOT / "e2e/kind/node-image/overrides/etc/cni/net.d/10-bridge.conflist").read_text())
    [[node_range]] = conflist["plugins"][0]["ipam"]["ranges"]
    assert ipaddress.ip_network(node_range["subnet"]).subnet_of(pods)
    assert f"POD_SUBNET={pods}\n" in (ROOT / "e2e/kind/local").read_text()
