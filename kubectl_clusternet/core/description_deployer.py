"""Applying a cluster's Generic Descriptions to that cluster: the agent does it in Pull mode (and Dual without
AppPusher), the hub through the tunnel in Push mode (and Dual with AppPusher), with this same code.

For each Generic Description: apply every ``raw`` object (Namespaces and CRDs first, the rest
concurrently), prune what the previous revision deployed and this one no longer holds, and write
``status.phase`` (Success, or Failure with the reason) and ``status.manifestStatuses`` (each object's
``status`` in the child) when they change, with events ``SuccessfullyDeployed`` / ``UnSuccessfullyDeployed``
in the parent. When a Description is deleted (it carries the finalizer ``apps.clusternet.io/finalizer``),
every object it deployed is deleted from the child, then the finalizer is removed.

What a Description deployed is read back from its own ``manifestStatuses`` (written after every pass), so
pruning and offloading are right after a restart too. Every Description is looked at again every
``resync_seconds``: object statuses reach the parent, and objects changed or deleted in the child by hand
are put back (upstream's Recovery, by polling rather than per-kind watches).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from .apis.apps import DESCRIPTION
from .child_applier import ChildApplier
from .deploy import (
    APP_FINALIZER,
    DeployedRef,
    ObjectOutcome,
    Reason,
    deployed_ref,
    deployed_refs_from_status,
    description_status,
    finalizers_patch,
    ordered_for_apply,
    ordered_for_delete,
    owner_value,
    refs_to_remove,
    status_merge_patch,
)
from .errors import ApiError, ClusternetError
from .kube.aio import AsyncRestClient
from .kube.events import record_event
from .kube.informer import NamespaceController
from .render import DescriptionError, decode_raw
from .render.selectors import is_terminating

__all__ = ["DescriptionDeployer", "DEFAULT_RESYNC_SECONDS"]

_log = logging.getLogger(__name__)

DEFAULT_RESYNC_SECONDS: Final = 15.0
#: Objects of one wave written to the child at the same time.
_APPLY_CONCURRENCY: Final = 8


async def _gather_bounded(work: Sequence[Awaitable[ObjectOutcome]]) -> list[ObjectOutcome]:
    semaphore = asyncio.Semaphore(_APPLY_CONCURRENCY)

    async def one(item: Awaitable[ObjectOutcome]) -> ObjectOutcome:
        async with semaphore:
            return await item

    return list(await asyncio.gather(*(one(item) for item in work)))


class DescriptionDeployer(NamespaceController):
    """Deploys the Generic Descriptions of one dedicated namespace of the parent into one child cluster.

    ``component`` names who reports (``clusternet-agent`` or ``clusternet-hub``) in Events;
    ``on_reconcile(ok)`` is told about every pass, for metrics.
    """

    def __init__(
        self,
        parent: Callable[[], AsyncRestClient],
        child: AsyncRestClient,
        namespace: str,
        *,
        component: str,
        resync_seconds: float = DEFAULT_RESYNC_SECONDS,
        workers: int = 2,
        on_reconcile: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        super().__init__(
            parent,
            DESCRIPTION.collection_path(namespace),
            kind="Description",
            resync_seconds=resync_seconds,
            workers=workers,
            on_reconcile=on_reconcile,
        )
        self._parent = parent
        self._namespace = namespace
        self._component = component
        self._applier = ChildApplier(child)
        # Per Description: (generation, phase, reason) last announced with an Event.
        self._announced: dict[str, tuple[Any, str, str]] = {}

    async def run(self) -> None:
        _log.info("deploying the Descriptions of namespace %s into this cluster", self._namespace)
        await super().run()

    # reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, name: str) -> None:
        description = self.watch.cache.get(name)
        if description is None:
            self._announced.pop(name, None)
            return
        if (description.get("spec") or {}).get("deployer") != "Generic":
            return
        owner = owner_value(description)
        previous = deployed_refs_from_status(description)
        try:
            objects = decode_raw((description.get("spec") or {}).get("raw") or [])
        except DescriptionError as exc:
            if is_terminating(description):
                await self._offload(description, [], previous, owner)
            else:
                await self._report(description, description_status([], f"cannot read spec.raw: {exc}"))
            return
        if is_terminating(description):
            await self._offload(description, objects, previous, owner)
            return
        outcomes: list[ObjectOutcome] = []
        for wave in ordered_for_apply(objects):
            outcomes += await _gather_bounded([self._applier.apply(dict(obj), owner) for obj in wave])
        pruned = await self._remove(refs_to_remove(previous, objects), owner)
        if pruned:
            await self._announce_pruning(description, pruned)
        await self._report(description, description_status(outcomes + pruned))

    async def _remove(self, refs: Sequence[DeployedRef], owner: str) -> list[ObjectOutcome]:
        outcomes: list[ObjectOutcome] = []
        for wave in ordered_for_delete(refs):
            outcomes += await _gather_bounded([self._applier.remove(ref, owner) for ref in wave])
        return outcomes

    async def _offload(
        self,
        description: dict[str, Any],
        objects: list[dict[str, Any]],
        previous: list[DeployedRef],
        owner: str,
    ) -> None:
        """Delete everything the Description deployed, then let it go (drop our finalizer)."""
        if APP_FINALIZER not in ((description.get("metadata") or {}).get("finalizers") or []):
            return
        refs = list(previous)
        for obj in objects:
            ref = deployed_ref(obj)
            if ref.identity not in {r.identity for r in refs}:
                refs.append(ref)
        outcomes = await self._remove(refs, owner)
        failures = [f"{o.ref.describe()}: {o.error}" for o in outcomes if o.error]
        name = description["metadata"]["name"]
        if failures:
            message = "; ".join(failures)
            await self._event(description, "Warning", Reason.FAILED_DELETING_DESCRIPTION, message)
            raise ClusternetError(f"could not delete every object of Description {name}: {message}")
        patch = finalizers_patch(description, remove=[APP_FINALIZER])
        if patch is None:
            return
        try:
            await self._parent().patch(DESCRIPTION.object_path(name, self._namespace), patch)
        except ApiError as exc:
            if exc.status != 404:
                raise  # 409: a newer Description arrives through the watch and is handled then
        _log.info(
            "Description %s/%s deleted: removed its %d objects from this cluster",
            self._namespace,
            name,
            len(refs),
        )

    async def _report(self, description: dict[str, Any], status: dict[str, Any]) -> None:
        metadata = description["metadata"]
        name = metadata["name"]
        patch = status_merge_patch(description.get("status"), status)
        if patch is not None:
            try:
                await self._parent().patch(DESCRIPTION.object_path(name, self._namespace) + "/status", patch)
            except ApiError as exc:
                if exc.status == 404:
                    return
                raise
        phase, reason = str(status.get("phase") or ""), str(status.get("reason") or "")
        announced = (metadata.get("generation"), phase, reason)
        if self._announced.get(name) == announced:
            return
        self._announced[name] = announced
        where = f"{self._namespace}/{name}"
        if phase == "Success":
            _log.info("Description %s deployed", where)
            await self._event(
                description,
                "Normal",
                Reason.SUCCESSFULLY_DEPLOYED,
                f"Description {where} is deployed successfully",
            )
        else:
            _log.warning("Description %s failed: %s", where, reason)
            await self._event(
                description,
                "Warning",
                Reason.UNSUCCESSFULLY_DEPLOYED,
                f"failed to deploy Description {where}: {reason}",
            )
        if phase != "Success":
            # Failures are retried with backoff (a namespace still terminating, a CRD not yet served).
            raise ClusternetError(f"Description {where}: {reason}")

    async def _announce_pruning(self, description: dict[str, Any], outcomes: list[ObjectOutcome]) -> None:
        failed = [f"{o.ref.describe()}: {o.error}" for o in outcomes if o.error]
        if failed:
            await self._event(description, "Warning", Reason.UNSUCCESSFULLY_PRUNING_FEED, "; ".join(failed))
        else:
            removed = ", ".join(o.ref.describe() for o in outcomes)
            await self._event(description, "Normal", Reason.SUCCESSFULLY_PRUNING_FEED, f"removed {removed}")

    async def _event(self, description: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        await record_event(
            self._parent(),
            DESCRIPTION,
            description,
            component=self._component,
            event_type=event_type,
            reason=reason,
            message=message,
        )
