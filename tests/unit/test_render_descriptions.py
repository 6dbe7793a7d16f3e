"""Description and replica-Localization bodies, the raw wire format, and pruning."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from kubectl_clusternet.core.render.descriptions import (
    decode_raw,
    description_labels,
    encode_raw,
    objects_to_prune,
    render_generic_description,
    render_helm_description,
    replica_localization,
)
from kubectl_clusternet.core.render.errors import DescriptionError, OverrideError
from kubectl_clusternet.core.render.feeds import ObjectKey
from kubectl_clusternet.core.render.overrides import apply_overrides

BASE = {
    "apiVersion": "apps.clusternet.io/v1alpha1",
    "kind": "Base",
    "metadata": {
        "name": "shop-7xk2p",
        "namespace": "clusternet-k2mxq",
        "uid": "0b3c9f7e-1111-4222-8333-444455556666",
        "labels": {
            "clusters.clusternet.io/cluster-id": "dc91021d-2361-4f6d-a404-7c33b9e01118",
            "clusters.clusternet.io/cluster-name": "tokyo",
            "apps.clusternet.io/subs.namespace": "default",
            "apps.clusternet.io/subs.uid": "5e1f0a9b-aaaa-4bbb-8ccc-ddddeeeeffff",
            "apps.clusternet.io/subs.name": "shop",
        },
    },
    "spec": {"feeds": []},
}

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop", "uid": "svc-uid"},
    "spec": {"ports": [{"port": 80}]},
    "status": {"loadBalancer": {}},
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


@pytest.mark.parametrize(
    "objects",
    [[], [SERVICE], [NAMESPACE, {"kind": "X", "data": {"ünïcode": "✓", "n": 1.5, "list": [None, True]}}]],
)
def test_raw_entries_round_trip(objects: list[dict[str, Any]]) -> None:
    """encode_raw gives base64 JSON strings that decode_raw turns back into the same objects."""
    encoded = encode_raw(objects)
    assert all(isinstance(entry, str) for entry in encoded)
    assert decode_raw(encoded) == objects


def test_raw_entries_are_compact_json_with_sorted_keys() -> None:
    """Entries do not depend on key order, so an unchanged render gives byte-identical Descriptions."""
    (entry,) = encode_raw([{"b": 1, "a": {"d": 2, "c": 3}}])
    assert base64.b64decode(entry) == b'{"a":{"c":3,"d":2},"b":1}'
    assert encode_raw([{"a": {"c": 3, "d": 2}, "b": 1}]) == [entry]


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        (["not base64!"], "not base64-encoded JSON"),
        ([base64.b64encode(b"{nope").decode()], "not base64-encoded JSON"),
        ([base64.b64encode(b"[1, 2]").decode()], "holds list"),
    ],
)
def test_decode_raw_rejects_bad_entries(entries: list[str], reason: str) -> None:
    """Entries that are not base64 JSON objects raise a DescriptionError."""
    with pytest.raises(DescriptionError, match=reason):
        decode_raw(entries)


def test_generic_description_body() -> None:
    """The <base>-generic Description carries upstream's labels, a finalizer, a controller owner and the raw objects."""
    overrides = [
        [
            {
                "name": "port",
                "type": "JSONPatch",
                "value": '[{"op":"replace","path":"/spec/ports/0/port","value":8080}]',
            }
        ],
        [],
    ]
    before = copy.deepcopy((BASE, SERVICE, overrides))
    body = render_generic_description(BASE, [SERVICE, NAMESPACE], overrides)
    assert (BASE, SERVICE, overrides) == before
    raw = body["spec"].pop("raw")
    assert decode_raw(raw) == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ports": [{"port": 8080}]},
        },
        NAMESPACE,
    ]
    assert body == {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Description",
        "metadata": {
            "name": "shop-7xk2p-generic",
            "namespace": "clusternet-k2mxq",
            "labels": {
                "clusternet.io/created-by": "clusternet-controller-manager",
                "apps.clusternet.io/config.kind": "Base",
                "apps.clusternet.io/config.name": "shop-7xk2p",
                "apps.clusternet.io/config.namespace": "clusternet-k2mxq",
                "apps.clusternet.io/config.uid": "0b3c9f7e-1111-4222-8333-444455556666",
                "clusters.clusternet.io/cluster-id": "dc91021d-2361-4f6d-a404-7c33b9e01118",
                "clusters.clusternet.io/cluster-name": "tokyo",
                "apps.clusternet.io/subs.namespace": "default",
                "apps.clusternet.io/subs.uid": "5e1f0a9b-aaaa-4bbb-8ccc-ddddeeeeffff",
                "apps.clusternet.io/subs.name": "shop",
            },
            "finalizers": ["apps.clusternet.io/finalizer"],
            "ownerReferences": [
                {
                    "apiVersion": "apps.clusternet.io/v1alpha1",
                    "kind": "Base",
                    "name": "shop-7xk2p",
                    "uid": "0b3c9f7e-1111-4222-8333-444455556666",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"deployer": "Generic"},
    }


@pytest.mark.parametrize(
    ("cluster_id", "cluster_name", "base_name", "expected"),
    [
        (
            "id-given",
            "name-given",
            "shop-7xk2p",
            {"id": "id-given", "name": "name-given", "config.name": "shop-7xk2p"},
        ),
        (
            None,
            None,
            "b" * 63,
            {"id": "dc91021d-2361-4f6d-a404-7c33b9e01118", "name": "tokyo", "config.name": "b" * 63},
        ),
        (
            None,
            None,
            "b" * 64,
            {"id": "dc91021d-2361-4f6d-a404-7c33b9e01118", "name": "tokyo", "config.name": None},
        ),
    ],
)
def test_description_labels_take_cluster_identity_and_fit_label_limits(
    cluster_id: str | None, cluster_name: str | None, base_name: str, expected: dict[str, Any]
) -> None:
    """Cluster id and name come from the arguments or else the Base; a Base name over 63 characters is not a label."""
    base = copy.deepcopy(BASE)
    base["metadata"]["name"] = base_name
    labels = description_labels(base, cluster_id, cluster_name)
    assert labels["clusters.clusternet.io/cluster-id"] == expected["id"]
    assert labels["clusters.clusternet.io/cluster-name"] == expected["name"]
    assert labels.get("apps.clusternet.io/config.name") == expected["config.name"]


def test_override_failure_names_the_feed_object() -> None:
    """A failing override aborts the Description and the error names the object it was applied to."""
    with pytest.raises(OverrideError, match="to v1 Service shop/web: unsupported OverrideType"):
        render_generic_description(
            BASE, [NAMESPACE, SERVICE], [[], [{"name": "x", "type": "Kustomize", "value": "a"}]]
        )


def test_override_lists_must_align_with_feed_objects() -> None:
    """One override list per feed object is required."""
    with pytest.raises(DescriptionError, match="2 override lists for 1 feed objects"):
        render_generic_description(BASE, [SERVICE], [[], []])


def test_helm_description_body() -> None:
    """The <base>-helm Description names the original charts and carries rendered charts and their values."""
    chart = {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "HelmChart",
        "metadata": {"name": "redis", "namespace": "apps"},
        "spec": {"repo": "https://charts.example.org", "chart": "redis", "targetNamespace": "cache"},
    }
    overrides = [
        [
            {"name": "values", "type": "Helm", "value": "replicas: 3"},
            {
                "name": "rename",
                "type": "Helm",
                "overrideChart": True,
                "value": '{"metadata": {"name": "redis-eu"}}',
            },
        ]
    ]
    body = render_helm_description(BASE, [chart], overrides, "id-1", "eu")
    assert body["metadata"]["name"] == "shop-7xk2p-helm"
    assert body["spec"]["deployer"] == "Helm"
    assert body["spec"]["charts"] == [{"namespace": "apps", "name": "redis"}]
    assert decode_raw(body["spec"]["raw"]) == [{"replicas": 3}]
    assert decode_raw(body["spec"]["chartRaw"])[0]["metadata"]["name"] == "redis-eu"


def test_replica_localization_body() -> None:
    """The dividing Localization has priority 1000, ApplyNow, the Subscription label and one replace patch."""
    feed = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
    body = replica_localization(BASE, feed, "/spec/replicas", 4, "shop-7xk2p-q9v4r")
    assert body == {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Localization",
        "metadata": {
            "name": "shop-7xk2p-q9v4r",
            "namespace": "clusternet-k2mxq",
            "labels": {
                "clusternet.io/created-by": "clusternet-controller-manager",
                "5e1f0a9b-aaaa-4bbb-8ccc-ddddeeeeffff": "Subscription",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps.clusternet.io/v1alpha1",
                    "kind": "Base",
                    "name": "shop-7xk2p",
                    "uid": "0b3c9f7e-1111-4222-8333-444455556666",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "overridePolicy": "ApplyNow",
            "priority": 1000,
            "feed": feed,
            "overrides": [
                {
                    "name": "dividing scheduling replicas",
                    "type": "JSONPatch",
                    "value": '[{"path":"/spec/replicas","value":4,"op":"replace"}]',
                }
            ],
        },
    }


def test_replica_localization_sets_the_replicas_when_applied() -> None:
    """Applying the Localization's override puts this cluster's share into the feed object."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 9},
    }
    body = replica_localization(
        BASE,
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "/spec/replicas",
        2,
        "n",
        subscription_uid="sub-1",
    )
    assert apply_overrides(deployment, body["spec"]["overrides"])["spec"]["replicas"] == 2
    assert body["metadata"]["labels"]["sub-1"] == "Subscription"
    assert "namespace" not in body["spec"]["feed"]


def obj(api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([], [obj("v1", "ConfigMap", "a", "ns")], []),
        ([obj("v1", "ConfigMap", "a", "ns")], [], [ObjectKey("", "ConfigMap", "ns", "a")]),
        ([obj("v1", "ConfigMap", "a", "ns")], [obj("v1", "ConfigMap", "a", "ns")], []),
        (
            [obj("v1", "ConfigMap", "a", "ns")],
            [obj("v1", "ConfigMap", "a", "other")],
            [ObjectKey("", "ConfigMap", "ns", "a")],
        ),
        ([obj("apps/v1beta2", "Deployment", "d", "ns")], [obj("apps/v1", "Deployment", "d", "ns")], []),
        (
            [obj("apps/v1", "Deployment", "d", "ns")],
            [obj("extensions/v1beta1", "Deployment", "d", "ns")],
            [ObjectKey("apps", "Deployment", "ns", "d")],
        ),
        (
            [
                obj("v1", "Namespace", "shop"),
                obj("v1", "Namespace", "shop"),
                obj("rbac.authorization.k8s.io/v1", "ClusterRole", "r"),
            ],
            [obj("v1", "Secret", "shop", "shop")],
            [
                ObjectKey("", "Namespace", "", "shop"),
                ObjectKey("rbac.authorization.k8s.io", "ClusterRole", "", "r"),
            ],
        ),
    ],
)
def test_objects_to_prune(
    old: list[dict[str, Any]], new: list[dict[str, Any]], expected: list[ObjectKey]
) -> None:
    """Objects in the old render but not the new one, keyed by group, kind, namespace and name, each once."""
    assert objects_to_prune(old, new) == expected


def test_encoded_raw_of_a_description_is_json_serializable() -> None:
    """The whole Description body can be sent as JSON as it is."""
    body = render_generic_description(BASE, [SERVICE])
    assert json.loads(json.dumps(body)) == body
