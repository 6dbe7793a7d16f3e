"""Feeds resolved to Manifests, Dividing's desired replicas, and when a scheduling result is new."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_clusternet.core.deploy import (
    FeedCatalog,
    desired_replicas,
    manifest_feed_ref,
    resolve_feeds,
    scheduling_changed,
    sticky_clusters,
)
from kubectl_clusternet.core.manifests_store import manifest_for
from kubectl_clusternet.core.render import schedule
from kubectl_clusternet.core.render.feeds import FeedRef

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"replicas": 6},
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}}
MANIFESTS = [
    manifest_for(DEPLOYMENT, plural="deployments", namespaced=True),
    manifest_for(NAMESPACE, plural="namespaces", namespaced=False),
    manifest_for(SERVICE, plural="services", namespaced=True),
]
FEED_DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
FEED_NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "name": "shop"}
FEED_SERVICE = {"apiVersion": "v1", "kind": "Service", "namespace": "shop", "name": "web"}


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (MANIFESTS[0], FeedRef("apps/v1", "Deployment", "shop", "web")),
        (MANIFESTS[1], FeedRef("v1", "Namespace", "", "shop")),
        (MANIFESTS[2], FeedRef("v1", "Service", "shop", "web")),
        ({"metadata": {}}, FeedRef("", "", "", "")),
    ],
)
def test_manifest_feed_ref_reads_the_config_labels(manifest: dict[str, Any], expected: FeedRef) -> None:
    """A Manifest answers to the feed its config.* labels spell (core group written as bare version)."""
    assert manifest_feed_ref(manifest) == expected


@pytest.mark.parametrize(
    ("feeds", "objects", "missing", "unsupported"),
    [
        ([FEED_NAMESPACE, FEED_SERVICE, FEED_DEPLOYMENT], [NAMESPACE, SERVICE, DEPLOYMENT], [], []),
        ([FEED_DEPLOYMENT, FEED_DEPLOYMENT], [DEPLOYMENT], [], []),
        (
            [FEED_NAMESPACE, {**FEED_SERVICE, "name": "nope"}],
            [NAMESPACE],
            [FeedRef("v1", "Service", "shop", "nope")],
            [],
        ),
        (
            [{**FEED_DEPLOYMENT, "apiVersion": "apps/v1beta1"}],
            [],
            [FeedRef("apps/v1beta1", "Deployment", "shop", "web")],
            [],
        ),
        (
            [
                {
                    "apiVersion": "apps.clusternet.io/v1alpha1",
                    "kind": "HelmChart",
                    "namespace": "a",
                    "name": "c",
                }
            ],
            [],
            [],
            [FeedRef("apps.clusternet.io/v1alpha1", "HelmChart", "a", "c")],
        ),
    ],
)
def test_resolve_feeds(
    feeds: list[dict[str, Any]],
    objects: list[dict[str, Any]],
    missing: list[FeedRef],
    unsupported: list[FeedRef],
) -> None:
    """Feeds resolve in order to templates; unknown ones are missing, duplicates count once, charts are set aside."""
    resolution = resolve_feeds(feeds, FeedCatalog(MANIFESTS))
    assert [dict(o) for o in resolution.objects] == objects
    assert resolution.missing == missing
    assert resolution.unsupported == unsupported


@pytest.mark.parametrize(
    ("template_spec", "kind", "expected"),
    [
        ({"replicas": 6}, "Deployment", 6),
        ({}, "Deployment", 1),
        ({"replicas": 0}, "StatefulSet", 0),
        ({"replicas": 4}, "ReplicaSet", 4),
        ({"replicas": 3}, "DaemonSet", None),
    ],
)
def test_desired_replicas_per_kind(template_spec: dict[str, Any], kind: str, expected: int | None) -> None:
    """Workloads divide their spec.replicas (1 when unset); other kinds have nothing to divide."""
    obj = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "w", "namespace": "n"},
        "spec": template_spec,
    }
    catalog = FeedCatalog([manifest_for(obj, plural=kind.lower() + "s", namespaced=True)])
    feed = {"apiVersion": "apps/v1", "kind": kind, "namespace": "n", "name": "w"}
    sub = {"spec": {"feeds": [feed, FEED_SERVICE]}}
    assert desired_replicas(sub, catalog) == {
        f"apps/v1/{kind}/n/w": expected,
        "v1/Service/shop/web": None,
    }


PATCH = {
    "bindingClusters": ["a/x", "b/y"],
    "replicas": {"k": [1, 2], "gone": None},
    "specHash": 7,
    "desiredReleases": 2,
}


@pytest.mark.parametrize(
    ("status", "changed"),
    [
        (
            {
                "bindingClusters": ["a/x", "b/y"],
                "replicas": {"k": [1, 2]},
                "specHash": 7,
                "desiredReleases": 2,
            },
            False,
        ),
        (None, True),
        ({"bindingClusters": ["a/x"], "replicas": {"k": [1, 2]}, "specHash": 7, "desiredReleases": 2}, True),
        (
            {
                "bindingClusters": ["a/x", "b/y"],
                "replicas": {"k": [2, 1]},
                "specHash": 7,
                "desiredReleases": 2,
            },
            True,
        ),
        (
            {
                "bindingClusters": ["a/x", "b/y"],
                "replicas": {"k": [1, 2], "gone": [3]},
                "specHash": 7,
                "desiredReleases": 2,
            },
            True,
        ),
        (
            {
                "bindingClusters": ["a/x", "b/y"],
                "replicas": {"k": [1, 2]},
                "specHash": 8,
                "desiredReleases": 2,
            },
            True,
        ),
        (
            {
                "bindingClusters": ["a/x", "b/y"],
                "replicas": {"k": [1, 2]},
                "specHash": 7,
                "desiredReleases": 2,
                "aggregatedStatuses": [],
            },
            False,
        ),
    ],
)
def test_scheduling_changed(status: dict[str, Any] | None, changed: bool) -> None:
    """Only a different binding, replicas, hash or release count makes the scheduler write status."""
    assert scheduling_changed(status, PATCH) is changed


def test_replication_patch_without_replicas_matches_a_status_without_them() -> None:
    """A null replicas map (replication) equals a status that has none."""
    patch = {"bindingClusters": ["a/x"], "replicas": None, "specHash": 1, "desiredReleases": 1}
    assert not scheduling_changed({"bindingClusters": ["a/x"], "specHash": 1, "desiredReleases": 1}, patch)


def _cluster(name: str, *effects: str) -> dict[str, Any]:
    taints = [{"key": f"k-{effect}", "value": "x", "effect": effect} for effect in effects]
    return {
        "metadata": {"name": name, "namespace": f"ns-{name}", "labels": {"all": "yes"}},
        "spec": {"taints": taints},
    }


@pytest.mark.parametrize(
    ("effects", "bound", "scheduled"),
    [
        ((), False, True),
        (("NoSchedule",), False, False),
        (("NoSchedule",), True, True),
        (("NoExecute",), True, False),
        (("NoSchedule", "NoExecute"), True, False),
        (("PreferNoSchedule", "NoSchedule"), True, True),
    ],
)
def test_sticky_clusters_keep_bound_clusters_through_no_schedule(
    effects: tuple[str, ...], bound: bool, scheduled: bool
) -> None:
    """A bound cluster stays bound despite NoSchedule (as Pods stay on a Node); NoExecute still evicts."""
    cluster = _cluster("a", *effects)
    sub = {"spec": {"subscribers": [{"clusterAffinity": {"matchLabels": {"all": "yes"}}}], "feeds": []}}
    seen = sticky_clusters([cluster, _cluster("b")], ["ns-a/a"] if bound else [])
    assert ("ns-a/a" in schedule(sub, seen).binding_clusters) is scheduled
    assert cluster["spec"]["taints"] == [{"key": f"k-{e}", "value": "x", "effect": e} for e in effects]
