"""Base → Description rendering and the objects around it (reference §7.2 step 5, §7.4, §7.6).

Everything here returns request bodies as plain dicts, ready to be created or compared with what is in
the parent cluster; nothing talks to an API server. Names and labels follow upstream Clusternet so that
Descriptions written by either implementation are found by the same label selectors.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from kubectl_clusternet.core.render.encoding import SharingJsonEncoder
from kubectl_clusternet.core.render.errors import DescriptionError, OverrideError
from kubectl_clusternet.core.render.feeds import FeedRef, ObjectKey, describe_object, feed_ref, object_key
from kubectl_clusternet.core.render.overrides import (
    JSON_PATCH,
    ChartRendering,
    CompiledOverride,
    apply_chart_overrides,
    apply_overrides,
)

__all__ = [
    "APPS_API_VERSION",
    "APP_FINALIZER",
    "CREATED_BY_CONTROLLER_MANAGER",
    "LABEL_CREATED_BY",
    "LABEL_CONFIG_KIND",
    "LABEL_CONFIG_NAME",
    "LABEL_CONFIG_NAMESPACE",
    "LABEL_CONFIG_UID",
    "LABEL_CLUSTER_ID",
    "LABEL_CLUSTER_NAME",
    "LABEL_SUBS_NAME",
    "LABEL_SUBS_NAMESPACE",
    "LABEL_SUBS_UID",
    "REPLICA_OVERRIDE_NAME",
    "REPLICA_LOCALIZATION_PRIORITY",
    "encode_raw",
    "decode_raw",
    "description_labels",
    "controller_reference",
    "generic_description_name",
    "helm_description_name",
    "generic_description",
    "render_generic_description",
    "helm_description",
    "render_helm_description",
    "replica_localization",
    "objects_to_prune",
]

APPS_API_VERSION: Final = "apps.clusternet.io/v1alpha1"
APP_FINALIZER: Final = "apps.clusternet.io/finalizer"
CREATED_BY_CONTROLLER_MANAGER: Final = "clusternet-controller-manager"

LABEL_CREATED_BY: Final = "clusternet.io/created-by"
LABEL_CONFIG_KIND: Final = "apps.clusternet.io/config.kind"
LABEL_CONFIG_NAME: Final = "apps.clusternet.io/config.name"
LABEL_CONFIG_NAMESPACE: Final = "apps.clusternet.io/config.namespace"
LABEL_CONFIG_UID: Final = "apps.clusternet.io/config.uid"
LABEL_CLUSTER_ID: Final = "clusters.clusternet.io/cluster-id"
LABEL_CLUSTER_NAME: Final = "clusters.clusternet.io/cluster-name"
LABEL_SUBS_NAME: Final = "apps.clusternet.io/subs.name"
LABEL_SUBS_NAMESPACE: Final = "apps.clusternet.io/subs.namespace"
LABEL_SUBS_UID: Final = "apps.clusternet.io/subs.uid"

REPLICA_OVERRIDE_NAME: Final = "dividing scheduling replicas"
#: The highest priority a Localization may have, so the scheduler's replicas win over user overrides.
REPLICA_LOCALIZATION_PRIORITY: Final = 1000

_LABEL_VALUE_MAX: Final = 63

OverrideList = Sequence[Mapping[str, Any] | CompiledOverride]


# --------------------------------------------------------------------------------------------------------
# Wire format of Description.spec.raw / chartRaw


def encode_raw(objects: Iterable[Any]) -> list[str]:
    """Each object as the base64 of its JSON, the wire form of a Go ``[]byte`` field.

    Keys are sorted and separators compact, so an unchanged render produces byte-identical entries and a
    controller can compare specs to skip no-op updates.
    """
    return encode_raw_with(SharingJsonEncoder(), objects)


def encode_raw_with(encoder: SharingJsonEncoder, objects: Iterable[Any]) -> list[str]:
    """``encode_raw`` with a caller's encoder, so structure shared across calls is encoded once."""
    return [
        binascii.b2a_base64(encoder.encode(obj).encode("utf-8"), newline=False).decode("ascii")
        for obj in objects
    ]


def decode_raw(entries: Iterable[str]) -> list[dict[str, Any]]:
    """The objects inside ``spec.raw`` / ``spec.chartRaw`` entries (each must hold a JSON object)."""
    objects: list[dict[str, Any]] = []
    for position, entry in enumerate(entries):
        try:
            decoded = json.loads(base64.b64decode(entry, validate=True))
        except (binascii.Error, ValueError, TypeError) as exc:
            raise DescriptionError(f"raw entry {position} is not base64-encoded JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise DescriptionError(f"raw entry {position} holds {type(decoded).__name__}, not an object")
        objects.append(decoded)
    return objects


# --------------------------------------------------------------------------------------------------------
# Metadata shared by Descriptions and replica Localizations


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def controller_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """A controller ownerReference to ``owner``, so deleting it garbage-collects what it rendered."""
    metadata = _metadata(owner)
    return {
        "apiVersion": owner.get("apiVersion") or APPS_API_VERSION,
        "kind": owner.get("kind") or "Base",
        "name": metadata.get("name") or "",
        "uid": metadata.get("uid") or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def description_labels(
    base: Mapping[str, Any],
    cluster_id: str | None = None,
    cluster_name: str | None = None,
    *,
    created_by: str = CREATED_BY_CONTROLLER_MANAGER,
) -> dict[str, str]:
    """Labels of a Description rendered from ``base`` (reference §7.2 step 5).

    Upstream's set, plus ``config.name`` (the Base's name) and ``subs.name`` (copied from the Base) when they
    fit in a label value: upstream selects Descriptions by both but stopped writing them (reference §11).
    The cluster id and name default to the Base's own labels.
    """
    metadata = _metadata(base)
    base_labels: Mapping[str, str] = metadata.get("labels") or {}
    labels = {
        LABEL_CREATED_BY: created_by,
        LABEL_CONFIG_KIND: "Base",
        LABEL_CONFIG_NAMESPACE: str(metadata.get("namespace") or ""),
        LABEL_CONFIG_UID: str(metadata.get("uid") or ""),
        LABEL_CLUSTER_ID: cluster_id if cluster_id is not None else base_labels.get(LABEL_CLUSTER_ID, ""),
        LABEL_CLUSTER_NAME: (
            cluster_name if cluster_name is not None else base_labels.get(LABEL_CLUSTER_NAME, "")
        ),
        LABEL_SUBS_NAMESPACE: base_labels.get(LABEL_SUBS_NAMESPACE, ""),
        LABEL_SUBS_UID: base_labels.get(LABEL_SUBS_UID, ""),
    }
    base_name = str(metadata.get("name") or "")
    if base_name and len(base_name) <= _LABEL_VALUE_MAX:
        labels[LABEL_CONFIG_NAME] = base_name
    if base_labels.get(LABEL_SUBS_NAME):
        labels[LABEL_SUBS_NAME] = base_labels[LABEL_SUBS_NAME]
    return labels


def generic_description_name(base: Mapping[str, Any]) -> str:
    return f"{_metadata(base).get('name') or ''}-generic"


def helm_description_name(base: Mapping[str, Any]) -> str:
    return f"{_metadata(base).get('name') or ''}-helm"


def _description(
    base: Mapping[str, Any],
    name: str,
    spec: dict[str, Any],
    cluster_id: str | None,
    cluster_name: str | None,
) -> dict[str, Any]:
    return {
        "apiVersion": APPS_API_VERSION,
        "kind": "Description",
        "metadata": {
            "name": name,
            "namespace": _metadata(base).get("namespace") or "",
            "labels": description_labels(base, cluster_id, cluster_name),
            "finalizers": [APP_FINALIZER],
            "ownerReferences": [controller_reference(base)],
        },
        "spec": spec,
    }


# --------------------------------------------------------------------------------------------------------
# Generic (raw objects) and Helm Descriptions


def generic_description(
    base: Mapping[str, Any],
    rendered_objects: Sequence[Mapping[str, Any]],
    cluster_id: str | None = None,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """The ``<base>-generic`` Description body for objects that are already rendered (e.g. by
    ``render_all``); ``spec.raw`` is in wire form (see :func:`encode_raw`)."""
    spec = {"deployer": "Generic", "raw": encode_raw(rendered_objects)}
    return _description(base, generic_description_name(base), spec, cluster_id, cluster_name)


def _aligned(overrides_per_item: Sequence[OverrideList] | None, count: int, what: str) -> list[OverrideList]:
    if overrides_per_item is None:
        return [() for _ in range(count)]
    if len(overrides_per_item) != count:
        raise DescriptionError(f"got {len(overrides_per_item)} override lists for {count} {what}")
    return list(overrides_per_item)


def render_generic_description(
    base: Mapping[str, Any],
    feed_objects: Sequence[Mapping[str, Any]],
    overrides_per_feed: Sequence[OverrideList] | None = None,
    cluster_id: str | None = None,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """Apply each feed object's overrides (aligned lists, already in application order) and build the
    ``<base>-generic`` Description. Raises :class:`OverrideError` naming the override and the object."""
    rendered = []
    for obj, overrides in zip(
        feed_objects, _aligned(overrides_per_feed, len(feed_objects), "feed objects"), strict=True
    ):
        try:
            rendered.append(apply_overrides(obj, overrides))
        except OverrideError as exc:
            raise exc.with_target(describe_object(obj)) from exc
    return generic_description(base, rendered, cluster_id, cluster_name)


def helm_description(
    base: Mapping[str, Any],
    charts: Sequence[Mapping[str, Any]],
    renderings: Sequence[ChartRendering],
    cluster_id: str | None = None,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """The ``<base>-helm`` Description: ``charts`` names the original HelmCharts (an ``overrideChart`` patch
    may rename the rendered copy), ``chartRaw`` holds the rendered charts and ``raw`` their values."""
    if len(charts) != len(renderings):
        raise DescriptionError(f"got {len(renderings)} rendered charts for {len(charts)} HelmCharts")
    spec = {
        "deployer": "Helm",
        "charts": [
            {"namespace": _metadata(chart).get("namespace") or "", "name": _metadata(chart).get("name") or ""}
            for chart in charts
        ],
        "chartRaw": encode_raw(rendering.chart for rendering in renderings),
        "raw": encode_raw(rendering.values for rendering in renderings),
    }
    return _description(base, helm_description_name(base), spec, cluster_id, cluster_name)


def render_helm_description(
    base: Mapping[str, Any],
    charts: Sequence[Mapping[str, Any]],
    overrides_per_chart: Sequence[OverrideList] | None = None,
    cluster_id: str | None = None,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """Apply each HelmChart's overrides and build the ``<base>-helm`` Description."""
    renderings = []
    for chart, overrides in zip(
        charts, _aligned(overrides_per_chart, len(charts), "HelmCharts"), strict=True
    ):
        try:
            renderings.append(apply_chart_overrides(chart, overrides))
        except OverrideError as exc:
            raise exc.with_target(describe_object(chart)) from exc
    return helm_description(base, charts, renderings, cluster_id, cluster_name)


# --------------------------------------------------------------------------------------------------------
# Replica Localizations (dividing scheduling)


def replica_localization(
    base: Mapping[str, Any],
    feed: Mapping[str, Any] | FeedRef,
    replica_json_path: str,
    replicas: int,
    name: str,
    *,
    subscription_uid: str | None = None,
) -> dict[str, Any]:
    """The Localization that puts this cluster's share of replicas into a feed (reference §7.4).

    Priority 1000 and ``ApplyNow``, so it is applied last and re-renders at once; its single JSONPatch
    replaces ``replica_json_path`` (a FeedInventory's ``replicaJsonPath``, e.g. ``/spec/replicas``). The
    ``<subscription UID>: Subscription`` label comes from the Base's ``subs.uid`` label unless given.
    """
    metadata = _metadata(base)
    ref = feed if isinstance(feed, FeedRef) else feed_ref(feed)
    sub_uid = subscription_uid or (metadata.get("labels") or {}).get(LABEL_SUBS_UID) or ""
    labels = {LABEL_CREATED_BY: CREATED_BY_CONTROLLER_MANAGER}
    if sub_uid:
        labels[sub_uid] = "Subscription"
    feed_body = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        feed_body["namespace"] = ref.namespace
    patch = json.dumps(
        [{"path": replica_json_path, "value": int(replicas), "op": "replace"}], separators=(",", ":")
    )
    return {
        "apiVersion": APPS_API_VERSION,
        "kind": "Localization",
        "metadata": {
            "name": name,
            "namespace": metadata.get("namespace") or "",
            "labels": labels,
            "ownerReferences": [controller_reference(base)],
        },
        "spec": {
            "overridePolicy": "ApplyNow",
            "priority": REPLICA_LOCALIZATION_PRIORITY,
            "feed": feed_body,
            "overrides": [{"name": REPLICA_OVERRIDE_NAME, "type": JSON_PATCH, "value": patch}],
        },
    }


# --------------------------------------------------------------------------------------------------------
# Pruning


def objects_to_prune(
    old_objects: Iterable[Mapping[str, Any]], new_objects: Iterable[Mapping[str, Any]]
) -> list[ObjectKey]:
    """Objects a previous render deployed that the new one no longer contains, in their old order and
    each once: they must be deleted from the child cluster (reference §7.2, pruning)."""
    keep = {object_key(obj) for obj in new_objects}
    gone: list[ObjectKey] = []
    for obj in old_objects:
        key = object_key(obj)
        if key not in keep and key not in gone:
            gone.append(key)
    return gone
