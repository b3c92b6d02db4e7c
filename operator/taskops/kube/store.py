"""In-memory copies of the objects the operator watches.

Fed by watch events and by the answers to our own writes, so a reconcile
reads what we just wrote without waiting for the watch to echo it (the role
client-go's "expectations" play for the Job controller). Of two copies of one
object, the one with the higher resourceVersion wins, so a late watch event
never rolls a newer copy back, and a copy of the version already held is
ignored (`is_newer`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson

Body = Mapping[str, Any]
T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name)


def key_of(body: Body) -> Key:
    meta = body["metadata"]
    return meta.get("namespace", ""), meta["name"]


def _version(body: Body) -> int | None:
    # resourceVersion is opaque by contract, but every API server in use
    # serves etcd revisions; if one does not, newest-arrival wins instead.
    raw = body.get("metadata", {}).get("resourceVersion")
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


# What no decision reads and every copy would carry: the API server's field
# ownership records (about a third of a pod's JSON) and kubectl's copy of the
# whole applied manifest. Measured at 5,000 TaskJobs: 447 MB peak RSS before.
_UNREAD_METADATA = frozenset({"managedFields"})
_UNREAD_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def trimmed(body: Body) -> Body:
    """`body` without what no decision reads; shallow copies, the input untouched."""
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        return body
    annotations = meta.get("annotations")
    drop_annotations = isinstance(annotations, Mapping) and not _UNREAD_ANNOTATIONS.isdisjoint(
        annotations)
    if _UNREAD_METADATA.isdisjoint(meta) and not drop_annotations:
        return body
    kept = {k: v for k, v in meta.items() if k not in _UNREAD_METADATA}
    if drop_annotations:
        assert isinstance(annotations, Mapping)
        kept["annotations"] = {k: v for k, v in annotations.items()
                               if k not in _UNREAD_ANNOTATIONS}
    return {**body, "metadata": kept}


# What of a pod any decision reads (`taskops.core.observed.observe_pod`, the
# finalizer release, the store itself); tests/test_store.py checks that a
# projected pod is observed exactly as the whole one. A pod from kwok is about
# 4 KB of JSON without its managedFields, its projection under 1 KB.
_POD_METADATA = ("name", "namespace", "uid", "resourceVersion", "labels", "annotations",
                 "ownerReferences", "finalizers", "creationTimestamp", "deletionTimestamp")
_POD_STATUS = ("phase", "reason", "message", "startTime", "conditions")
_CONTAINER_STATUS = ("name", "ready", "state")


def _pick(source: object, keys: Iterable[str]) -> dict[str, Any]:
    if not isinstance(source, Mapping):
        return {}
    return {k: source[k] for k in keys if k in source}


def project_pod(body: Body) -> Body:
    """The parts of a pod decisions read: a fraction of its memory, kept for
    every pod of every TaskJob."""
    trim = trimmed(body)
    spec = trim.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    status = trim.get("status")
    projected_status = _pick(status, _POD_STATUS)
    for field in ("containerStatuses", "initContainerStatuses"):
        statuses = status.get(field) if isinstance(status, Mapping) else None
        if isinstance(statuses, list):
            projected_status[field] = [_pick(c, _CONTAINER_STATUS) for c in statuses]
    return {
        "metadata": _pick(trim.get("metadata"), _POD_METADATA),
        "spec": {"containers": [_pick(c, ("name",)) for c in containers]
                 if isinstance(containers, list) else []},
        "status": projected_status,
    }


class Held:
    """One stored object: its uid and version as they are compared, and the object
    itself as compact JSON, decoded on each read.

    A watched object's dicts take about four times its JSON (7 KB for a TaskJob
    of 1.8 KB, 6 KB for a pod's projection): at 10,000 TaskJobs and their pods
    that is 130 MB of a 286 MB operator. Each read decodes a fresh copy (a
    TaskJob in about 10 us), so no reader can change what another reads. An
    object orjson cannot write (an integer beyond 64 bits in an unvalidated
    field) is kept as it is.
    """

    __slots__ = ("_body", "_json", "_view", "uid", "version")

    def __init__(self, body: Body) -> None:
        meta = body.get("metadata") or {}
        self.uid: str | None = meta.get("uid")
        self.version = _version(body)
        self._body: Body | None = None
        self._json = b""
        self._view: tuple[Callable[[Body], Any], Any] | None = None
        try:
            # Copied to its own length: orjson's answer keeps the buffer it grew
            # (8 KB for a TaskJob of 1.7 KB, measured with tracemalloc).
            self._json = bytes(memoryview(orjson.dumps(body)))
        except TypeError:  # orjson.JSONEncodeError is one
            self._body = body

    def body(self) -> Body:
        if self._body is not None:
            return self._body
        decoded: Body = orjson.loads(self._json)
        return decoded

    def view(self, of: Callable[[Body], T]) -> T:
        """`of(body)`, worked out once for this version (a new version is a new
        Held). `of` must answer a value nobody changes (a frozen dataclass):
        every caller gets the same one. A fan-out job's pass reads its 100
        pods, most of them unchanged since its last pass: decoding and
        observing each again was a fifth of the operator's CPU there."""
        memo = self._view
        if memo is not None and memo[0] is of:
            value: T = memo[1]
            return value
        value = of(self.body())
        self._view = (of, value)
        return value


def is_newer(candidate: Body, current: Held | None) -> bool:
    """A later version of the held object, or another object under its name.

    The same version again is not newer: it is the watch's echo of a write
    whose reply is already held, or the watch's first list after the warm-up
    list, and nothing about it needs a second look.
    """
    if current is None:
        return True
    if candidate["metadata"].get("uid") != current.uid:
        return True  # a new object under the same name
    new, old = _version(candidate), current.version
    return new is None or old is None or new > old


# How many deleted uids a store remembers. A write's answer can arrive after
# the watch delivered the object's deletion (the write was the last before it
# went); it must not bring the object back, for nothing would ever remove it
# again (measured in the soak: a gauge series and ~15 KB per job). Such a
# reply trails its deletion by one request, so a few thousand are plenty.
TOMBSTONES = 4096


class Tombstones:
    """The uids of the most recently deleted objects, a bounded number of them."""

    def __init__(self, size: int = TOMBSTONES) -> None:
        self._uids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def bury(self, body: Body) -> None:
        uid = body.get("metadata", {}).get("uid")
        if not uid:
            return
        self._uids[uid] = None
        self._uids.move_to_end(uid)
        while len(self._uids) > self._size:
            self._uids.popitem(last=False)

    def __contains__(self, body: object) -> bool:
        if not isinstance(body, Mapping):
            return False
        uid = body.get("metadata", {}).get("uid")
        return bool(uid) and uid in self._uids


class ObjectStore:
    """Objects of one kind by (namespace, name)."""

    def __init__(self) -> None:
        self._objects: dict[Key, Held] = {}
        self._deleted = Tombstones()

    def upsert(self, body: Body) -> bool:
        """Keep `body` unless a newer copy is held or the object was deleted;
        True when it was kept."""
        key = key_of(body)
        if body in self._deleted or not is_newer(body, self._objects.get(key)):
            return False
        self._objects[key] = Held(trimmed(body))
        return True

    def delete(self, body: Body) -> None:
        self._deleted.bury(body)
        key = key_of(body)
        current = self._objects.get(key)
        if current is not None and current.uid == body["metadata"].get("uid"):
            del self._objects[key]

    def get(self, key: Key) -> Body | None:
        """A fresh copy of the object held under `key`."""
        held = self._objects.get(key)
        return None if held is None else held.body()

    def uid_of(self, key: Key) -> str | None:
        """The uid of the object held under `key`, without reading the object."""
        held = self._objects.get(key)
        return None if held is None else held.uid

    def keys(self) -> Iterable[Key]:
        return list(self._objects)

    def __len__(self) -> int:
        return len(self._objects)


class OwnedStore:
    """Objects grouped by their controller owner's uid (pods by TaskJob), each
    kept as `project` makes it (by default: `trimmed`). With `live`, it also
    counts each owner's objects for which `live` holds (pods not ended), kept
    up to date as they change so that counting reads no object."""

    def __init__(self, project: Callable[[Body], Body] = trimmed,
                 live: Callable[[Body], bool] | None = None) -> None:
        self._by_owner: dict[str, dict[str, Held]] = {}
        self._is_live = live
        self._live: dict[str, set[str]] = {}  # owner uid -> names of its live objects
        self._owner_of: dict[Key, str] = {}
        # owner uid -> (namespace, kind, name): finds a gone owner's objects by
        # name without reading every object held.
        self._owners: dict[str, tuple[str, str, str]] = {}
        self._project = project
        self._deleted = Tombstones()

    @staticmethod
    def controller_of(body: Body) -> Mapping[str, Any] | None:
        for ref in body.get("metadata", {}).get("ownerReferences") or []:
            if ref.get("controller"):
                owner: Mapping[str, Any] = ref
                return owner
        return None

    def upsert(self, body: Body) -> bool:
        owner = self.controller_of(body)
        if owner is None or body in self._deleted:
            return False
        uid = owner["uid"]
        name = body["metadata"]["name"]
        group = self._by_owner.get(uid)
        if not is_newer(body, None if group is None else group.get(name)):
            return False
        if group is None:
            group = self._by_owner[uid] = {}
            self._owners[uid] = (body["metadata"].get("namespace", ""),
                                 str(owner.get("kind", "")), str(owner.get("name", "")))
        group[name] = Held(self._project(body))
        self._owner_of[key_of(body)] = uid
        if self._is_live is not None:
            if self._is_live(body):
                self._live.setdefault(uid, set()).add(name)
            else:
                self._forget_live(uid, name)
        return True

    def _forget_live(self, uid: str, name: str) -> None:
        names = self._live.get(uid)
        if names is not None:
            names.discard(name)
            if not names:
                del self._live[uid]

    def delete(self, body: Body) -> None:
        self._deleted.bury(body)
        key = key_of(body)
        uid = self._owner_of.pop(key, None)
        if uid is None:
            return
        group = self._by_owner.get(uid, {})
        group.pop(body["metadata"]["name"], None)
        self._forget_live(uid, body["metadata"]["name"])
        if not group:
            self._by_owner.pop(uid, None)
            self._owners.pop(uid, None)

    def owned_by(self, uid: str) -> list[Body]:
        """Fresh copies of the objects `uid` controls."""
        return [held.body() for held in self._by_owner.get(uid, {}).values()]

    def owned_views(self, uid: str, of: Callable[[Body], T]) -> list[T]:
        """`of` of each object `uid` controls, each worked out once per version
        (`Held.view`)."""
        return [held.view(of) for held in self._by_owner.get(uid, {}).values()]

    def count(self, uid: str) -> int:
        """How many objects `uid` controls."""
        return len(self._by_owner.get(uid, ()))

    def is_live(self, uid: str, name: str) -> bool | None:
        """Whether the object `name` that `uid` controls is live; None when it
        is not held (or without `live`)."""
        if self._is_live is None or name not in self._by_owner.get(uid, ()):
            return None
        return name in self._live.get(uid, ())

    def live_count(self, uid: str) -> int:
        """How many objects `uid` controls are live (0 without `live`)."""
        return len(self._live.get(uid, ()))

    def owned(self, uid: str, name: str) -> Body | None:
        """A fresh copy of the object `name` that `uid` controls, reading no other."""
        held = self._by_owner.get(uid, {}).get(name)
        return None if held is None else held.body()

    def owned_by_name(self, namespace: str, kind: str, name: str) -> list[Body]:
        """Objects whose controller is `kind` `name` in `namespace`, whatever its uid."""
        wanted = (namespace, kind, name)
        return [body for uid, owner in self._owners.items() if owner == wanted
                for body in self.owned_by(uid)]

    def __len__(self) -> int:
        return len(self._owner_of)
