"""Scheduling a Subscription onto ManagedClusters (reference §8.2–8.3), as a pure function.

The hub feeds in the Subscription, every ManagedCluster and the FeedInventory's desired replicas, and
writes the result into ``Subscription.status``. Keeping the decision free of I/O makes it testable cluster
by cluster and lets a dry run (``kubectl clusternet``) show where a Subscription would land.

Only static dividing is computed here; dynamic dividing needs each cluster's predictor, so for it the
result carries no replicas and the caller fills them in.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubectl_clusternet.core.render.dividing import cluster_weights, divide_static
from kubectl_clusternet.core.render.errors import SchedulingError
from kubectl_clusternet.core.render.feeds import feed_key
from kubectl_clusternet.core.render.selectors import LabelMatcher, is_terminating

__all__ = [
    "SchedulingError",
    "SchedulingResult",
    "schedule",
    "spec_hash",
    "fnv32a",
    "tolerates",
    "find_untolerated_taint",
    "cluster_key",
]

_FNV32_OFFSET: Final = 0x811C9DC5
_FNV32_PRIME: Final = 0x01000193
_FILTERED_EFFECTS: Final = ("NoSchedule", "NoExecute")


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data``."""
    value = _FNV32_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def spec_hash(spec: Mapping[str, Any]) -> int:
    """``status.specHash``: FNV-32a over ``json.dumps(spec, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` encoded as UTF-8.

    Sorted keys and compact separators make the dump depend only on the spec's content, never on key
    order or formatting, so an unchanged spec always hashes the same. The value differs from upstream's
    (which hashes a Go-specific dump); it is only ever compared with values we wrote ourselves.
    """
    dump = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return fnv32a(dump.encode("utf-8"))


def cluster_key(cluster: Mapping[str, Any]) -> str:
    """``<namespace>/<name>`` of a ManagedCluster, the form ``status.bindingClusters`` uses."""
    metadata = cluster.get("metadata") or {}
    return f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}"


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Kubernetes toleration semantics: an empty effect matches every effect, an empty key matches every
    key, ``Exists`` ignores the value, ``Equal`` (the default) compares it; other operators match nothing."""
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def find_untolerated_taint(
    taints: Sequence[Mapping[str, Any]],
    tolerations: Sequence[Mapping[str, Any]],
    effects: Sequence[str] = _FILTERED_EFFECTS,
) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` that no toleration tolerates, or ``None``."""
    for taint in taints:
        if (taint.get("effect") or "") not in effects:
            continue
        if not any(tolerates(toleration, taint) for toleration in tolerations):
            return taint
    return None


@dataclass(frozen=True)
class SchedulingResult:
    """Where a Subscription goes: what the hub writes into ``Subscription.status``."""

    binding_clusters: list[str]
    """Sorted ``<namespace>/<name>`` of the chosen ManagedClusters."""
    replicas: dict[str, list[int]]
    """feedKey → replicas aligned with ``binding_clusters`` (static dividing only; ``[]`` for feeds
    without desired replicas; empty for replication or when all weights are 0)."""
    spec_hash: int
    unschedulable_reason: str | None = None
    """``"0/N clusters are available: …"`` when no cluster fits. The empty result is still meant to be
    bound, which removes the workloads from every cluster, as upstream does."""
    rejected: dict[str, str] = field(default_factory=dict)
    """Candidate cluster → why the filter rejected it (for events and dry runs)."""
    should_bind: bool = True
    """False when there are no ManagedClusters at all: upstream then retries instead of binding, so a hub
    whose cluster cache is still empty (just started) cannot wipe every workload."""

    def status_patch(self, previous_status: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A JSON merge patch for ``status``; feed keys present in ``previous_status.replicas`` but gone
        now are set to ``null`` so merging cannot leave stale entries behind."""
        replicas: dict[str, list[int] | None] = dict(self.replicas)
        for stale in ((previous_status or {}).get("replicas") or {}).keys() - replicas.keys():
            replicas[stale] = None
        return {
            "bindingClusters": list(self.binding_clusters),
            "replicas": replicas or None,
            "specHash": self.spec_hash,
            "desiredReleases": len(self.binding_clusters),
        }


def _taint_reason(taint: Mapping[str, Any]) -> str:
    # Upstream's wording, typo included, so users can search for it.
    return (
        f"clusters(s) had taint {{{taint.get('key') or ''}: {taint.get('value') or ''}}}, "
        "that the subscription didn't tolerate"
    )


def _unavailable(total: int, reasons: Counter[str]) -> str:
    histogram = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
    return f"0/{total} clusters are available: {histogram}."


def _count_prefer_no_schedule(cluster: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> int:
    """Taints a subscription would rather avoid; fewer is better when picking sub-group members."""
    relevant = [t for t in tolerations if (t.get("effect") or "") in ("", "PreferNoSchedule")]
    taints = (cluster.get("spec") or {}).get("taints") or []
    return sum(
        1
        for taint in taints
        if taint.get("effect") == "PreferNoSchedule" and not any(tolerates(t, taint) for t in relevant)
    )


def _pick_sub_groups(
    subscribers: Sequence[Mapping[str, Any]],
    feasible: Sequence[Mapping[str, Any]],
    tolerations: Sequence[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """Per subscriber keep its best ``subGroupStrategy.minClusters`` clusters (reference §8.2 step 7)."""
    ranked = sorted(feasible, key=lambda c: (_count_prefer_no_schedule(c, tolerations), cluster_key(c)))
    chosen: dict[str, Mapping[str, Any]] = {}
    for subscriber in subscribers:
        strategy = subscriber.get("subGroupStrategy")
        if not isinstance(strategy, Mapping):
            raise SchedulingError("schedulingBySubGroup needs a subGroupStrategy on every subscriber")
        matches = LabelMatcher(subscriber.get("clusterAffinity"))
        members = [c for c in ranked if matches((c.get("metadata") or {}).get("labels") or {})]
        for cluster in members[: max(int(strategy.get("minClusters") or 0), 0)]:
            chosen.setdefault(cluster_key(cluster), cluster)
    return list(chosen.values())


def schedule(
    subscription: Mapping[str, Any],
    clusters: Sequence[Mapping[str, Any]],
    desired_replicas: Mapping[str, int | None] | None = None,
) -> SchedulingResult:
    """Choose the clusters (and, for static dividing, the replicas) for ``subscription``.

    Candidates are the clusters matching any subscriber's ``clusterAffinity``, minus terminating ones; a
    candidate with a NoSchedule/NoExecute taint not tolerated by ``spec.clusterTolerations`` is dropped.
    ``desired_replicas`` maps feed keys (see ``feeds.feed_key``) to the FeedInventory's desired replicas.
    """
    spec = subscription.get("spec") or {}
    hashed = spec_hash(spec)
    subscribers = spec.get("subscribers") or []
    tolerations = spec.get("clusterTolerations") or []

    candidates: dict[str, Mapping[str, Any]] = {}
    for subscriber in subscribers:
        matches = LabelMatcher(subscriber.get("clusterAffinity"))
        for cluster in clusters:
            if matches((cluster.get("metadata") or {}).get("labels") or {}) and not is_terminating(cluster):
                candidates.setdefault(cluster_key(cluster), cluster)

    if not clusters:
        reason = "0/0 clusters are available: no ManagedClusters exist."
        return SchedulingResult([], {}, hashed, reason, should_bind=False)
    if not candidates:
        reason = (
            f"0/{len(clusters)} clusters are available: no cluster matches any subscriber's clusterAffinity."
        )
        return SchedulingResult([], {}, hashed, reason)

    feasible: list[Mapping[str, Any]] = []
    rejected: dict[str, str] = {}
    for key, cluster in candidates.items():
        taint = find_untolerated_taint((cluster.get("spec") or {}).get("taints") or [], tolerations)
        if taint is None:
            feasible.append(cluster)
        else:
            rejected[key] = _taint_reason(taint)
    if not feasible:
        return SchedulingResult(
            [], {}, hashed, _unavailable(len(clusters), Counter(rejected.values())), rejected
        )

    if spec.get("schedulingBySubGroup"):
        feasible = _pick_sub_groups(subscribers, feasible, tolerations)
    feasible.sort(key=cluster_key)
    binding = [cluster_key(cluster) for cluster in feasible]

    replicas: dict[str, list[int]] = {}
    dividing = spec.get("dividingScheduling") or {}
    if spec.get("schedulingStrategy") == "Dividing" and (dividing.get("type") or "Static") == "Static":
        weights = cluster_weights(subscribers, feasible)
        if sum(weights) > 0:
            wanted = desired_replicas or {}
            for feed in spec.get("feeds") or []:
                key = feed_key(feed)
                desired = wanted.get(key)
                replicas[key] = [] if desired is None else divide_static(weights, int(desired))
    return SchedulingResult(binding, replicas, hashed, None, rejected)
