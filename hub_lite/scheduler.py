"""The scheduler controller (leader only): where each Subscription goes, written into its status.

For every Subscription whose scheduler is ``default`` it adds the finalizer ``apps.clusternet.io/finalizer``
(so deleting it waits until its workloads are gone from every child), then runs ``core.render.schedule``
over all ManagedClusters and merge-patches ``status.bindingClusters``, ``replicas``, ``specHash`` and
``desiredReleases`` when they change (events ``Scheduled`` / ``FailedScheduling``, reference §8).

Clusters a Subscription is already bound to stay bound through ``NoSchedule`` taints (an agent missing a
few heartbeats must not wipe its cluster's workloads); only ``NoExecute`` taints or a cluster's own
deletion or relabelling move a Subscription away (``core.deploy.sticky_clusters``).

It reacts to Subscription changes, to ManagedClusters appearing, going, or changing labels or taints (not
to their heartbeats), and, for Dividing, to the feed Manifests whose ``spec.replicas`` it divides.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kubectl_clusternet.core.apis.apps import SUBSCRIPTION
from kubectl_clusternet.core.deploy import (
    APP_FINALIZER,
    FeedCatalog,
    Reason,
    desired_replicas,
    manifest_feed_ref,
    scheduling_changed,
    sticky_clusters,
)
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.render import RenderError, schedule
from kubectl_clusternet.core.render.feeds import feed_ref
from kubectl_clusternet.core.render.selectors import is_terminating

from .apps_cache import CLUSTERS, MANIFESTS, SUBSCRIPTIONS, AppsCache
from .apps_events import ComponentRecorder
from .informer import WorkQueue, run_workers

__all__ = ["SchedulerController", "DEFAULT_SCHEDULER"]

_log = logging.getLogger(__name__)

DEFAULT_SCHEDULER = "default"


def _subscription_fingerprint(sub: dict[str, Any] | None) -> str:
    """What scheduling depends on: identity, spec, deletion, finalizers and the result already written."""
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
            status.get("desiredReleases"),
        ],
        sort_keys=True,
    )


def _cluster_fingerprint(cluster: dict[str, Any] | None) -> str:
    """Labels, taints and deletion decide scheduling; heartbeats (status) do not."""
    if cluster is None:
        return ""
    metadata = cluster.get("metadata") or {}
    return json.dumps(
        [
            metadata.get("labels"),
            (cluster.get("spec") or {}).get("taints"),
            metadata.get("deletionTimestamp"),
        ],
        sort_keys=True,
    )


def _is_dividing(sub: dict[str, Any]) -> bool:
    return (sub.get("spec") or {}).get("schedulingStrategy") == "Dividing"


class SchedulerController:
    def __init__(
        self, client: Any, cache: AppsCache, *, recorder: ComponentRecorder, workers: int = 4
    ) -> None:
        self._client = client
        self._cache = cache
        self._recorder = recorder
        self._workers = workers
        self.queue = WorkQueue()
        # Last FailedScheduling message per Subscription, so a retry does not repeat the same Event.
        self._last_failure: dict[str, str] = {}
        cache.listen(self.on_change)

    # triggers -----------------------------------------------------------------------------------------

    def on_change(self, kind: str, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if kind == SUBSCRIPTIONS:
            if _subscription_fingerprint(old) != _subscription_fingerprint(new):
                self.queue.add(key)
        elif kind == CLUSTERS:
            if _cluster_fingerprint(old) != _cluster_fingerprint(new):
                for sub in self._cache.items(SUBSCRIPTIONS):
                    self.queue.add(_key(sub))
        elif kind == MANIFESTS:
            before, after = (old or {}).get("template"), (new or {}).get("template")
            if before == after and old is not None and new is not None:
                return
            refs = {manifest_feed_ref(obj) for obj in (old, new) if obj is not None}
            for sub in self._cache.items(SUBSCRIPTIONS):
                if _is_dividing(sub) and any(
                    feed_ref(feed) in refs for feed in (sub.get("spec") or {}).get("feeds") or []
                ):
                    self.queue.add(_key(sub))

    async def run(self) -> None:
        await self._cache.wait_synced()
        await run_workers(self.queue, self.reconcile, workers=self._workers, name="scheduler")

    # reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        sub = self._cache.get(SUBSCRIPTIONS, key)
        if sub is None or is_terminating(sub):
            self._last_failure.pop(key, None)
            self.queue.forget(key)
            return
        spec = sub.get("spec") or {}
        if (spec.get("schedulerName") or DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
            return  # another scheduler's Subscription
        metadata = sub["metadata"]
        path = SUBSCRIPTION.object_path(metadata["name"], metadata["namespace"])
        sub = await self._ensure_finalizer(sub, path)
        if sub is None:
            return  # deleted meanwhile
        catalog = FeedCatalog(self._cache.items(MANIFESTS))
        wanted = desired_replicas(sub, catalog) if _is_dividing(sub) else None
        try:
            bound = (sub.get("status") or {}).get("bindingClusters") or []
            clusters = sticky_clusters(list(self._cache.items(CLUSTERS)), bound)
            result = schedule(sub, clusters, wanted)
        except RenderError as exc:
            # A malformed selector or sub-group spec: only a spec change can fix it, so no retry.
            await self._failed(key, sub, f"invalid Subscription: {exc}")
            return
        if not result.should_bind:
            await self._failed(key, sub, result.unschedulable_reason or "no ManagedClusters")
            return
        status = sub.get("status") or {}
        patch = result.status_patch(status)
        if not scheduling_changed(status, patch):
            self.queue.forget(key)
            return
        try:
            await self._client.patch(path + "/status", {"status": patch})
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        self.queue.forget(key)
        if result.unschedulable_reason:
            _log.warning("Subscription %s: %s", key, result.unschedulable_reason)
            await self._failed(key, sub, result.unschedulable_reason)
            return
        self._last_failure.pop(key, None)
        bound = ",".join(result.binding_clusters)
        _log.info("Subscription %s bound to %s", key, bound)
        await self._recorder.record(sub, "Normal", Reason.SCHEDULED, f"Successfully bound {key} to {bound}")

    async def _ensure_finalizer(self, sub: dict[str, Any], path: str) -> dict[str, Any] | None:
        """Add the finalizer and the ``<uid>: Subscription`` label; the Subscription as it is now (None
        when it is gone). A conflict raises, so the key is retried with the newer object."""
        metadata = sub["metadata"]
        finalizers = list(metadata.get("finalizers") or [])
        uid = str(metadata.get("uid") or "")
        labels = metadata.get("labels") or {}
        if APP_FINALIZER in finalizers and labels.get(uid) == "Subscription":
            return sub
        patch = {
            "metadata": {
                "finalizers": finalizers if APP_FINALIZER in finalizers else [*finalizers, APP_FINALIZER],
                "labels": {uid: "Subscription"},
                "resourceVersion": metadata.get("resourceVersion"),
            }
        }
        try:
            updated: dict[str, Any] = await self._client.patch(path, patch)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if APP_FINALIZER not in finalizers:
            await self._recorder.record(
                updated, "Normal", Reason.FINALIZER_INJECTED, f"Injected finalizer {APP_FINALIZER}"
            )
        return updated

    async def _failed(self, key: str, sub: dict[str, Any], message: str) -> None:
        if self._last_failure.get(key) == message:
            return
        self._last_failure[key] = message
        await self._recorder.record(sub, "Warning", Reason.FAILED_SCHEDULING, message)


def _key(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"
