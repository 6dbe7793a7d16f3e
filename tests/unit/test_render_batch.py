"""render_all: the many-clusters entry point must agree with rendering cluster by cluster."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubectl_clusternet.core.render.batch import ClusterRendering, raw_for_all, render_all
from kubectl_clusternet.core.render.descriptions import encode_raw
from kubectl_clusternet.core.render.feeds import feed_ref_of_object
from kubectl_clusternet.core.render.overrides import OverrideError, apply_chart_overrides, apply_overrides
from kubectl_clusternet.core.render.selectors import SelectorError, collect_overrides

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "uid": "d-uid", "labels": {"app": "web"}},
    "spec": {"replicas": 6, "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
    "status": {"readyReplicas": 6},
}
CONFIG = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "web-config", "namespace": "shop"},
    "data": {"mode": "std"},
}
CHART = {
    "apiVersion": "apps.clusternet.io/v1alpha1",
    "kind": "HelmChart",
    "metadata": {"name": "cache", "namespace": "shop"},
    "spec": {"repo": "https://charts.example.org", "chart": "redis", "targetNamespace": "shop"},
}
FEEDS = [DEPLOYMENT, CONFIG, CHART]


def feed_of(obj: dict[str, Any]) -> dict[str, str]:
    ref = feed_ref_of_object(obj)
    return {"apiVersion": ref.api_version, "kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def merge(name: str, patch: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": "MergePatch", "value": json.dumps(patch)}


def replicas(count: int) -> dict[str, Any]:
    return {
        "name": "dividing scheduling replicas",
        "type": "JSONPatch",
        "value": json.dumps([{"op": "replace", "path": "/spec/replicas", "value": count}]),
    }


def glob(name: str, target: dict[str, Any], overrides: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    metadata = {"name": name, "creationTimestamp": spec.pop("created", "2024-04-01T00:00:00Z")}
    if spec.pop("terminating", False):
        metadata["deletionTimestamp"] = "2024-04-02T00:00:00Z"
    return {"metadata": metadata, "spec": {"feed": feed_of(target), "overrides": overrides, **spec}}


def loc(
    name: str, namespace: str, target: dict[str, Any], overrides: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    source = glob(name, target, overrides, **spec)
    source["metadata"]["namespace"] = namespace
    return source


CLUSTERS = [
    {
        "metadata": {
            "name": f"c{n}",
            "namespace": f"clusternet-{n:03d}",
            "labels": {"env": "prod" if n % 2 else "dev", "zone": f"z{n % 3}"},
        }
    }
    for n in range(9)
]

GLOBALIZATIONS = [
    glob(
        "all-image",
        DEPLOYMENT,
        [
            {
                "name": "image",
                "type": "JSONPatch",
                "value": '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"web:2"}]',
            }
        ],
    ),
    glob(
        "prod-labels",
        DEPLOYMENT,
        [merge("tier", {"metadata": {"labels": {"tier": "prod"}}})],
        priority=100,
        clusterAffinity={"matchLabels": {"env": "prod"}},
    ),
    glob(
        "z0-mode",
        CONFIG,
        [merge("mode", {"data": {"mode": "z0"}})],
        clusterAffinity={"matchLabels": {"zone": "z0"}},
    ),
    glob("gone", CONFIG, [merge("gone", {"data": {"gone": "yes"}})], terminating=True),
    glob("chart-values", CHART, [{"name": "v", "type": "Helm", "value": "maxmemory: 64mb"}]),
    glob(
        "other-feed",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "shop"}},
        [merge("x", {"x": 1})],
    ),
]

LOCALIZATIONS = [
    loc(f"replicas-{n}", f"clusternet-{n:03d}", DEPLOYMENT, [replicas(n % 4)], priority=1000)
    for n in range(9)
] + [
    loc("mode-c4", "clusternet-004", CONFIG, [merge("mode", {"data": {"mode": "c4", "extra": "1"}})]),
    loc(
        "mode-c4-late",
        "clusternet-004",
        CONFIG,
        [merge("mode-late", {"data": {"extra": None}})],
        created="2024-05-01T00:00:00Z",
    ),
    loc(
        "chart-c1",
        "clusternet-001",
        CHART,
        [
            {"name": "v", "type": "Helm", "value": "maxmemory: 1gb"},
            {"name": "ver", "type": "Helm", "overrideChart": True, "value": '{"spec":{"version":"7"}}'},
        ],
    ),
    loc("nowhere", "clusternet-999", DEPLOYMENT, [replicas(99)]),
]


def one_by_one(
    cluster: dict[str, Any], globalizations: list[dict[str, Any]], localizations: list[dict[str, Any]]
) -> ClusterRendering:
    """The reference: collect_overrides and apply_*_overrides for one cluster at a time."""
    namespace = cluster["metadata"]["namespace"]
    labels = cluster["metadata"]["labels"]
    own_locs = [source for source in localizations if source["metadata"]["namespace"] == namespace]
    objects: list[dict[str, Any]] = []
    charts = []
    key = f"{namespace}/{cluster['metadata']['name']}"
    for feed in FEEDS:
        overrides = collect_overrides(globalizations, own_locs, labels, feed=feed_of(feed))
        try:
            if feed["kind"] == "HelmChart":
                charts.append(apply_chart_overrides(feed, overrides))
            else:
                objects.append(apply_overrides(feed, overrides))
        except OverrideError as exc:
            return ClusterRendering(key, namespace, error=exc)
    return ClusterRendering(key, namespace, objects, charts)


def test_render_all_matches_rendering_cluster_by_cluster() -> None:
    """Every cluster gets exactly what collect_overrides plus apply_overrides would give it."""
    before = copy.deepcopy((FEEDS, CLUSTERS, GLOBALIZATIONS, LOCALIZATIONS))
    results = render_all(FEEDS, CLUSTERS, GLOBALIZATIONS, LOCALIZATIONS)
    assert (FEEDS, CLUSTERS, GLOBALIZATIONS, LOCALIZATIONS) == before
    expected = [one_by_one(cluster, GLOBALIZATIONS, LOCALIZATIONS) for cluster in CLUSTERS]
    assert [(r.cluster, r.namespace, r.objects, r.charts, r.error) for r in results] == [
        (e.cluster, e.namespace, e.objects, e.charts, e.error) for e in expected
    ]


@pytest.mark.parametrize(
    ("cluster_index", "replica_count", "labels", "mode", "maxmemory"),
    [
        (0, 0, {"app": "web"}, "z0", "64mb"),
        (1, 1, {"app": "web", "tier": "prod"}, "std", "1gb"),
        (4, 0, {"app": "web"}, "c4", "64mb"),
    ],
)
def test_render_all_applies_the_right_layers(
    cluster_index: int, replica_count: int, labels: dict[str, str], mode: str, maxmemory: str
) -> None:
    """Spot checks: affinity-selected Globalizations, namespace-local Localizations, charts and stripping."""
    result = render_all(FEEDS, CLUSTERS, GLOBALIZATIONS, LOCALIZATIONS)[cluster_index]
    deployment, config = result.objects
    assert deployment["spec"]["replicas"] == replica_count
    assert deployment["metadata"]["labels"] == labels
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert "status" not in deployment and "uid" not in deployment["metadata"]
    assert config["data"] == {"mode": mode}
    assert result.charts[0].values == {"maxmemory": maxmemory}


def test_one_broken_localization_fails_only_its_cluster() -> None:
    """A failing override marks its cluster's result with the error; the other clusters render normally."""
    broken = LOCALIZATIONS + [
        loc("broken", "clusternet-002", CONFIG, [{"name": "bad", "type": "Strategic", "value": "a: 1"}])
    ]
    results = render_all(FEEDS, CLUSTERS, GLOBALIZATIONS, broken)
    assert [r.error is not None for r in results] == [n == 2 for n in range(9)]
    failed = results[2]
    assert (failed.objects, failed.charts) == ([], [])
    assert failed.error is not None and 'OverrideConfig "bad" to v1 ConfigMap shop/web-config' in str(
        failed.error
    )


def test_render_all_without_overrides_only_strips_server_fields() -> None:
    """With no Globalizations or Localizations each object is the feed minus its server-owned fields."""
    (result,) = render_all([DEPLOYMENT], CLUSTERS[:1])
    assert result.objects == [apply_overrides(DEPLOYMENT, [])]
    assert "status" not in result.objects[0]


def test_render_all_rejects_a_malformed_globalization_affinity() -> None:
    """A Globalization with an invalid clusterAffinity is reported instead of being guessed at."""
    bad = glob(
        "bad", DEPLOYMENT, [], clusterAffinity={"matchExpressions": [{"key": "env", "operator": "Is"}]}
    )
    with pytest.raises(SelectorError):
        render_all(FEEDS, CLUSTERS, [bad])


def test_clusters_with_equal_layers_get_equal_objects() -> None:
    """Clusters whose override layers are equal get equal objects, and the replica layer tells the groups apart."""
    results = render_all([DEPLOYMENT], CLUSTERS, GLOBALIZATIONS, LOCALIZATIONS)
    by_replicas: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        by_replicas.setdefault(result.objects[0]["spec"]["replicas"], []).append(result.objects[0])
    assert sorted(by_replicas) == [0, 1, 2, 3]
    for group in by_replicas.values():
        assert all(rendered == group[0] for rendered in group)


def test_raw_for_all_encodes_each_cluster_like_encode_raw() -> None:
    """raw_for_all gives every cluster the entries encode_raw would, and nothing for failed clusters."""
    broken = LOCALIZATIONS + [
        loc("broken", "clusternet-005", CONFIG, [{"name": "bad", "type": "X", "value": "a: 1"}])
    ]
    results = render_all(FEEDS, CLUSTERS, GLOBALIZATIONS, broken)
    assert raw_for_all(results) == [encode_raw(result.objects) for result in results]
    assert raw_for_all(results)[5] == []
