"""HelmChart verification (leader only): is the chart a HelmChart names really in its repository?

For every HelmChart whose spec is new or changed, the repository is asked (``index.yaml`` for http and
https, the tag list for ``oci://``, which needs the optional Helm SDK), with the credentials of its
``chartPullSecret`` when it has one, and ``status.phase`` becomes ``Found`` or ``NotFound`` with the reason
(reference §2.6, §7.6). The deployer renders a Base only once all its charts are ``Found``, and re-renders
when a chart's phase or spec changes.

A chart not found is asked for again every :data:`RECHECK_SECONDS` (it may be published later); a
repository that cannot be reached is retried with backoff. While a changed spec waits for its answer,
``pending`` says so, and the deployer does not render the new spec on the strength of the old ``Found``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Final

from kubectl_clusternet.core.apis.apps import HELM_CHART
from kubectl_clusternet.core.apis.builtin import SECRET
from kubectl_clusternet.core.errors import ApiError, ClusternetError
from kubectl_clusternet.core.helm import fetch, sdk
from kubectl_clusternet.core.helm.repo import ChartNotFound, RepoError, is_oci, oci_reference, pick_tag
from kubectl_clusternet.core.render.selectors import is_terminating

from .apps_cache import HELM_CHARTS, AppsCache
from .apps_events import ComponentRecorder
from .informer import WorkQueue, run_workers

__all__ = ["HelmChartVerifier", "RECHECK_SECONDS", "FOUND", "NOT_FOUND"]

_log = logging.getLogger(__name__)

FOUND: Final = "Found"
NOT_FOUND: Final = "NotFound"
RECHECK_SECONDS: Final = 30.0
#: Upstream's deadline for asking a registry.
_OCI_TIMEOUT: Final = 15.0


def _key(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


class _Unreachable(ClusternetError):
    """A transient failure: say NotFound for now, and ask again with backoff."""


def _spec(chart: dict[str, Any] | None) -> str:
    return json.dumps((chart or {}).get("spec"), sort_keys=True)


class HelmChartVerifier:
    def __init__(
        self,
        client: Any,
        cache: AppsCache,
        *,
        recorder: ComponentRecorder,
        on_verified: Callable[[dict[str, Any]], None] = lambda chart: None,
        workers: int = 2,
    ) -> None:
        self._client = client
        self._cache = cache
        self._recorder = recorder
        self._on_verified = on_verified
        self._workers = workers
        self.queue = WorkQueue()
        self._announced: dict[str, str] = {}
        # Charts whose spec changed since their status was written: key -> the spec awaiting an answer.
        self._pending: dict[str, str] = {}
        cache.listen(self.on_change)

    def pending(self, chart: dict[str, Any]) -> bool:
        """Whether the chart's status still answers for an older spec."""
        return _key(chart) in self._pending

    def on_change(self, kind: str, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if kind != HELM_CHARTS:
            return
        if new is None:
            self._announced.pop(key, None)
            self._pending.pop(key, None)
            self.queue.forget(key)
            return
        if old is not None and old.get("spec") != new.get("spec"):
            # Listeners run before any worker does, so the deployer sees this before it renders the change.
            self._pending[key] = _spec(new)
        if old is None or old.get("spec") != new.get("spec") or not (new.get("status") or {}).get("phase"):
            self.queue.add(key)

    async def run(self) -> None:
        await self._cache.wait_synced()
        await run_workers(self.queue, self.reconcile, workers=self._workers, name="helmchart-verifier")

    async def reconcile(self, key: str) -> None:
        chart = self._cache.get(HELM_CHARTS, key)
        if chart is None or is_terminating(chart):
            return
        try:
            phase, reason = FOUND, await self._verify(chart)
        except ChartNotFound as exc:
            phase, reason = NOT_FOUND, exc.message
            self.queue.add_after(key, RECHECK_SECONDS)
        except (RepoError, sdk.HelmUnavailable, sdk.HelmActionError, _Unreachable) as exc:
            phase, reason = NOT_FOUND, exc.message
            await self._answered(chart, phase, reason)
            raise  # retried with backoff
        await self._answered(chart, phase, reason)
        if phase == FOUND:
            self.queue.forget(key)

    async def _answered(self, chart: dict[str, Any], phase: str, reason: str) -> None:
        await self._write(chart, phase, reason)
        key = _key(chart)
        if self._pending.get(key) == _spec(chart):
            del self._pending[key]
            # The status may not have changed (Found stays Found), so no watch event says it is done.
            self._on_verified(chart)

    async def _credentials(self, chart: dict[str, Any]) -> fetch.RepoCredentials:
        ref = (chart.get("spec") or {}).get("chartPullSecret") or {}
        if not ref.get("name"):
            return fetch.RepoCredentials()
        namespace = ref.get("namespace") or chart["metadata"]["namespace"]
        try:
            secret = await self._client.get(SECRET.object_path(ref["name"], namespace))
        except ApiError as exc:
            if exc.status == 404:
                raise ChartNotFound(f"chartPullSecret {namespace}/{ref['name']} does not exist") from exc
            raise _Unreachable(f"cannot read chartPullSecret {namespace}/{ref['name']}: {exc}") from exc
        return fetch.credentials_from_secret(secret)

    async def _verify(self, chart: dict[str, Any]) -> str:
        """``""`` when found (upstream leaves the reason empty); raises otherwise."""
        spec = chart.get("spec") or {}
        repo, name, version = (
            str(spec.get("repo") or ""),
            str(spec.get("chart") or ""),
            str(spec.get("version") or ""),
        )
        credentials = await self._credentials(chart)
        if is_oci(repo):
            ref = oci_reference(repo, name)
            try:
                tags = await asyncio.wait_for(
                    asyncio.to_thread(
                        sdk.oci_tags,
                        ref,
                        plain_http=bool(spec.get("plainHTTP")),
                        username=credentials.username,
                        password=credentials.password,
                    ),
                    _OCI_TIMEOUT,
                )
            except asyncio.TimeoutError as exc:
                raise _Unreachable(f"{ref}: no answer within {_OCI_TIMEOUT:.0f}s") from exc
            pick_tag(tags, name, version, ref)
            return ""
        await fetch.resolve_chart(repo, name, version, credentials)
        return ""

    async def _write(self, chart: dict[str, Any], phase: str, reason: str) -> None:
        metadata = chart["metadata"]
        key = _key(chart)
        status = chart.get("status") or {}
        if status.get("phase") != phase or (status.get("reason") or "") != reason:
            patch = {"status": {"phase": phase, "reason": reason or None}}
            try:
                await self._client.patch(
                    HELM_CHART.object_path(metadata["name"], metadata["namespace"]) + "/status", patch
                )
            except ApiError as exc:
                if exc.status == 404:
                    return
                raise
            _log.info("HelmChart %s: %s%s", key, phase, f" ({reason})" if reason else "")
        announced = f"{phase}:{reason}"
        if self._announced.get(key) == announced:
            return
        self._announced[key] = announced
        if phase == NOT_FOUND:
            await self._recorder.record(chart, "Warning", "HelmChartNotFound", reason)
