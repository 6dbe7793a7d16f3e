"""Status back to the Subscription (aggregatedStatuses) and feed protection of Manifests."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_clusternet.core.deploy import (
    ANNOTATION_FEED_PROTECTION,
    FEED_PROTECTION_FINALIZER,
    aggregate_statuses,
    feed_protection_patch,
    protection_reason,
    replica_status,
    subscriptions_using,
)
from kubectl_clusternet.core.manifests_store import manifest_for

FEEDS = [
    {"apiVersion": "v1", "kind": "Namespace", "name": "shop"},
    {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
]
SUBSCRIPTION = {
    "metadata": {"name": "shop", "namespace": "default", "uid": "sub-uid"},
    "spec": {"feeds": FEEDS},
    "status": {"bindingClusters": ["ns-a/tokyo", "ns-b/osaka"]},
}
CLUSTERS = {
    "ns-a/tokyo": {"metadata": {"name": "tokyo", "namespace": "ns-a"}, "spec": {"clusterId": "id-a"}},
    "ns-b/osaka": {"metadata": {"name": "osaka", "namespace": "ns-b"}, "spec": {"clusterId": "id-b"}},
}


def description(namespace: str, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop-xxxxx-generic", "namespace": namespace},
        "spec": {"deployer": "Generic"},
        "status": {"phase": "Success", "manifestStatuses": statuses},
    }


NS_ENTRY = {"apiVersion": "v1", "kind": "Namespace", "name": "shop", "observedStatus": {"phase": "Active"}}


def deploy_entry(**status: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "web",
        "observedStatus": status,
    }


@pytest.mark.parametrize(
    ("api_version", "kind", "observed", "expected"),
    [
        (
            "apps/v1",
            "Deployment",
            {"replicas": 2, "readyReplicas": 1, "observedGeneration": 3},
            {
                "observedGeneration": 3,
                "replicas": 2,
                "updatedReplicas": 0,
                "readyReplicas": 1,
                "availableReplicas": 0,
                "unavailableReplicas": 0,
            },
        ),
        (
            "apps/v1",
            "StatefulSet",
            {"currentReplicas": 1},
            {
                "observedGeneration": 0,
                "replicas": 0,
                "updatedReplicas": 0,
                "currentReplicas": 1,
                "readyReplicas": 0,
                "availableReplicas": 0,
            },
        ),
        ("batch/v1", "Job", {"succeeded": 1}, {"active": 0, "succeeded": 1, "failed": 0}),
        ("v1", "Service", {"loadBalancer": {}}, None),
    ],
)
def test_replica_status_per_kind(
    api_version: str, kind: str, observed: dict[str, Any], expected: dict[str, int] | None
) -> None:
    """Deployments, StatefulSets and Jobs report their counters (missing ones as 0); others none."""
    assert replica_status(api_version, kind, observed) == expected


def test_aggregate_statuses_per_feed_and_cluster() -> None:
    """One entry per feed with a detail per bound cluster; the summary ANDs availability and sums counters."""
    descriptions = [
        description("ns-a", [NS_ENTRY, deploy_entry(replicas=3, readyReplicas=3, observedGeneration=2)]),
        description("ns-b", [NS_ENTRY]),
    ]
    namespace_status, deployment_status = aggregate_statuses(SUBSCRIPTION, CLUSTERS, descriptions)
    assert namespace_status == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "name": "shop",
        "feedStatusSummary": {"available": True},
        "feedStatusDetails": [
            {"clusterId": "id-a", "clusterName": "tokyo", "available": True},
            {"clusterId": "id-b", "clusterName": "osaka", "available": True},
        ],
    }
    assert deployment_status["namespace"] == "shop"
    assert deployment_status["feedStatusSummary"] == {
        "available": False,
        "replicaStatus": {
            "observedGeneration": 2,
            "replicas": 3,
            "updatedReplicas": 0,
            "readyReplicas": 3,
            "availableReplicas": 0,
            "unavailableReplicas": 0,
        },
    }
    tokyo, osaka = deployment_status["feedStatusDetails"]
    assert tokyo["available"] and tokyo["replicaStatus"]["replicas"] == 3
    assert osaka == {"clusterId": "id-b", "clusterName": "osaka", "available": False}


def test_aggregate_statuses_sums_over_clusters_and_takes_the_highest_generation() -> None:
    """Counters add up across clusters; observedGeneration is the maximum, not a sum."""
    descriptions = [
        description("ns-a", [deploy_entry(replicas=2, availableReplicas=2, observedGeneration=4)]),
        description("ns-b", [deploy_entry(replicas=4, availableReplicas=1, observedGeneration=3)]),
    ]
    summary = aggregate_statuses(SUBSCRIPTION, CLUSTERS, descriptions)[1]["feedStatusSummary"]
    assert summary["available"] is True
    assert (summary["replicaStatus"]["replicas"], summary["replicaStatus"]["availableReplicas"]) == (6, 3)
    assert summary["replicaStatus"]["observedGeneration"] == 4


def test_aggregate_statuses_for_an_unknown_cluster_and_no_descriptions() -> None:
    """A bound cluster missing from the cache still gets a detail (its name from the binding), unavailable."""
    result = aggregate_statuses(SUBSCRIPTION, {}, [])
    assert result[0]["feedStatusDetails"][1] == {"clusterId": "", "clusterName": "osaka", "available": False}
    assert result[0]["feedStatusSummary"] == {"available": False}


MANIFEST = manifest_for(
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}},
    plural="deployments",
    namespaced=True,
)


def sub(name: str, feeds: list[dict[str, Any]], terminating: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "default"}
    if terminating:
        metadata["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": metadata, "spec": {"feeds": feeds}}


def test_subscriptions_using_counts_live_subscriptions_only() -> None:
    """Subscriptions listing the Manifest's feed hold it; one being deleted no longer does."""
    subs = [sub("b", FEEDS), sub("a", [FEEDS[1]]), sub("c", [FEEDS[0]]), sub("d", FEEDS, terminating=True)]
    assert subscriptions_using(MANIFEST, subs) == ["default/a", "default/b"]


def with_meta(**metadata: Any) -> dict[str, Any]:
    return {**MANIFEST, "metadata": {**MANIFEST["metadata"], "resourceVersion": "3", **metadata}}


MESSAGE = (
    "block deleting current Deployment until all Subscriptions (including default/a, default/b) "
    "that refer this as a feed get deleted"
)


@pytest.mark.parametrize(
    ("manifest", "users", "patch"),
    [
        (
            with_meta(),
            ["default/a", "default/b"],
            {
                "metadata": {
                    "finalizers": [FEED_PROTECTION_FINALIZER],
                    "annotations": {ANNOTATION_FEED_PROTECTION: MESSAGE},
                    "resourceVersion": "3",
                }
            },
        ),
        (
            with_meta(
                finalizers=[FEED_PROTECTION_FINALIZER], annotations={ANNOTATION_FEED_PROTECTION: MESSAGE}
            ),
            ["default/a", "default/b"],
            None,
        ),
        (
            with_meta(
                finalizers=["x", FEED_PROTECTION_FINALIZER], annotations={ANNOTATION_FEED_PROTECTION: MESSAGE}
            ),
            [],
            {
                "metadata": {
                    "finalizers": ["x"],
                    "annotations": {ANNOTATION_FEED_PROTECTION: None},
                    "resourceVersion": "3",
                }
            },
        ),
        (with_meta(), [], None),
    ],
)
def test_feed_protection_patch(
    manifest: dict[str, Any], users: list[str], patch: dict[str, Any] | None
) -> None:
    """In use: finalizer plus an annotation naming the users; unused: both removed; matching: no write."""
    assert feed_protection_patch(manifest, users) == patch


def test_protection_reason_for_the_cli() -> None:
    """A CLI can tell why a deletion hangs: the annotation while the finalizer is there, else nothing."""
    protected = with_meta(
        finalizers=[FEED_PROTECTION_FINALIZER], annotations={ANNOTATION_FEED_PROTECTION: MESSAGE}
    )
    assert protection_reason(protected) == MESSAGE
    assert protection_reason(with_meta(annotations={ANNOTATION_FEED_PROTECTION: MESSAGE})) is None
