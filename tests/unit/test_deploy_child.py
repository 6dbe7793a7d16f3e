"""What an agent writes to its child: prepared objects, three-way merge patches, order, pruning, status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl_clusternet.core.deploy import (
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_OWNED_BY,
    BASELINE_LIMIT,
    DeployedRef,
    ObjectOutcome,
    ResourceInfo,
    agent_applies,
    child_object_path,
    deployed_refs_from_status,
    description_status,
    hub_pushes,
    is_contained,
    ordered_for_apply,
    ordered_for_delete,
    parse_resource_list,
    prepare_for_child,
    refs_to_remove,
    status_merge_patch,
    three_way_merge_patch,
)


@pytest.mark.parametrize(
    ("mode", "app_pusher", "applies"),
    [
        ("Pull", False, True),
        ("Pull", True, True),
        ("Dual", False, True),
        ("Dual", True, False),
        ("Push", False, False),
        ("Push", True, False),
    ],
)
def test_agent_applies_per_sync_mode(mode: str, app_pusher: bool, applies: bool) -> None:
    """Reference §7.3: Pull always, Dual only without AppPusher, Push never."""
    assert agent_applies(mode, app_pusher) is applies


@pytest.mark.parametrize(
    ("mode", "app_pusher", "pushes"),
    [
        ("Pull", True, False),
        ("Push", True, True),
        ("Dual", True, True),
        ("Dual", False, False),
        ("Push", None, False),
    ],
)
def test_hub_pushes_only_with_an_app_pusher_agent(mode: str, app_pusher: bool | None, pushes: bool) -> None:
    """The parent applies for Push and Dual clusters whose agent reports appPusher true, never for Pull."""
    status = {} if app_pusher is None else {"appPusher": app_pusher}
    assert hub_pushes({"spec": {"syncMode": mode}, "status": status}) is pushes


def test_prepare_for_child_cleans_and_annotates() -> None:
    """System metadata, status and kubectl's annotation go; owner and last-applied baseline are set."""
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "namespace": "n",
            "uid": "u",
            "resourceVersion": "7",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "managedFields": [{}],
            "ownerReferences": [{"uid": "parent"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
        },
        "data": {"a": "1"},
        "status": {"x": 1},
    }
    prepared = prepare_for_child(obj, "clusternet-aaaaa.shop-xxxxx-generic")
    annotations = prepared["metadata"].pop("annotations")
    assert prepared == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n"},
        "data": {"a": "1"},
    }
    assert annotations[ANNOTATION_OWNED_BY] == "clusternet-aaaaa.shop-xxxxx-generic"
    assert (
        annotations["keep"] == "me" and "kubectl.kubernetes.io/last-applied-configuration" not in annotations
    )
    baseline = json.loads(annotations[ANNOTATION_LAST_APPLIED])
    assert ANNOTATION_LAST_APPLIED not in baseline["metadata"]["annotations"]
    assert baseline["data"] == {"a": "1"} and baseline["metadata"]["annotations"][ANNOTATION_OWNED_BY]
    assert obj["metadata"]["uid"] == "u", "the input is not changed"


def test_a_big_object_keeps_only_the_keys_as_baseline() -> None:
    """Over the annotation budget, the baseline is the object's skeleton, which still drives deletions."""
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"blob": "x" * BASELINE_LIMIT, "k": "v"},
    }
    prepared = prepare_for_child(big, "ns.d")
    baseline = json.loads(prepared["metadata"]["annotations"][ANNOTATION_LAST_APPLIED])
    assert baseline["data"] == {"blob": None, "k": None} and baseline["kind"] is None
    assert prepared["data"]["blob"] == "x" * BASELINE_LIMIT
    smaller = {**big, "data": {"blob": "y"}}
    assert three_way_merge_patch(baseline, prepare_for_child(smaller, "ns.d"), prepared)["data"] == {
        "blob": "y",
        "k": None,
    }


def test_an_object_with_too_many_keys_gets_no_baseline() -> None:
    """When even the skeleton does not fit, no baseline is written (and the object still applies)."""
    huge = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {f"key-{i:06d}": "" for i in range(20000)},
    }
    annotations = prepare_for_child(huge, "ns.d")["metadata"]["annotations"]
    assert ANNOTATION_LAST_APPLIED not in annotations and annotations[ANNOTATION_OWNED_BY] == "ns.d"


@pytest.mark.parametrize(
    ("desired", "live", "contained"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, True),
        ({"a": [{"port": 80}]}, {"a": [{"port": 80, "protocol": "TCP"}]}, True),
        ({"a": [{"port": 80}]}, {"a": [{"port": 80}, {"port": 81}]}, False),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {}, False),
        ({"a": None}, {}, True),
        ({"a": None}, {"a": 1}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": "x"}, {"a": ["x"]}, False),
    ],
)
def test_is_contained(desired: Any, live: Any, contained: bool) -> None:
    """Live may add keys (defaults), must match lists element-wise, and treats null as absent."""
    assert is_contained(desired, live) is contained


@pytest.mark.parametrize(
    ("original", "modified", "current", "patch"),
    [
        # unchanged, with server defaults around
        ({"spec": {"r": 2}}, {"spec": {"r": 2}}, {"spec": {"r": 2, "default": "x"}, "status": {}}, {}),
        # a changed value
        ({"spec": {"r": 2}}, {"spec": {"r": 3}}, {"spec": {"r": 2, "default": "x"}}, {"spec": {"r": 3}}),
        # a field we set before and dropped now is deleted; a field someone else set is kept
        (
            {"metadata": {"labels": {"a": "1", "b": "2"}}},
            {"metadata": {"labels": {"a": "1"}}},
            {"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}},
            {"metadata": {"labels": {"b": None}}},
        ),
        # dropped whole map
        ({"data": {"a": "1"}}, {}, {"data": {"a": "1"}}, {"data": None}),
        # already gone from the live object: nothing to delete
        ({"data": {"a": "1"}}, {}, {}, {}),
        # drift in the child (someone edited it) is reverted
        (None, {"spec": {"r": 2}}, {"spec": {"r": 5}}, {"spec": {"r": 2}}),
        # lists are replaced whole
        (
            {"spec": {"ports": [{"port": 80}]}},
            {"spec": {"ports": [{"port": 81}]}},
            {"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}},
            {"spec": {"ports": [{"port": 81}]}},
        ),
        # a map where the live object has a scalar is set whole
        (None, {"a": {"b": 1}}, {"a": "x"}, {"a": {"b": 1}}),
        # null in the desired object means absent
        (None, {"t": {"creationTimestamp": None}}, {"t": {}}, {}),
    ],
)
def test_three_way_merge_patch(
    original: dict[str, Any] | None, modified: dict[str, Any], current: dict[str, Any], patch: dict[str, Any]
) -> None:
    """kubectl's three-way rule for JSON merge patches: set what differs, delete what we dropped, keep the rest."""
    assert three_way_merge_patch(original, modified, current) == patch


def test_apply_and_delete_orders() -> None:
    """Namespaces, then CRDs, then the rest when applying; the reverse when deleting."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "x"},
    }
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}
    cr = {"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "x", "namespace": "n"}}
    assert ordered_for_apply([cm, cr, crd, ns]) == [[ns], [crd], [cm, cr]]
    refs = [DeployedRef("v1", "Namespace", "", "n"), DeployedRef("v1", "ConfigMap", "n", "c")]
    assert ordered_for_delete(refs) == [[refs[1]], [refs[0]]]


def test_refs_to_remove_ignores_version_changes_and_duplicates() -> None:
    """Objects no longer rendered are pruned once; a new apiVersion of the same object is not a removal."""
    previous = [
        DeployedRef("apps/v1", "Deployment", "n", "web"),
        DeployedRef("v1", "Service", "n", "web"),
        DeployedRef("v1", "Service", "n", "web"),
        DeployedRef("v1", "Namespace", "", "n"),
    ]
    objects = [
        {"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "web", "namespace": "n"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
    ]
    assert refs_to_remove(previous, objects) == [DeployedRef("v1", "Service", "n", "web")]


def test_description_status_success_and_failure() -> None:
    """Success lists every object with its status; Failure names what failed; failed prunes stay listed."""
    ok = ObjectOutcome(DeployedRef("v1", "Namespace", "", "n"), observed_status={"phase": "Active"})
    svc = ObjectOutcome(DeployedRef("v1", "Service", "n", "s"))
    pruned = ObjectOutcome(DeployedRef("v1", "ConfigMap", "n", "old"), pruned=True)
    assert description_status([ok, svc, pruned]) == {
        "phase": "Success",
        "manifestStatuses": [
            {"apiVersion": "v1", "kind": "Namespace", "name": "n", "observedStatus": {"phase": "Active"}},
            {"apiVersion": "v1", "kind": "Service", "name": "s", "namespace": "n"},
        ],
    }
    bad = ObjectOutcome(DeployedRef("v1", "ConfigMap", "n", "c"), error="Forbidden: no")
    stuck = ObjectOutcome(DeployedRef("v1", "Secret", "n", "old"), error="timeout", pruned=True)
    status = description_status([ok, bad, stuck])
    assert status["phase"] == "Failure"
    assert status["reason"] == "ConfigMap n/c: Forbidden: no; Secret n/old: timeout"
    assert [e["name"] for e in status["manifestStatuses"]] == ["n", "c", "old"]
    assert deployed_refs_from_status({"status": status}) == [ok.ref, bad.ref, stuck.ref]


@pytest.mark.parametrize(
    ("current", "wanted", "patch"),
    [
        ({"phase": "Success", "manifestStatuses": []}, {"phase": "Success", "manifestStatuses": []}, None),
        (
            None,
            {"phase": "Success", "manifestStatuses": []},
            {"status": {"phase": "Success", "manifestStatuses": []}},
        ),
        (
            {"phase": "Failure", "reason": "x", "manifestStatuses": []},
            {"phase": "Success", "manifestStatuses": []},
            {"status": {"phase": "Success", "reason": None}},
        ),
    ],
)
def test_status_merge_patch(
    current: dict[str, Any] | None, wanted: dict[str, Any], patch: dict[str, Any] | None
) -> None:
    """Only changed fields are sent; a reason that no longer applies is removed, never written empty."""
    assert status_merge_patch(current, wanted) == patch


def test_discovery_and_paths() -> None:
    """An APIResourceList gives kind → plural and scope (subresources skipped); paths follow from it."""
    listing = {
        "resources": [
            {"name": "deployments", "kind": "Deployment", "namespaced": True},
            {"name": "deployments/scale", "kind": "Scale", "namespaced": True},
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        ]
    }
    found = parse_resource_list(listing)
    assert found == {
        "Deployment": ResourceInfo("deployments", True),
        "Namespace": ResourceInfo("namespaces", False),
    }
    assert (
        child_object_path("apps/v1", found["Deployment"], "web", "shop")
        == "/apis/apps/v1/namespaces/shop/deployments/web"
    )
    assert (
        child_object_path("apps/v1", found["Deployment"], "web", "")
        == "/apis/apps/v1/namespaces/default/deployments/web"
    )
    assert child_object_path("v1", found["Namespace"], "shop", "") == "/api/v1/namespaces/shop"
