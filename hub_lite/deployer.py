"""The deployer controller (leader only): Subscription → one Base per bound cluster → its Description.

Per Subscription, level-triggered: once the scheduler's result is current (``status.specHash`` matches the
spec), it ensures a Base in each bound cluster's dedicated namespace (reference §7.2 step 3) and a
``<base>-generic`` Description whose ``raw`` holds the feed objects rendered for that cluster
(Globalizations matching the cluster, then the Localizations of its namespace, by ascending priority,
then Dividing's replica override, then system fields stripped; all by ``core.render.render_all``). Bases
and Descriptions of clusters no longer bound are deleted; the agents offload their objects first.

HelmChart feeds are looked up among HelmCharts (``helm_feeds``): rendering waits while one is not verified
yet (event ``VerifyingHelmChart``) and stops while one is ``NotFound`` (``HelmChartNotFound``); otherwise
each Base also gets a ``<base>-helm`` Description (charts, rendered charts, per-chart values), which
``helm_releases`` turns into HelmReleases.

Deleting a Subscription deletes its Descriptions and Bases and removes the Subscription's finalizer only
when the API server (not the cache) shows none left, so no child keeps an orphan. Descriptions in the
namespace of a cluster that no longer exists cannot be offloaded by anyone: their finalizer is dropped.

Names are stable (see ``core.deploy.base_name``): a hub killed anywhere and restarted finds what it made
and finishes, never creating a second Base or Description.

Re-rendering happens when the Subscription or its scheduling changes, a feed Manifest changes, a bound
cluster's labels change, a Base or Description is removed or edited by someone else, or a Localization
or Globalization with ``overridePolicy: ApplyNow`` is created, changed or deleted. ``ApplyLater`` ones
take effect at the next render caused by anything else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from kubectl_clusternet.core.apis.apps import BASE, DESCRIPTION, SUBSCRIPTION
from kubectl_clusternet.core.deploy import (
    APP_FINALIZER,
    FeedCatalog,
    Reason,
    base_differs,
    base_for,
    description_differs,
    finalizers_patch,
    manifest_feed_ref,
    replica_localizations,
    resolve_feeds,
    subscription_key_of,
)
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.render import (
    RenderError,
    generic_description,
    helm_description,
    render_all,
    spec_hash,
)
from kubectl_clusternet.core.render.descriptions import (
    LABEL_SUBS_NAME,
    LABEL_SUBS_NAMESPACE,
    LABEL_SUBS_UID,
    generic_description_name,
    helm_description_name,
)
from kubectl_clusternet.core.render.feeds import FeedRef, feed_ref
from kubectl_clusternet.core.render.selectors import is_terminating

from .apps_cache import (
    BASES,
    CLUSTERS,
    DESCRIPTIONS,
    GLOBALIZATIONS,
    HELM_CHARTS,
    LOCALIZATIONS,
    MANIFESTS,
    SUBSCRIPTIONS,
    AppsCache,
)
from .apps_events import ComponentRecorder
from .helm_feeds import ChartFeeds, chart_feed_ref, chart_render_fingerprint
from .informer import WorkQueue, run_workers

__all__ = ["DeployerController"]

_log = logging.getLogger(__name__)

#: Concurrent writes per Subscription: enough to roll a thousand clusters quickly, few enough to be gentle.
_WRITE_CONCURRENCY: Final = 16
#: How soon to look again while a deletion waits for agents to offload their objects.
_DELETION_RECHECK: Final = 3.0
_APPLY_NOW: Final = "ApplyNow"


def _key(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata.get('name')}" if namespace else str(metadata.get("name"))


def _fingerprint(sub: dict[str, Any] | None) -> str:
    """What rendering depends on in a Subscription (aggregated status writes are not part of it)."""
    if sub is None:
        return ""
    metadata = sub.get("metadata") or {}
    status = sub.get("status") or {}
    return json.dumps(
        [
            metadata.get("uid"),
            sub.get("spec"),
            metadata.get("deletionTimestamp"),
            metadata.get("finalizers"),
            status.get("bindingClusters"),
            status.get("replicas"),
            status.get("specHash"),
        ],
        sort_keys=True,
    )


def _cluster_fingerprint(cluster: dict[str, Any] | None) -> str:
    if cluster is None:
        return ""
    metadata = cluster.get("metadata") or {}
    return json.dumps(
        [
            metadata.get("labels"),
            (cluster.get("spec") or {}).get("clusterId"),
            metadata.get("deletionTimestamp"),
        ],
        sort_keys=True,
    )


def _override_feed(obj: dict[str, Any] | None) -> FeedRef | None:
    if obj is None:
        return None
    return feed_ref((obj.get("spec") or {}).get("feed") or {})


def _apply_now(obj: dict[str, Any] | None) -> bool:
    return obj is not None and (obj.get("spec") or {}).get("overridePolicy") == _APPLY_NOW


async def _bounded(work: Iterable[Awaitable[None]], limit: int = _WRITE_CONCURRENCY) -> None:
    """Run ``work`` at most ``limit`` at a time; every item runs, then the first failure is raised."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: Awaitable[None]) -> None:
        async with semaphore:
            await item

    results = await asyncio.gather(*(one(item) for item in work), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


class DeployerController:
    def __init__(
        self, client: Any, cache: AppsCache, *, recorder: ComponentRecorder, workers: int = 4
    ) -> None:
        self._client = client
        self._cache = cache
        self._recorder = recorder
        self._workers = workers
        self.queue = WorkQueue()
        # Last warning per (Subscription, reason), so retries do not repeat identical Events.
        self._last_warning: dict[tuple[str, str], str] = {}
        #: Whether a HelmChart's status answers for an older spec (set to the verifier's ``pending``).
        self.chart_pending: Callable[[dict[str, Any]], bool] = lambda chart: False
        cache.listen(self.on_change)

    def chart_verified(self, chart: dict[str, Any]) -> None:
        """The verifier answered for a chart's current spec: render what uses it."""
        ref = chart_feed_ref(chart)
        self._subscriptions_with_feed({ref, ref._replace(namespace="")})

    # triggers -----------------------------------------------------------------------------------------

    def _subscriptions_with_feed(self, refs: set[FeedRef]) -> None:
        for sub in self._cache.items(SUBSCRIPTIONS):
            if any(feed_ref(feed) in refs for feed in (sub.get("spec") or {}).get("feeds") or []):
                self.queue.add(_key(sub))

    def on_change(self, kind: str, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if kind == SUBSCRIPTIONS:
            if _fingerprint(old) != _fingerprint(new):
                self.queue.add(key)
        elif kind == MANIFESTS:
            if old is not None and new is not None and old.get("template") == new.get("template"):
                if manifest_feed_ref(old) == manifest_feed_ref(new):
                    return
            self._subscriptions_with_feed({manifest_feed_ref(obj) for obj in (old, new) if obj is not None})
        elif kind == HELM_CHARTS:
            if chart_render_fingerprint(old) == chart_render_fingerprint(new):
                return  # only the spec, labels and verification result matter to rendering
            refs = {chart_feed_ref(obj) for obj in (old, new) if obj is not None}
            # A Subscription may name a chart of its own namespace without saying the namespace.
            self._subscriptions_with_feed(refs | {ref._replace(namespace="") for ref in refs})
        elif kind in (LOCALIZATIONS, GLOBALIZATIONS):
            if not (_apply_now(old) or _apply_now(new)):
                return  # ApplyLater: waits for the next render
            if old is not None and new is not None and old.get("spec") == new.get("spec"):
                if (old.get("metadata") or {}).get("deletionTimestamp") == (new.get("metadata") or {}).get(
                    "deletionTimestamp"
                ):
                    return
            self._subscriptions_with_feed({ref for ref in (_override_feed(old), _override_feed(new)) if ref})
        elif kind == CLUSTERS:
            if _cluster_fingerprint(old) == _cluster_fingerprint(new):
                return
            for sub in self._cache.items(SUBSCRIPTIONS):
                bound = (sub.get("status") or {}).get("bindingClusters") or []
                if key in bound or new is None or is_terminating(sub):
                    # A cluster that went away may strand Descriptions of a Subscription being deleted.
                    self.queue.add(_key(sub))
        elif kind in (BASES, DESCRIPTIONS):
            if old is not None and new is not None:
                same_spec = old.get("spec") == new.get("spec")
                same_life = (old.get("metadata") or {}).get("deletionTimestamp") == (
                    new.get("metadata") or {}
                ).get("deletionTimestamp")
                if same_spec and same_life:
                    return
            owner = subscription_key_of(new or old or {})
            if owner:
                self.queue.add(owner)

    async def run(self) -> None:
        await self._cache.wait_synced()
        await run_workers(self.queue, self.reconcile, workers=self._workers, name="deployer")

    # reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        sub = self._cache.get(SUBSCRIPTIONS, key)
        if sub is None:
            await self._remove_orphans(key)
            self.queue.forget(key)
            return
        if is_terminating(sub):
            await self._finish_deletion(key, sub)
            return
        metadata = sub["metadata"]
        if APP_FINALIZER not in (metadata.get("finalizers") or []):
            return  # the scheduler adds it first, so a deletion can never outrun the cleanup
        status = sub.get("status") or {}
        if status.get("specHash") != spec_hash(sub.get("spec") or {}):
            return  # not scheduled for this spec yet; the scheduler's status write brings us back
        bound_keys = [str(k) for k in status.get("bindingClusters") or []]
        clusters = [
            cluster
            for cluster in (self._cache.get(CLUSTERS, k) for k in bound_keys)
            if cluster is not None and not is_terminating(cluster)
        ]
        with_charts = await self._render(key, sub, clusters)
        await self._remove_unbound(sub, {_namespace(c) for c in clusters}, with_charts)
        self.queue.forget(key)

    async def _render(self, key: str, sub: dict[str, Any], clusters: list[dict[str, Any]]) -> set[str] | None:
        """Render and write the Subscription's Descriptions; returns the namespaces whose ``<base>-helm``
        Description is current, or ``None`` when rendering stopped early (everything deployed stays)."""
        if not clusters:
            return set()
        feeds = (sub.get("spec") or {}).get("feeds") or []
        resolution = resolve_feeds(feeds, FeedCatalog(self._cache.items(MANIFESTS)))
        charts = ChartFeeds.resolve(
            feeds, str(sub["metadata"].get("namespace") or ""), self._cache.get, self.chart_pending
        )
        missing = [*resolution.missing, *charts.missing]
        if missing:
            ref = missing[0]
            where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            await self._warn(
                key,
                sub,
                Reason.nonexistent(ref.kind),
                f"Subscription {key} is using a nonexistent {ref.kind} {where} ({ref.api_version}); "
                "apply it with kubectl clusternet apply",
            )
            return None  # keep what is deployed until every feed exists
        self._last_warning.pop((key, "Nonexistent"), None)
        # Upstream's rule: a chart not found stops rendering, one not verified yet delays it (the
        # verifier's status write brings us back).
        if charts.not_found:
            for chart, reason in charts.not_found:
                await self._warn(
                    key, sub, "HelmChartNotFound", f"HelmChart {_key(chart)} is not found: {reason}"
                )
            return None
        if charts.waiting:
            for chart in charts.waiting:
                await self._warn(
                    key, sub, "VerifyingHelmChart", f"HelmChart {_key(chart)} is being verified", "Normal"
                )
            return None
        for family in ("HelmChartNotFound", "VerifyingHelmChart"):
            self._last_warning.pop((key, family), None)
        namespaces = {_namespace(c) for c in clusters}
        localizations = [
            loc for loc in self._cache.items(LOCALIZATIONS) if _namespace(loc) in namespaces
        ] + replica_localizations(sub)
        try:
            renderings = render_all(
                [*resolution.objects, *charts.found],
                clusters,
                list(self._cache.items(GLOBALIZATIONS)),
                localizations,
            )
        except RenderError as exc:
            await self._warn(key, sub, Reason.FAILED_APPLYING_OVERRIDES, str(exc))
            return None
        by_namespace = {c["metadata"]["namespace"]: c for c in clusters}
        await _bounded(
            self._deploy_cluster(
                key,
                sub,
                by_namespace[rendering.namespace],
                rendering.objects,
                rendering.error,
                (charts.found, rendering.charts),
            )
            for rendering in renderings
        )
        if not charts.found:
            return set()
        # A cluster whose render failed keeps its previous Helm Description, as it keeps its generic one.
        return {rendering.namespace for rendering in renderings}

    async def _deploy_cluster(
        self,
        key: str,
        sub: dict[str, Any],
        cluster: dict[str, Any],
        objects: list[dict[str, Any]],
        error: RenderError | None,
        charts: tuple[list[dict[str, Any]], list[Any]] = ([], []),
    ) -> None:
        base = await self._ensure_base(key, sub, cluster)
        if base is None:
            return
        if error is not None:
            await self._recorder.record(base, "Warning", Reason.FAILED_APPLYING_OVERRIDES, str(error))
            return  # the previous Description stays as it was
        cluster_id = str((cluster.get("spec") or {}).get("clusterId") or "")
        chart_objects, chart_renderings = charts
        if chart_objects:
            await self._ensure_description(
                base,
                helm_description(
                    base, chart_objects, chart_renderings, cluster_id, cluster["metadata"]["name"]
                ),
            )
        if not objects:
            return
        desired = generic_description(base, objects, cluster_id, cluster["metadata"]["name"])
        await self._ensure_description(base, desired)

    async def _ensure_base(
        self, key: str, sub: dict[str, Any], cluster: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The Base of ``sub`` in ``cluster``'s namespace, created or brought up to date."""
        desired = base_for(sub, cluster)
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        existing = self._cache.get(BASES, f"{namespace}/{name}")
        try:
            if existing is None:
                try:
                    created: dict[str, Any] = await self._client.create(
                        BASE.collection_path(namespace), desired
                    )
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                    existing = await self._client.get(BASE.object_path(name, namespace))
                else:
                    _log.info("Subscription %s: created Base %s/%s", key, namespace, name)
                    await self._recorder.record(
                        sub, "Normal", Reason.BASE_CREATED, f"Base {namespace}/{name} is created successfully"
                    )
                    return created
            assert existing is not None
            if is_terminating(existing):
                self.queue.add_after(key, _DELETION_RECHECK)
                return None
            if base_differs(existing, desired):
                patch = {"metadata": {"labels": desired["metadata"]["labels"]}, "spec": desired["spec"]}
                updated: dict[str, Any] = await self._client.patch(BASE.object_path(name, namespace), patch)
                _log.info("Subscription %s: updated Base %s/%s", key, namespace, name)
                await self._recorder.record(
                    sub, "Normal", Reason.BASE_UPDATED, f"Base {namespace}/{name} is updated successfully"
                )
                return updated
            return existing
        except ApiError as exc:
            if exc.status == 404:
                # The dedicated namespace is gone (cluster being removed): nothing to deploy there.
                _log.info("Subscription %s: namespace %s is gone, skipping it", key, namespace)
                return None
            await self._recorder.record(
                sub, "Warning", Reason.FAILED_SYNCING_BASE, f"Base {namespace}/{name}: {exc}"
            )
            raise

    async def _ensure_description(self, base: dict[str, Any], desired: dict[str, Any]) -> None:
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        path = DESCRIPTION.object_path(name, namespace)
        existing = self._cache.get(DESCRIPTIONS, f"{namespace}/{name}")
        try:
            if existing is None:
                try:
                    await self._client.create(DESCRIPTION.collection_path(namespace), desired)
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                    existing = await self._client.get(path)
                else:
                    _log.info("created Description %s/%s", namespace, name)
                    await self._recorder.record(
                        base,
                        "Normal",
                        Reason.DESCRIPTION_CREATED,
                        f"Description {namespace}/{name} is created successfully",
                    )
                    return
            assert existing is not None
            if is_terminating(existing):
                key = subscription_key_of(base)
                if key:
                    self.queue.add_after(key, _DELETION_RECHECK)
                return
            if not description_differs(existing, desired):
                return
            metadata = existing.get("metadata") or {}
            finalizers = list(metadata.get("finalizers") or [])
            patch = {
                "metadata": {
                    "labels": desired["metadata"]["labels"],
                    "ownerReferences": desired["metadata"]["ownerReferences"],
                    "finalizers": finalizers if APP_FINALIZER in finalizers else [*finalizers, APP_FINALIZER],
                },
                "spec": desired["spec"],
            }
            await self._client.patch(path, patch)
            _log.info("updated Description %s/%s", namespace, name)
            await self._recorder.record(
                base,
                "Normal",
                Reason.DESCRIPTION_UPDATED,
                f"Description {namespace}/{name} is updated successfully",
            )
        except ApiError as exc:
            if exc.status == 404:
                return
            await self._recorder.record(
                base, "Warning", Reason.FAILED_SYNCING_DESCRIPTION, f"Description {namespace}/{name}: {exc}"
            )
            raise

    # removal ------------------------------------------------------------------------------------------

    async def _remove_unbound(
        self, sub: dict[str, Any], keep: set[str], with_charts: set[str] | None = None
    ) -> None:
        """Delete the Subscription's Bases and Descriptions outside ``keep`` (namespaces of bound clusters),
        and Descriptions in bound namespaces that are not the current ``<base>-generic`` or (in
        ``with_charts``; ``None`` keeps them all) ``<base>-helm``."""
        uid = str(sub["metadata"].get("uid") or "")
        bases = self._cache.rendered_for(BASES, uid)
        descriptions = self._cache.rendered_for(DESCRIPTIONS, uid)
        current = {f"{_namespace(b)}/{generic_description_name(b)}" for b in bases if _namespace(b) in keep}
        current |= {
            f"{_namespace(b)}/{helm_description_name(b)}"
            for b in bases
            if _namespace(b) in keep and (with_charts is None or _namespace(b) in with_charts)
        }
        work: list[Awaitable[None]] = []
        for base in bases:
            if _namespace(base) not in keep and not is_terminating(base):
                work.append(self._delete(BASE.object_path(base["metadata"]["name"], _namespace(base))))
        for description in descriptions:
            if _key(description) in current:
                continue
            if not is_terminating(description):
                work.append(
                    self._delete(
                        DESCRIPTION.object_path(description["metadata"]["name"], _namespace(description))
                    )
                )
            else:
                work.append(self._release_if_stranded(description))
        await _bounded(work)

    async def _finish_deletion(self, key: str, sub: dict[str, Any]) -> None:
        """Delete everything rendered for a deleted Subscription; drop its finalizer once nothing is left."""
        metadata = sub["metadata"]
        if APP_FINALIZER not in (metadata.get("finalizers") or []):
            return
        uid = str(metadata.get("uid") or "")
        selector = f"{LABEL_SUBS_UID}={uid}"
        await self._delete_selected(selector)
        patch = finalizers_patch(sub, remove=[APP_FINALIZER])
        left = await self._count_selected(selector)
        if left:
            _log.info("Subscription %s: waiting for %d Descriptions/Bases to be deleted", key, left)
            self.queue.add_after(key, _DELETION_RECHECK)
            return
        if patch is not None:
            try:
                await self._client.patch(
                    SUBSCRIPTION.object_path(metadata["name"], metadata["namespace"]), patch
                )
            except ApiError as exc:
                if exc.status != 404:
                    raise
        _log.info("Subscription %s: everything it deployed is gone; finalizer removed", key)
        for warned in [k for k in self._last_warning if k[0] == key or k[0].startswith(key + "@")]:
            del self._last_warning[warned]
        self.queue.forget(key)

    async def _remove_orphans(self, key: str) -> None:
        """A Subscription vanished without our cleanup (finalizer removed by hand): delete what it left."""
        namespace, _, name = key.partition("/")
        if not namespace or not name:
            return
        selector = f"{LABEL_SUBS_NAMESPACE}={namespace},{LABEL_SUBS_NAME}={name}"
        live_uids = {
            str(sub["metadata"].get("uid")) for sub in self._cache.items(SUBSCRIPTIONS) if _key(sub) == key
        }
        await self._delete_selected(selector, spare_uids=live_uids)

    async def _list(self, resource: Any, selector: str) -> list[dict[str, Any]]:
        found = await self._client.get(resource.collection_path(), query=[("labelSelector", selector)])
        return list(found.get("items") or [])

    async def _delete_selected(self, selector: str, *, spare_uids: set[str] | None = None) -> None:
        work: list[Awaitable[None]] = []
        for resource in (DESCRIPTION, BASE):
            for obj in await self._list(resource, selector):
                labels = obj["metadata"].get("labels") or {}
                if spare_uids and labels.get(LABEL_SUBS_UID) in spare_uids:
                    continue
                if is_terminating(obj):
                    if resource is DESCRIPTION:
                        work.append(self._release_if_stranded(obj))
                    continue
                work.append(self._delete(resource.object_path(obj["metadata"]["name"], _namespace(obj))))
        await _bounded(work)

    async def _count_selected(self, selector: str) -> int:
        total = 0
        for resource in (DESCRIPTION, BASE):
            total += len(await self._list(resource, selector))
        return total

    async def _release_if_stranded(self, description: dict[str, Any]) -> None:
        """Drop the finalizer of a terminating Description whose cluster no longer exists: no agent is
        left to offload it, and waiting would block the Subscription's deletion for ever."""
        namespace = _namespace(description)
        if any(_namespace(c) == namespace for c in self._cache.items(CLUSTERS)):
            return
        patch = finalizers_patch(description, remove=[APP_FINALIZER])
        if patch is None:
            return
        _log.warning(
            "Description %s: its cluster is gone; removing the finalizer without offloading",
            _key(description),
        )
        try:
            await self._client.patch(
                DESCRIPTION.object_path(description["metadata"]["name"], namespace), patch
            )
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise

    async def _delete(self, path: str) -> None:
        try:
            await self._client.delete(path, body={"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status != 404:
                raise

    async def _warn(
        self, key: str, sub: dict[str, Any], reason: str, message: str, event_type: str = "Warning"
    ) -> None:
        family = "Nonexistent" if reason.startswith("Nonexistent") else reason
        if self._last_warning.get((key, family)) == message:
            return
        self._last_warning[(key, family)] = message
        _log.warning("Subscription %s: %s", key, message)
        await self._recorder.record(sub, event_type, reason, message)


def _namespace(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")
