"""Conflicts: another writer changes the same TaskJobs' labels, annotations and
finalizers in a tight loop while they run. Status updates still land, no
reconcile gives up, every job finishes once.

The other writer's finalizer edits are the adversarial part: the operator
adds and removes its own finalizer with a JSON patch guarded by a `test` of
the whole list, so each of those edits in between makes its patch fail (422)
and it must read again and retry, not give up nor drop the other writer's
entry.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kube import Kubectl, describe_namespace, wait_for
from operator_process import OperatorProcess
from taskops.api.taskjob import GROUP, VERSION
from taskops.kube.client import load_api_client
from test_admission import job_list, statuses
from test_taskjob import TERMINAL, taskjob

pytestmark = pytest.mark.chaos

FULL = os.environ.get("TASKOPS_CHAOS") == "full"
JOBS = 60 if FULL else 12
OTHER_FINALIZER = "example.com/someone-else"


class OtherWriter(threading.Thread):
    """Round-robin over the jobs: a label, an annotation, and its own finalizer
    added then removed, each a separate write, as fast as the API server takes."""

    def __init__(self, kubeconfig: str, namespace: str, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.custom = k8s.CustomObjectsApi(load_api_client(kubeconfig, pool_size=2))
        self.namespace = namespace
        self.names = names
        self.writes = 0
        self.refused = 0
        self.halt = threading.Event()

    def patch(self, name: str, body: object, kind: str = "merge") -> None:
        try:
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "taskjobs", name, body,
                _content_type=f"application/{kind}-patch+json", _preload_content=False)
            self.writes += 1
        except ApiException:
            self.refused += 1  # our own guarded patches lose races too

    def run(self) -> None:
        round_ = 0
        while not self.halt.is_set():
            round_ += 1
            for name in self.names:
                self.patch(name, {"metadata": {"labels": {"other/round": str(round_)},
                                               "annotations": {"other/at": str(time.time())}}})
                job = self.get(name)
                if job is None:
                    continue
                finalizers = job["metadata"].get("finalizers") or []
                if OTHER_FINALIZER in finalizers:
                    index = finalizers.index(OTHER_FINALIZER)
                    self.patch(name, [{"op": "test", "path": f"/metadata/finalizers/{index}",
                                       "value": OTHER_FINALIZER},
                                      {"op": "remove", "path": f"/metadata/finalizers/{index}"}],
                               "json")
                else:
                    self.patch(name, {"metadata": {"finalizers": [*finalizers,
                                                                  OTHER_FINALIZER]}})

    def get(self, name: str) -> dict[str, object] | None:
        try:
            job: dict[str, object] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "taskjobs", name)
            return job
        except ApiException:
            return None

    def stop_and_clean(self) -> None:
        self.halt.set()
        self.join(30)
        for name in self.names:
            job = self.get(name)
            finalizers = (job or {}).get("metadata", {}).get("finalizers") or []  # type: ignore[union-attr]
            if OTHER_FINALIZER in finalizers:
                self.patch(name, {"metadata": {"finalizers": [
                    f for f in finalizers if f != OTHER_FINALIZER]}})


def test_status_lands_and_jobs_finish_under_a_conflicting_writer(
        k: Kubectl, kubeconfig: str, namespace: str,
        operator_factory: Callable[..., OperatorProcess]) -> None:
    op = operator_factory([namespace])
    names = [f"contended-{i}" for i in range(JOBS)]
    k.apply(job_list(*(taskjob(name, "sleep 3; echo -n done > /dev/termination-log")
                       for name in names)), namespace)
    writer = OtherWriter(kubeconfig, namespace, names)
    writer.start()
    try:
        wait_for("every contended job finished", lambda: all(
            statuses(k, namespace).get(name, {}).get("phase") in TERMINAL for name in names),
            timeout=240, interval=2,
            on_timeout=lambda: describe_namespace(k, namespace) + op.logs(100))
    finally:
        writer.stop_and_clean()
    current = statuses(k, namespace)
    for name in names:
        st = current[name]
        assert (st["phase"], st.get("result"), st["attemptCount"]) == (
            "Succeeded", "done", 1), (name, st)
    assert writer.writes > 5 * JOBS, f"the other writer made only {writer.writes} writes"
    logs = op.logs(100_000)
    assert "Traceback" not in logs, logs[-3000:]
    assert "could not remove finalizer" not in logs
    print(f"\nconflicts: {JOBS} TaskJobs, {writer.writes} writes by the other writer "
          f"({writer.refused} of its own refused), reconcile errors "
          f"{op.metric('taskops_reconcile_errors_total')}")
