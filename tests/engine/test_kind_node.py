"""The kind node image made here (e2e/kind/node-image/build) for machines that cannot
pull kindest/node: started as kind starts a node (privileged, its own cgroup
namespace, tmpfs /tmp and /run, a volume on /var), but with --network=none and a veth
pair inside the node's own network namespace, so that it runs beside the local test
cluster without a bridge or an iptables rule on the host. kubeadm is then run the way
kind runs it (preflight skipped, kube-proxy's conntrack left alone, the node image's
etcd tag), and the chart is installed with the Dockerfile's image and tested.

This checks the image; `e2e/kind/local` checks kind itself with it (it needs a podman
network, so it cannot run beside the local cluster). Run by `make image-test`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from podman_engine import ROOT, Podman, engine_env

VERSIONS = dict(line.split("=", 1) for line in (ROOT / "e2e/cluster/versions.env").read_text()
                .splitlines() if line and not line.startswith("#"))
KUBE_VERSION = VERSIONS["KUBE_VERSION"]
ETCD_TAG = VERSIONS["ETCD_VERSION"].removeprefix("v") + "-0"
NODE_IP = "172.30.0.2"
# What kind's kubeadm config template says that matters here (pkg/cluster/internal/kubeadm).
KUBEADM_CONFIG = f"""\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {{advertiseAddress: {NODE_IP}, bindPort: 6443}}
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs: [{{name: node-ip, value: {NODE_IP}}}]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {KUBE_VERSION}
etcd: {{local: {{imageTag: {ETCD_TAG}}}}}
networking: {{podSubnet: 10.245.0.0/16, serviceSubnet: 10.97.0.0/16}}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
cgroupRoot: /kubelet
failSwapOn: false
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
conntrack: {{maxPerCore: 0}}
"""


class Node:
    def __init__(self, podman: Podman, name: str) -> None:
        self.podman, self.name = podman, name

    def sh(self, script: str, check: bool = True,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", self.name, "sh", "-c", script, check=check, timeout=timeout)

    def kubectl(self, *args: str, check: bool = True,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", "-e", "KUBECONFIG=/etc/kubernetes/admin.conf", self.name,
                           "kubectl", *args, check=check, timeout=timeout)

    def copy_in(self, source: Path, target: str) -> None:
        self.podman("cp", str(source), f"{self.name}:{target}")


@pytest.fixture(scope="module")
def podman() -> Podman:
    return Podman(engine_env())


@pytest.fixture(scope="module")
def node(podman: Podman) -> Iterator[Node]:
    built = subprocess.run([str(ROOT / "e2e/kind/node-image/build")], capture_output=True,
                           text=True, env=podman.env, timeout=1800)
    assert built.returncode == 0, f"e2e/kind/node-image/build failed:\n{built.stderr[-4000:]}"
    image = built.stdout.strip().splitlines()[-1]
    name = f"taskops-kind-node-test-{os.getpid()}"
    podman("run", "-d", "--name", name, "--hostname", "kind-node-test", "--privileged",
           "--cgroupns=private", "-e", "container=podman", "--network=none",
           "--security-opt", "seccomp=unconfined", "--tmpfs", "/tmp", "--tmpfs", "/run",
           "-v", "/var", "--tty", image)
    try:
        yield Node(podman, name)
    finally:
        podman("rm", "-f", "-v", "-t", "10", name, check=False)


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}")


def test_the_node_boots_systemd_and_containerd_with_the_control_planes_images(
        node: Node) -> None:
    wait_until("systemd to finish starting", lambda: node.sh(
        "systemctl is-system-running", check=False).stdout.strip() in ("running", "degraded"),
        timeout=120)
    failed = node.sh("systemctl --failed --no-legend --plain").stdout
    assert failed.strip() == "", failed
    images = node.sh("ctr -n k8s.io images ls -q").stdout.split()
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                      "kube-proxy"):
        assert f"registry.k8s.io/{component}:{KUBE_VERSION}" in images, images
    assert f"registry.k8s.io/etcd:{ETCD_TAG}" in images, images
    assert "registry.k8s.io/pause:3.10" in images, images
    # This VM refuses a negative oom_score_adj: containerd must not ask for one.
    assert "restrict_oom_score_adj = true" in node.sh("cat /etc/containerd/config.toml").stdout


def test_kubeadm_brings_up_a_node_whose_pods_reach_the_api_by_its_service_ip(
        node: Node) -> None:
    # The node's own network namespace: a veth pair inside it, nothing on the host.
    node.sh(f"ip link add eth0 type veth peer name eth1 && ip addr add {NODE_IP}/24 dev eth0"
            " && ip link set eth1 up && ip link set eth0 up"
            f" && ip route add default via {NODE_IP.rsplit('.', 1)[0]}.1 dev eth0 onlink")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "kubeadm.yaml"
        config.write_text(KUBEADM_CONFIG)
        node.copy_in(config, "/kind/kubeadm-test.yaml")
        busybox = subprocess.run([str(ROOT / "e2e/cluster/images/build-images")],
                                 capture_output=True, text=True, check=True).stdout.strip()
        node.copy_in(Path(busybox) / f"busybox-{VERSIONS['BUSYBOX_TAG']}.tar", "/tmp/busybox.tar")
    node.sh("ctr -n k8s.io images import /tmp/busybox.tar")
    init = node.sh("kubeadm init --config /kind/kubeadm-test.yaml --skip-phases=preflight",
                   check=False, timeout=600)
    assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]
    node.kubectl("taint", "nodes", "--all", "node-role.kubernetes.io/control-plane-")
    node.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s",
                 timeout=150)
    node.kubectl("-n", "kube-system", "rollout", "status", "daemonset/kube-proxy",
                 "--timeout=120s", timeout=150)
    node.kubectl("run", "reach-api", f"--image={VERSIONS['BUSYBOX_IMAGE']}",
                 "--image-pull-policy=Never", "--restart=Never", "--",
                 "wget", "-q", "-O-", "--no-check-certificate", "https://10.97.0.1/version")
    node.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/reach-api",
                 "--timeout=90s", timeout=120)
    assert f'"gitVersion": "{KUBE_VERSION}"' in node.kubectl("logs", "reach-api").stdout


def test_the_chart_installs_the_dockerfiles_image_and_helm_test_passes(
        podman: Podman, node: Node) -> None:
    built = subprocess.run([str(ROOT / "e2e/engine/build-image")], capture_output=True,
                           text=True, env=podman.env, timeout=1800)
    assert built.returncode == 0, f"e2e/engine/build-image failed:\n{built.stderr[-4000:]}"
    image = built.stdout.strip().splitlines()[-1]
    helm = subprocess.run([str(ROOT / "e2e/cluster/build"), "--print"], capture_output=True,
                          text=True, check=True).stdout.strip() + "/current/helm"
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "image.tar"
        podman("save", "-q", "--format", "docker-archive", "-o", str(archive), image)
        node.copy_in(archive, "/tmp/taskops.tar")
    node.copy_in(Path(helm), "/usr/local/bin/helm")
    node.copy_in(ROOT / "charts" / "taskops", "/tmp/chart")
    node.sh("ctr -n k8s.io images import /tmp/taskops.tar")
    node.kubectl("create", "namespace", "taskops-system")
    node.kubectl("label", "namespace", "taskops-system",
                 "pod-security.kubernetes.io/enforce=restricted")
    helm_env = "KUBECONFIG=/etc/kubernetes/admin.conf"
    repository, tag = image.rsplit(":", 1)
    install = node.sh(f"{helm_env} helm install taskops /tmp/chart -n taskops-system"
                      f" --set image.repository={repository} --set image.tag={tag}"
                      " --wait --timeout 180s", check=False, timeout=240)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:] + node.kubectl(
        "-n", "taskops-system", "describe", "pods", check=False).stdout[-3000:]
    test = node.sh(f"{helm_env} helm test taskops -n taskops-system --timeout 150s",
                   check=False, timeout=200)
    assert test.returncode == 0 and "Phase:          Succeeded" in test.stdout, (
        test.stdout[-2000:] + test.stderr[-2000:])
