"""The two recipes of the operator image, built for real and compared: the
Dockerfile (built by podman from a debootstrapped debian:bookworm-slim, as
e2e/engine/build-image does) and e2e/image/build (no engine). tests/test_image.py
compares the recipes' text; this compares what they made: the same Python
packages, the same operator code, the same Debian packages, the same non-root
user, and both start with a read-only root file system and answer /healthz and
/readyz (readiness needs the API server: a throwaway one, tests/engine/control_plane.py).

Both images are built from one snapshot of the tree, so a colleague's edit between
the two builds cannot make them differ. Run by `make image-test`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from control_plane import ControlPlane, control_plane, free_port
from podman_engine import Podman, engine_env

ROOT = Path(__file__).resolve().parents[2]
SITE = "/opt/taskops/lib/python3.11/site-packages"
RECIPE = dict(line.split("=", 1) for line in (ROOT / "e2e/image/recipe.env").read_text()
              .splitlines() if line and not line.startswith("#"))
USER_ID = RECIPE["USER_ID"]
# The context of the Dockerfile (.dockerignore) plus what e2e/image/build reads.
SNAPSHOT = ["Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "operator",
            "e2e/image/requirements.txt"]


@pytest.fixture(scope="module")
def podman() -> Podman:
    return Podman(engine_env())


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for name in SNAPSHOT:
        source, target = ROOT / name, tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(source, target)
    return tree


@pytest.fixture(scope="module")
def images(podman: Podman, snapshot: Path) -> dict[str, str]:
    """{'dockerfile': tag, 'recipe': tag}, both built from the snapshot."""
    dockerfile, recipe = "taskops.dev/taskops:test-dockerfile", "taskops.dev/taskops:test-recipe"
    built = subprocess.run([str(ROOT / "e2e/engine/build-image"), "--context", str(snapshot),
                            "--tag", dockerfile], capture_output=True, text=True,
                           env=podman.env, timeout=1800)
    assert built.returncode == 0, f"e2e/engine/build-image failed:\n{built.stderr[-4000:]}"
    packed = subprocess.run(["nice", "-n", "19", str(ROOT / "e2e/image/build"), "--source",
                             str(snapshot), "--tag", recipe], capture_output=True, text=True,
                            timeout=1800)
    assert packed.returncode == 0, f"e2e/image/build failed:\n{packed.stderr[-4000:]}"
    podman("load", "-q", "-i", packed.stdout.strip().splitlines()[-1])
    return {"dockerfile": dockerfile, "recipe": recipe}


LIST_DISTRIBUTIONS = """
import importlib.metadata as m, json
print(json.dumps(sorted(f"{d.metadata['Name'].lower().replace('_', '-')}=={d.version}"
                        for d in m.distributions())))
"""


def test_both_images_hold_the_same_python_packages_the_lock_and_the_wheel(
        podman: Podman, images: dict[str, str], snapshot: Path) -> None:
    found = {name: json.loads(podman.python(tag, LIST_DISTRIBUTIONS))
             for name, tag in images.items()}
    assert found["dockerfile"] == found["recipe"]
    version = next(line.split('"')[1] for line in (snapshot / "pyproject.toml").read_text()
                   .splitlines() if line.startswith("version"))
    locked = [line.lower().replace("_", "-") for line in
              (snapshot / "e2e/image/requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    # Exactly the lock and the operator: no pip, no setuptools, nothing else.
    assert sorted(found["recipe"]) == sorted([*locked, f"taskops=={version}"])


HASH_CODE = f"""
import hashlib, json, os
root = "{SITE}/taskops"
files = {{}}
for directory, _, names in os.walk(root):
    for name in names:
        path = os.path.join(directory, name)
        # Bytecode records its source's mtime: only that it is there, not its bytes.
        files[os.path.relpath(path, root)] = ("pyc" if name.endswith(".pyc") else
            hashlib.sha256(open(path, "rb").read()).hexdigest())
print(json.dumps(files))
"""


def test_both_images_hold_the_same_operator_code_as_the_tree(
        podman: Podman, images: dict[str, str], snapshot: Path) -> None:
    found = {name: json.loads(podman.python(tag, HASH_CODE)) for name, tag in images.items()}
    assert found["dockerfile"] == found["recipe"]
    # Every module of the tree, byte for byte; any other file the wheel packs must
    # be the tree's too (files pyproject does not package, e.g. the krew manifest
    # template, are in neither image, which is right: the operator never reads them).
    source = snapshot / "operator" / "taskops"
    tree = {str(p.relative_to(source)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    modules = {path: digest for path, digest in tree.items() if path.endswith(".py")}
    code = {path: digest for path, digest in found["recipe"].items() if digest != "pyc"}
    assert {path: d for path, d in code.items() if path.endswith(".py")} == modules
    assert {path: tree.get(path) for path in code} == code
    # Compiled at install time (the root file system is read-only at run time).
    assert any(digest == "pyc" for digest in found["recipe"].values())


def test_both_images_hold_the_same_debian_packages(
        podman: Podman, images: dict[str, str]) -> None:
    found = {}
    for name, tag in images.items():
        listing = podman("run", "--rm", "--network=none", "--entrypoint", "dpkg-query", tag,
                         "-W", "-f", "${Package}=${Version}\n").stdout
        found[name] = sorted(listing.split())
    assert found["dockerfile"] == found["recipe"]
    assert any(p.startswith("python3.11=") for p in found["recipe"])


WHO = "import getpass, json, os; print(json.dumps([os.getuid(), os.getgid(), getpass.getuser()]))"


def test_both_images_run_as_the_same_non_root_user(
        podman: Podman, images: dict[str, str]) -> None:
    for tag in images.values():
        config = json.loads(podman("image", "inspect", tag).stdout)[0]["Config"]
        # Numeric, so that the kubelet can check runAsNonRoot.
        assert config["User"] == f"{USER_ID}:{USER_ID}", tag
        assert config["Entrypoint"] == RECIPE["ENTRYPOINT"].strip('"').split(), tag
        # getpass.getuser() (kopf calls it) needs the user in /etc/passwd.
        assert json.loads(podman.python(tag, WHO)) == [
            int(USER_ID), int(USER_ID), RECIPE["USER_NAME"]], tag


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("control-plane")) as plane:
        kubectl = subprocess.run(
            ["e2e/cluster/build", "--print"], cwd=ROOT, capture_output=True, text=True,
            check=True).stdout.strip() + "/current/kubectl"
        for args in (["apply", "-f", str(ROOT / "crds")],
                     ["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]):
            proc = subprocess.run([kubectl, "--kubeconfig", str(plane.kubeconfig), *args],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
        yield plane


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize("which", ["dockerfile", "recipe"])
def test_the_image_starts_read_only_and_answers_its_probes(
        podman: Podman, images: dict[str, str], api: ControlPlane, which: str) -> None:
    health, metrics = free_port(), free_port()
    name = f"taskops-image-test-{which}-{os.getpid()}"
    # As the chart runs it: read-only root, no capabilities, no privilege
    # escalation, a writable /tmp only; the host's network for the loopback API.
    podman("run", "-d", "--name", name, "--network=host", "--read-only",
           "--read-only-tmpfs=false", "--tmpfs", "/tmp", "--cap-drop=ALL",
           "--security-opt", "no-new-privileges",
           "-v", f"{api.kubeconfig}:/kube/config:ro", images[which],
           "--kubeconfig", "/kube/config", "--namespaces", "default",
           "--bind-address", "127.0.0.1", "--health-port", str(health),
           "--metrics-port", str(metrics))
    try:
        deadline = time.monotonic() + 120
        last: object = None
        while time.monotonic() < deadline:
            state = podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
            assert state == "true", f"the operator exited:\n{podman('logs', name).stderr}"
            try:
                ready = get(f"http://127.0.0.1:{health}/readyz")
                if ready[0] == 200:
                    break
                last = ready
            except OSError as err:
                last = err
            time.sleep(1)
        else:
            pytest.fail(f"/readyz never answered 200 (last: {last}):\n"
                        f"{podman('logs', name).stderr[-3000:]}\n{api.tail()}")
        assert ready[1]["status"] == "ok"
        alive = get(f"http://127.0.0.1:{health}/healthz")
        assert alive[0] == 200 and alive[1]["status"] == "ok", alive
        inspect = json.loads(podman("inspect", name).stdout)[0]
        assert inspect["HostConfig"]["ReadonlyRootfs"] is True
        # Read-only for real, as the operator's user sees it; /tmp is writable.
        wrote = podman("exec", name, "/opt/taskops/bin/python", "-c",
                       "open('/opt/taskops/x', 'w')", check=False)
        assert wrote.returncode != 0 and "Read-only file system" in wrote.stderr, wrote.stderr
        podman("exec", name, "/opt/taskops/bin/python", "-c", "open('/tmp/x', 'w')")
        uid = podman("exec", name, "sh", "-c", "id -u").stdout.strip()
        assert uid == USER_ID
    finally:
        podman("rm", "-f", "-t", "10", name, check=False)
