"""The lifecycle controller: a cluster whose agent stops reporting turns Ready=Unknown and gets tainted.

Each ManagedCluster is looked at when it changes and again exactly at its grace deadline (three missed
beats after its last report), so a fleet of thousands of quiet, healthy clusters costs no polling at all.
The decision itself is ``registration.lifecycle_decision``; this module only reads and writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kubectl_clusternet.core import registration as reg
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER
from kubectl_clusternet.core.errors import ApiError

from .events import EventRecorder
from .informer import Informer, WorkQueue, run_workers

__all__ = ["LifecycleController"]

_log = logging.getLogger(__name__)

# Wake a moment after the deadline, so "now > deadline" holds when the key comes back.
_DEADLINE_SLACK = 0.5


class LifecycleController:
    def __init__(
        self,
        client: Any,
        *,
        recorder: EventRecorder,
        workers: int = 4,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._client = client
        self._recorder = recorder
        self._workers = workers
        self._clock = clock
        self.queue = WorkQueue()
        self.informer = Informer(client, MANAGED_CLUSTER, self.queue.add)

    async def run(self) -> None:
        await asyncio.gather(
            self.informer.run(),
            run_workers(self.queue, self.reconcile, workers=self._workers, name="lifecycle"),
        )

    async def reconcile(self, key: str) -> None:
        cluster = self.informer.get(key)
        if cluster is None:
            self.queue.forget(key)
            return
        decision = reg.lifecycle_decision(cluster, self._clock())
        namespace = cluster["metadata"]["namespace"]
        name = cluster["metadata"]["name"]
        path = MANAGED_CLUSTER.object_path(name, namespace)
        current = cluster
        if decision.status is not None:
            try:
                current = await self._client.replace(path + "/status", {**cluster, "status": decision.status})
            except ApiError as exc:
                if exc.status in (404, 409):
                    # Gone, or the agent just reported: the watch brings the new object and a new look.
                    return
                raise
            ready = reg.find_condition(decision.status.get("conditions"), reg.CONDITION_READY) or {}
            _log.warning(
                "ManagedCluster %s is %s: %s",
                key,
                ready.get("status"),
                ready.get("message"),
                extra={"cluster_id": (cluster.get("spec") or {}).get("clusterId")},
            )
            await self._recorder.record(
                current, "Warning", str(ready.get("reason") or ""), str(ready.get("message") or "")
            )
        if decision.taints is not None:
            patch = {
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "spec": {"taints": decision.taints},
            }
            try:
                await self._client.patch(path, patch)
            except ApiError as exc:
                if exc.status in (404, 409):
                    return
                raise
            tainted = any(t.get("key") == reg.TAINT_UNSCHEDULABLE for t in decision.taints)
            _log.info("ManagedCluster %s %s", key, "tainted unschedulable" if tainted else "untainted")
        self.queue.forget(key)
        if decision.requeue_after is not None:
            self.queue.add_after(key, decision.requeue_after + _DEADLINE_SLACK)
