"""Bases, stable names, in-render replica overrides, and when Descriptions or finalizers need a write."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubectl_clusternet.core.deploy import (
    APP_FINALIZER,
    base_differs,
    base_for,
    base_name,
    description_differs,
    finalizers_patch,
    replica_localizations,
    stable_suffix,
    subscription_key_of,
)
from kubectl_clusternet.core.render import generic_description, render_all

SUB_UID = "5e1f0a9b-aaaa-4bbb-8ccc-ddddeeeeffff"
FEEDS = [
    {"apiVersion": "v1", "kind": "Namespace", "name": "shop"},
    {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
]
SUBSCRIPTION: dict[str, Any] = {
    "apiVersion": "apps.clusternet.io/v1alpha1",
    "kind": "Subscription",
    "metadata": {"name": "shop", "namespace": "default", "uid": SUB_UID},
    "spec": {"feeds": FEEDS, "subscribers": []},
}


def cluster(namespace: str, name: str, cluster_id: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"team": "a", **labels}},
        "spec": {"clusterId": cluster_id},
    }


TOKYO = cluster("clusternet-aaaaa", "tokyo", "11111111-1111-4111-8111-111111111111")
OSAKA = cluster("clusternet-bbbbb", "osaka", "22222222-2222-4222-8222-222222222222")


@pytest.mark.parametrize("seed", ["", "a", SUB_UID, "ünïcode"])
def test_stable_suffix_is_repeatable_and_uses_upstreams_alphabet(seed: str) -> None:
    """The same seed always gives the same five characters, drawn from upstream's random-name alphabet."""
    suffix = stable_suffix(seed)
    assert suffix == stable_suffix(seed)
    assert len(suffix) == 5 and set(suffix) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_base_name_depends_on_the_subscription_uid() -> None:
    """A recreated Subscription (new UID) gets new Base names; the same one always the same name."""
    other = copy.deepcopy(SUBSCRIPTION)
    other["metadata"]["uid"] = "another-uid"
    assert base_name(SUBSCRIPTION).startswith("shop-") and base_name(SUBSCRIPTION) == base_name(SUBSCRIPTION)
    assert base_name(other) != base_name(SUBSCRIPTION)
    long = copy.deepcopy(SUBSCRIPTION)
    long["metadata"]["name"] = "x" * 253
    assert len(base_name(long) + "-generic") <= 253


def test_base_for_labels_and_feeds() -> None:
    """A Base lives in the cluster's namespace with upstream's labels and the Subscription's feeds."""
    base = base_for(SUBSCRIPTION, TOKYO)
    assert base["metadata"]["namespace"] == "clusternet-aaaaa"
    assert base["metadata"]["name"] == base_name(SUBSCRIPTION)
    assert base["metadata"]["labels"] == {
        "clusternet.io/created-by": "clusternet-controller-manager",
        "apps.clusternet.io/config.kind": "Subscription",
        "apps.clusternet.io/config.name": "shop",
        "apps.clusternet.io/config.namespace": "default",
        "apps.clusternet.io/config.uid": SUB_UID,
        "apps.clusternet.io/subs.name": "shop",
        "apps.clusternet.io/subs.namespace": "default",
        "apps.clusternet.io/subs.uid": SUB_UID,
        "clusters.clusternet.io/cluster-id": "11111111-1111-4111-8111-111111111111",
        "clusters.clusternet.io/cluster-name": "tokyo",
    }
    assert base["spec"] == {"feeds": FEEDS}
    assert subscription_key_of(base) == "default/shop"


def test_base_for_a_name_too_long_for_a_label_leaves_the_name_labels_out() -> None:
    """Names over 63 characters cannot be label values; the UID labels still tie the Base to its owner."""
    long = copy.deepcopy(SUBSCRIPTION)
    long["metadata"]["name"] = "n" * 64
    labels = base_for(long, TOKYO)["metadata"]["labels"]
    assert "apps.clusternet.io/subs.name" not in labels and "apps.clusternet.io/config.name" not in labels
    assert subscription_key_of({"metadata": {"labels": labels}}) is None


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        (lambda b: None, False),
        (lambda b: b["metadata"]["labels"].update(extra="kept"), False),
        (lambda b: b["metadata"]["labels"].pop("apps.clusternet.io/subs.uid"), True),
        (lambda b: b["spec"]["feeds"].pop(), True),
        (lambda b: b["metadata"].update(uid="x", resourceVersion="9"), False),
    ],
)
def test_base_differs(change: Any, differs: bool) -> None:
    """A Base is patched when its feeds or one of our labels differ, not for extra labels or server fields."""
    existing = base_for(SUBSCRIPTION, TOKYO)
    change(existing)
    assert base_differs(existing, base_for(SUBSCRIPTION, TOKYO)) is differs


def test_replica_localizations_split_through_the_renderer() -> None:
    """status.replicas [2, 4] becomes each cluster's spec.replicas, winning over a user Localization."""
    sub = copy.deepcopy(SUBSCRIPTION)
    sub["status"] = {
        "bindingClusters": ["clusternet-aaaaa/tokyo", "clusternet-bbbbb/osaka"],
        "replicas": {"apps/v1/Deployment/shop/web": [2, 4], "v1/Namespace/shop": []},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 6},
    }
    user = {
        "metadata": {
            "name": "mine",
            "namespace": "clusternet-aaaaa",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {
            "priority": 900,
            "feed": FEEDS[1],
            "overrides": [{"name": "r", "type": "MergePatch", "value": '{"spec":{"replicas":9}}'}],
        },
    }
    locs = replica_localizations(sub)
    assert [loc["metadata"]["namespace"] for loc in locs] == ["clusternet-aaaaa", "clusternet-bbbbb"]
    assert all(
        loc["spec"]["priority"] == 1000 and loc["spec"]["overridePolicy"] == "ApplyNow" for loc in locs
    )
    results = render_all([deployment], [TOKYO, OSAKA], [], [user, *locs])
    assert [r.objects[0]["spec"]["replicas"] for r in results] == [2, 4]
    assert replica_localizations(SUBSCRIPTION) == []


def test_replica_localizations_are_stable() -> None:
    """Rendering twice gives identical overrides (names included), so Descriptions do not churn."""
    sub = copy.deepcopy(SUBSCRIPTION)
    sub["status"] = {"bindingClusters": ["ns/a"], "replicas": {"apps/v1/Deployment/shop/web": [3]}}
    assert replica_localizations(sub) == replica_localizations(copy.deepcopy(sub))


def _description() -> dict[str, Any]:
    base = base_for(SUBSCRIPTION, TOKYO)
    base["metadata"]["uid"] = "base-uid"
    return generic_description(
        base, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}]
    )


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        (lambda d: None, False),
        (lambda d: d["metadata"].update(resourceVersion="5", uid="u"), False),
        (lambda d: d.update(status={"phase": "Success"}), False),
        (lambda d: d["spec"].update(raw=[]), True),
        (lambda d: d["metadata"].update(finalizers=[]), True),
        (lambda d: d["metadata"].update(ownerReferences=[]), True),
        (lambda d: d["metadata"]["labels"].update({"clusters.clusternet.io/cluster-name": "x"}), True),
    ],
)
def test_description_differs(change: Any, differs: bool) -> None:
    """A stored Description is rewritten when spec, our labels, owner or finalizer differ, never for status."""
    existing = _description()
    change(existing)
    assert description_differs(existing, _description()) is differs


@pytest.mark.parametrize(
    ("finalizers", "add", "remove", "expected"),
    [
        ([], [APP_FINALIZER], [], [APP_FINALIZER]),
        ([APP_FINALIZER], [APP_FINALIZER], [], None),
        (["other", APP_FINALIZER], [], [APP_FINALIZER], ["other"]),
        ([APP_FINALIZER], [], [APP_FINALIZER], []),
        ([], [], [APP_FINALIZER], None),
    ],
)
def test_finalizers_patch(
    finalizers: list[str], add: list[str], remove: list[str], expected: list[str] | None
) -> None:
    """The finalizer list is replaced whole under the object's resourceVersion; an empty list becomes null."""
    obj = {"metadata": {"finalizers": finalizers, "resourceVersion": "42"}}
    patch = finalizers_patch(obj, add=add, remove=remove)
    if expected is None:
        assert patch is None
    else:
        assert patch == {"metadata": {"finalizers": expected or None, "resourceVersion": "42"}}
