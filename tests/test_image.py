"""The two recipes of the operator image cannot drift: the Dockerfile (for users) and
e2e/image/build (no Docker engine) install the same Debian packages, the same locked
dependencies and the wheel into the same venv, and set the same user, environment
and entry point, all as e2e/image/recipe.env says; the lock satisfies pyproject."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "e2e" / "image"


def recipe() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (IMAGE / "recipe.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value.strip('"')
    return values


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into stages."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    instructions = [line.strip() for line in text.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    result: list[list[str]] = []
    for instruction in instructions:
        if instruction.startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def apt_packages(stage: list[str]) -> list[str]:
    for instruction in stage:
        found = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", instruction)
        if found:
            return found.group(1).split()
    raise AssertionError(f"no apt-get install in stage {stage[0]}")


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (IMAGE / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_both_recipes_start_from_the_same_debian_with_the_same_packages() -> None:
    r = recipe()
    build, runtime = stages()
    assert build[0] == f"FROM debian:{r['DEBIAN_SUITE']}-slim AS build"
    assert runtime[0] == f"FROM debian:{r['DEBIAN_SUITE']}-slim"
    assert apt_packages(build) == r["BUILD_PACKAGES"].split()
    assert apt_packages(runtime) == r["RUNTIME_PACKAGES"].split()
    script = (IMAGE / "build").read_text()
    # The script takes its packages from the recipe, not from a list of its own.
    assert 'rootfs runtime "$RUNTIME_PACKAGES"' in script
    assert 'rootfs build "$BUILD_PACKAGES"' in script
    assert "--variant=minbase" in script and '"$DEBIAN_SUITE"' in script


def test_both_recipes_install_the_lock_then_the_wheel_into_the_venv_without_pip() -> None:
    venv = recipe()["VENV"]
    build = " ".join(stages()[0])
    assert f"python3 -m venv {venv}" in build
    lock = "/src/e2e/image/requirements.txt"
    assert f"{venv}/bin/pip install --no-cache-dir --no-deps -r {lock}" in build
    assert f"{venv}/bin/pip install --no-cache-dir --no-deps /dist/taskops-*.whl" in build
    assert f"{venv}/bin/python -m pip uninstall -y pip setuptools" in build
    assert f"COPY --from=build {venv} {venv}" in stages()[1]
    script = (IMAGE / "build").read_text()
    assert 'python3 -m venv "$VENV"' in script
    assert "--no-deps --find-links /wheels" in script and "-r /wheels/requirements.txt" in script
    assert '--no-deps "/dist/$wheel"' in script
    assert '"$VENV/bin/python" -m pip uninstall -q -y pip setuptools' in script
    assert '--root "$build$VENV:$VENV"' in script


def test_both_recipes_set_the_same_user_environment_and_entry_point() -> None:
    r = recipe()
    runtime = stages()[1]
    user_id, name = r["USER_ID"], r["USER_NAME"]
    install = " ".join(runtime)
    assert f"groupadd --gid {user_id} {name}" in install
    assert (f"useradd --uid {user_id} --gid {user_id} --no-create-home --home-dir /nonexistent "
            f"--shell /usr/sbin/nologin {name}") in install
    script = (IMAGE / "build").read_text()
    assert 'in_root "$runtime" groupadd --gid "$USER_ID" "$USER_NAME"' in script
    assert 'in_root "$runtime" useradd --uid "$USER_ID" --gid "$USER_ID" --no-create-home' in script
    assert '--home-dir /nonexistent --shell /usr/sbin/nologin "$USER_NAME"' in script
    assert f"USER {r['USER_ID']}:{r['USER_ID']}" in runtime
    entrypoint = [i for i in runtime if i.startswith("ENTRYPOINT ")]
    assert entrypoint and json.loads(entrypoint[0].removeprefix("ENTRYPOINT ")) == r[
        "ENTRYPOINT"].split()
    env_line = " ".join(i for i in runtime if i.startswith("ENV "))
    for name in ("PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        assert f"{name}={r['ENV_' + name]}" in env_line, name
    script = (IMAGE / "build").read_text()
    assert 'for name in PATH PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED' in script
    assert '--entrypoint "$ENTRYPOINT"' in script and '--user "$USER_ID:$USER_ID"' in script
    assert r["ENTRYPOINT"].split()[0] == f"{r['VENV']}/bin/python"


def test_docker_context_holds_everything_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for instruction in (i for stage in stages() for i in stage):
        if instruction.startswith("COPY ") and "--from=" not in instruction:
            *sources, _ = instruction.split()[1:]
            for source in sources:
                assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"


def test_the_lock_satisfies_every_dependency_of_the_project() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        dependencies = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
    pins = locked()
    for requirement in dependencies:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in e2e/image/requirements.txt: run e2e/image/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement}: run e2e/image/lock")


def test_the_lock_is_closed_over_dependencies() -> None:
    """Both recipes install with --no-deps: a dependency missing from the lock would be
    missing from the image. Checked with the metadata of the packages installed here."""
    pins = locked()
    environment = default_environment() | {"python_version": "3.11", "sys_platform": "linux",
                                           "platform_system": "Linux"}
    for name in pins:
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed in this venv: nothing to learn from it
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(
                    environment | {"extra": ""}):
                continue
            assert canonicalize_name(requirement.name) in pins, (
                f"{name} needs {requirement.name}, absent from the lock: run e2e/image/lock")


def test_the_image_is_tagged_with_the_project_version() -> None:
    script = (IMAGE / "build").read_text()
    assert '[ -n "$tag" ] || tag="$IMAGE_REPOSITORY:$version"' in script
    assert recipe()["IMAGE_REPOSITORY"] == "taskops.dev/taskops"


def test_the_dockerfiles_base_is_the_same_minbase_built_without_a_pull() -> None:
    """No registry here: e2e/image/build --base makes the Dockerfile's FROM image with
    the rootfs function both images start from, under the very tag the Dockerfile
    names, and e2e/engine/build-image builds with --pull=false (a missing base fails,
    it is never fetched). tests/engine/test_images.py then compares the built images."""
    suite = recipe()["DEBIAN_SUITE"]
    froms = {stage[0].split()[1] for stage in stages()}
    assert froms == {f"debian:{suite}-slim"}
    script = (IMAGE / "build").read_text()
    assert 'dir=$(rootfs base "")' in script
    assert '--tag "docker.io/library/debian:$DEBIAN_SUITE-slim"' in script
    engine = (ROOT / "e2e" / "engine" / "build-image").read_text()
    assert '"$root/e2e/image/build" --base' in engine
    assert "podman build --pull=false --network=host" in engine
