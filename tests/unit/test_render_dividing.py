"""Static weighted replica division."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_clusternet.core.render.dividing import cluster_weights, divide_static
from kubectl_clusternet.core.render.errors import SchedulingError


@pytest.mark.parametrize(
    ("weights", "desired", "expected"),
    [
        ([1, 2], 6, [2, 4]),
        ([1, 1, 1], 9, [3, 3, 3]),
        ([3, 1], 5, [4, 1]),
        ([1, 3], 5, [1, 4]),
        ([1, 1, 1], 4, [2, 1, 1]),
        ([1, 1, 1], 5, [2, 2, 1]),
        ([2, 1, 2], 4, [2, 0, 2]),
        ([2, 1, 2], 3, [2, 0, 1]),
        ([2, 2, 1, 1], 3, [2, 1, 0, 0]),
        ([5], 7, [7]),
        ([0, 4], 3, [0, 3]),
        ([1, 2], 0, [0, 0]),
        ([0, 0], 5, []),
        ([], 5, []),
    ],
)
def test_divide_static(weights: list[int], desired: int, expected: list[int]) -> None:
    """Floor of the proportional share, the remainder one by one to the largest weights, earliest first on ties."""
    assert divide_static(weights, desired) == expected


@pytest.mark.parametrize(
    ("weights", "desired"), [([3, 5, 7], 100), ([1] * 7, 10), ([10, 1, 1], 1), ([9, 8, 7, 6], 29)]
)
def test_divide_static_hands_out_exactly_the_desired_replicas(weights: list[int], desired: int) -> None:
    """The shares always add up to the desired replicas."""
    assert sum(divide_static(weights, desired)) == desired


@pytest.mark.parametrize(("weights", "desired"), [([1, -1], 3), ([1], -1)])
def test_divide_static_rejects_negative_numbers(weights: list[int], desired: int) -> None:
    """Negative weights or replica counts are scheduling errors."""
    with pytest.raises(SchedulingError):
        divide_static(weights, desired)


def cluster(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": f"ns-{name}", "labels": labels}}


@pytest.mark.parametrize(
    ("subscribers", "expected"),
    [
        ([{"clusterAffinity": {"matchLabels": {"zone": "a"}}, "weight": 1}], [1, 1, 0]),
        (
            [
                {"clusterAffinity": {"matchLabels": {"zone": "a"}}, "weight": 1},
                {"clusterAffinity": {"matchLabels": {"tier": "big"}}, "weight": 2},
            ],
            [3, 1, 2],
        ),
        ([{"clusterAffinity": {}, "weight": 4}], [4, 4, 4]),
        ([{"clusterAffinity": {}, "weight": 0}, {"clusterAffinity": {}}], [0, 0, 0]),
        ([{"clusterAffinity": {"matchLabels": {"zone": "a"}}, "weight": -3}], [0, 0, 0]),
    ],
)
def test_cluster_weights_sum_matching_subscribers(
    subscribers: list[dict[str, Any]], expected: list[int]
) -> None:
    """A cluster's weight is the sum of the positive weights of the subscribers that select it."""
    clusters = [cluster("c1", zone="a", tier="big"), cluster("c2", zone="a"), cluster("c3", tier="big")]
    assert cluster_weights(subscribers, clusters) == expected
