"""The hub process: health endpoints for everyone, controllers only for the Lease holder."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from kubectl_clusternet import __version__
from kubectl_clusternet.core.apis.builtin import CONFIG_MAP
from kubectl_clusternet.core.errors import ClusternetError, ConfigError
from kubectl_clusternet.core.kube.aio import SERVICE_ACCOUNT_DIR, AsyncRestClient, in_cluster_connection
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, ResolvedConfig, load_and_resolve
from kubectl_clusternet.core.kube.rest import Connection, connection_from_config
from kubectl_clusternet.core.leaderelection import LeaderElectionConfig, LeaderElector, new_identity
from kubectl_clusternet.core.tokens import (
    CLUSTER_INFO_NAME,
    CLUSTER_INFO_NAMESPACE,
    parent_info_from_cluster_info,
)

from .approver import Approver
from .apps_controllers import Applications
from .events import EventRecorder
from .lifecycle import LifecycleController
from .metrics import COMMON, heartbeat_ages, metrics_handler
from .options import HubOptions

__all__ = ["Hub", "connect", "ca_from_config", "run_hub"]

_log = logging.getLogger("hub_lite")

_PROBE_PERIOD = 10.0
# Within Kubernetes' default 30s termination grace period: the Lease release and the health server's
# cleanup normally take well under a second; past this the process exits anyway.
_STOP_DEADLINE = 20.0
_USER_AGENT = f"hub-lite/v{__version__}"


def ca_from_config(resolved: ResolvedConfig) -> bytes | None:
    """The parent's CA as the hub's own kubeconfig trusts it (data wins over file, as in client-go)."""
    cluster = resolved.cluster
    data = cluster.get("certificate-authority-data")
    if data:
        return base64.b64decode(str(data))
    path = cluster.get("certificate-authority")
    if path:
        try:
            with open(str(path), "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise ConfigError(f"cannot read the parent's CA {path}: {exc}") from exc
    return None


def connect(options: HubOptions) -> tuple[Connection, bytes | None]:
    """The parent connection and, when known locally, its CA (else it is read from cluster-info later)."""
    if not options.kubeconfig:
        connection = in_cluster_connection()
        connection.headers["User-Agent"] = _USER_AGENT
        ca_path = SERVICE_ACCOUNT_DIR / "ca.crt"
        return connection, ca_path.read_bytes() if ca_path.exists() else None
    resolved = load_and_resolve(
        ConfigOverrides(kubeconfig=options.kubeconfig, context=options.context or None), os.environ
    )
    connection = connection_from_config(resolved)
    # Names this process as the field manager of what it writes, where kubectl would say kubectl.
    connection.headers["User-Agent"] = _USER_AGENT
    return connection, ca_from_config(resolved)


def parent_config(options: HubOptions) -> ResolvedConfig:
    """The parent connection as kubeconfig entries, for clients that read a kubeconfig file (the Helm SDK
    in Push mode): the selected context, or the Pod's ServiceAccount files."""
    if options.kubeconfig:
        return load_and_resolve(
            ConfigOverrides(kubeconfig=options.kubeconfig, context=options.context or None), os.environ
        )
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "")
    host = f"[{host}]" if ":" in host else host
    return ResolvedConfig(
        context_name="in-cluster",
        cluster_name="in-cluster",
        user_name="in-cluster",
        namespace="",
        namespace_explicit=False,
        cluster={
            "server": f"https://{host}:{port}",
            "certificate-authority": str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        },
        user={"tokenFile": str(SERVICE_ACCOUNT_DIR / "token")},
    )


class Hub:
    """Owns the parent client, the health server and, while leading, the approver and lifecycle controllers."""

    def __init__(self, options: HubOptions, client: AsyncRestClient, ca_pem: bytes | None) -> None:
        self.options = options
        self.client = client
        self._ca_pem = ca_pem
        self.identity = new_identity()
        self.recorder = EventRecorder(client, self.identity)
        self.parent_reachable = False
        self.approver: Approver | None = None
        self.lifecycle: LifecycleController | None = None
        self.elector: LeaderElector | None = None
        self.leading = False
        self.stopping = False
        COMMON.leader.set_function(lambda: 1.0 if self.leading else 0.0)

    async def parent_ca(self) -> bytes:
        """The CA agents must trust for the parent: our own, else the one published in cluster-info."""
        if self._ca_pem:
            return self._ca_pem
        config_map = await self.client.get(CONFIG_MAP.object_path(CLUSTER_INFO_NAME, CLUSTER_INFO_NAMESPACE))
        self._ca_pem = parent_info_from_cluster_info(config_map, None).ca_pem
        return self._ca_pem

    # health -------------------------------------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        if self.stopping:
            return False, "the hub is stopping"
        if not self.parent_reachable:
            return False, "the parent API server is not reachable"
        if self.leading:
            for name, controller in (("approver", self.approver), ("lifecycle", self.lifecycle)):
                if controller is None or not controller.informer.synced.is_set():
                    return False, f"the {name} cache has not synced yet"
        return True, "ok"

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        ok, reason = self.ready()
        return web.Response(text=reason, status=200 if ok else 503)

    async def _serve_health(self) -> web.AppRunner | None:
        if self.options.healthz_port == 0:
            return None
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", metrics_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.options.healthz_bind_address, self.options.healthz_port)
        await site.start()
        _log.info(
            "serving /healthz, /readyz and /metrics on http://%s:%s",
            self.options.healthz_bind_address,
            self.options.healthz_port,
        )
        return runner

    async def _probe_parent(self) -> None:
        """Keep ``parent_reachable`` current, and say so in the log when it changes."""
        while True:
            try:
                await self.client.get("/version")
                if not self.parent_reachable:
                    _log.info("connected to the parent API server %s", self.client.server)
                self.parent_reachable = True
            except ClusternetError as exc:
                if self.parent_reachable:
                    _log.warning("the parent API server is not reachable: %s", exc)
                self.parent_reachable = False
            await asyncio.sleep(_PROBE_PERIOD)

    # controllers --------------------------------------------------------------------------------------

    async def lead(self) -> None:
        """Run the controllers until cancelled (the Lease was lost or the process is stopping)."""
        self.approver = Approver(
            self.client,
            ca_pem=self.parent_ca,
            recorder=self.recorder,
            token_expiration_seconds=int(self.options.cluster_token_ttl),
        )
        self.lifecycle = LifecycleController(self.client, recorder=self.recorder)
        informer = self.lifecycle.informer  # its cache dict is replaced at every re-list: read it late
        # Only the leader watches ManagedClusters, so only the leader exports their heartbeat ages.
        COMMON.heartbeat_age.set_collector(
            lambda: heartbeat_ages(list(informer.cache.values()), datetime.now(timezone.utc))
        )
        # Applications hook: scheduler, deployer, status aggregation and feed protection (apps_controllers).
        applications = Applications(
            self.client, identity=self.identity, parent_config=parent_config(self.options)
        )
        self.leading = True
        _log.info("starting controllers: approver, lifecycle")
        try:
            await asyncio.gather(self.approver.run(), self.lifecycle.run(), applications.run())
        finally:
            self.leading = False
            COMMON.heartbeat_age.set_collector(lambda: [])
            _log.info("controllers stopped")

    async def run(self) -> None:
        runner = await self._serve_health()
        probe = asyncio.ensure_future(self._probe_parent())
        try:
            if self.options.leader_elect:
                self.elector = LeaderElector(
                    self.client,
                    LeaderElectionConfig(
                        namespace=self.options.lease_namespace,
                        name=self.options.lease_name,
                        identity=self.identity,
                        lease_duration=self.options.lease_duration,
                        renew_deadline=self.options.renew_deadline,
                        retry_period=self.options.retry_period,
                    ),
                )
                await self.elector.run(self.lead)
            else:
                await self.lead()
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            if runner is not None:
                await runner.cleanup()


async def _run_until_signalled(
    main: Callable[[], Awaitable[Any]],
    *,
    on_stop: Callable[[], None] = lambda: None,
    deadline: float = _STOP_DEADLINE,
) -> None:
    """Run ``main``; on SIGTERM or SIGINT call ``on_stop`` and cancel it, which stops the controllers and
    releases the Lease so a standby takes over at once. Gives up waiting after ``deadline`` seconds."""
    task = asyncio.ensure_future(main())
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()

    def stop(signum: signal.Signals) -> None:
        if signalled.is_set():
            return
        _log.info("stopping: %s received", signum.name)
        signalled.set()
        on_stop()
        task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    waiting = asyncio.ensure_future(signalled.wait())
    try:
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if signalled.is_set():
            done, _ = await asyncio.wait({task}, timeout=deadline)
            if not done:
                _log.error("stopping: still not stopped after %.0fs; exiting anyway", deadline)
                return
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
    finally:
        waiting.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def run_hub(options: HubOptions) -> None:
    connection, ca_pem = connect(options)
    client = AsyncRestClient(connection)
    hub = Hub(options, client, ca_pem)
    _log.info(
        "hub-lite starting as %s against %s (leader election %s)",
        hub.identity,
        connection.server,
        "on" if options.leader_elect else "off",
        extra={"identity": hub.identity},
    )
    try:
        await _run_until_signalled(hub.run, on_stop=lambda: setattr(hub, "stopping", True))
    finally:
        await client.close()
