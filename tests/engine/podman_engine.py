"""The engine of e2e/engine/up, for the tests of this directory: its environment
(podman's configuration and storage under ~/.cache/taskops/engine) and a podman runner."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def engine_env() -> dict[str, str]:
    up = subprocess.run([str(ROOT / "e2e/engine/up")], capture_output=True, text=True)
    assert up.returncode == 0, f"e2e/engine/up failed:\n{up.stderr}"
    env = dict(os.environ)
    for line in Path(up.stdout.strip().splitlines()[-1]).read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
    return env


class Podman:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, check: bool = True,
                 timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["podman", *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout)
        if check:
            assert proc.returncode == 0, (
                f"podman {' '.join(args)[:300]}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def python(self, image: str, code: str) -> str:
        """Run code with the image's interpreter as the image's user, no network."""
        return self("run", "--rm", "--network=none", "--read-only",
                    "--entrypoint", "/opt/taskops/bin/python", image, "-c", code).stdout
