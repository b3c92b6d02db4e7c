"""Observed-object stores: newest copy wins, pods group by their controller."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from factories import pod_body
from taskops.core.observed import observe_pod
from taskops.kube.store import ObjectStore, OwnedStore, Tombstones, project_pod


def obj(name: str, rv: str, uid: str = "u1", owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": rv}
    if owner:
        meta["ownerReferences"] = [{"kind": "TaskJob", "name": "job", "uid": owner,
                                    "controller": True}]
    return {"metadata": meta}


def test_an_older_watch_event_never_rolls_back_a_newer_copy() -> None:
    store = ObjectStore()
    assert store.upsert(obj("a", "10"))
    assert not store.upsert(obj("a", "9"))
    assert store.get(("ns", "a"))["metadata"]["resourceVersion"] == "10"  # type: ignore[index]
    assert store.upsert(obj("a", "11"))


def test_a_recreated_object_replaces_the_old_one_whatever_its_version() -> None:
    store = ObjectStore()
    store.upsert(obj("a", "10", uid="old"))
    assert store.upsert(obj("a", "3", uid="new"))


def test_delete_of_a_previous_incarnation_keeps_the_new_object() -> None:
    store = ObjectStore()
    store.upsert(obj("a", "10", uid="new"))
    store.delete(obj("a", "5", uid="old"))
    assert store.get(("ns", "a")) is not None


def test_pods_group_by_controller_uid_and_leave_on_delete() -> None:
    pods = OwnedStore()
    assert not pods.upsert(obj("orphan", "1"))
    pods.upsert(obj("p1", "1", owner="job-uid"))
    pods.upsert(obj("p2", "1", owner="job-uid"))
    assert {p["metadata"]["name"] for p in pods.owned_by("job-uid")} == {"p1", "p2"}
    pods.delete(obj("p1", "2", owner="job-uid"))
    assert [p["metadata"]["name"] for p in pods.owned_by("job-uid")] == ["p2"]
    assert len(pods) == 1


def test_stored_copies_drop_field_ownership_and_kubectls_applied_copy() -> None:
    body = obj("a", "1", owner="j1")
    body["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    body["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"spec": {}}', "keep": "me"}
    body["spec"] = {"x": 1}
    for store in (ObjectStore(), OwnedStore()):
        assert store.upsert(body)
        stored = store.get(("ns", "a")) if isinstance(store, ObjectStore) else \
            store.owned_by("j1")[0]
        assert "managedFields" not in stored["metadata"]
        assert stored["metadata"]["annotations"] == {"keep": "me"}
        assert stored["spec"] == {"x": 1} and stored["metadata"]["uid"] == "u1"
    # The caller's body (kopf's, or a write's answer) is left as it was.
    assert "managedFields" in body["metadata"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in body["metadata"]["annotations"]


def test_the_same_version_again_is_not_news() -> None:
    # The watch's echo of a write whose reply is held, or its first list after ours.
    store, pods = ObjectStore(), OwnedStore()
    assert store.upsert(obj("a", "10")) and pods.upsert(obj("p", "10", owner="j"))
    assert not store.upsert(obj("a", "10"))
    assert not pods.upsert(obj("p", "10", owner="j"))


@given(index=st.integers(0, 3), attempt=st.integers(0, 3),
       phase=st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown"]),
       exit_code=st.none() | st.integers(0, 255), message=st.none() | st.text(max_size=5),
       pod_reason=st.none() | st.sampled_from(["Evicted", "Preempted", "DeadlineExceeded"]),
       ready=st.booleans(), deleting=st.booleans(), finalizer=st.booleans(),
       disruption=st.booleans(), annotated=st.booleans(), sidecar_first=st.booleans(),
       scheduled=st.none() | st.booleans(), unschedulable=st.none() | st.text(max_size=5),
       waiting=st.none() | st.tuples(st.sampled_from(["ErrImagePull", "PodInitializing"]),
                                     st.text(max_size=5)),
       init_waiting=st.none() | st.tuples(st.just("ImagePullBackOff"), st.text(max_size=5)))
def test_a_projected_pod_is_observed_exactly_as_the_whole_pod(
        index: int, attempt: int, phase: str, exit_code: int | None, message: str | None,
        pod_reason: str | None, ready: bool, deleting: bool, finalizer: bool,
        disruption: bool, annotated: bool, sidecar_first: bool, scheduled: bool | None,
        unschedulable: str | None, waiting: tuple[str, str] | None,
        init_waiting: tuple[str, str] | None) -> None:
    body = pod_body(index, attempt, phase=phase, exit_code=exit_code, message=message,
                    pod_reason=pod_reason, ready=ready, deleting=deleting,
                    finalizer=finalizer, disruption_condition=disruption, scheduled=scheduled,
                    unschedulable=unschedulable, waiting=waiting, init_waiting=init_waiting)
    # What a real pod carries besides, and which containers come first.
    body["metadata"]["ownerReferences"] = [{"kind": "TaskJob", "name": "j", "uid": "u",
                                            "controller": True}]
    body["metadata"]["managedFields"] = [{"manager": "kubelet"}]
    body["spec"].update({"nodeName": "n1", "tolerations": [{"key": "k"}]})
    body["status"].update({"hostIP": "10.0.0.1", "qosClass": "BestEffort"})
    sidecar = {"name": "sidecar", "image": "busybox"}
    sidecar_status = {"name": "sidecar", "ready": True, "image": "busybox",
                      "state": {"running": {}}}
    if sidecar_first:
        body["spec"]["containers"].insert(0, sidecar)
        body["status"]["containerStatuses"].insert(0, sidecar_status)
    if not annotated:
        del body["metadata"]["annotations"]
    projected = project_pod(body)
    assert observe_pod(projected) == observe_pod(body)
    assert OwnedStore.controller_of(projected) == OwnedStore.controller_of(body)
    assert "nodeName" not in projected["spec"] and "managedFields" not in projected["metadata"]


def test_the_pod_store_keeps_projections() -> None:
    pods = OwnedStore(project_pod)
    body = obj("p", "1", owner="j")
    body["spec"] = {"containers": [{"name": "main", "image": "busybox", "env": []}]}
    pods.upsert(body)
    (kept,) = pods.owned_by("j")
    assert kept["spec"] == {"containers": [{"name": "main"}]}


def test_a_deleted_object_is_not_brought_back_by_a_late_reply() -> None:
    # A write's answer that trails the watch's DELETED event of the same object.
    store, pods = ObjectStore(), OwnedStore()
    store.upsert(obj("a", "10"))
    pods.upsert(obj("p", "10", owner="j"))
    store.delete(obj("a", "11"))
    pods.delete(obj("p", "11", owner="j"))
    assert not store.upsert(obj("a", "10")) and store.get(("ns", "a")) is None
    assert not pods.upsert(obj("p", "10", owner="j")) and pods.owned_by("j") == []
    # Another object under the same name is news.
    assert store.upsert(obj("a", "12", uid="u2"))


def test_the_memory_of_deletions_is_bounded() -> None:
    graves = Tombstones(size=3)
    for i in range(5):
        graves.bury(obj(f"o{i}", "1", uid=f"u{i}"))
    assert [obj("x", "1", uid=f"u{i}") in graves for i in range(5)] == [
        False, False, True, True, True]


def test_each_read_is_a_fresh_copy_equal_to_what_was_stored() -> None:
    store, pods = ObjectStore(), OwnedStore()
    body = obj("a", "1", owner="j")
    body["status"] = {"phase": "Running", "attempts": [{"attempt": 0, "exitCode": 1}]}
    store.upsert(body)
    pods.upsert(body)
    first, second = store.get(("ns", "a")), store.get(("ns", "a"))
    assert first == body and first is not second
    first["status"]["phase"] = "changed by a reader"  # type: ignore[index]
    assert store.get(("ns", "a")) == body
    assert pods.owned_by("j") == [body] and store.uid_of(("ns", "a")) == "u1"


def test_an_object_json_cannot_hold_compactly_is_kept_as_it_is() -> None:
    # An unvalidated pod template field can carry an integer past 64 bits.
    store = ObjectStore()
    body = obj("a", "1")
    body["spec"] = {"huge": 10**30}
    assert store.upsert(body)
    assert store.get(("ns", "a"))["spec"]["huge"] == 10**30  # type: ignore[index]


def test_the_objects_of_an_owner_gone_by_name_are_found_without_reading_all() -> None:
    pods = OwnedStore()
    pods.upsert(obj("p1", "1", owner="old-uid"))
    pods.upsert(obj("p2", "1", owner="other"))
    assert [p["metadata"]["name"] for p in pods.owned_by_name("ns", "TaskJob", "job")] == [
        "p1", "p2"]
    assert pods.owned_by_name("ns", "TaskJob", "nope") == []
    pods.delete(obj("p1", "2", owner="old-uid"))
    assert [p["metadata"]["name"] for p in pods.owned_by_name("ns", "TaskJob", "job")] == ["p2"]


def test_a_view_is_worked_out_once_per_version_of_each_object() -> None:
    store = OwnedStore()
    store.upsert(obj("p1", "1", uid="a", owner="job"))
    store.upsert(obj("p2", "1", uid="b", owner="job"))
    seen: list[str] = []

    def view(body: Any) -> tuple[str, str]:
        seen.append(body["metadata"]["name"])
        return body["metadata"]["name"], body["metadata"]["resourceVersion"]

    assert sorted(store.owned_views("job", view)) == [("p1", "1"), ("p2", "1")]
    assert sorted(store.owned_views("job", view)) == [("p1", "1"), ("p2", "1")]
    assert sorted(seen) == ["p1", "p2"]  # the second read decoded nothing
    store.upsert(obj("p1", "2", uid="a", owner="job"))
    assert sorted(store.owned_views("job", view)) == [("p1", "2"), ("p2", "1")]
    assert sorted(seen) == ["p1", "p1", "p2"]  # only the new version
    assert sorted(store.owned_views("job", lambda b: b["metadata"]["name"])) == ["p1", "p2"]
    store.delete(obj("p2", "1", uid="b", owner="job"))
    assert store.owned_views("job", view) == [("p1", "2")]
