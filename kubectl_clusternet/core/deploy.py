"""Deploying Subscriptions (reference §7): the decisions the hub and the agents make, as pure functions.

The daemons only read objects, call these functions and write what they return; keeping every decision
here (which Manifest a feed names, how a Base is labelled, what to patch in a child, what to prune, which
phase a Description is in, what the Subscription's aggregated status says) means each rule is unit-tested
on plain dicts and both daemons agree on names and keys by construction.

Deliberate choices, each for robustness:

* Bases and everything derived from them get *stable* names (``<subscription>-<5 chars>`` with the
  characters derived from the Subscription's UID, not drawn at random): a hub killed between creating an
  object and seeing it in its cache can never create a second one, because the retry collides by name.
* Dividing replicas are applied inside the render, as a priority-1000 Localization synthesized in memory
  (:func:`replica_localizations`), instead of being stored as Localization objects: the result in the
  Description is the same, and there is no second set of objects to keep in step with the scheduler.
* Objects are patched in children with JSON merge patches computed three-way (kubectl's rule, see
  :func:`three_way_merge_patch`), never server-side apply (kube-apiserver 1.20 rejects some valid objects).
* What a Description deployed is remembered in its own ``status.manifestStatuses``, so pruning and
  offloading know every object even after an agent restart.
* A cluster a Subscription is bound to stays bound through ``NoSchedule`` taints (:func:`sticky_clusters`):
  an agent missing heartbeats must not get its cluster's workloads deleted and recreated.
* Feeds in use are protected from deletion always (upstream: gate FeedInUseProtection).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from .manifests_store import (
    LABEL_CONFIG_GROUP,
    LABEL_CONFIG_KIND,
    LABEL_CONFIG_NAME,
    LABEL_CONFIG_NAMESPACE,
    LABEL_CONFIG_VERSION,
)
from .render.descriptions import (
    APP_FINALIZER,
    CREATED_BY_CONTROLLER_MANAGER,
    LABEL_CLUSTER_ID,
    LABEL_CLUSTER_NAME,
    LABEL_CONFIG_UID,
    LABEL_CREATED_BY,
    LABEL_SUBS_NAME,
    LABEL_SUBS_NAMESPACE,
    LABEL_SUBS_UID,
    replica_localization,
)
from .render.feeds import FeedRef, feed_key, feed_ref, group_of
from .render.selectors import is_terminating

__all__ = [
    "ANNOTATION_FEED_PROTECTION",
    "ANNOTATION_KUBECTL_LAST_APPLIED",
    "ANNOTATION_LAST_APPLIED",
    "ANNOTATION_OWNED_BY",
    "APP_FINALIZER",
    "BASELINE_LIMIT",
    "FEED_PROTECTION_FINALIZER",
    "REPLICA_JSON_PATH",
    "Reason",
    "FeedCatalog",
    "FeedResolution",
    "DeployedRef",
    "ResourceInfo",
    "ObjectOutcome",
    "manifest_feed_ref",
    "resolve_feeds",
    "desired_replicas",
    "scheduling_changed",
    "sticky_clusters",
    "stable_suffix",
    "base_name",
    "base_for",
    "base_differs",
    "replica_localizations",
    "description_differs",
    "subscription_key_of",
    "subscriptions_using",
    "feed_protection_message",
    "feed_protection_patch",
    "protection_reason",
    "finalizers_patch",
    "agent_applies",
    "hub_pushes",
    "owner_value",
    "prepare_for_child",
    "is_contained",
    "three_way_merge_patch",
    "apply_rank",
    "ordered_for_apply",
    "ordered_for_delete",
    "deployed_ref",
    "deployed_refs_from_status",
    "refs_to_remove",
    "manifest_status_entry",
    "description_status",
    "status_merge_patch",
    "parse_resource_list",
    "child_object_path",
    "replica_status",
    "aggregate_statuses",
]

FEED_PROTECTION_FINALIZER: Final = "apps.clusternet.io/feed-protection"
ANNOTATION_FEED_PROTECTION: Final = "apps.clusternet.io/feed-protection"
ANNOTATION_OWNED_BY: Final = "apps.clusternet.io/owned-by-description"
ANNOTATION_LAST_APPLIED: Final = "clusternet.io/last-applied-configuration"
ANNOTATION_KUBECTL_LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
#: Where a workload keeps its replica count (upstream's FeedInventory ``replicaJsonPath``).
REPLICA_JSON_PATH: Final = "/spec/replicas"

_LABEL_VALUE_MAX: Final = 63
_NAME_MAX: Final = 253
# Upstream's random-name alphabet (no vowels, no look-alikes), so our stable suffixes look like theirs.
_SUFFIX_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"


class Reason:
    """Event reasons, upstream's words (reference §7.9)."""

    SCHEDULED: Final = "Scheduled"
    FAILED_SCHEDULING: Final = "FailedScheduling"
    BASE_CREATED: Final = "BaseCreated"
    BASE_UPDATED: Final = "BaseUpdated"
    FAILED_SYNCING_BASE: Final = "FailedSyncingBase"
    DESCRIPTION_CREATED: Final = "DescriptionCreated"
    DESCRIPTION_UPDATED: Final = "DescriptionUpdated"
    FAILED_SYNCING_DESCRIPTION: Final = "FailedSyncingDescription"
    FAILED_APPLYING_OVERRIDES: Final = "FailedApplyingOverrides"
    SUCCESSFULLY_DEPLOYED: Final = "SuccessfullyDeployed"
    UNSUCCESSFULLY_DEPLOYED: Final = "UnSuccessfullyDeployed"
    FAILED_DELETING_DESCRIPTION: Final = "FailedDeletingDescription"
    SUCCESSFULLY_PRUNING_FEED: Final = "SuccessfullyPruningFeed"
    UNSUCCESSFULLY_PRUNING_FEED: Final = "UnsuccessfullyPruningFeed"
    AGGREGATE_STATUS: Final = "AggregateStatus"
    FAILED_AGGREGATE_STATUS: Final = "FailedAggregateStatus"
    FINALIZER_INJECTED: Final = "FinalizerInjected"

    @staticmethod
    def nonexistent(kind: str) -> str:
        """``Nonexistent<Kind>``: a Subscription names a feed that has no Manifest (yet)."""
        return f"Nonexistent{kind}"


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return _metadata(obj).get("labels") or {}


def _fits_label(value: str) -> bool:
    return 0 < len(value) <= _LABEL_VALUE_MAX


# --------------------------------------------------------------------------------------------------------
# Feeds and the Manifests they name


def manifest_feed_ref(manifest: Mapping[str, Any]) -> FeedRef:
    """The feed a Manifest answers to, from its ``config.*`` labels (how upstream resolves feeds)."""
    labels = _labels(manifest)
    group = labels.get(LABEL_CONFIG_GROUP) or ""
    version = labels.get(LABEL_CONFIG_VERSION) or ""
    return FeedRef(
        f"{group}/{version}" if group else version,
        labels.get(LABEL_CONFIG_KIND) or "",
        labels.get(LABEL_CONFIG_NAMESPACE) or "",
        labels.get(LABEL_CONFIG_NAME) or "",
    )


class FeedCatalog:
    """Manifests indexed by the feed they answer to, built once per reconcile from the hub's cache."""

    def __init__(self, manifests: Iterable[Mapping[str, Any]]) -> None:
        self._by_ref: dict[FeedRef, Mapping[str, Any]] = {}
        for manifest in manifests:
            self._by_ref[manifest_feed_ref(manifest)] = manifest

    def manifest(self, feed: Mapping[str, Any] | FeedRef) -> Mapping[str, Any] | None:
        ref = feed if isinstance(feed, FeedRef) else feed_ref(feed)
        return self._by_ref.get(ref)

    def template(self, feed: Mapping[str, Any] | FeedRef) -> Mapping[str, Any] | None:
        manifest = self.manifest(feed)
        if manifest is None:
            return None
        template = manifest.get("template")
        return template if isinstance(template, Mapping) else None


@dataclass(frozen=True)
class FeedResolution:
    """A Subscription's feeds resolved to the objects to render, in feed order."""

    objects: list[Mapping[str, Any]] = field(default_factory=list)
    missing: list[FeedRef] = field(default_factory=list)
    """Feeds with no Manifest: rendering must wait (event ``Nonexistent<Kind>``), not drop them."""
    unsupported: list[FeedRef] = field(default_factory=list)
    """HelmChart feeds: not Manifests; the hub looks them up among HelmCharts (hub_lite.helm_feeds)."""


def resolve_feeds(feeds: Sequence[Mapping[str, Any]], catalog: FeedCatalog) -> FeedResolution:
    """Look every feed up; a feed listed twice is deployed once (a child object can only exist once)."""
    resolution = FeedResolution()
    seen: set[FeedRef] = set()
    for feed in feeds:
        ref = feed_ref(feed)
        if ref in seen:
            continue
        seen.add(ref)
        if ref.kind == "HelmChart" and ref.api_version.startswith("apps.clusternet.io/"):
            resolution.unsupported.append(ref)
            continue
        template = catalog.template(ref)
        if template is None:
            resolution.missing.append(ref)
        else:
            resolution.objects.append(template)
    return resolution


_WORKLOAD_KINDS: Final = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "ReplicaSet"),
        ("extensions", "Deployment"),
        ("extensions", "ReplicaSet"),
    }
)


def desired_replicas(subscription: Mapping[str, Any], catalog: FeedCatalog) -> dict[str, int | None]:
    """Per feed key, the replicas a Dividing Subscription splits: the template's ``spec.replicas`` for
    Deployments, StatefulSets and ReplicaSets (1 when unset, the API default), ``None`` for other kinds and
    for feeds without a Manifest (what upstream's FeedInventory holds)."""
    wanted: dict[str, int | None] = {}
    for feed in (subscription.get("spec") or {}).get("feeds") or []:
        template = catalog.template(feed)
        replicas: int | None = None
        if template is not None:
            kind = (group_of(str(template.get("apiVersion") or "")), str(template.get("kind") or ""))
            if kind in _WORKLOAD_KINDS:
                value = (template.get("spec") or {}).get("replicas")
                replicas = 1 if value is None else int(value)
        wanted[feed_key(feed)] = replicas
    return wanted


def sticky_clusters(clusters: Sequence[Mapping[str, Any]], bound: Iterable[str]) -> list[Mapping[str, Any]]:
    """The clusters as the scheduler should see them for a Subscription already bound to ``bound``
    (``<namespace>/<name>`` keys): those keep their place despite ``NoSchedule`` taints, as Pods do on a
    Node; only ``NoExecute`` evicts.

    A cluster whose agent misses a few heartbeats is tainted ``unschedulable:NoSchedule``; dropping it from
    the binding would delete every workload there and recreate it once the agent is back. Upstream does
    that (it reschedules on every taint change); keeping them is what the taint's effect promises.
    """
    keep = set(bound)
    seen: list[Mapping[str, Any]] = []
    for cluster in clusters:
        metadata = cluster.get("metadata") or {}
        key = f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}"
        taints = (cluster.get("spec") or {}).get("taints") or []
        if key in keep and any((t.get("effect") or "") == "NoSchedule" for t in taints):
            spec = dict(cluster.get("spec") or {})
            spec["taints"] = [t for t in taints if (t.get("effect") or "") != "NoSchedule"]
            cluster = {**cluster, "spec": spec}
        seen.append(cluster)
    return seen


def scheduling_changed(status: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> bool:
    """Whether writing ``patch`` (``SchedulingResult.status_patch``) would change ``status``."""
    current = status or {}
    wanted_replicas = {k: v for k, v in (patch.get("replicas") or {}).items() if v is not None}
    return (
        list(current.get("bindingClusters") or []) != list(patch.get("bindingClusters") or [])
        or dict(current.get("replicas") or {}) != wanted_replicas
        or current.get("specHash") != patch.get("specHash")
        or current.get("desiredReleases") != patch.get("desiredReleases")
    )


# --------------------------------------------------------------------------------------------------------
# Bases


def stable_suffix(seed: str, length: int = 5) -> str:
    """``length`` characters of upstream's name alphabet derived from ``seed``: random-looking, yet the
    same on every run, so a retried create collides with the first one instead of duplicating it."""
    number = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_SUFFIX_ALPHABET))
        chars.append(_SUFFIX_ALPHABET[index])
    return "".join(chars)


def base_name(subscription: Mapping[str, Any]) -> str:
    """``<subscription name>-<5 chars from its UID>`` (a recreated Subscription gets fresh names)."""
    metadata = _metadata(subscription)
    suffix = stable_suffix(str(metadata.get("uid") or ""))
    # Room for "-xxxxx" and the "-generic" of the Description named after the Base.
    prefix = str(metadata.get("name") or "")[: _NAME_MAX - len("-xxxxx-generic")]
    return f"{prefix}-{suffix}"


def subscription_key_of(obj: Mapping[str, Any]) -> str | None:
    """``namespace/name`` of the Subscription a Base or Description was made for, from its labels."""
    labels = _labels(obj)
    namespace, name = labels.get(LABEL_SUBS_NAMESPACE), labels.get(LABEL_SUBS_NAME)
    return f"{namespace}/{name}" if namespace and name else None


def base_for(subscription: Mapping[str, Any], cluster: Mapping[str, Any]) -> dict[str, Any]:
    """The Base of ``subscription`` in ``cluster``'s dedicated namespace (reference §7.2 step 3).

    ``config.name`` and ``subs.name`` are written whenever they fit a label value (upstream: 57 chars), as
    Descriptions copy them and the hub finds a Subscription's objects by them.
    """
    sub_meta = _metadata(subscription)
    cluster_meta = _metadata(cluster)
    sub_name = str(sub_meta.get("name") or "")
    sub_namespace = str(sub_meta.get("namespace") or "")
    sub_uid = str(sub_meta.get("uid") or "")
    labels = {
        LABEL_CREATED_BY: CREATED_BY_CONTROLLER_MANAGER,
        LABEL_CONFIG_KIND: "Subscription",
        LABEL_CONFIG_NAMESPACE: sub_namespace,
        LABEL_CONFIG_UID: sub_uid,
        LABEL_SUBS_NAMESPACE: sub_namespace,
        LABEL_SUBS_UID: sub_uid,
        LABEL_CLUSTER_ID: str((cluster.get("spec") or {}).get("clusterId") or ""),
        LABEL_CLUSTER_NAME: str(cluster_meta.get("name") or ""),
    }
    if _fits_label(sub_name):
        labels[LABEL_CONFIG_NAME] = sub_name
        labels[LABEL_SUBS_NAME] = sub_name
    metadata: dict[str, Any] = {
        "name": base_name(subscription),
        "namespace": str(cluster_meta.get("namespace") or ""),
        "labels": labels,
    }
    init_annotation = "apps.clusternet.io/is-default-cluster-init"
    if init_annotation in (sub_meta.get("annotations") or {}):
        metadata["annotations"] = {init_annotation: sub_meta["annotations"][init_annotation]}
    feeds = [dict(feed) for feed in (subscription.get("spec") or {}).get("feeds") or []]
    return {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Base",
        "metadata": metadata,
        "spec": {"feeds": feeds},
    }


def base_differs(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether ``existing`` needs a patch: its feeds differ or one of our labels is missing or wrong."""
    wanted_labels = _labels(desired)
    have_labels = _labels(existing)
    return (existing.get("spec") or {}) != (desired.get("spec") or {}) or any(
        have_labels.get(key) != value for key, value in wanted_labels.items()
    )


def replica_localizations(subscription: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Dividing replica overrides, as in-memory priority-1000 ``ApplyNow`` Localizations.

    One per (bound cluster, feed with replicas) from ``status.replicas`` (aligned with
    ``status.bindingClusters``). They are handed to the renderer with the stored Localizations and never
    written to the parent: the Description carries the result, and the scheduler's status is the record.
    """
    metadata = _metadata(subscription)
    status = subscription.get("status") or {}
    replicas: Mapping[str, Sequence[int]] = status.get("replicas") or {}
    if not replicas:
        return []
    name = base_name(subscription)
    feeds = (subscription.get("spec") or {}).get("feeds") or []
    localizations = []
    for position, cluster in enumerate(status.get("bindingClusters") or []):
        namespace = str(cluster).partition("/")[0]
        base = {"metadata": {"name": name, "namespace": namespace, "uid": ""}}
        for feed in feeds:
            key = feed_key(feed)
            counts = replicas.get(key) or []
            if position < len(counts):
                localizations.append(
                    replica_localization(
                        base,
                        feed,
                        REPLICA_JSON_PATH,
                        int(counts[position]),
                        f"{name}-{stable_suffix(key)}",
                        subscription_uid=str(metadata.get("uid") or ""),
                    )
                )
    return localizations


def description_differs(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether a stored Description must be updated to ``desired`` (spec, our labels, owner, finalizer)."""
    have_meta, want_meta = _metadata(existing), _metadata(desired)
    have_labels = have_meta.get("labels") or {}
    owners = {ref.get("uid") for ref in have_meta.get("ownerReferences") or []}
    return (
        (existing.get("spec") or {}) != (desired.get("spec") or {})
        or any(have_labels.get(k) != v for k, v in (want_meta.get("labels") or {}).items())
        or any(ref.get("uid") not in owners for ref in want_meta.get("ownerReferences") or [])
        or any(f not in (have_meta.get("finalizers") or []) for f in want_meta.get("finalizers") or [])
    )


def finalizers_patch(
    obj: Mapping[str, Any], *, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> dict[str, Any] | None:
    """A merge patch changing ``metadata.finalizers``, guarded by the resourceVersion (the list is replaced
    whole, so a concurrent change must make the patch fail, not be lost); ``None`` when nothing changes."""
    metadata = _metadata(obj)
    current = list(metadata.get("finalizers") or [])
    wanted = [f for f in current if f not in remove] + [f for f in add if f not in current]
    if wanted == current:
        return None
    return {"metadata": {"finalizers": wanted or None, "resourceVersion": metadata.get("resourceVersion")}}


# --------------------------------------------------------------------------------------------------------
# Feed protection


def subscriptions_using(manifest: Mapping[str, Any], subscriptions: Iterable[Mapping[str, Any]]) -> list[str]:
    """``namespace/name`` of the live Subscriptions that list ``manifest`` as a feed, sorted."""
    ref = manifest_feed_ref(manifest)
    users = {
        f"{_metadata(sub).get('namespace') or ''}/{_metadata(sub).get('name') or ''}"
        for sub in subscriptions
        if not is_terminating(sub)
        and any(feed_ref(feed) == ref for feed in (sub.get("spec") or {}).get("feeds") or [])
    }
    return sorted(users)


def feed_protection_message(kind: str, users: Sequence[str]) -> str:
    """Upstream's explanation of a blocked deletion, naming every Subscription that holds the feed."""
    return (
        f"block deleting current {kind} until all Subscriptions (including {', '.join(users)}) "
        "that refer this as a feed get deleted"
    )


def feed_protection_patch(manifest: Mapping[str, Any], users: Sequence[str]) -> dict[str, Any] | None:
    """The patch that makes a Manifest's protection match its users: while any Subscription uses it, the
    finalizer ``apps.clusternet.io/feed-protection`` blocks its deletion and the annotation of the same name
    says why; with no users both go. ``None`` when it already matches."""
    metadata = _metadata(manifest)
    annotations = metadata.get("annotations") or {}
    finalizers = list(metadata.get("finalizers") or [])
    kind = manifest_feed_ref(manifest).kind or "Manifest"
    message = feed_protection_message(kind, users) if users else None
    patch: dict[str, Any] = {}
    if users and FEED_PROTECTION_FINALIZER not in finalizers:
        patch["finalizers"] = finalizers + [FEED_PROTECTION_FINALIZER]
    elif not users and FEED_PROTECTION_FINALIZER in finalizers:
        remaining = [f for f in finalizers if f != FEED_PROTECTION_FINALIZER]
        patch["finalizers"] = remaining or None
    if annotations.get(ANNOTATION_FEED_PROTECTION) != message:
        patch["annotations"] = {ANNOTATION_FEED_PROTECTION: message}
    if not patch:
        return None
    patch["resourceVersion"] = metadata.get("resourceVersion")
    return {"metadata": patch}


def protection_reason(obj: Mapping[str, Any]) -> str | None:
    """Why a feed's deletion is blocked, for a CLI to print after ``delete``; ``None`` when it is not."""
    metadata = _metadata(obj)
    if FEED_PROTECTION_FINALIZER not in (metadata.get("finalizers") or []):
        return None
    reason = (metadata.get("annotations") or {}).get(ANNOTATION_FEED_PROTECTION)
    return str(reason) if reason else "it is still used as a feed by a Subscription"


# --------------------------------------------------------------------------------------------------------
# Applying a Description in a child cluster


def agent_applies(sync_mode: str, app_pusher: bool) -> bool:
    """Whether the agent applies Descriptions itself (reference §7.3): Pull always, Dual when the hub may
    not push (gate AppPusher off), Push never."""
    return sync_mode == "Pull" or (sync_mode == "Dual" and not app_pusher)


def hub_pushes(cluster: Mapping[str, Any]) -> bool:
    """Whether the parent side must apply this cluster's Descriptions (reference §7.3): sync mode Push or
    Dual, with the agent reporting ``status.appPusher: true``."""
    mode = (cluster.get("spec") or {}).get("syncMode") or "Pull"
    return mode != "Pull" and (cluster.get("status") or {}).get("appPusher") is True


def owner_value(description: Mapping[str, Any]) -> str:
    """The ``owned-by-description`` annotation value, ``<namespace>.<name>`` as upstream writes it."""
    metadata = _metadata(description)
    return f"{metadata.get('namespace') or ''}.{metadata.get('name') or ''}"


_SYSTEM_METADATA: Final = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "generateName",
)


#: All annotations of an object may hold 256 KiB together; a baseline above this leaves room for others.
BASELINE_LIMIT: Final = 128 * 1024


def _skeleton(value: Any) -> Any:
    """``value`` with every leaf (and list) replaced by ``null``: the keys, which is all a three-way patch
    reads from a baseline."""
    if isinstance(value, Mapping):
        return {key: _skeleton(item) for key, item in value.items()}
    return None


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def prepare_for_child(obj: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """The object as it is written to a child: system metadata and status wiped, kubectl's last-applied
    annotation dropped, ``owned-by-description`` set, and the result itself stored in
    ``clusternet.io/last-applied-configuration`` (the baseline of the next three-way patch).

    An object too big for that (the API server caps an object's annotations at 256 KiB, which kubectl's
    client-side apply runs into too) gets only its *skeleton* as baseline — its keys, values ``null`` —
    which is all :func:`three_way_merge_patch` reads; if even that is too big, no baseline at all, and
    fields dropped from such an object are left in the child.
    """
    prepared = json.loads(json.dumps(obj))  # a deep copy that is plain JSON (rendered objects are shared)
    prepared.pop("status", None)
    metadata = prepared.setdefault("metadata", {})
    for key in _SYSTEM_METADATA:
        metadata.pop(key, None)
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(ANNOTATION_KUBECTL_LAST_APPLIED, None)
    annotations.pop(ANNOTATION_LAST_APPLIED, None)
    annotations[ANNOTATION_OWNED_BY] = owner
    metadata["annotations"] = annotations
    baseline = _compact(prepared)
    if len(baseline.encode("utf-8")) > BASELINE_LIMIT:
        baseline = _compact(_skeleton(prepared))
    if len(baseline.encode("utf-8")) <= BASELINE_LIMIT:
        metadata["annotations"] = {**annotations, ANNOTATION_LAST_APPLIED: baseline}
    return dict(prepared)


def is_contained(desired: Any, live: Any) -> bool:
    """Whether ``live`` already holds everything ``desired`` says: maps may have extra keys (defaults the
    server filled in), lists must match element by element, and a ``null`` in ``desired`` means absent."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        for key, value in desired.items():
            if value is None:
                if live.get(key) is not None:
                    return False
            elif key not in live or not is_contained(value, live[key]):
                return False
        return True
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_contained(d, a) for d, a in zip(desired, live, strict=True))
        )
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    return bool(desired == live)


def three_way_merge_patch(
    original: Mapping[str, Any] | None, modified: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON merge patch that takes ``current`` (the live object) to ``modified`` (what we want now),
    given ``original`` (what we applied last time, from the last-applied annotation; only its keys are
    read, never its values).

    Fields we set before and no longer want are deleted (``null``); fields the live object lacks or holds
    differently are set; fields others added (defaults, other controllers) are left alone. Lists are
    replaced whole, as merge patches do. Empty when nothing needs to change.
    """
    base = original if isinstance(original, Mapping) else {}
    patch: dict[str, Any] = {}
    for key in base:
        if key not in modified and key in current:
            patch[key] = None
    for key, value in modified.items():
        live = current.get(key)
        if isinstance(value, Mapping) and isinstance(live, Mapping):
            previous = base.get(key)
            nested = three_way_merge_patch(previous if isinstance(previous, Mapping) else None, value, live)
            if nested:
                patch[key] = nested
        elif value is None:
            if live is not None:
                patch[key] = None
        elif not is_contained(value, live):
            patch[key] = value
    return patch


_APPLY_RANKS: Final = {
    ("", "Namespace"): 0,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): 1,
}


def apply_rank(obj: Mapping[str, Any]) -> int:
    """Namespaces first, then CRDs, then everything else: later objects may live in or be of those."""
    return _APPLY_RANKS.get((group_of(str(obj.get("apiVersion") or "")), str(obj.get("kind") or "")), 2)


def ordered_for_apply(objects: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Objects in waves by :func:`apply_rank`; a wave may be applied concurrently once the one before it
    is done. Order within a wave follows ``objects``."""
    waves: dict[int, list[Mapping[str, Any]]] = {}
    for obj in objects:
        waves.setdefault(apply_rank(obj), []).append(obj)
    return [waves[rank] for rank in sorted(waves)]


class DeployedRef(NamedTuple):
    """An object a Description put into a child, as ``status.manifestStatuses`` records it."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Group, kind, namespace, name: a changed version is the same object (updated, not pruned)."""
        return (group_of(self.api_version), self.kind, self.namespace, self.name)

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def ordered_for_delete(refs: Sequence[DeployedRef]) -> list[list[DeployedRef]]:
    """The reverse of applying: everything else first, then CRDs, then Namespaces."""
    waves: dict[int, list[DeployedRef]] = {}
    for ref in refs:
        rank = _APPLY_RANKS.get((group_of(ref.api_version), ref.kind), 2)
        waves.setdefault(rank, []).append(ref)
    return [waves[rank] for rank in sorted(waves, reverse=True)]


def deployed_ref(obj: Mapping[str, Any]) -> DeployedRef:
    metadata = _metadata(obj)
    return DeployedRef(
        str(obj.get("apiVersion") or ""),
        str(obj.get("kind") or ""),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def deployed_refs_from_status(description: Mapping[str, Any]) -> list[DeployedRef]:
    """What the Description deployed (or tried to) last time, from ``status.manifestStatuses``."""
    refs = []
    for entry in (description.get("status") or {}).get("manifestStatuses") or []:
        ref = DeployedRef(
            str(entry.get("apiVersion") or ""),
            str(entry.get("kind") or ""),
            str(entry.get("namespace") or ""),
            str(entry.get("name") or ""),
        )
        if ref.kind and ref.name and ref not in refs:
            refs.append(ref)
    return refs


def refs_to_remove(
    previous: Sequence[DeployedRef], objects: Sequence[Mapping[str, Any]]
) -> list[DeployedRef]:
    """Objects deployed before that the current ``raw`` no longer holds: prune them from the child."""
    keep = {deployed_ref(obj).identity for obj in objects}
    gone: list[DeployedRef] = []
    seen: set[tuple[str, str, str, str]] = set()
    for ref in previous:
        if ref.identity not in keep and ref.identity not in seen:
            seen.add(ref.identity)
            gone.append(ref)
    return gone


@dataclass(frozen=True)
class ObjectOutcome:
    """What happened to one object of a Description in the child."""

    ref: DeployedRef
    error: str | None = None
    observed_status: Mapping[str, Any] | None = None
    """The child object's ``status`` after applying (copied into ``manifestStatuses``)."""
    pruned: bool = False
    """A removal, not an apply: recorded in the status only while it keeps failing."""


def manifest_status_entry(ref: DeployedRef, observed_status: Mapping[str, Any] | None) -> dict[str, Any]:
    """One ``status.manifestStatuses`` entry: the feed fields and, if the object has one, its status."""
    entry: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        entry["namespace"] = ref.namespace
    if observed_status:
        entry["observedStatus"] = dict(observed_status)
    return entry


def description_status(outcomes: Sequence[ObjectOutcome], extra_error: str | None = None) -> dict[str, Any]:
    """``Success`` when every apply and removal worked, else ``Failure`` with the errors joined as the
    reason. ``manifestStatuses`` lists every object applied (or attempted) and every removal still
    pending, so the next pass knows what the child may hold."""
    errors = [f"{o.ref.describe()}: {o.error}" for o in outcomes if o.error]
    if extra_error:
        errors.insert(0, extra_error)
    entries = [manifest_status_entry(o.ref, o.observed_status) for o in outcomes if not o.pruned or o.error]
    status: dict[str, Any] = {"phase": "Failure" if errors else "Success"}
    if errors:
        status["reason"] = "; ".join(errors)
    status["manifestStatuses"] = entries
    return status


def status_merge_patch(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> dict[str, Any] | None:
    """A merge patch for ``status`` setting ``wanted``'s top-level fields and nulling the ones it leaves
    out (empty fields are omitted, never written as ``""``); ``None`` when ``current`` already matches."""
    have = dict(current or {})
    patch: dict[str, Any] = {}
    for key, value in wanted.items():
        if have.get(key) != value:
            patch[key] = value
    for key in ("phase", "reason", "manifestStatuses"):
        if key in have and key not in wanted:
            patch[key] = None
    return {"status": patch} if patch else None


# --------------------------------------------------------------------------------------------------------
# Child discovery


class ResourceInfo(NamedTuple):
    plural: str
    namespaced: bool


def parse_resource_list(listing: Mapping[str, Any]) -> dict[str, ResourceInfo]:
    """Kind → (plural, namespaced) from an APIResourceList, subresources left out."""
    found: dict[str, ResourceInfo] = {}
    for resource in listing.get("resources") or []:
        name = str(resource.get("name") or "")
        if not name or "/" in name:
            continue
        found.setdefault(
            str(resource.get("kind") or ""), ResourceInfo(name, bool(resource.get("namespaced")))
        )
    return found


def child_object_path(api_version: str, info: ResourceInfo, name: str, namespace: str) -> str:
    """The REST path of an object in a child; namespaced objects without a namespace go to ``default``."""
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    if info.namespaced:
        return f"{base}/namespaces/{namespace or 'default'}/{info.plural}/{name}"
    return f"{base}/{info.plural}/{name}"


# --------------------------------------------------------------------------------------------------------
# Status back to the Subscription


_COUNTERS: Final = {
    ("apps", "Deployment"): (
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ),
    ("apps", "StatefulSet"): (
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "currentReplicas",
        "readyReplicas",
        "availableReplicas",
    ),
    ("batch", "Job"): ("active", "succeeded", "failed"),
}


def replica_status(api_version: str, kind: str, observed: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The replica counters of a Deployment, StatefulSet or Job status (missing counters are 0);
    ``None`` for kinds that have none."""
    counters = _COUNTERS.get((group_of(api_version), kind))
    if counters is None:
        return None
    observed = observed or {}
    return {name: int(observed.get(name) or 0) for name in counters}


def _summary(details: Sequence[Mapping[str, Any]], counters: Sequence[str] | None) -> dict[str, Any]:
    summary: dict[str, Any] = {"available": bool(details) and all(d.get("available") for d in details)}
    if counters is not None:
        totals = dict.fromkeys(counters, 0)
        for detail in details:
            replicas = detail.get("replicaStatus") or {}
            for name in counters:
                value = int(replicas.get(name) or 0)
                totals[name] = (
                    max(totals[name], value) if name == "observedGeneration" else totals[name] + value
                )
        summary["replicaStatus"] = totals
    return summary


def aggregate_statuses(
    subscription: Mapping[str, Any],
    clusters: Mapping[str, Mapping[str, Any]],
    descriptions: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """``status.aggregatedStatuses``: per feed, one detail per binding cluster (in bindingClusters order)
    and a summary (reference §7.8, which upstream fails to write).

    ``clusters`` maps ``<namespace>/<name>`` to ManagedClusters; ``descriptions`` are the Subscription's
    Descriptions (any namespace). A detail is available once the cluster's Description reports the feed's
    object in ``manifestStatuses``; Deployments, StatefulSets and Jobs add their counters. The summary is
    the AND of availability, counters summed, ``observedGeneration`` the maximum.
    """
    by_namespace: dict[str, dict[tuple[str, str, str, str], Mapping[str, Any]]] = {}
    for description in descriptions:
        if (description.get("spec") or {}).get("deployer") not in (None, "Generic"):
            continue
        namespace = str(_metadata(description).get("namespace") or "")
        entries = by_namespace.setdefault(namespace, {})
        for entry in (description.get("status") or {}).get("manifestStatuses") or []:
            deployed = DeployedRef(
                str(entry.get("apiVersion") or ""),
                str(entry.get("kind") or ""),
                str(entry.get("namespace") or ""),
                str(entry.get("name") or ""),
            )
            entries[deployed.identity] = entry
    binding = [str(key) for key in (subscription.get("status") or {}).get("bindingClusters") or []]
    aggregated = []
    for feed in (subscription.get("spec") or {}).get("feeds") or []:
        ref = feed_ref(feed)
        identity = DeployedRef(ref.api_version, ref.kind, ref.namespace, ref.name).identity
        counters = _COUNTERS.get((group_of(ref.api_version), ref.kind))
        details = []
        for key in binding:
            cluster = clusters.get(key) or {}
            namespace, _, name = key.partition("/")
            entry = by_namespace.get(namespace, {}).get(identity)
            detail: dict[str, Any] = {
                "clusterId": str((cluster.get("spec") or {}).get("clusterId") or ""),
                "clusterName": str(_metadata(cluster).get("name") or name),
                "available": entry is not None,
            }
            if entry is not None:
                counts = replica_status(ref.api_version, ref.kind, entry.get("observedStatus"))
                if counts is not None:
                    detail["replicaStatus"] = counts
            details.append(detail)
        item: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
        if ref.namespace:
            item["namespace"] = ref.namespace
        item["feedStatusSummary"] = _summary(details, counters)
        item["feedStatusDetails"] = details
        aggregated.append(item)
    return aggregated
