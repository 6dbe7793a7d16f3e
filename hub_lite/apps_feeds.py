"""Feed protection (leader only): a Manifest in use by a live Subscription cannot be deleted.

While any Subscription (not being deleted) lists a Manifest as a feed, the Manifest carries the finalizer
``apps.clusternet.io/feed-protection`` and the annotation of the same name naming those Subscriptions, so a
``delete`` leaves it in place (terminating) and says why; once the last such Subscription is gone or stops
listing it, both are removed and a pending deletion completes (reference §7.7, gate FeedInUseProtection,
which hub-lite always applies).

The finalizer is there *before* anyone deletes the Manifest, which is the only way a finalizer can stop a
deletion; the deployer keeps rendering from a terminating Manifest, so nothing deployed changes.
"""

from __future__ import annotations

import logging
from typing import Any

from kubectl_clusternet.core.apis.apps import MANIFEST
from kubectl_clusternet.core.deploy import feed_protection_patch, manifest_feed_ref, subscriptions_using
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.hub import RESERVED_NAMESPACE
from kubectl_clusternet.core.render.feeds import feed_ref

from .apps_cache import MANIFESTS, SUBSCRIPTIONS, AppsCache
from .informer import WorkQueue, run_workers

__all__ = ["FeedProtector"]

_log = logging.getLogger(__name__)


def _feeds_and_life(sub: dict[str, Any] | None) -> Any:
    if sub is None:
        return None
    return ((sub.get("spec") or {}).get("feeds"), (sub.get("metadata") or {}).get("deletionTimestamp"))


class FeedProtector:
    def __init__(self, client: Any, cache: AppsCache, *, workers: int = 2) -> None:
        self._client = client
        self._cache = cache
        self._workers = workers
        self.queue = WorkQueue()
        cache.listen(self.on_change)

    def on_change(self, kind: str, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if kind == MANIFESTS:
            if new is not None:
                self.queue.add(key)
        elif kind == SUBSCRIPTIONS:
            if _feeds_and_life(old) == _feeds_and_life(new):
                return
            refs = {
                feed_ref(feed)
                for sub in (old, new)
                if sub is not None
                for feed in (sub.get("spec") or {}).get("feeds") or []
            }
            for manifest in self._cache.items(MANIFESTS):
                if manifest_feed_ref(manifest) in refs:
                    self.queue.add(f"{RESERVED_NAMESPACE}/{manifest['metadata']['name']}")

    async def run(self) -> None:
        await self._cache.wait_synced()
        await run_workers(self.queue, self.reconcile, workers=self._workers, name="feed-protection")

    async def reconcile(self, key: str) -> None:
        manifest = self._cache.get(MANIFESTS, key)
        if manifest is None:
            self.queue.forget(key)
            return
        users = subscriptions_using(manifest, self._cache.items(SUBSCRIPTIONS))
        patch = feed_protection_patch(manifest, users)
        if patch is None:
            self.queue.forget(key)
            return
        name = manifest["metadata"]["name"]
        try:
            await self._client.patch(MANIFEST.object_path(name, RESERVED_NAMESPACE), patch)
        except ApiError as exc:
            if exc.status == 404:
                return
            raise  # 409: the watch brings the newer Manifest; the retry uses it
        self.queue.forget(key)
        _log.info(
            "Manifest %s: %s", key, f"protected for {', '.join(users)}" if users else "no longer protected"
        )
