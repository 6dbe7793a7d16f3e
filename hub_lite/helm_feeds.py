"""HelmChart feeds as the deployer sees them: looked up among HelmCharts (not Manifests), and usable only
once the verifier has found them (reference §7.2 step 5).

The chart handed to rendering keeps only what a HelmRelease is made of (name, namespace, labels,
annotations, spec): a status write or a new resourceVersion must not change the rendered Description.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_clusternet.core.apis.apps import HELM_CHART
from kubectl_clusternet.core.render.feeds import FeedRef, feed_ref

from .apps_cache import HELM_CHARTS

__all__ = ["ChartFeeds", "chart_feed_ref", "chart_render_fingerprint", "is_chart_feed"]


def is_chart_feed(ref: FeedRef) -> bool:
    return ref.kind == HELM_CHART.kind and ref.api_version == HELM_CHART.api_version


def chart_feed_ref(chart: Mapping[str, Any]) -> FeedRef:
    metadata = chart.get("metadata") or {}
    return FeedRef(
        HELM_CHART.api_version,
        HELM_CHART.kind,
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def chart_render_fingerprint(chart: Mapping[str, Any] | None) -> str:
    """What rendering depends on in a HelmChart: spec, labels, annotations, verification, deletion."""
    if chart is None:
        return ""
    metadata = chart.get("metadata") or {}
    status = chart.get("status") or {}
    return json.dumps(
        [
            chart.get("spec"),
            metadata.get("labels"),
            metadata.get("annotations"),
            status.get("phase"),
            status.get("reason"),
            metadata.get("deletionTimestamp"),
        ],
        sort_keys=True,
    )


def _for_render(chart: Mapping[str, Any]) -> dict[str, Any]:
    metadata = chart.get("metadata") or {}
    trimmed: dict[str, Any] = {"name": metadata.get("name"), "namespace": metadata.get("namespace")}
    for key in ("labels", "annotations"):
        if metadata.get(key):
            trimmed[key] = dict(metadata[key])
    return {
        "apiVersion": HELM_CHART.api_version,
        "kind": HELM_CHART.kind,
        "metadata": trimmed,
        "spec": dict(chart.get("spec") or {}),
    }


@dataclass
class ChartFeeds:
    """A Subscription's HelmChart feeds, sorted by what the deployer must do about them."""

    found: list[dict[str, Any]] = field(default_factory=list)
    """Verified charts, trimmed for rendering, in feed order."""
    waiting: list[dict[str, Any]] = field(default_factory=list)
    """Not verified yet (event ``VerifyingHelmChart``)."""
    not_found: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    """Verified missing, with the reason (event ``HelmChartNotFound``)."""
    missing: list[FeedRef] = field(default_factory=list)
    """No such HelmChart object at all (event ``NonexistentHelmChart``)."""

    @classmethod
    def resolve(
        cls,
        feeds: Iterable[Mapping[str, Any]],
        default_namespace: str,
        get: Callable[[str, str], dict[str, Any] | None],
        pending: Callable[[dict[str, Any]], bool] = lambda chart: False,
    ) -> ChartFeeds:
        """``get(kind, key)`` reads the hub's cache; a feed without a namespace means the Subscription's;
        ``pending(chart)`` says the chart's status answers for an older spec (it is then waited for)."""
        result = cls()
        seen: set[str] = set()
        for feed in feeds:
            ref = feed_ref(feed)
            if not is_chart_feed(ref):
                continue
            key = f"{ref.namespace or default_namespace}/{ref.name}"
            if key in seen:
                continue
            seen.add(key)
            chart = get(HELM_CHARTS, key)
            if chart is None:
                result.missing.append(ref)
                continue
            phase = (chart.get("status") or {}).get("phase")
            if pending(chart):
                result.waiting.append(chart)
            elif phase == "Found":
                result.found.append(_for_render(chart))
            elif phase == "NotFound":
                result.not_found.append((chart, str((chart.get("status") or {}).get("reason") or "")))
            else:
                result.waiting.append(chart)
        return result
