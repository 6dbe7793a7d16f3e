"""List+watch caches and a deduplicating work queue: the two halves of a level-triggered controller.

An ``Informer`` keeps an up-to-date copy of one kind of object (list once, then watch from the list's
resourceVersion; a 410 Gone or a broken stream means list again) and reports every key that changed. A
``WorkQueue`` hands each key to one worker at a time, folds repeated adds into one, and can add a key later
(the lifecycle controller wakes up exactly at a cluster's grace deadline instead of polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from kubectl_clusternet.core.apis.model import ResourceType
from kubectl_clusternet.core.errors import ApiError, ClusternetError

from .metrics import COMMON

__all__ = ["Informer", "WorkQueue", "object_key", "run_workers"]

_log = logging.getLogger(__name__)


def object_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` or ``name``, as client-go's MetaNamespaceKeyFunc."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = str(metadata.get("name") or "")
    return f"{namespace}/{name}" if namespace else name


class WorkQueue:
    """Keys waiting for reconciliation: each key queued at most once and never processed twice at a time."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}

    def add(self, key: str) -> None:
        if key in self._processing:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: str, delay: float) -> None:
        """Add ``key`` in ``delay`` seconds; an earlier pending timer for the key wins over a later one."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        existing = self._timers.get(key)
        if existing is not None and not existing.cancelled() and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = loop.call_at(when, fire)

    def retry_later(self, key: str) -> None:
        """Exponential backoff per key (0.5s doubling to 60s), reset by ``forget``."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(60.0, 0.5 * 2**failures) * (1 + random.random() * 0.1)
        self.add_after(key, delay)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    async def get(self) -> str:
        key = await self._queue.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def __len__(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


async def run_workers(
    queue: WorkQueue, reconcile: Callable[[str], Awaitable[None]], *, workers: int, name: str
) -> None:
    """Run ``workers`` tasks taking keys from ``queue``; a failing key is retried with backoff.

    Every finished reconciliation is counted under ``name`` (clusternet_reconcile_total and, when it
    failed, clusternet_reconcile_errors_total); one cancelled by a lost Lease or a stop is not.
    """
    reconciles = COMMON.reconciles.labels(name)
    errors = COMMON.reconcile_errors.labels(name)

    async def worker() -> None:
        while True:
            key = await queue.get()
            try:
                await reconcile(key)
                reconciles.inc()
            except asyncio.CancelledError:
                raise
            except ClusternetError as exc:
                _log.warning("%s: %s failed, will retry: %s", name, key, exc)
                reconciles.inc()
                errors.inc()
                queue.retry_later(key)
            except Exception:
                _log.exception("%s: %s failed unexpectedly, will retry", name, key)
                reconciles.inc()
                errors.inc()
                queue.retry_later(key)
            finally:
                queue.done(key)

    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        queue.close()


class Informer:
    """A cache of one resource type kept current by list+watch; ``on_change(key)`` runs for every change."""

    def __init__(
        self,
        client: Any,
        resource_type: ResourceType,
        on_change: Callable[[str], None],
        *,
        namespace: str | None = None,
        page_size: int = 500,
    ) -> None:
        self._client = client
        self._type = resource_type
        self._on_change = on_change
        self._namespace = namespace
        self._page_size = page_size
        self.cache: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self.resource_version = ""

    @property
    def path(self) -> str:
        return self._type.collection_path(self._namespace)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.cache.get(key)

    async def _list(self) -> None:
        items: list[dict[str, Any]] = []
        continue_token = ""
        while True:
            query = [("limit", str(self._page_size))]
            if continue_token:
                query.append(("continue", continue_token))
            page = await self._client.get(self.path, query=query)
            items.extend(page.get("items") or [])
            metadata = page.get("metadata") or {}
            continue_token = str(metadata.get("continue") or "")
            if not continue_token:
                self.resource_version = str(metadata.get("resourceVersion") or "")
                break
        fresh = {object_key(item): item for item in items}
        gone = set(self.cache) - set(fresh)
        self.cache = fresh
        for key in [*fresh, *gone]:
            self._on_change(key)

    async def _watch(self) -> None:
        query = [("resourceVersion", self.resource_version)]
        async for event in self._client.watch(self.path, query=query, timeout_seconds=240):
            kind = event.get("type")
            obj = event.get("object") or {}
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            if version:
                self.resource_version = version
            if kind == "BOOKMARK":
                continue
            key = object_key(obj)
            if kind == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
            self._on_change(key)

    async def run(self) -> None:
        """List, then watch for ever; re-list after 410 Gone or any failure (with a short backoff)."""
        need_list = True
        delay = 0.5
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                    self.synced.set()
                await self._watch()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status == 410:
                    _log.info("watch of %s: resourceVersion too old, listing again", self.path)
                    need_list = True
                    continue
                _log.warning("watch of %s failed: %s", self.path, exc)
                need_list = True
            except ClusternetError as exc:
                # A dropped connection: watch again from the last resourceVersion (a 410 will ask for a list).
                _log.warning("watch of %s interrupted: %s", self.path, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
