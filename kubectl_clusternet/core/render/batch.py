"""Render one Subscription's feeds for every bound cluster in one call.

The hub re-renders whenever a feed, an override or the scheduling result changes, and a fleet can have
a thousand clusters. Doing that cluster by cluster with ``collect_overrides`` + ``apply_overrides`` would
re-parse every override and re-evaluate every selector N times; this module does the shared work once:

* each distinct override is parsed once (``compile_override``) and each Globalization selector compiled
  once;
* a *layer* is the override list of one Globalization or Localization; layers with equal content get the
  same id, and clusters whose layer sequence for a feed is equal share one rendered object;
* partial results (a feed after its first k layers, server fields not yet stripped) are cached too, so
  clusters that share the Globalization layers but differ in their last Localization (the usual replica
  split) pay for one layer each, not for all of them.

So the cost follows the number of distinct layer sequences, not clusters × feeds × layers.

Results are read-only (see ``overrides``): objects are shared between clusters and with the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clusternet.core.render.descriptions import encode_raw_with
from kubectl_clusternet.core.render.encoding import SharingJsonEncoder
from kubectl_clusternet.core.render.errors import OverrideError
from kubectl_clusternet.core.render.feeds import FeedRef, describe_object, feed_ref_of_object
from kubectl_clusternet.core.render.overrides import (
    ChartRendering,
    CompiledOverride,
    apply_chart_overrides,
    apply_overrides,
    compile_override,
    override_signature,
    strip_server_fields,
)
from kubectl_clusternet.core.render.scheduling import cluster_key
from kubectl_clusternet.core.render.selectors import LabelMatcher, is_terminating, override_order_key

__all__ = ["ClusterRendering", "render_all", "raw_for_all", "is_helm_chart"]

_HELM_CHART = FeedRef("apps.clusternet.io/v1alpha1", "HelmChart", "", "")


def is_helm_chart(obj: Mapping[str, Any]) -> bool:
    """HelmChart feeds render into a chart plus Helm values instead of a raw object."""
    return obj.get("kind") == _HELM_CHART.kind and obj.get("apiVersion") == _HELM_CHART.api_version


@dataclass(frozen=True)
class ClusterRendering:
    """The feed objects of one cluster, rendered; when ``error`` is set nothing may be written for it."""

    cluster: str
    """``<namespace>/<name>`` of the ManagedCluster."""
    namespace: str
    """The cluster's dedicated namespace (where its Base, Descriptions and Localizations live)."""
    objects: list[dict[str, Any]] = field(default_factory=list)
    """Rendered non-HelmChart feed objects, in feed order (the ``<base>-generic`` raw list)."""
    charts: list[ChartRendering] = field(default_factory=list)
    """Rendered HelmChart feeds, in feed order (the ``<base>-helm`` Description)."""
    error: OverrideError | None = None
    """The first override that failed (upstream aborts the whole Description on it)."""


class _Compiler:
    """Compiles each distinct OverrideConfig once and numbers distinct layers (override lists)."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[Any, ...], CompiledOverride] = {}
        self._layer_ids: dict[tuple[tuple[Any, ...], ...], int] = {}
        self.layers: list[tuple[CompiledOverride, ...]] = []
        """Layer id → its compiled overrides."""

    def layer_id(self, overrides: Sequence[Mapping[str, Any]]) -> int:
        signatures = tuple(override_signature(override) for override in overrides)
        known_id = self._layer_ids.get(signatures)
        if known_id is not None:
            return known_id
        compiled = []
        for signature, override in zip(signatures, overrides, strict=True):
            known = self._compiled.get(signature)
            if known is None:
                known = self._compiled[signature] = compile_override(override)
            compiled.append(known)
        self._layer_ids[signatures] = len(self.layers)
        self.layers.append(tuple(compiled))
        return len(self.layers) - 1


class _Sources:
    """Live Globalizations or Localizations that target one of the feeds, in application order."""

    def __init__(
        self,
        sources: Sequence[Mapping[str, Any]],
        feed_index: Mapping[tuple[str, str, str, str], list[int]],
        compiler: _Compiler,
        *,
        with_affinity: bool,
    ) -> None:
        self.layer_ids: list[int] = []
        self.namespaces: list[str] = []
        self.matchers: list[LabelMatcher] = []
        # feed position -> indexes (into the lists above) of the sources targeting it, in order
        self.by_feed: dict[int, list[int]] = {}
        relevant = []
        for source in sources:
            spec = source.get("spec") or {}
            targets = feed_index.get(_feed_tuple(spec.get("feed") or {}))
            if targets and not is_terminating(source):
                relevant.append((override_order_key(source), source, targets))
        relevant.sort(key=lambda entry: entry[0])
        for _, source, targets in relevant:
            spec = source.get("spec") or {}
            position = len(self.layer_ids)
            self.layer_ids.append(compiler.layer_id(spec.get("overrides") or []))
            self.namespaces.append(str((source.get("metadata") or {}).get("namespace") or ""))
            if with_affinity:
                self.matchers.append(LabelMatcher(spec.get("clusterAffinity")))
            for target in targets:
                self.by_feed.setdefault(target, []).append(position)


def _feed_tuple(feed: Mapping[str, Any]) -> tuple[str, str, str, str]:
    # A plain tuple rather than a FeedRef: this runs once per override source, so it is kept cheap.
    return (
        feed.get("apiVersion") or "",
        feed.get("kind") or "",
        feed.get("namespace") or "",
        feed.get("name") or "",
    )


_Rendered = dict[str, Any] | ChartRendering | OverrideError


class _Renderer:
    """Renders (feed, layer sequence) pairs, caching final results and unstripped prefixes."""

    def __init__(self, feed_objects: Sequence[Mapping[str, Any]], compiler: _Compiler) -> None:
        self._feeds = feed_objects
        self._charts = [is_helm_chart(obj) for obj in feed_objects]
        self._layers = compiler.layers
        self._final: dict[tuple[int, tuple[int, ...]], _Rendered] = {}
        self._prefixes: dict[tuple[int, tuple[int, ...]], Mapping[str, Any] | OverrideError] = {}

    def render(self, feed: int, layers: tuple[int, ...]) -> _Rendered:
        key = (feed, layers)
        result = self._final.get(key)
        if result is None:
            result = self._final[key] = self._render(feed, layers)
        return result

    def _render(self, feed: int, layers: tuple[int, ...]) -> _Rendered:
        obj = self._feeds[feed]
        try:
            if self._charts[feed]:
                return apply_chart_overrides(obj, [o for layer in layers for o in self._layers[layer]])
            if not layers:
                return strip_server_fields(obj)
            # The last layer is applied (and the result stripped) without caching: it is what usually
            # differs between clusters. The layers before it are cached for the clusters that share them.
            partial = self._partial(feed, layers[:-1])
            if isinstance(partial, OverrideError):
                return partial
            return apply_overrides(partial, self._layers[layers[-1]])
        except OverrideError as exc:
            return exc.with_target(describe_object(obj))

    def _partial(self, feed: int, layers: tuple[int, ...]) -> Mapping[str, Any] | OverrideError:
        """The feed after ``layers``, unstripped; built on the longest prefix rendered before."""
        done = len(layers)
        while done and (feed, layers[:done]) not in self._prefixes:
            done -= 1
        doc: Mapping[str, Any] | OverrideError = (
            self._prefixes[(feed, layers[:done])] if done else self._feeds[feed]
        )
        for step in range(done, len(layers)):
            if not isinstance(doc, OverrideError):
                try:
                    doc = apply_overrides(doc, self._layers[layers[step]], strip=False)
                except OverrideError as exc:
                    doc = exc.with_target(describe_object(self._feeds[feed]))
            self._prefixes[(feed, layers[: step + 1])] = doc
        return doc


def render_all(
    feed_objects: Sequence[Mapping[str, Any]],
    clusters: Sequence[Mapping[str, Any]],
    globalizations: Sequence[Mapping[str, Any]] = (),
    localizations: Sequence[Mapping[str, Any]] = (),
) -> list[ClusterRendering]:
    """Render ``feed_objects`` (Manifest templates and HelmCharts, in feed order) for each ManagedCluster.

    A Globalization applies to a cluster when its ``spec.feed`` names the object and its
    ``clusterAffinity`` matches the cluster's labels; a Localization when its ``spec.feed`` names the object
    and it lives in the cluster's namespace. Order and skipping rules are those of
    ``selectors.collect_overrides``. A failing override marks that cluster's result with ``error`` and
    rendering carries on with the other clusters. Raises ``SelectorError`` for a malformed affinity.
    """
    feed_index: dict[tuple[str, str, str, str], list[int]] = {}
    for position, obj in enumerate(feed_objects):
        feed_index.setdefault(feed_ref_of_object(obj), []).append(position)
    compiler = _Compiler()
    globs = _Sources(globalizations, feed_index, compiler, with_affinity=True)
    locs = _Sources(localizations, feed_index, compiler, with_affinity=False)
    renderer = _Renderer(feed_objects, compiler)
    feed_positions = range(len(feed_objects))

    # (namespace, feed) -> layer ids of that namespace's Localizations for the feed, in order
    loc_layers: dict[tuple[str, int], tuple[int, ...]] = {}
    for feed, positions in locs.by_feed.items():
        for position in positions:
            key = (locs.namespaces[position], feed)
            loc_layers[key] = (*loc_layers.get(key, ()), locs.layer_ids[position])

    # which Globalizations match -> layer ids per feed; clusters with equal labels patterns share it
    glob_layers_by_pattern: dict[tuple[bool, ...], list[tuple[int, ...]]] = {}

    results: list[ClusterRendering] = []
    for cluster in clusters:
        metadata = cluster.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "")
        labels = metadata.get("labels") or {}
        pattern = tuple(matches(labels) for matches in globs.matchers)
        glob_layers = glob_layers_by_pattern.get(pattern)
        if glob_layers is None:
            glob_layers = glob_layers_by_pattern[pattern] = [
                tuple(globs.layer_ids[g] for g in globs.by_feed.get(feed, ()) if pattern[g])
                for feed in feed_positions
            ]
        objects: list[dict[str, Any]] = []
        charts: list[ChartRendering] = []
        error: OverrideError | None = None
        for feed in feed_positions:
            rendered = renderer.render(feed, glob_layers[feed] + loc_layers.get((namespace, feed), ()))
            if isinstance(rendered, OverrideError):
                error = rendered
                break
            if isinstance(rendered, ChartRendering):
                charts.append(rendered)
            else:
                objects.append(rendered)
        if error is None:
            results.append(ClusterRendering(cluster_key(cluster), namespace, objects, charts))
        else:
            results.append(ClusterRendering(cluster_key(cluster), namespace, error=error))
    return results


def raw_for_all(results: Sequence[ClusterRendering]) -> list[list[str]]:
    """``spec.raw`` of each cluster's ``<base>-generic`` Description (see ``descriptions.encode_raw``).

    Objects that ``render_all`` shares between clusters are encoded once, which matters as much as the
    rendering itself in a big fleet. Failed clusters get an empty list.
    """
    encoded: dict[int, str] = {}  # id of a rendered object -> its entry; ``results`` keeps them alive
    encoder = SharingJsonEncoder()  # and subtrees shared between different objects, once too
    raw: list[list[str]] = []
    for result in results:
        entries = []
        for obj in result.objects:
            entry = encoded.get(id(obj))
            if entry is None:
                entry = encoded[id(obj)] = encode_raw_with(encoder, [obj])[0]
            entries.append(entry)
        raw.append(entries)
    return raw
