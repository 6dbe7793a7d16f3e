"""Push mode: the hub applies the Descriptions of clusters whose agents do not (reference section 7.3: sync
mode Push, or Dual with the agent reporting ``appPusher``).

One ``DescriptionDeployer`` and one ``HelmReleaseDeployer`` (the agent's own deployers, from core) run per
such cluster, reaching the child
through the parent's proxy and the agent's tunnel when the cluster uses one, else straight at the address
the agent published. Either way it authenticates to the child with the deployer token the agent published
in Secret ``child-cluster-deployer``; the hub never has credentials of its own in a child. The Helm SDK
reads a kubeconfig file: a private one is written per cluster (the hub's own parent credentials plus the
child token as impersonation extras) and removed with the deployer. Deployers are restarted when that token, the cluster's route, or its sync mode changes, and stopped when the cluster no
longer wants pushing or is gone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Final

from kubectl_clusternet.core.apis.builtin import SECRET
from kubectl_clusternet.core.apis.crds import to_yaml
from kubectl_clusternet.core.childmode import ChildAuth, child_mode_kubeconfig, proxied_child_connection
from kubectl_clusternet.core.deploy import hub_pushes
from kubectl_clusternet.core.description_deployer import DescriptionDeployer
from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.helm.deployer import HelmReleaseDeployer
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.kube.kubeconfig import ResolvedConfig
from kubectl_clusternet.core.kube.rest import Connection, token_connection
from kubectl_clusternet.core.registration import (
    CHILD_DEPLOYER_SECRET,
    HUB_NAME,
    SECRET_KEY_CA,
    SECRET_KEY_PARENT_URL,
    SECRET_KEY_TOKEN,
)
from kubectl_clusternet.core.render.selectors import is_terminating

from .apps_cache import CLUSTERS, AppsCache
from .metrics import COMMON

__all__ = ["PushDeployers", "PushRoute", "push_route"]

_log = logging.getLogger(__name__)

#: How often the deployer Secrets are read again (the agent renews the token at 80% of a day).
RECHECK_SECONDS: Final = 30.0
_RECONCILES = COMMON.reconciles.labels("pusher")
_RECONCILE_ERRORS = COMMON.reconcile_errors.labels("pusher")


def _count_reconcile(ok: bool) -> None:
    _RECONCILES.inc()
    if not ok:
        _RECONCILE_ERRORS.inc()


@dataclass(frozen=True)
class PushRoute:
    """Everything that decides how the hub reaches one child; a change means a new deployer."""

    cluster_id: str
    use_socket: bool
    token: str
    child_url: str
    ca_pem: bytes


def _decoded(data: dict[str, Any], key: str) -> bytes:
    try:
        return base64.b64decode(str(data.get(key) or ""), validate=True)
    except (binascii.Error, ValueError):
        return b""


def push_route(cluster: dict[str, Any], secret: dict[str, Any] | None) -> PushRoute | str:
    """The route to the child, or why there is none yet (what to log)."""
    cluster_id = str((cluster.get("spec") or {}).get("clusterId") or "")
    if not cluster_id:
        return "the ManagedCluster has no spec.clusterId"
    if secret is None:
        return f"Secret {CHILD_DEPLOYER_SECRET} is missing (the agent publishes it)"
    data = secret.get("data") or {}
    token = _decoded(data, SECRET_KEY_TOKEN).decode(errors="replace").strip()
    if not token:
        return f"Secret {CHILD_DEPLOYER_SECRET} holds no token (can the agent issue one for clusternet-app-deployer?)"
    return PushRoute(
        cluster_id=cluster_id,
        use_socket=bool((cluster.get("status") or {}).get("useSocket")),
        token=token,
        child_url=_decoded(data, SECRET_KEY_PARENT_URL).decode(errors="replace"),
        ca_pem=_decoded(data, SECRET_KEY_CA),
    )


def child_connection(parent: Connection, route: PushRoute) -> Connection:
    """Through the proxy when the cluster has a tunnel; else straight to the child's advertised URL."""
    if route.use_socket:
        return proxied_child_connection(parent, route.cluster_id, route.token)
    return token_connection(route.child_url, route.token, route.ca_pem)


def helm_kubeconfig(parent: ResolvedConfig, route: PushRoute) -> dict[str, Any]:
    """The kubeconfig the Helm SDK reaches the child with, the same way as ``child_connection``."""
    if route.use_socket:
        return child_mode_kubeconfig(parent, route.cluster_id, ChildAuth(token=route.token))
    cluster: dict[str, Any] = {"server": route.child_url}
    if route.ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(route.ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "child", "cluster": cluster}],
        "users": [{"name": "child", "user": {"token": route.token}}],
        "contexts": [{"name": "child", "context": {"cluster": "child", "user": "child"}}],
        "current-context": "child",
    }


def _write_private(document: dict[str, Any]) -> str:
    handle, path = tempfile.mkstemp(prefix="hub-lite-push-", suffix=".kubeconfig")  # created 0600
    with os.fdopen(handle, "w") as stream:
        stream.write(to_yaml(document))
    return path


@dataclass
class _Running:
    route: PushRoute
    child: AsyncRestClient
    task: asyncio.Task[Any]
    kubeconfig: str


class PushDeployers:
    """Keeps one running deployer per cluster the hub pushes to."""

    def __init__(
        self, parent: AsyncRestClient, cache: AppsCache, *, parent_config: ResolvedConfig | None = None
    ) -> None:
        self._parent = parent
        self._parent_config = parent_config
        self._cache = cache
        self._running: dict[str, _Running] = {}  # ManagedCluster key -> its deployer
        self._waiting: dict[str, str] = {}  # key -> why it cannot start yet (logged once per reason)
        self._wake = asyncio.Event()
        cache.listen(self._changed)

    def _changed(self, kind: str, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if kind == CLUSTERS:
            self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self._sync_all()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), RECHECK_SECONDS)
                self._wake.clear()
        finally:
            for key in list(self._running):
                await self._stop(key)

    async def _sync_all(self) -> None:
        wanted: dict[str, dict[str, Any]] = {}
        for cluster in self._cache.items(CLUSTERS):
            metadata = cluster.get("metadata") or {}
            if hub_pushes(cluster) and not is_terminating(cluster):
                wanted[f"{metadata.get('namespace')}/{metadata.get('name')}"] = cluster
        for key in [k for k in self._running if k not in wanted]:
            _log.info("push deployer for %s: stopping (the cluster no longer expects the hub to apply)", key)
            await self._stop(key)
        for key, cluster in wanted.items():
            try:
                await self._sync(key, cluster)
            except ClusternetError as exc:
                self._wait(key, f"cannot read Secret {CHILD_DEPLOYER_SECRET}: {exc}")

    def _wait(self, key: str, reason: str) -> None:
        if self._waiting.get(key) != reason:
            _log.warning("push deployer for %s cannot start: %s", key, reason)
            self._waiting[key] = reason

    async def _sync(self, key: str, cluster: dict[str, Any]) -> None:
        namespace = str(cluster["metadata"]["namespace"])
        secret = await self._parent.get_or_none(SECRET.object_path(CHILD_DEPLOYER_SECRET, namespace))
        route = push_route(cluster, secret)
        running = self._running.get(key)
        if isinstance(route, str):
            if running is not None:
                await self._stop(key)
            self._wait(key, route)
            return
        self._waiting.pop(key, None)
        if running is not None and running.route == route and not running.task.done():
            return
        if running is not None:
            await self._stop(key)
        child = AsyncRestClient(child_connection(self._parent.connection, route))
        work = [
            DescriptionDeployer(
                lambda: self._parent, child, namespace, component=HUB_NAME, on_reconcile=_count_reconcile
            ).run()
        ]
        kubeconfig = ""
        if self._parent_config is not None:
            kubeconfig = _write_private(helm_kubeconfig(self._parent_config, route))
            helm = HelmReleaseDeployer(
                lambda: self._parent, namespace, component=HUB_NAME, kubeconfig=kubeconfig
            )
            work.append(helm.run())
        task = asyncio.ensure_future(asyncio.gather(*work))
        self._running[key] = _Running(route, child, task, kubeconfig)
        how = "through the tunnel" if route.use_socket else f"at {route.child_url}"
        _log.info("push deployer for %s: applying its Descriptions %s", key, how)

    async def _stop(self, key: str) -> None:
        running = self._running.pop(key, None)
        if running is None:
            return
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task
        await running.child.close()
        if running.kubeconfig:
            with contextlib.suppress(OSError):
                os.unlink(running.kubeconfig)
