"""The Helm deployer: HelmReleases of a cluster's dedicated namespace in the parent → Helm releases in that
child cluster (reference §7.6). The agent runs it in Pull mode (and Dual without AppPusher), the hub in Push
mode (and Dual with AppPusher), reaching the child through the proxy.

Per HelmRelease, level-triggered: install the chart when the release is absent, upgrade it only when the
release name, namespace, chart, version or values differ from what is deployed (an empty or ranged
version is resolved against the repository index, re-read at most every :data:`VERSION_CACHE_SECONDS`,
so it upgrades when a newer chart is published and never on every pass), and uninstall when the
HelmRelease is deleted, then drop its finalizer. ``status`` is copied from the release (phase, revision,
notes, first and last deployed); the hub turns it into the Description's phase.

Charts are downloaded by us (``core.helm.fetch``; OCI through the SDK) and installed from memory with the
optional Helm SDK (``core.helm.sdk``). Without the SDK every HelmRelease reports phase ``failed`` with
the reason and an Event, and the agent carries on with everything else.

The chart's ``chartPullSecret`` is read from the parent with the agent's own credentials, which only
reach the cluster's dedicated namespace: for a Secret elsewhere, one of the same name in that namespace is
used, and without it the release fails with a clear ``ChartLocateFailure``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Final

from kubectl_clusternet.core.apis.apps import HELM_RELEASE
from kubectl_clusternet.core.apis.builtin import SECRET
from kubectl_clusternet.core.deploy import APP_FINALIZER, finalizers_patch
from kubectl_clusternet.core.errors import ApiError, ClusternetError
from kubectl_clusternet.core.helm import fetch, sdk
from kubectl_clusternet.core.helm.releases import (
    DesiredRelease,
    desired_release,
    install_options,
    needs_upgrade,
    release_status,
    uninstall_options,
    upgrade_options,
)
from kubectl_clusternet.core.helm.repo import ChartNotFound, RepoError, is_oci, oci_reference, pick_tag
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.kube.events import record_event
from kubectl_clusternet.core.kube.informer import NamespaceController
from kubectl_clusternet.core.render import DescriptionError
from kubectl_clusternet.core.render.selectors import is_terminating

__all__ = ["HelmReleaseDeployer", "VERSION_CACHE_SECONDS"]

_log = logging.getLogger(__name__)

DEFAULT_RESYNC_SECONDS: Final = 30.0
#: How long an index answer for an empty or ranged version is trusted.
VERSION_CACHE_SECONDS: Final = 60.0
_EXACT_VERSION: Final = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_STATUS_FIELDS: Final = ("phase", "version", "notes", "description", "firstDeployed", "lastDeployed")


class ChartLocateFailure(ClusternetError):
    """The chart could not be found or downloaded."""


class HelmReleaseDeployer(NamespaceController):
    """Installs, upgrades and uninstalls the releases of one namespace's HelmReleases in one cluster;
    ``component`` names who reports in Events (``clusternet-agent`` or ``clusternet-hub``)."""

    def __init__(
        self,
        parent: Callable[[], AsyncRestClient],
        namespace: str,
        *,
        component: str,
        kubeconfig: str | None = None,
        resync_seconds: float = DEFAULT_RESYNC_SECONDS,
        workers: int = 2,
    ) -> None:
        super().__init__(
            parent,
            HELM_RELEASE.collection_path(namespace),
            kind="HelmRelease",
            resync_seconds=resync_seconds,
            workers=workers,
        )
        self._parent = parent
        self._namespace = namespace
        self._component = component
        self._helm = sdk.ChildHelm(kubeconfig)
        self._versions: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._announced: dict[str, tuple[str, str]] = {}
        # Per HelmRelease name: the UID whose release we uninstalled and let go (its last watch events may
        # still show it with our finalizer; uninstalling twice would only be noise).
        self._released: dict[str, str] = {}

    async def run(self) -> None:
        _log.info("deploying the HelmReleases of namespace %s into this cluster", self._namespace)
        await super().run()

    # reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, name: str) -> None:
        cached = self.watch.cache.get(name)
        if cached is None:
            self._announced.pop(name, None)
            self._released.pop(name, None)
            return
        release = copy.deepcopy(cached)  # status writes below update this copy, never the cache
        if is_terminating(release):
            await self._uninstall(release)
            return
        if APP_FINALIZER not in ((release.get("metadata") or {}).get("finalizers") or []):
            return  # the hub adds it; installing without it could leave a release nobody uninstalls
        try:
            desired = desired_release(release)
        except DescriptionError as exc:
            await self._fail(release, "HelmReleaseFailure", str(exc))
            return
        spec = release.get("spec") or {}
        try:
            current = await asyncio.to_thread(self._helm.get, desired.name, desired.namespace)
            if current is not None and spec.get("atomic") and _phase(current) != "deployed":
                _log.info("release %s is %s and atomic: uninstalling it first", desired.name, _phase(current))
                await asyncio.to_thread(
                    self._helm.uninstall, desired.name, desired.namespace, uninstall_options(spec)
                )
                current = None
            if current is None:
                await self._write_status(release, {"phase": "pending-install"})
                archive, version = await self._locate(release)
                _log.info(
                    "installing %s %s as release %s/%s",
                    desired.chart,
                    version,
                    desired.namespace,
                    desired.name,
                )
                await asyncio.to_thread(
                    self._helm.install,
                    archive,
                    desired.name,
                    desired.namespace,
                    desired.values,
                    install_options(spec, desired.namespace),
                )
            else:
                why = needs_upgrade(current, desired, await self._resolved_version(release, desired))
                if why is not None:
                    await self._write_status(
                        release, {**(release.get("status") or {}), "phase": "pending-upgrade"}
                    )
                    archive, version = await self._locate(release)
                    _log.info("upgrading release %s/%s (%s)", desired.namespace, desired.name, why)
                    await asyncio.to_thread(
                        self._helm.upgrade,
                        archive,
                        desired.name,
                        desired.namespace,
                        desired.values,
                        upgrade_options(spec, desired.namespace),
                    )
            current = await asyncio.to_thread(self._helm.get, desired.name, desired.namespace)
        except sdk.HelmUnavailable as exc:
            await self._fail(release, "HelmReleaseFailure", exc.message)
            return  # nothing to retry until the SDK is installed; the resync looks again
        except ChartLocateFailure as exc:
            await self._fail(release, "ChartLocateFailure", exc.message)
            raise
        except sdk.HelmActionError as exc:
            await self._fail(release, "HelmReleaseFailure", exc.message)
            raise
        if current is None:
            raise ClusternetError(
                f"release {desired.namespace}/{desired.name} is not there after installing it"
            )
        status = release_status(current)
        await self._write_status(release, status)
        await self._announce(release, status)

    async def _resolved_version(self, release: dict[str, Any], desired: DesiredRelease) -> str:
        """The version ``desired.version`` stands for now: itself when exact, else the repository's answer
        (cached); ``""`` (compare nothing) when the repository cannot be asked."""
        if _EXACT_VERSION.match(desired.version):
            return desired.version.removeprefix("v")
        spec = release.get("spec") or {}
        cache_key = (str(spec.get("repo") or ""), desired.chart, desired.version)
        cached = self._versions.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            version = await self._resolve(release)
        except ChartLocateFailure as exc:
            _log.info("cannot check for a newer %s (%s); keeping the deployed one", desired.chart, exc)
            return ""
        self._versions[cache_key] = (time.monotonic() + VERSION_CACHE_SECONDS, version)
        return version

    async def _credentials(self, release: dict[str, Any]) -> fetch.RepoCredentials:
        """The chartPullSecret's username and password. The agent's credentials reach Secrets only in its
        cluster's namespace, so when the named one is out of reach a Secret of the same name there is
        used (the operator copies it once per cluster, as with upstream's imagePullSecrets)."""
        ref = (release.get("spec") or {}).get("chartPullSecret") or {}
        if not ref.get("name"):
            return fetch.RepoCredentials()
        namespace = ref.get("namespace") or self._namespace
        try:
            secret = await self._parent().get(SECRET.object_path(ref["name"], namespace))
        except ApiError as exc:
            if exc.status not in (403, 404) or namespace == self._namespace:
                raise ChartLocateFailure(
                    f"cannot read chartPullSecret {namespace}/{ref['name']}: {exc}"
                ) from exc
            try:
                secret = await self._parent().get_or_none(SECRET.object_path(ref["name"], self._namespace))
            except ClusternetError as again:
                raise ChartLocateFailure(
                    f"cannot read Secret {self._namespace}/{ref['name']}: {again}"
                ) from again
            if secret is None:
                raise ChartLocateFailure(
                    f"cannot read chartPullSecret {namespace}/{ref['name']} ({exc.reason or exc.status}), and "
                    f"there is no Secret {ref['name']} in this cluster's namespace {self._namespace} to use instead"
                ) from exc
        try:
            return fetch.credentials_from_secret(secret)
        except RepoError as exc:
            raise ChartLocateFailure(exc.message) from exc

    async def _resolve(self, release: dict[str, Any]) -> str:
        """The exact version to install, from the repository."""
        spec = release.get("spec") or {}
        repo, chart, version = (
            str(spec.get("repo") or ""),
            str(spec.get("chart") or ""),
            str(spec.get("version") or ""),
        )
        credentials = await self._credentials(release)
        try:
            if is_oci(repo):
                ref = oci_reference(repo, chart)
                tags = await asyncio.to_thread(
                    sdk.oci_tags,
                    ref,
                    plain_http=bool(spec.get("plainHTTP")),
                    username=credentials.username,
                    password=credentials.password,
                )
                return pick_tag(tags, chart, version, ref)
            return (await fetch.resolve_chart(repo, chart, version, credentials)).version
        except (ChartNotFound, RepoError, sdk.HelmActionError) as exc:
            raise ChartLocateFailure(exc.message) from exc

    async def _locate(self, release: dict[str, Any]) -> tuple[bytes, str]:
        """The chart archive to install and its version."""
        spec = release.get("spec") or {}
        repo, chart, version = (
            str(spec.get("repo") or ""),
            str(spec.get("chart") or ""),
            str(spec.get("version") or ""),
        )
        credentials = await self._credentials(release)
        try:
            if is_oci(repo):
                ref = oci_reference(repo, chart)
                tag = await self._resolve(release)
                archive = await asyncio.to_thread(
                    sdk.oci_archive,
                    ref,
                    tag,
                    plain_http=bool(spec.get("plainHTTP")),
                    username=credentials.username,
                    password=credentials.password,
                )
                return archive, tag
            entry = await fetch.resolve_chart(repo, chart, version, credentials)
            return await fetch.fetch_archive(repo, entry, credentials), entry.version
        except (ChartNotFound, RepoError, sdk.HelmActionError) as exc:
            raise ChartLocateFailure(exc.message) from exc

    async def _uninstall(self, release: dict[str, Any]) -> None:
        metadata = release["metadata"]
        if APP_FINALIZER not in (metadata.get("finalizers") or []):
            return
        if metadata.get("uid") and self._released.get(metadata["name"]) == metadata["uid"]:
            return
        spec = release.get("spec") or {}
        desired = desired_release({**release, "spec": {**spec, "overrides": None}})
        try:
            await self._write_status(release, {**(release.get("status") or {}), "phase": "uninstalling"})
            await asyncio.to_thread(
                self._helm.uninstall, desired.name, desired.namespace, uninstall_options(spec)
            )
        except sdk.HelmUnavailable:
            _log.info(
                "HelmRelease %s: no Helm SDK here, so nothing was installed to uninstall", metadata["name"]
            )
        except sdk.HelmActionError as exc:
            await self._event(release, "Warning", "HelmReleaseFailure", f"uninstalling {desired.name}: {exc}")
            raise
        patch = finalizers_patch(release, remove=[APP_FINALIZER])
        if patch is None:
            return
        try:
            await self._parent().patch(HELM_RELEASE.object_path(metadata["name"], self._namespace), patch)
        except ApiError as exc:
            if exc.status != 404:
                raise
        if metadata.get("uid"):
            self._released[metadata["name"]] = str(metadata["uid"])
        _log.info(
            "HelmRelease %s/%s deleted: release %s uninstalled",
            self._namespace,
            metadata["name"],
            desired.name,
        )

    # status and events --------------------------------------------------------------------------------

    async def _write_status(self, release: dict[str, Any], status: dict[str, Any]) -> None:
        current = release.get("status") or {}
        patch = {key: status.get(key) for key in _STATUS_FIELDS if current.get(key) != status.get(key)}
        if not patch:
            return
        name = release["metadata"]["name"]
        try:
            updated = await self._parent().patch(
                HELM_RELEASE.object_path(name, self._namespace) + "/status", {"status": patch}
            )
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        # Later writes in the same pass (the finalizer's, guarded by resourceVersion) start from what is
        # stored now.
        release["status"] = (updated or {}).get("status") or {**current, **status}
        version = ((updated or {}).get("metadata") or {}).get("resourceVersion")
        if version:
            release.setdefault("metadata", {})["resourceVersion"] = version

    async def _fail(self, release: dict[str, Any], reason: str, message: str) -> None:
        status = {**(release.get("status") or {}), "phase": "failed", "notes": message}
        await self._write_status(release, status)
        await self._announce(release, status, reason)

    async def _announce(self, release: dict[str, Any], status: dict[str, Any], reason: str = "") -> None:
        name = release["metadata"]["name"]
        phase = str(status.get("phase") or "")
        key = (phase, str(status.get("notes") or "") if phase == "failed" else str(status.get("version")))
        if self._announced.get(name) == key:
            return
        self._announced[name] = key
        if phase == "failed":
            _log.warning("HelmRelease %s/%s failed: %s", self._namespace, name, status.get("notes"))
            await self._event(
                release, "Warning", reason or "HelmReleaseFailure", str(status.get("notes") or "")
            )
        elif phase == "deployed":
            _log.info(
                "HelmRelease %s/%s deployed (revision %s)", self._namespace, name, status.get("version")
            )

    async def _event(self, release: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        await record_event(
            self._parent(),
            HELM_RELEASE,
            release,
            component=self._component,
            event_type=event_type,
            reason=reason,
            message=message,
        )


def _phase(current: dict[str, Any]) -> str:
    return str(
        (current.get("info") or {}).get("status") or (current.get("summary") or {}).get("status") or ""
    )
