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
from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.kube.informer import CollectionWatch, namespaced_key

from .metrics import COMMON

__all__ = ["Informer", "WorkQueue", "object_key", "run_workers"]

object_key = namespaced_key

_log = logging.getLogger(__name__)


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


class Informer(CollectionWatch):
    """A cache of one resource type (all namespaces, or one) kept current by list+watch, keyed
    ``namespace/name``; ``on_change(key)`` runs for every change."""

    def __init__(
        self,
        client: Any,
        resource_type: ResourceType,
        on_change: Callable[[str], None],
        *,
        namespace: str | None = None,
        page_size: int = 500,
    ) -> None:
        super().__init__(
            lambda: client,
            resource_type.collection_path(namespace),
            on_change,
            key=namespaced_key,
            page_size=page_size,
        )
