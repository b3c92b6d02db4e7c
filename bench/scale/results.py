"""Where runs go: one JSON line per run in bench/results/<scenario>.jsonl,
each carrying what it ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .cluster import ROOT

RESULTS = ROOT / "bench" / "results"


def environment() -> dict[str, Any]:
    versions = dict(line.split("=", 1) for line in
                    (ROOT / "e2e" / "cluster" / "versions.env").read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    mem = next(int(line.split()[1]) * 1024 for line in
               Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit,
            "cpus": os.cpu_count(), "memory_bytes": mem, "python": platform.python_version(),
            "kubernetes": versions.get("KUBE_VERSION"), "kwok": versions.get("KWOK_VERSION"),
            "etcd": versions.get("ETCD_VERSION")}


def append(scenario: str, result: dict[str, Any], results_dir: Path = RESULTS) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{scenario}.jsonl"
    with path.open("a") as f:
        f.write(json.dumps(result, sort_keys=True) + "\n")
    return path


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rounds(scenario: str, args: Any, one: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """`args.repeat` rounds of `one(side)` over `args.sides`, the sides
    alternating; each result printed and appended as it comes."""
    return [_record(scenario, args, one(side), rep)
            for rep in range(args.repeat) for side in args.sides]


def repeated(scenario: str, args: Any, one: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """`args.repeat` runs of a scenario that has no sides, each printed and appended."""
    return [_record(scenario, args, one(), rep) for rep in range(args.repeat)]


def _record(scenario: str, args: Any, result: dict[str, Any], rep: int) -> dict[str, Any]:
    result["repetition"] = rep
    append(scenario, result, args.results_dir)
    print(json.dumps(result, sort_keys=True), flush=True)
    return result
