"""Scheduling: candidates, taint filtering, static dividing, spec hashing and the status patch."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_clusternet.core.render.errors import SchedulingError
from kubectl_clusternet.core.render.feeds import feed_key
from kubectl_clusternet.core.render.scheduling import (
    SchedulingResult,
    find_untolerated_taint,
    fnv32a,
    schedule,
    spec_hash,
    tolerates,
)

TAINT = {"key": "clusters.clusternet.io/unschedulable", "value": "lost", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("toleration", "expected"),
    [
        ({"key": TAINT["key"], "operator": "Equal", "value": "lost", "effect": "NoSchedule"}, True),
        ({"key": TAINT["key"], "value": "lost", "effect": "NoSchedule"}, True),
        ({"key": TAINT["key"], "operator": "Equal", "value": "other", "effect": "NoSchedule"}, False),
        ({"key": TAINT["key"], "operator": "Equal", "effect": "NoSchedule"}, False),
        ({"key": TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": TAINT["key"], "operator": "Exists"}, True),
        ({"key": TAINT["key"], "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "another", "operator": "Exists"}, False),
        ({"operator": "Exists"}, True),
        ({"operator": "Exists", "effect": "NoSchedule"}, True),
        ({"operator": "Exists", "effect": "PreferNoSchedule"}, False),
        ({"value": "lost"}, True),
        ({"key": TAINT["key"], "operator": "Gt", "value": "lost"}, False),
    ],
)
def test_toleration_matrix(toleration: dict[str, Any], expected: bool) -> None:
    """Kubernetes toleration rules: Exists ignores values, Equal is the default, empty key or effect match all."""
    assert tolerates(toleration, TAINT) is expected


@pytest.mark.parametrize(
    ("taints", "tolerations", "expected_key"),
    [
        ([], [], None),
        ([{"key": "a", "effect": "PreferNoSchedule"}], [], None),
        ([{"key": "a", "effect": "NoExecute"}], [], "a"),
        (
            [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}],
            [{"key": "a", "operator": "Exists"}],
            "b",
        ),
        (
            [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}],
            [{"operator": "Exists"}],
            None,
        ),
    ],
)
def test_find_untolerated_taint_considers_only_hard_effects(
    taints: list[dict[str, Any]], tolerations: list[dict[str, Any]], expected_key: str | None
) -> None:
    """Only NoSchedule and NoExecute taints can reject a cluster; the first untolerated one is reported."""
    taint = find_untolerated_taint(taints, tolerations)
    assert (taint or {}).get("key") == expected_key


def cluster(
    name: str,
    namespace: str,
    *,
    taints: list[dict[str, Any]] | None = None,
    terminating: bool = False,
    **labels: str,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if terminating:
        metadata["deletionTimestamp"] = "2024-06-01T00:00:00Z"
    return {"metadata": metadata, "spec": {"taints": taints or []}}


FLEET = [
    cluster("tokyo", "clusternet-k2mxq", region="apac", size="big"),
    cluster("berlin", "clusternet-a8pzt", region="emea", size="small"),
    cluster("paris", "clusternet-b71dd", region="emea", size="big"),
    cluster("lost", "clusternet-zz001", region="emea", taints=[TAINT]),
    cluster("leaving", "clusternet-zz002", region="apac", terminating=True),
]

WEB = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "name": "carts.shop.io"}


def subscription(**spec: Any) -> dict[str, Any]:
    spec.setdefault("subscribers", [{"clusterAffinity": {"matchLabels": {"region": "emea"}}}])
    spec.setdefault("feeds", [WEB])
    return {"metadata": {"name": "shop", "namespace": "default"}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, ["clusternet-a8pzt/berlin", "clusternet-b71dd/paris"]),
        (
            {
                "subscribers": [
                    {"clusterAffinity": {"matchLabels": {"region": "apac"}}},
                    {"clusterAffinity": {"matchLabels": {"size": "big"}}},
                ]
            },
            ["clusternet-b71dd/paris", "clusternet-k2mxq/tokyo"],
        ),
        (
            {"clusterTolerations": [{"key": TAINT["key"], "operator": "Exists"}]},
            ["clusternet-a8pzt/berlin", "clusternet-b71dd/paris", "clusternet-zz001/lost"],
        ),
        (
            {"subscribers": [{"clusterAffinity": {"matchLabels": {"region": "apac"}}}]},
            ["clusternet-k2mxq/tokyo"],
        ),
        (
            {"subscribers": [{"clusterAffinity": {}}], "clusterTolerations": [{"operator": "Exists"}]},
            [
                "clusternet-a8pzt/berlin",
                "clusternet-b71dd/paris",
                "clusternet-k2mxq/tokyo",
                "clusternet-zz001/lost",
            ],
        ),
    ],
)
def test_replication_binds_sorted_matching_tolerated_live_clusters(
    spec: dict[str, Any], expected: list[str]
) -> None:
    """Candidates are the union of subscriber matches, without terminating or intolerably tainted clusters, sorted."""
    result = schedule(subscription(**spec), FLEET)
    assert (result.binding_clusters, result.replicas, result.unschedulable_reason) == (expected, {}, None)


@pytest.mark.parametrize(
    ("spec", "clusters", "reason", "should_bind"),
    [
        (
            {"subscribers": [{"clusterAffinity": {"matchLabels": {"region": "emea"}}}]},
            [
                FLEET[3],
                cluster("down", "clusternet-zz003", region="emea", taints=[dict(TAINT, value="")]),
                cluster("x", "ns-x", region="emea", taints=[TAINT]),
            ],
            "0/3 clusters are available: 1 clusters(s) had taint {clusters.clusternet.io/unschedulable: }, "
            "that the subscription didn't tolerate, 2 clusters(s) had taint "
            "{clusters.clusternet.io/unschedulable: lost}, that the subscription didn't tolerate.",
            True,
        ),
        (
            {"subscribers": [{"clusterAffinity": {"matchLabels": {"region": "mars"}}}]},
            FLEET,
            "0/5 clusters are available: no cluster matches any subscriber's clusterAffinity.",
            True,
        ),
        ({}, [], "0/0 clusters are available: no ManagedClusters exist.", False),
    ],
)
def test_unschedulable_subscriptions_explain_why(
    spec: dict[str, Any], clusters: list[dict[str, Any]], reason: str, should_bind: bool
) -> None:
    """When nothing fits the result is empty with a 0/N reason; with no clusters at all it must not be bound."""
    result = schedule(subscription(**spec), clusters)
    assert (result.binding_clusters, result.unschedulable_reason, result.should_bind) == (
        [],
        reason,
        should_bind,
    )


def test_rejected_clusters_are_reported_with_their_taint() -> None:
    """Every candidate dropped by the taint filter is listed with the reason."""
    result = schedule(subscription(), FLEET)
    assert list(result.rejected) == ["clusternet-zz001/lost"]
    assert "clusters.clusternet.io/unschedulable: lost" in result.rejected["clusternet-zz001/lost"]


def dividing(subscribers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return subscription(
        subscribers=subscribers,
        schedulingStrategy="Dividing",
        dividingScheduling={"type": "Static"},
        feeds=[WEB, CRD],
        **spec,
    )


@pytest.mark.parametrize(
    ("subscribers", "desired", "expected"),
    [
        (
            [
                {"clusterAffinity": {"matchLabels": {"region": "emea"}}, "weight": 1},
                {"clusterAffinity": {"matchLabels": {"size": "big"}}, "weight": 2},
            ],
            {feed_key(WEB): 10},
            {feed_key(WEB): [1, 6, 3], feed_key(CRD): []},
        ),
        (
            [
                {"clusterAffinity": {"matchLabels": {"region": "apac"}}, "weight": 1},
                {"clusterAffinity": {"matchLabels": {"region": "emea"}}, "weight": 2},
            ],
            {feed_key(WEB): 6, feed_key(CRD): None},
            {feed_key(WEB): [3, 2, 1], feed_key(CRD): []},
        ),
        ([{"clusterAffinity": {"matchLabels": {"region": "emea"}}}], {feed_key(WEB): 6}, {}),
    ],
)
def test_static_dividing_aligns_replicas_with_sorted_binding_clusters(
    subscribers: list[dict[str, Any]], desired: dict[str, int | None], expected: dict[str, list[int]]
) -> None:
    """Replicas follow the weights of matching subscribers, in binding order; zero total weight writes none."""
    assert schedule(dividing(subscribers), FLEET, desired).replicas == expected


def test_static_dividing_example_from_upstream() -> None:
    """Weights 1 and 2 with 6 replicas give 2 and 4."""
    subscribers = [
        {"clusterAffinity": {"matchLabels": {"size": "small"}}, "weight": 1},
        {"clusterAffinity": {"matchLabels": {"region": "apac"}}, "weight": 2},
    ]
    result = schedule(dividing(subscribers), FLEET, {feed_key(WEB): 6})
    assert result.binding_clusters == ["clusternet-a8pzt/berlin", "clusternet-k2mxq/tokyo"]
    assert result.replicas[feed_key(WEB)] == [2, 4]


def test_dynamic_dividing_leaves_replicas_to_the_caller() -> None:
    """Dynamic dividing needs predictors, so schedule() binds clusters but computes no replicas."""
    sub = dividing([{"clusterAffinity": {}, "weight": 1}])
    sub["spec"]["dividingScheduling"] = {"type": "Dynamic", "dynamicDividing": {"strategy": "Spread"}}
    result = schedule(sub, FLEET, {feed_key(WEB): 6})
    assert (len(result.binding_clusters), result.replicas) == (3, {})


def test_feed_keys_of_namespaced_and_cluster_scoped_feeds() -> None:
    """Namespaced feeds key on apiVersion/Kind/namespace/name, cluster-scoped ones on apiVersion/Kind/name."""
    assert feed_key(WEB) == "apps/v1/Deployment/shop/web"
    assert feed_key(CRD) == "apiextensions.k8s.io/v1/CustomResourceDefinition/carts.shop.io"


@pytest.mark.parametrize(
    ("subscribers", "expected"),
    [
        (
            [
                {
                    "clusterAffinity": {"matchLabels": {"region": "emea"}},
                    "subGroupStrategy": {"minClusters": 1},
                },
                {
                    "clusterAffinity": {"matchLabels": {"region": "apac"}},
                    "subGroupStrategy": {"minClusters": 5},
                },
            ],
            ["clusternet-a8pzt/berlin", "clusternet-k2mxq/tokyo"],
        ),
        (
            [
                {"clusterAffinity": {"matchLabels": {"size": "big"}}, "subGroupStrategy": {"minClusters": 2}},
                {
                    "clusterAffinity": {"matchLabels": {"region": "apac"}},
                    "subGroupStrategy": {"minClusters": 1},
                },
            ],
            ["clusternet-b71dd/paris", "clusternet-k2mxq/tokyo"],
        ),
        ([{"clusterAffinity": {}, "subGroupStrategy": {"minClusters": 0}}], []),
    ],
)
def test_sub_groups_keep_the_best_clusters_per_subscriber(
    subscribers: list[dict[str, Any]], expected: list[str]
) -> None:
    """With schedulingBySubGroup each subscriber keeps its minClusters best clusters, each cluster once."""
    result = schedule(subscription(subscribers=subscribers, schedulingBySubGroup=True), FLEET)
    assert result.binding_clusters == expected


def test_sub_groups_prefer_clusters_without_prefer_no_schedule_taints() -> None:
    """A PreferNoSchedule taint the subscription does not tolerate ranks a cluster last in its sub-group."""
    soft = {"key": "spot", "effect": "PreferNoSchedule"}
    clusters = [cluster("a", "ns-a", region="x", taints=[soft]), cluster("b", "ns-b", region="x")]
    subscribers = [
        {"clusterAffinity": {"matchLabels": {"region": "x"}}, "subGroupStrategy": {"minClusters": 1}}
    ]
    assert schedule(
        subscription(subscribers=subscribers, schedulingBySubGroup=True), clusters
    ).binding_clusters == ["ns-b/b"]


def test_sub_groups_need_a_strategy_on_every_subscriber() -> None:
    """schedulingBySubGroup without a subGroupStrategy is a scheduling error."""
    with pytest.raises(SchedulingError):
        schedule(subscription(schedulingBySubGroup=True), FLEET)


@pytest.mark.parametrize(
    ("data", "expected"), [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)]
)
def test_fnv32a_known_values(data: bytes, expected: int) -> None:
    """The hash is FNV-1a with 32 bits."""
    assert fnv32a(data) == expected


def test_spec_hash_depends_on_content_not_key_order() -> None:
    """Equal specs hash equally whatever their key order; a changed value changes the hash."""
    one = {"feeds": [WEB], "subscribers": [{"clusterAffinity": {"matchLabels": {"a": "b"}}}]}
    other = {
        "subscribers": [{"clusterAffinity": {"matchLabels": {"a": "b"}}}],
        "feeds": [dict(reversed(list(WEB.items())))],
    }
    changed = {"feeds": [WEB], "subscribers": [{"clusterAffinity": {"matchLabels": {"a": "c"}}}]}
    assert spec_hash(one) == spec_hash(other) != spec_hash(changed)
    assert spec_hash(one) == fnv32a(
        b'{"feeds":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","namespace":"shop"}],"subscribers":[{"clusterAffinity":{"matchLabels":{"a":"b"}}}]}'
    )


def test_status_patch_sets_every_field_and_nulls_stale_feed_keys() -> None:
    """The merge patch carries bindingClusters, replicas, specHash and desiredReleases, removing stale keys."""
    result = SchedulingResult(["ns-a/a", "ns-b/b"], {"k1": [1, 2]}, 42)
    previous = {"replicas": {"k1": [3, 0], "gone": [1, 1]}}
    assert result.status_patch(previous) == {
        "bindingClusters": ["ns-a/a", "ns-b/b"],
        "replicas": {"k1": [1, 2], "gone": None},
        "specHash": 42,
        "desiredReleases": 2,
    }
    assert SchedulingResult([], {}, 7).status_patch()["replicas"] is None
