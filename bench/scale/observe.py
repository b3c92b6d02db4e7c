"""What a run saw, when: a watch per resource in the run's namespace that
stamps each change with the harness's monotonic clock.

The API server's timestamps have one-second resolution, too coarse for a
latency distribution; a watch started before the first create sees every
pod's ADDED and every object's status change, each stamped on arrival. Both
sides of a comparison are watched the same way, so the watch's own delay
falls on both alike. The watch decodes plain JSON (no model objects): at
10,000 pods the kubernetes client's deserialisation would be the bottleneck.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client

from .cluster import request


@dataclass
class Timeline:
    """First time each pod was seen, per owner, and each owner's finish."""

    pods: dict[str, float] = field(default_factory=dict)  # pod name -> first seen
    pod_owner: dict[str, str] = field(default_factory=dict)  # pod name -> owner name
    pod_ended: dict[str, float] = field(default_factory=dict)  # pod name -> first seen ended
    done: dict[str, float] = field(default_factory=dict)  # owner name -> finished at
    outcome: dict[str, bool] = field(default_factory=dict)  # owner name -> succeeded?
    lock: threading.Lock = field(default_factory=threading.Lock)


class Watch(threading.Thread):
    """Streams one resource's watch and calls `seen(event_type, object, t)`."""

    def __init__(self, api: client.ApiClient, path: str,
                 seen: Callable[[str, dict[str, Any], float], None]) -> None:
        super().__init__(daemon=True, name=f"watch {path}")
        self.api, self.path, self.seen = api, path, seen
        self.stopped = threading.Event()
        self.ready = threading.Event()
        self.resource_version = ""

    def run(self) -> None:
        # No resourceVersion at first: the server sends what exists as ADDED,
        # then every change; a stream that ends resumes where it stopped.
        while not self.stopped.is_set():
            query = [("watch", "true"), ("allowWatchBookmarks", "true"),
                     ("timeoutSeconds", "3600")]
            if self.resource_version:
                query.append(("resourceVersion", self.resource_version))
            try:
                resp = request(self.api, "GET", self.path, query=query, timeout=None,
                               stream=True)
                self.ready.set()
                self._read(resp)
                resp.release_conn()
            except (OSError, urllib3.exceptions.HTTPError, RuntimeError):
                if self.stopped.is_set():
                    return  # the run is over and its cluster going away
                time.sleep(0.5)

    def _read(self, resp: Any) -> None:
        buf = b""
        for chunk in resp.stream(65536):
            if self.stopped.is_set():
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            now = time.monotonic()
            for line in lines:
                if not line:
                    continue
                event = json.loads(line)
                if event["type"] == "ERROR":  # 410 Gone: start over from now
                    self.resource_version = ""
                    return
                obj = event["object"]
                self.resource_version = obj["metadata"].get("resourceVersion", "")
                if event["type"] != "BOOKMARK":
                    self.seen(event["type"], obj, now)

    def stop(self) -> None:
        self.stopped.set()


def owner_of(obj: dict[str, Any]) -> str:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref["name"])
    return ""


def watch_run(api: client.ApiClient, namespace: str, kind: str, plural: str, group_path: str,
              finished: Callable[[str, dict[str, Any]], bool],
              succeeded: Callable[[str, dict[str, Any]], bool]) -> tuple[Timeline, list[Watch]]:
    """Watches pods and `kind` objects in `namespace` into one Timeline."""
    timeline = Timeline()

    def pod_seen(_type: str, pod: dict[str, Any], t: float) -> None:
        name = pod["metadata"]["name"]
        ended = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        with timeline.lock:
            if name not in timeline.pods:
                timeline.pods[name] = t
                timeline.pod_owner[name] = owner_of(pod)
            if ended:
                timeline.pod_ended.setdefault(name, t)

    def object_seen(_type: str, obj: dict[str, Any], t: float) -> None:
        name = obj["metadata"]["name"]
        if finished(kind, obj):
            with timeline.lock:
                if name not in timeline.done:
                    timeline.done[name] = t
                    timeline.outcome[name] = succeeded(kind, obj)

    watches = [Watch(api, f"/api/v1/namespaces/{namespace}/pods", pod_seen),
               Watch(api, f"{group_path}/namespaces/{namespace}/{plural}", object_seen)]
    for w in watches:
        w.start()
    for w in watches:
        if not w.ready.wait(30):
            raise TimeoutError(f"the watch of {w.path} did not start")
    return timeline, watches
