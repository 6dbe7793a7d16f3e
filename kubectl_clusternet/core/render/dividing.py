"""Static weighted replica division (reference §8.3).

Kept as integer arithmetic on purpose: the result is written into ``Subscription.status.replicas`` and
then into every cluster's objects, so it must be exact and identical on every run, never a float rounding
artefact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubectl_clusternet.core.render.errors import SchedulingError
from kubectl_clusternet.core.render.selectors import LabelMatcher

__all__ = ["divide_static", "cluster_weights"]


def divide_static(weights: Sequence[int], desired: int) -> list[int]:
    """Split ``desired`` replicas over clusters in proportion to ``weights`` (aligned lists).

    Each cluster first gets ``floor(w·D/Σw)``; the few replicas left over go one by one to the clusters
    with the largest weights, earlier positions first among equal weights. ``Σw == 0`` gives ``[]``
    (nothing to divide by, so no replicas are written). Weights 1 and 2 with 6 replicas give 2 and 4.
    """
    if desired < 0:
        raise SchedulingError(f"desired replicas must not be negative, got {desired}")
    if any(weight < 0 for weight in weights):
        raise SchedulingError(f"weights must not be negative, got {list(weights)}")
    total = sum(weights)
    if total == 0:
        return []
    replicas = [weight * desired // total for weight in weights]
    remainder = desired - sum(replicas)
    # sorted() is stable, so equal weights keep their positions.
    by_weight = sorted(range(len(weights)), key=lambda index: -weights[index])
    for step in range(remainder):
        replicas[by_weight[step % len(by_weight)]] += 1
    return replicas


def cluster_weights(
    subscribers: Sequence[Mapping[str, Any]], clusters: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Each cluster's weight: the sum of the weights of the subscribers whose ``clusterAffinity`` matches
    its labels (subscribers with weight 0 or less add nothing). Aligned with ``clusters``."""
    weighted = [
        (LabelMatcher(subscriber.get("clusterAffinity")), int(subscriber.get("weight") or 0))
        for subscriber in subscribers
    ]
    weights = []
    for cluster in clusters:
        labels = (cluster.get("metadata") or {}).get("labels") or {}
        weights.append(sum(weight for matches, weight in weighted if weight > 0 and matches(labels)))
    return weights
