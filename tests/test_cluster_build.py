"""e2e/cluster/build on a newcomer's machine: a Go too old or missing is named
before any build starts (a fake `go` on PATH stands in for Debian's 1.19)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parent.parent / "e2e/cluster/build"


def run_build(tmp_path: Path, go_version: str | None) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if go_version is not None:
        go = bin_dir / "go"
        go.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'env GOVERSION' ] && echo go{go_version} && exit 0"
                      "\nexit 1\n")
        go.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin",
           "TASKOPS_CACHE": str(tmp_path / "cache")}
    return subprocess.run(["bash", str(BUILD), "helm"], capture_output=True, text=True,
                          env=env, timeout=30)


@pytest.mark.parametrize("version", ["1.19.8", "1.25.3"])
def test_an_old_go_is_named_with_the_version_needed(tmp_path: Path, version: str) -> None:
    proc = run_build(tmp_path, version)
    assert proc.returncode != 0
    assert f"Go {version} is older than the 1.26" in proc.stderr, proc.stderr
    assert not (tmp_path / "cache/bin").exists(), "nothing is built with an old Go"


def test_no_go_at_all_is_named(tmp_path: Path) -> None:
    proc = run_build(tmp_path, None)
    assert proc.returncode != 0
    assert "Go 1.26 or newer is needed and none is on PATH" in proc.stderr, proc.stderr


def test_a_new_enough_go_gets_past_the_check(tmp_path: Path) -> None:
    # The fake go cannot build: the check passed when the build itself starts.
    proc = run_build(tmp_path, "1.26.8")
    assert "older than" not in proc.stderr and "none is on PATH" not in proc.stderr
    assert "helm v3.22.0: building" in proc.stdout, proc.stdout + proc.stderr
