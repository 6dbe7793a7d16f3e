"""Status back (leader only): the Descriptions' ``manifestStatuses`` summed up in the Subscription's
``status.aggregatedStatuses`` — per feed, per bound cluster, with Deployment/StatefulSet/Job counters.

Upstream declares this field but cannot fill it (reference §11: its controller keys on a label Descriptions
no longer carry); here Descriptions are found by the Subscription UID label every rendered object has.
A burst of Description updates (a rollout over many clusters) is folded into one write per second per
Subscription, and nothing is written when the result is unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from kubectl_clusternet.core.apis.apps import SUBSCRIPTION
from kubectl_clusternet.core.deploy import Reason, aggregate_statuses, subscription_key_of
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.render.selectors import is_terminating

from .apps_cache import CLUSTERS, DESCRIPTIONS, SUBSCRIPTIONS, AppsCache
from .apps_events import ComponentRecorder
from .informer import WorkQueue, run_workers

__all__ = ["StatusAggregator"]

_log = logging.getLogger(__name__)

#: Fold the Description updates of this many seconds into one Subscription status write.
_COALESCE_SECONDS: Final = 1.0


def _watched(sub: dict[str, Any] | None) -> str:
    if sub is None:
        return ""
    status = sub.get("status") or {}
    return json.dumps(
        [
            (sub.get("metadata") or {}).get("uid"),
            (sub.get("spec") or {}).get("feeds"),
            status.get("bindingClusters"),
        ],
        sort_keys=True,
    )


class StatusAggregator:
    def __init__(
        self, client: Any, cache: AppsCache, *, recorder: ComponentRecorder, workers: int = 2
    ) -> None:
        self._client = client
        self._cache = cache
        self._recorder = recorder
        self._workers = workers
        self.queue = WorkQueue()
        cache.listen(self.on_change)

    def on_change(self, kind: str, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if kind == SUBSCRIPTIONS:
            if _watched(old) != _watched(new):
                self.queue.add_after(key, _COALESCE_SECONDS)
        elif kind == DESCRIPTIONS:
            if old is not None and new is not None and old.get("status") == new.get("status"):
                return
            owner = subscription_key_of(new or old or {})
            if owner:
                self.queue.add_after(owner, _COALESCE_SECONDS)
        elif kind == CLUSTERS and (old is None or new is None):
            for sub in self._cache.items(SUBSCRIPTIONS):
                if key in ((sub.get("status") or {}).get("bindingClusters") or []):
                    meta = sub["metadata"]
                    self.queue.add_after(f"{meta['namespace']}/{meta['name']}", _COALESCE_SECONDS)

    async def run(self) -> None:
        await self._cache.wait_synced()
        await run_workers(self.queue, self.reconcile, workers=self._workers, name="status")

    async def reconcile(self, key: str) -> None:
        sub = self._cache.get(SUBSCRIPTIONS, key)
        if sub is None or is_terminating(sub):
            self.queue.forget(key)
            return
        uid = str(sub["metadata"].get("uid") or "")
        binding = (sub.get("status") or {}).get("bindingClusters") or []
        clusters = {k: c for k in binding if (c := self._cache.get(CLUSTERS, str(k))) is not None}
        descriptions = self._cache.rendered_for(DESCRIPTIONS, uid)
        aggregated = aggregate_statuses(sub, clusters, descriptions)
        current = (sub.get("status") or {}).get("aggregatedStatuses")
        if (current or []) == aggregated:
            self.queue.forget(key)
            return
        path = SUBSCRIPTION.object_path(sub["metadata"]["name"], sub["metadata"]["namespace"]) + "/status"
        try:
            await self._client.patch(path, {"status": {"aggregatedStatuses": aggregated or None}})
        except ApiError as exc:
            if exc.status == 404:
                return
            await self._recorder.record(sub, "Warning", Reason.FAILED_AGGREGATE_STATUS, str(exc))
            raise
        self.queue.forget(key)
        _log.debug("Subscription %s: aggregated status updated", key)
