"""The burst scenario end to end at N = 50, both sides, on the bench cluster.

Part of `make test` (`make bench-smoke`): it proves the harness works (kwok
stages finish both kinds of pod, the watches see every pod and finish, the
audit log names both controllers, /proc is read), not how fast anything is.
Results go to a temporary directory, never into bench/results.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.scale import burst
from bench.scale.__main__ import parser

N = 50
FIELDS = {
    "scenario", "side", "kind", "n", "limits", "run_for_seconds", "env", "create_seconds",
    "all_pods_seconds", "all_succeeded_seconds", "objects_with_pod", "succeeded", "pods",
    "create_to_pod_p50_seconds", "create_to_pod_p99_seconds", "create_to_pod_max_seconds",
    "requests", "writes_per_object", "events_per_object", "controller_cpu_seconds",
    "controller_peak_rss_bytes", "controller_start_rss_bytes", "apiserver_cpu_seconds",
    "repetition",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    out = tmp_path_factory.mktemp("results")
    args = parser().parse_args(["--results-dir", str(out), "burst", "--n", str(N),
                                "--run-for", "2"])
    burst.main(args)
    lines = (out / "burst.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_both_sides_ran_and_every_object_succeeded(results: list[dict[str, object]]) -> None:
    assert [r["side"] for r in results] == ["builtin", "taskops"]
    for r in results:
        assert set(r) >= FIELDS, f"missing: {FIELDS - set(r)}"
        assert (r["succeeded"], r["objects_with_pod"], r["pods"]) == (N, N, N), r
        assert isinstance(r["all_succeeded_seconds"], float)
        assert isinstance(r["all_pods_seconds"], float)
        # A pod runs 2 s: no object can be done sooner.
        assert r["all_succeeded_seconds"] >= 2.0 > 0 < r["all_pods_seconds"]


def test_the_audit_log_counted_each_controllers_pod_creates(
        results: list[dict[str, object]]) -> None:
    for r in results:
        requests = r["requests"]
        assert isinstance(requests, dict)
        assert requests["writes"]["create pods"] == N, requests
        assert requests["events"] > 0
        assert r["controller_cpu_seconds"] > 0  # type: ignore[operator]
        assert r["controller_peak_rss_bytes"] >= r["controller_start_rss_bytes"]  # type: ignore[operator]


def test_the_results_file_is_one_json_line_per_run(tmp_path: Path) -> None:
    from bench.scale.results import append
    append("burst", {"a": 1}, tmp_path)
    append("burst", {"a": 2}, tmp_path)
    assert [json.loads(x) for x in (tmp_path / "burst.jsonl").read_text().splitlines()] == [
        {"a": 1}, {"a": 2}]
