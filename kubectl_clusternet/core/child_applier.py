"""Applying and removing a Description's objects in the child cluster (reference §7.5).

Apply = create, or, when the object exists, a JSON merge patch computed three-way against the
``clusternet.io/last-applied-configuration`` annotation (``core.deploy.three_way_merge_patch``): only
what changed is sent, fields added by the child (defaults, other controllers) are kept, and an unchanged
object costs one GET and no write. Server-side apply is not used: kube-apiserver 1.20 rejects some valid
objects with it (a Service port without ``protocol``).

Removal deletes only objects that still carry this Description's ``owned-by-description`` annotation, so
an object another Description (or a person) took over is never deleted by mistake.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .deploy import (
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_OWNED_BY,
    DeployedRef,
    ObjectOutcome,
    ResourceInfo,
    child_object_path,
    deployed_ref,
    parse_resource_list,
    prepare_for_child,
    three_way_merge_patch,
)
from .errors import ApiError, ClusternetError
from .kube.aio import AsyncRestClient

__all__ = ["ChildApplier", "UnknownKind"]

_log = logging.getLogger(__name__)


class UnknownKind(ClusternetError):
    """The child serves no such kind (a missing CRD, a typo in apiVersion)."""


def _error_text(exc: ClusternetError) -> str:
    if isinstance(exc, ApiError) and exc.reason:
        return f"{exc.reason}: {exc.message}"
    return exc.message


class ChildApplier:
    """Discovery (kind → REST path) plus apply and remove, against one child cluster."""

    def __init__(self, child: AsyncRestClient) -> None:
        self._child = child
        self._resources: dict[str, dict[str, ResourceInfo]] = {}

    async def _discover(self, api_version: str) -> dict[str, ResourceInfo]:
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            listing = await self._child.get(path)
        except ApiError as exc:
            if exc.status != 404:
                raise
            listing = {}
        found = parse_resource_list(listing or {})
        self._resources[api_version] = found
        return found

    async def resource(self, api_version: str, kind: str) -> ResourceInfo | None:
        """What the child serves for ``kind``; asks again on a miss (a CRD may just have been created)."""
        known = self._resources.get(api_version)
        if known is not None and kind in known:
            return known[kind]
        return (await self._discover(api_version)).get(kind)

    async def _path(self, ref: DeployedRef) -> str:
        info = await self.resource(ref.api_version, ref.kind)
        if info is None:
            raise UnknownKind(f'no matches for kind "{ref.kind}" in version "{ref.api_version}"')
        return child_object_path(ref.api_version, info, ref.name, ref.namespace)

    async def apply(self, obj: dict[str, Any], owner: str) -> ObjectOutcome:
        """Create or patch one object; the outcome carries the child's ``status`` of it, or the error."""
        ref = deployed_ref(obj)
        try:
            desired = prepare_for_child(obj, owner)
            path = await self._path(ref)
            live = await self._child.get_or_none(path)
            if live is None:
                try:
                    created = await self._child.create(path.rsplit("/", 1)[0], desired)
                    return ObjectOutcome(ref, observed_status=(created or {}).get("status"))
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                    live = await self._child.get(path)
            if (live.get("metadata") or {}).get("deletionTimestamp"):
                # Patching it would look like success and then vanish; fail, so it is created once gone.
                return ObjectOutcome(ref, error="it is being deleted in the child; it will be created again")
            annotations = (live.get("metadata") or {}).get("annotations") or {}
            original: dict[str, Any] | None = None
            try:
                parsed = json.loads(annotations.get(ANNOTATION_LAST_APPLIED) or "null")
                original = parsed if isinstance(parsed, dict) else None
            except ValueError:
                original = None
            patch = three_way_merge_patch(original, desired, live)
            patch.pop("status", None)
            if patch:
                live = await self._child.patch(path, patch)
            return ObjectOutcome(ref, observed_status=(live or {}).get("status"))
        except ClusternetError as exc:
            return ObjectOutcome(ref, error=_error_text(exc))

    async def remove(self, ref: DeployedRef, owner: str) -> ObjectOutcome:
        """Delete one object if it is still ours (background propagation); gone already is fine."""
        try:
            info = await self.resource(ref.api_version, ref.kind)
            if info is None:
                return ObjectOutcome(ref, pruned=True)  # its kind is gone, and the object with it
            path = child_object_path(ref.api_version, info, ref.name, ref.namespace)
            live = await self._child.get_or_none(path)
            if live is None:
                return ObjectOutcome(ref, pruned=True)
            annotations = (live.get("metadata") or {}).get("annotations") or {}
            if annotations.get(ANNOTATION_OWNED_BY) != owner:
                _log.info(
                    "not removing %s: it is owned by %s now",
                    ref.describe(),
                    annotations.get(ANNOTATION_OWNED_BY),
                )
                return ObjectOutcome(ref, pruned=True)
            try:
                await self._child.delete(path, body={"propagationPolicy": "Background"})
            except ApiError as exc:
                if exc.status != 404:
                    raise
            return ObjectOutcome(ref, pruned=True)
        except ClusternetError as exc:
            return ObjectOutcome(ref, error=_error_text(exc), pruned=True)
