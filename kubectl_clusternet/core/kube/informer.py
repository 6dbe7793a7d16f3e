"""A list+watch cache of one collection, and a deduplicating work queue: the parts of a level-triggered
controller that the agent's deployers and the hub's push deployer share.

The client is fetched anew for every request, since an agent's token (and with it the client) is replaced
when it is renewed. Any broken watch leads to a fresh list, so no change is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from ..errors import ApiError, ClusternetError
from .aio import AsyncRestClient

__all__ = ["WorkQueue", "CollectionWatch", "NamespaceController", "name_key", "namespaced_key"]

_log = logging.getLogger(__name__)


class WorkQueue:
    """Keys waiting for reconciliation: each queued at most once, never handed to two workers at a time
    (a key added while it is being processed comes back once that is done), retried with per-key
    exponential backoff (0.5 s doubling to ``max_delay``)."""

    def __init__(self, *, max_delay: float = 60.0) -> None:
        self._max_delay = max_delay
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
        """Exponential backoff per key, reset by ``forget``."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self._max_delay, 0.5 * 2**failures) * (1 + random.random() * 0.1)
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


def name_key(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def namespaced_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` or ``name``, as client-go's MetaNamespaceKeyFunc."""
    metadata = obj.get("metadata") or {}
    namespace, name = metadata.get("namespace"), str(metadata.get("name") or "")
    return f"{namespace}/{name}" if namespace else name


class CollectionWatch:
    """Keeps ``cache`` (key → object) equal to a collection; ``on_change(key)`` per change.

    Keys are names by default (one namespace); ``key=namespaced_key`` for collections across namespaces.
    Lists are paged (``page_size`` per request), so a big fleet never needs one huge response.
    """

    def __init__(
        self,
        client: Callable[[], AsyncRestClient],
        path: str,
        on_change: Callable[[str], None],
        *,
        key: Callable[[dict[str, Any]], str] = name_key,
        page_size: int = 500,
    ) -> None:
        self._client = client
        self.path = path
        self._on_change = on_change
        self._key = key
        self._page_size = page_size
        self.cache: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._resource_version = ""

    def get(self, key: str) -> dict[str, Any] | None:
        return self.cache.get(key)

    async def _list(self) -> None:
        items: list[dict[str, Any]] = []
        continue_token = ""
        while True:
            query = [("limit", str(self._page_size))]
            if continue_token:
                query.append(("continue", continue_token))
            page = await self._client().get(self.path, query=query)
            items.extend(page.get("items") or [])
            metadata = page.get("metadata") or {}
            continue_token = str(metadata.get("continue") or "")
            if not continue_token:
                self._resource_version = str(metadata.get("resourceVersion") or "")
                break
        fresh = {self._key(item): item for item in items}
        gone = set(self.cache) - set(fresh)
        self.cache = fresh
        for key in [*fresh, *gone]:
            self._on_change(key)

    async def _watch(self) -> None:
        query = [("resourceVersion", self._resource_version)]
        async for event in self._client().watch(self.path, query=query, timeout_seconds=240):
            obj = event.get("object") or {}
            metadata = obj.get("metadata") or {}
            if metadata.get("resourceVersion"):
                self._resource_version = str(metadata["resourceVersion"])
            if event.get("type") == "BOOKMARK":
                continue
            key = self._key(obj)
            if event.get("type") == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
            self._on_change(key)

    async def run(self) -> None:
        """List, then watch; list again after 410 Gone or any failure, with a growing pause."""
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
                continue
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                need_list = True
                if exc.status == 410:
                    continue
                _log.warning("watch of %s failed: %s", self.path, exc)
            except ClusternetError as exc:
                _log.warning("watch of %s interrupted: %s", self.path, exc)
            except Exception as exc:  # anything unforeseen: the event may be lost, so list again
                _log.warning("watch of %s broke (%r); listing again", self.path, exc)
                need_list = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


class NamespaceController:
    """One watched collection, a work queue, a periodic resync, and workers calling ``reconcile(name)``.

    Every object is looked at again every ``resync_seconds`` even without a change, which is how the
    deployers notice objects changed or deleted in a child by hand. ``on_reconcile(ok)`` hears about every
    pass, for metrics; a failed pass is retried with the queue's backoff.
    """

    def __init__(
        self,
        client: Callable[[], AsyncRestClient],
        path: str,
        *,
        kind: str,
        resync_seconds: float,
        workers: int = 2,
        on_reconcile: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        self._kind = kind
        self._resync_seconds = resync_seconds
        self._workers = workers
        self._on_reconcile = on_reconcile
        self.queue = WorkQueue(max_delay=30.0)
        self.watch = CollectionWatch(client, path, self.queue.add)

    async def reconcile(self, name: str) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(self.watch.run()), asyncio.ensure_future(self._resync())]
        tasks += [asyncio.ensure_future(self._worker()) for _ in range(self._workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.queue.close()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self._resync_seconds)
            for name in list(self.watch.cache):
                self.queue.add(name)

    async def _worker(self) -> None:
        await self.watch.synced.wait()
        while True:
            name = await self.queue.get()
            try:
                await self.reconcile(name)
                self.queue.forget(name)
                self._on_reconcile(True)
            except asyncio.CancelledError:
                raise
            except ClusternetError as exc:
                _log.warning("%s %s (%s): %s; will retry", self._kind, name, self.watch.path, exc)
                self._on_reconcile(False)
                self.queue.retry_later(name)
            except Exception:
                _log.exception(
                    "%s %s (%s) failed unexpectedly; will retry", self._kind, name, self.watch.path
                )
                self._on_reconcile(False)
                self.queue.retry_later(name)
            finally:
                self.queue.done(name)
