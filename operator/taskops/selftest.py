"""``python -m taskops.selftest``: run one tiny TaskJob to success, then delete it.

The Helm chart's ``helm test`` hook runs this in the operator image under a
ServiceAccount that may only create, get and delete TaskJobs in one namespace:
it proves, from inside the cluster, that the CRDs are installed, that the
operator watches that namespace, and that it can run a pod there to the end.

Exit status: 0 when the TaskJob succeeded, 1 when it failed or timed out
(its status is printed), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_IMAGE = "docker.io/library/busybox:1.35"
RESULT = "taskops selftest ok"


def taskjob_manifest(image: str, prefix: str = "taskops-selftest-") -> dict[str, Any]:
    """A TaskJob whose one pod writes ``RESULT`` as its result and exits 0.

    The pod meets the ``restricted`` Pod Security Standard, so the test also
    passes in namespaces that enforce it (the chart's own namespace should).
    """
    return {
        "apiVersion": "taskops.dev/v1alpha1",
        "kind": "TaskJob",
        "metadata": {"generateName": prefix, "labels": {"app.kubernetes.io/component": "selftest"}},
        "spec": {
            "ttlSecondsAfterFinished": 300,  # cleaned up even if this process dies
            "shutdown": {"gracePeriodSeconds": 5},
            "template": {"spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", f"printf '{RESULT}' > /dev/termination-log"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                  "limits": {"memory": "32Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                }],
            }},
        },
    }


def _body(response: Any) -> dict[str, Any]:
    """The JSON body of a raw (``_preload_content=False``) client response."""
    body: dict[str, Any] = json.loads(response.data)
    return body


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m taskops.selftest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespace", default=os.environ.get("POD_NAMESPACE"),
                        help="namespace of the TaskJob (default: $POD_NAMESPACE)")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="image of the task (needs sh)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for it")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig (default: in-cluster)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.namespace:
        _parser().error("--namespace is required (or $POD_NAMESPACE)")
    # Imported here so that --help needs no client.
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    from taskops.api.taskjob import GROUP, VERSION
    from taskops.kube.client import load_api_client

    custom = k8s.CustomObjectsApi(load_api_client(args.kubeconfig, pool_size=1))
    created = _body(custom.create_namespaced_custom_object(
        GROUP, VERSION, args.namespace, "taskjobs", taskjob_manifest(args.image),
        _preload_content=False))
    name = created["metadata"]["name"]
    print(f"created TaskJob {args.namespace}/{name}", flush=True)
    deadline = time.monotonic() + args.timeout
    status: dict[str, Any] = {}
    seen = None
    try:
        while time.monotonic() < deadline:
            job = _body(custom.get_namespaced_custom_object(
                GROUP, VERSION, args.namespace, "taskjobs", name, _preload_content=False))
            status = job.get("status") or {}
            phase = status.get("phase")
            if phase != seen:
                print(f"phase: {phase or '(none yet: is the operator watching this namespace?)'}",
                      flush=True)
                seen = phase
            if phase == "Succeeded":
                print(f"result: {status.get('result')!r}")
                return 0 if status.get("result") == RESULT else 1
            if phase == "Failed":
                break
            time.sleep(1)
        print(f"TaskJob {name} did not succeed within {args.timeout:g}s; status:\n"
              f"{json.dumps(status, indent=2)}", flush=True)
        return 1
    finally:
        try:
            custom.delete_namespaced_custom_object(GROUP, VERSION, args.namespace, "taskjobs", name)
        except ApiException as err:
            print(f"could not delete TaskJob {name}: {err.status} {err.reason}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
