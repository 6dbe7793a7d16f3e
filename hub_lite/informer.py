"""The hub's controllers on the shared core pieces: an ``Informer`` per resource type (``core.kube.informer``'s
list+watch cache, keyed ``namespace/name``), its ``WorkQueue`` (which can add a key later: the lifecycle
controller wakes up exactly at a cluster's grace deadline instead of polling), and ``run_workers`` with the
hub's reconcile metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubectl_clusternet.core.apis.model import ResourceType
from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.kube.informer import CollectionWatch, WorkQueue, namespaced_key

from .metrics import COMMON

__all__ = ["Informer", "WorkQueue", "object_key", "run_workers"]

object_key = namespaced_key

_log = logging.getLogger(__name__)


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
