"""Helm Descriptions → HelmReleases (leader only), and the releases' phase back on the Description.

Upstream's controller-manager does this part of the Helm deployer (reference §7.6) whatever the sync
mode: for each ``<base>-helm`` Description it keeps one HelmRelease per chart,
``<description>-<chart namespace>-<chart name>``, in the cluster's namespace (labels, finalizer,
controller reference to the Description, HelmOptions, ``releaseName``, ``targetNamespace`` and the
rendered values in ``overrides``), and writes the Description's ``status.phase`` from the HelmReleases'
(deployed → Success, pending-install → Installing, failed → Failure, …). Installing, upgrading and
uninstalling is the applier's job: the agent in Pull mode (and Dual without AppPusher).

A deleted Helm Description deletes its HelmReleases and keeps its finalizer until they are gone, i.e.
until the agent has uninstalled every release; in the namespace of a cluster that no longer exists nobody
can, so there the finalizers are dropped at once.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from kubectl_clusternet.core.apis.apps import DESCRIPTION, HELM_RELEASE
from kubectl_clusternet.core.deploy import APP_FINALIZER, Reason, finalizers_patch
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.helm.releases import (
    description_phase,
    helm_releases_for,
    owner_description_key,
    release_differs,
)
from kubectl_clusternet.core.render.descriptions import LABEL_CONFIG_KIND, LABEL_CONFIG_NAME
from kubectl_clusternet.core.render.errors import DescriptionError
from kubectl_clusternet.core.render.selectors import is_terminating

from .apps_cache import CLUSTERS, DESCRIPTIONS, HELM_RELEASES, AppsCache
from .apps_events import ComponentRecorder
from .informer import WorkQueue, run_workers

__all__ = ["HelmReleaseController"]

_log = logging.getLogger(__name__)

_DELETION_RECHECK: Final = 3.0


def _key(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def _is_helm(description: dict[str, Any] | None) -> bool:
    return (((description or {}).get("spec")) or {}).get("deployer") == "Helm"


def _description_fingerprint(description: dict[str, Any] | None) -> str:
    if description is None:
        return ""
    metadata = description.get("metadata") or {}
    return json.dumps(
        [
            description.get("spec"),
            metadata.get("labels"),
            metadata.get("uid"),
            metadata.get("deletionTimestamp"),
            metadata.get("finalizers"),
            (description.get("status") or {}).get("phase"),
            (description.get("status") or {}).get("reason"),
        ],
        sort_keys=True,
    )


def _spec_patch(existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """A merge patch replacing ``spec`` with ``desired``'s (fields it dropped are nulled)."""
    have = existing.get("spec") or {}
    want = desired.get("spec") or {}
    patch: dict[str, Any] = {key: None for key in have if key not in want}
    patch.update(want)
    return patch


class HelmReleaseController:
    def __init__(
        self, client: Any, cache: AppsCache, *, recorder: ComponentRecorder, workers: int = 4
    ) -> None:
        self._client = client
        self._cache = cache
        self._recorder = recorder
        self._workers = workers
        self.queue = WorkQueue()
        # Per Description: the (phase, reason) last announced with an Event.
        self._announced: dict[str, tuple[str, str]] = {}
        cache.listen(self.on_change)

    def on_change(self, kind: str, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if kind == DESCRIPTIONS:
            if (_is_helm(old) or _is_helm(new)) and _description_fingerprint(old) != _description_fingerprint(
                new
            ):
                self.queue.add(key)
        elif kind == HELM_RELEASES:
            owner = owner_description_key(new or old or {})
            if owner:
                self.queue.add(owner)
        elif kind == CLUSTERS and new is None and old is not None:
            # A cluster that went away strands the Helm Descriptions of its namespace.
            namespace = str((old.get("metadata") or {}).get("namespace") or "")
            for description in self._cache.items(DESCRIPTIONS):
                if (
                    _is_helm(description)
                    and (description.get("metadata") or {}).get("namespace") == namespace
                ):
                    self.queue.add(_key(description))

    async def run(self) -> None:
        await self._cache.wait_synced()
        await run_workers(self.queue, self.reconcile, workers=self._workers, name="helmrelease")

    def _releases_of(self, key: str) -> list[dict[str, Any]]:
        return [hr for hr in self._cache.items(HELM_RELEASES) if owner_description_key(hr) == key]

    def _cluster_gone(self, namespace: str) -> bool:
        return not any(
            (c.get("metadata") or {}).get("namespace") == namespace for c in self._cache.items(CLUSTERS)
        )

    async def reconcile(self, key: str) -> None:
        description = self._cache.get(DESCRIPTIONS, key)
        releases = self._releases_of(key)
        if description is None:
            for release in releases:  # the garbage collector would too; this is quicker
                await self._delete(release)
            self._announced.pop(key, None)
            return
        if not _is_helm(description):
            return
        if is_terminating(description):
            await self._finish_deletion(key, description, releases)
            return
        try:
            desired = helm_releases_for(description)
        except DescriptionError as exc:
            await self._recorder.record(description, "Warning", "UnequalLengths", str(exc))
            return
        existing = {hr["metadata"]["name"]: hr for hr in releases}
        created: list[str] = []
        for body in desired:
            name = body["metadata"]["name"]
            current = existing.pop(name, None)
            if current is None:
                await self._create(description, body)
                created.append(name)
            elif not is_terminating(current) and release_differs(current, body):
                await self._update(description, current, body)
        for leftover in existing.values():
            await self._delete(leftover)
        if created:
            await self._recorder.record(
                description,
                "Normal",
                "HelmReleasesCreated",
                f"HelmReleases {', '.join(created)} are created successfully",
            )
        await self._report(
            description, [self._cache.get(HELM_RELEASES, _key(body)) or body for body in desired]
        )

    async def _create(self, description: dict[str, Any], body: dict[str, Any]) -> None:
        metadata = body["metadata"]
        try:
            await self._client.create(HELM_RELEASE.collection_path(metadata["namespace"]), body)
        except ApiError as exc:
            if exc.status == 409:
                return  # made before our cache saw it: its watch event brings us back
            await self._recorder.record(
                description, "Warning", "HelmReleaseFailure", f"HelmRelease {metadata['name']}: {exc}"
            )
            raise
        _log.info("created HelmRelease %s/%s", metadata["namespace"], metadata["name"])

    async def _update(
        self, description: dict[str, Any], current: dict[str, Any], body: dict[str, Any]
    ) -> None:
        metadata = body["metadata"]
        finalizers = list((current.get("metadata") or {}).get("finalizers") or [])
        patch: dict[str, Any] = {
            "metadata": {
                "labels": metadata["labels"],
                "ownerReferences": metadata["ownerReferences"],
                "finalizers": finalizers if APP_FINALIZER in finalizers else [*finalizers, APP_FINALIZER],
            },
            "spec": _spec_patch(current, body),
        }
        if metadata.get("annotations"):
            patch["metadata"]["annotations"] = metadata["annotations"]
        try:
            await self._client.patch(HELM_RELEASE.object_path(metadata["name"], metadata["namespace"]), patch)
        except ApiError as exc:
            if exc.status == 404:
                return
            await self._recorder.record(
                description, "Warning", "HelmReleaseFailure", f"HelmRelease {metadata['name']}: {exc}"
            )
            raise
        _log.info("updated HelmRelease %s/%s", metadata["namespace"], metadata["name"])
        await self._recorder.record(
            description,
            "Normal",
            "HelmReleaseUpdated",
            f"HelmRelease {metadata['name']} is updated successfully",
        )

    async def _delete(self, release: dict[str, Any]) -> None:
        metadata = release["metadata"]
        path = HELM_RELEASE.object_path(metadata["name"], metadata["namespace"])
        try:
            if not is_terminating(release):
                await self._client.delete(path, body={"propagationPolicy": "Background"})
            elif self._cluster_gone(str(metadata["namespace"])):
                patch = finalizers_patch(release, remove=[APP_FINALIZER])
                if patch is not None:
                    _log.warning("HelmRelease %s: its cluster is gone; dropping the finalizer", _key(release))
                    await self._client.patch(path, patch)
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise

    async def _finish_deletion(
        self, key: str, description: dict[str, Any], releases: list[dict[str, Any]]
    ) -> None:
        """Delete the HelmReleases; once the API server shows none left, let the Description go."""
        for release in releases:
            await self._delete(release)
        metadata = description["metadata"]
        selector = f"{LABEL_CONFIG_KIND}=Description,{LABEL_CONFIG_NAME}={metadata['name']}"
        left = await self._client.get(
            HELM_RELEASE.collection_path(metadata["namespace"]), query=[("labelSelector", selector)]
        )
        if left.get("items"):
            self.queue.add_after(key, _DELETION_RECHECK)
            return
        patch = finalizers_patch(description, remove=[APP_FINALIZER])
        if patch is None:
            return
        try:
            await self._client.patch(DESCRIPTION.object_path(metadata["name"], metadata["namespace"]), patch)
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise
            return
        self._announced.pop(key, None)
        _log.info("Description %s: its Helm releases are uninstalled; finalizer removed", key)

    async def _report(self, description: dict[str, Any], releases: list[dict[str, Any]]) -> None:
        phase, reason = description_phase(releases)
        status = description.get("status") or {}
        metadata = description["metadata"]
        if status.get("phase") != phase or (status.get("reason") or "") != reason:
            try:
                await self._client.patch(
                    DESCRIPTION.object_path(metadata["name"], metadata["namespace"]) + "/status",
                    {"status": {"phase": phase, "reason": reason or None}},
                )
            except ApiError as exc:
                if exc.status != 404:
                    raise
                return
        key = _key(description)
        if phase not in ("Success", "Failure") or self._announced.get(key) == (phase, reason):
            return
        self._announced[key] = (phase, reason)
        if phase == "Success":
            await self._recorder.record(
                description,
                "Normal",
                Reason.SUCCESSFULLY_DEPLOYED,
                f"Description {key} is deployed successfully",
            )
        else:
            await self._recorder.record(
                description,
                "Warning",
                Reason.UNSUCCESSFULLY_DEPLOYED,
                f"failed to deploy Description {key}: {reason}",
            )
