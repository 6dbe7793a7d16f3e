"""Label selectors and the order in which Globalization and Localization overrides apply."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kubectl_clusternet.core.render.selectors import (
    SelectorError,
    collect_overrides,
    selector_matches,
    validate_selector,
)

LABELS = {"env": "prod", "region": "eu-west", "gpu": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, True),
        ({}, True),
        ({"matchLabels": {}, "matchExpressions": []}, True),
        ({"matchLabels": {"env": "prod"}}, True),
        ({"matchLabels": {"env": "prod", "region": "us"}}, False),
        ({"matchLabels": {"missing": "x"}}, False),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev", "prod"]}]}, True),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]}, False),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}, False),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}, True),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, False),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, False),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu-west"]}],
            },
            True,
        ),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}],
            },
            False,
        ),
    ],
)
def test_selector_operators(selector: dict[str, Any] | None, expected: bool) -> None:
    """matchLabels and every matchExpressions operator behave as in Kubernetes; no selector selects all."""
    assert selector_matches(selector, LABELS) is expected


@pytest.mark.parametrize(
    ("selector", "reason"),
    [
        ({"matchExpressions": [{"key": "env", "operator": "Equals", "values": ["prod"]}]}, "not a valid"),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": []}]}, "can't be empty"),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn"}]}, "can't be empty"),
        ({"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["x"]}]}, "must be empty"),
        (
            {"matchExpressions": [{"key": "env", "operator": "DoesNotExist", "values": ["x"]}]},
            "must be empty",
        ),
        ({"matchExpressions": {"key": "env"}}, "must be a list"),
        ({"matchLabels": ["env"]}, "map of strings"),
    ],
)
def test_malformed_selectors_raise(selector: dict[str, Any], reason: str) -> None:
    """Unknown operators and wrong value counts are SelectorErrors, both when validating and when matching."""
    with pytest.raises(SelectorError, match=reason):
        validate_selector(selector)
    with pytest.raises(SelectorError, match=reason):
        selector_matches(selector, LABELS)


def source(
    name: str,
    *,
    priority: int | None = None,
    created: str = "2024-03-01T10:00:00Z",
    namespace: str | None = None,
    affinity: dict[str, Any] | None = None,
    terminating: bool = False,
    feed_name: str = "web",
) -> dict[str, Any]:
    """A Globalization (no namespace) or Localization whose one override is named after it."""
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if namespace:
        metadata["namespace"] = namespace
    if terminating:
        metadata["deletionTimestamp"] = "2024-03-02T00:00:00Z"
    spec: dict[str, Any] = {
        "feed": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": feed_name},
        "overrides": [{"name": name, "type": "MergePatch", "value": "{}"}],
    }
    if priority is not None:
        spec["priority"] = priority
    if affinity is not None:
        spec["clusterAffinity"] = affinity
    return {"metadata": metadata, "spec": spec}


def names(overrides: list[dict[str, Any]]) -> list[str]:
    return [override["name"] for override in overrides]


@pytest.mark.parametrize(
    ("globalizations", "localizations", "expected"),
    [
        ([source("g-600", priority=600), source("g-100", priority=100)], [], ["g-100", "g-600"]),
        (
            [source("g-default"), source("g-499", priority=499), source("g-501", priority=501)],
            [],
            ["g-499", "g-default", "g-501"],
        ),
        (
            [
                source("newer", created="2024-03-01T10:00:05Z"),
                source("older", created="2024-03-01T09:59:59Z"),
            ],
            [],
            ["older", "newer"],
        ),
        (
            [
                source("next-year", created="2025-01-01T00:00:00Z"),
                source("same-second", created="2024-01-01T00:00:00Z"),
            ],
            [],
            ["same-second", "next-year"],
        ),
        (
            [source("g-1000", priority=1000)],
            [source("l-0", priority=0, namespace="c1"), source("l-10", priority=10, namespace="c1")],
            ["g-1000", "l-0", "l-10"],
        ),
        (
            [source("g-gone", terminating=True), source("g-live")],
            [source("l-gone", namespace="c1", terminating=True)],
            ["g-live"],
        ),
        (
            [
                source("g-prod", affinity={"matchLabels": {"env": "prod"}}),
                source("g-dev", affinity={"matchLabels": {"env": "dev"}}),
            ],
            [],
            ["g-prod"],
        ),
        ([source("g-all", affinity={})], [], ["g-all"]),
        (
            [source("g-other-feed", feed_name="api"), source("g-web")],
            [source("l-other-feed", namespace="c1", feed_name="api")],
            ["g-web"],
        ),
    ],
)
def test_collect_overrides_order_and_filtering(
    globalizations: list[dict[str, Any]], localizations: list[dict[str, Any]], expected: list[str]
) -> None:
    """Globalizations (matching the cluster) then Localizations, each by priority then age, live objects only."""
    feed = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
    assert names(collect_overrides(globalizations, localizations, {"env": "prod"}, feed=feed)) == expected


def test_collect_overrides_does_not_depend_on_list_order() -> None:
    """Sources equal in priority and age are ordered by name, so any listing order gives the same result."""
    sources = [source(f"g-{letter}") for letter in "abcdef"]
    shuffled = sources[:]
    random.Random(7).shuffle(shuffled)
    assert names(collect_overrides(shuffled, [], {})) == [f"g-{letter}" for letter in "abcdef"]


def test_collect_overrides_without_feed_keeps_every_source() -> None:
    """Without a feed filter the caller's pre-selected sources are all used."""
    globs = [source("g", feed_name="api")]
    locs = [source("l", namespace="c1", feed_name="db")]
    assert names(collect_overrides(globs, locs, {})) == ["g", "l"]


def test_collect_overrides_rejects_a_malformed_affinity() -> None:
    """A Globalization with an invalid clusterAffinity makes collecting fail instead of silently matching."""
    bad = source("g", affinity={"matchExpressions": [{"key": "env", "operator": "Like", "values": ["p"]}]})
    with pytest.raises(SelectorError):
        collect_overrides([bad], [], {"env": "prod"})
