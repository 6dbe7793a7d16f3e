"""The agent as a whole: find the parent and token, learn the cluster ID, win the Lease, then register and
report until told to stop.

Only configuration problems end the process (exit 1, before anything is done). Everything after that — the
child or the parent unreachable, tokens refused, requests denied — is logged and retried, because an agent
that exits turns one transient outage into a crash loop in every child cluster at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Mapping

from kubectl_clusternet.core.errors import ClusternetError, UsageError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.leaderelection import LeaderElectionConfig, LeaderElector, new_identity
from kubectl_clusternet.core.registration import (
    AGENT_LEASE_NAME,
    SYSTEM_NAMESPACE,
    cluster_id_from_lease,
    stored_credentials,
)

from .backoff import Backoff
from .child import (
    REGISTRATION_SECRET,
    RegistrationSource,
    child_connection,
    ensure_cluster_lease,
    read_parent_cluster_secret,
    read_registration_source,
)
from .deployer import deployer_work
from .deployer_secret import publish_deployer_secret_forever
from .health import AgentState, HealthServer
from .metrics import COMMON
from .options import AgentOptions, validate_parent_url, validate_registration_token
from .parent import CredentialsRejected, ParentSession
from .registrar import Registrar, RegistrationSpec
from .reporter import ReportSettings, StatusCollector, StatusReporter

__all__ = ["Agent"]

_log = logging.getLogger(__name__)


async def _first_of(*coroutines: Awaitable[None]) -> None:
    """Run all; when one ends (or fails), cancel the rest and pass its outcome on."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Agent:
    """One agent process. ``run`` returns when ``stop`` is set; it raises only for configuration errors."""

    def __init__(self, options: AgentOptions, *, environ: Mapping[str, str] | None = None) -> None:
        self.options = options
        self._environ = environ if environ is not None else os.environ
        self.state = AgentState()
        self._child: AsyncRestClient | None = None
        self._parent_url = options.parent_url
        self._token_from_flags = options.registration_token

    @property
    def child(self) -> AsyncRestClient:
        assert self._child is not None, "the agent has not started"
        return self._child

    async def run(self, stop: asyncio.Event) -> None:
        self._child = AsyncRestClient(child_connection(self.options.kubeconfig, self._environ))
        options = self.options
        health = (
            HealthServer(self.state, options.healthz_port, options.healthz_bind_address)
            if options.healthz_port
            else None
        )
        try:
            if health is not None:
                await health.start()
            main = asyncio.ensure_future(self._main())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if main.done():
                main.result()  # a configuration error: let it reach the caller
            else:
                _log.info("stopping")
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await main
        finally:
            if health is not None:
                await health.stop()
            await self.child.close()

    async def _main(self) -> None:
        await self._resolve_registration_settings()
        lease = await self._cluster_lease()
        self.state.cluster_id = cluster_id_from_lease(lease)
        _log.info(
            "cluster ID %s (UID of Lease %s/%s)", self.state.cluster_id, SYSTEM_NAMESPACE, AGENT_LEASE_NAME
        )
        if not self.options.leader_elect:
            await self._lead_without_election()
            return
        elector = LeaderElector(
            self.child,
            LeaderElectionConfig(
                namespace=SYSTEM_NAMESPACE,
                name=AGENT_LEASE_NAME,
                identity=new_identity(),
                lease_duration=self.options.lease_duration_seconds,
                renew_deadline=self.options.renew_deadline_seconds,
                retry_period=self.options.retry_period_seconds,
            ),
        )
        self.state.phase = "standby"
        await elector.run(self._lead)

    async def _lead_without_election(self) -> None:
        """As the elector does for a leader: an unexpected failure is logged and the work starts over."""
        backoff = Backoff(initial=2.0, maximum=60.0)
        while True:
            try:
                await self._lead()
            except Exception:
                delay = backoff.next_delay()
                _log.exception("the agent's work failed unexpectedly; starting over in %.0fs", delay)
                await asyncio.sleep(delay)

    # -- configuration that may live in the child -------------------------------------------------------

    async def _read_source(self) -> RegistrationSource | None:
        backoff = Backoff(initial=1.0, maximum=30.0)
        while True:
            try:
                return await read_registration_source(self.child)
            except ClusternetError as exc:
                delay = backoff.next_delay()
                _log.warning(
                    "cannot read Secret %s/%s in the child: %s; retrying in %.0fs",
                    SYSTEM_NAMESPACE,
                    REGISTRATION_SECRET,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _resolve_registration_settings(self) -> None:
        """Fill the parent URL (and check a token exists) from the registration Secret when flags say nothing."""
        if self._parent_url is not None and self._token_from_flags is not None:
            return
        source = await self._read_source()
        where = f"Secret {SYSTEM_NAMESPACE}/{REGISTRATION_SECRET}"
        if self._parent_url is None:
            if source is None or not source.parent_url:
                raise UsageError(
                    "no parent URL: set --cluster-reg-parent-url (or PARENT_URL), or key parentURL of "
                    + where
                )
            self._parent_url = validate_parent_url(source.parent_url)
            _log.info("parent URL %s from %s", self._parent_url, where)
        if self._token_from_flags is None:
            if source is not None and source.token:
                validate_registration_token(source.token)
                _log.info("registration token from %s", where)
                return
            if await self._has_stored_credentials():
                _log.info("no registration token configured; relying on the stored credentials")
                return
            raise UsageError(
                "no registration token: set --cluster-reg-token (or REG_TOKEN), or key regToken of " + where
            )

    async def _has_stored_credentials(self) -> bool:
        backoff = Backoff(initial=1.0, maximum=30.0)
        while True:
            try:
                secret = await read_parent_cluster_secret(self.child)
                break
            except ClusternetError as exc:
                delay = backoff.next_delay()
                _log.warning(
                    "cannot read Secret %s/parent-cluster: %s; retrying in %.0fs",
                    SYSTEM_NAMESPACE,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
        assert self._parent_url is not None
        return stored_credentials(secret, parent_url=self._parent_url) is not None

    async def _registration_token(self) -> str | None:
        """The token for (re-)registering: the flag's, else the registration Secret's as it is *now*."""
        if self._token_from_flags is not None:
            return self._token_from_flags
        try:
            source = await read_registration_source(self.child)
        except ClusternetError as exc:
            _log.warning("cannot read Secret %s/%s: %s", SYSTEM_NAMESPACE, REGISTRATION_SECRET, exc)
            return None
        if source is None or not source.token:
            return None
        try:
            return validate_registration_token(source.token)
        except UsageError as exc:
            _log.error("key regToken of Secret %s/%s: %s", SYSTEM_NAMESPACE, REGISTRATION_SECRET, exc.message)
            return None

    # -- identity -------------------------------------------------------------------------------------

    async def _cluster_lease(self) -> dict[str, object]:
        backoff = Backoff(initial=1.0, maximum=30.0)
        while True:
            try:
                return await ensure_cluster_lease(self.child)
            except ClusternetError as exc:
                delay = backoff.next_delay()
                _log.warning(
                    "cannot read or create Lease %s/%s in the child (the cluster ID): %s; retrying in %.0fs",
                    SYSTEM_NAMESPACE,
                    AGENT_LEASE_NAME,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    # -- the leader's work ----------------------------------------------------------------------------

    async def _lead(self) -> None:
        """Register (or reuse stored credentials) and report, for as long as this replica leads."""
        self.state.phase = "registering"
        try:
            # The Lease may have been recreated while we were not leading: read the ID again.
            cluster_id = cluster_id_from_lease(await self._cluster_lease())
            if cluster_id != self.state.cluster_id:
                _log.warning(
                    "the cluster ID changed from %s to %s (Lease recreated)",
                    self.state.cluster_id,
                    cluster_id,
                )
                self.state.cluster_id = cluster_id
            await self._join_and_report(cluster_id)
        finally:
            self.state.phase = "standby"

    async def _tunnel(self, session: ParentSession, cluster_id: str) -> None:
        """Keep the websocket tunnel to the hub open (gate SocketConnection), always with the current token."""
        from .tunnel_client import (  # noqa: PLC0415 - only agents with the gate need websockets
            TunnelClient,
            TunnelClientSettings,
            child_address_from_server,
            parse_allowed_destinations,
        )

        settings = TunnelClientSettings(
            server=session.credentials.parent_url,
            cluster_id=cluster_id,
            ca_pem=session.credentials.ca_pem,
            child_address=child_address_from_server(self.child.server),
            allowed_destinations=parse_allowed_destinations(self.options.tunnel_allowed_destinations),
        )
        tunnel = TunnelClient(settings, lambda: session.credentials.token)
        COMMON.tunnels.set_function(lambda: float(tunnel.connected.is_set()))
        await tunnel.run()

    async def _join_and_report(self, cluster_id: str) -> None:
        options = self.options
        assert self._parent_url is not None
        registrar = Registrar(
            child=self.child,
            spec=RegistrationSpec(
                parent_url=self._parent_url,
                cluster_name=options.cluster_name,
                name_prefix=options.cluster_name_prefix,
                cluster_type=options.cluster_type,
                sync_mode=options.sync_mode,
                cluster_namespace=options.cluster_namespace or "",
                cluster_labels=dict(options.cluster_labels),
                insecure_skip_parent_verify=options.insecure_skip_parent_verify,
            ),
            cluster_id=cluster_id,
            token_source=self._registration_token,
        )
        settings = ReportSettings(
            collect_seconds=options.status_collect_seconds,
            report_seconds=options.status_update_seconds,
            app_pusher=options.gate("AppPusher"),
            use_socket=options.gate("SocketConnection"),
            kube_qps=options.kube_api_qps,
            kube_burst=options.kube_api_burst,
            label_prefixes=options.labels_aggregate_prefixes,
            label_threshold=options.labels_aggregate_threshold,
        )
        collector = StatusCollector(self.child, settings, environ=self._environ)
        use_stored = True
        while True:
            self.state.phase = "registering"
            credentials = await registrar.credentials(use_stored=use_stored)
            use_stored = True
            session = ParentSession(credentials, child=self.child)

            def reported() -> None:
                if self.state.phase != "reporting":
                    _log.info(
                        "reported the cluster status to the parent; heartbeats every %.0fs",
                        settings.report_seconds,
                    )
                self.state.phase = "reporting"

            reporter = StatusReporter(
                session=session,
                collector=collector,
                settings=settings,
                cluster_id=cluster_id,
                on_report=reported,
            )
            work = [reporter.run(), session.renew_forever()]
            # Applications hook: apply this cluster's Descriptions here in Pull (and Dual without AppPusher).
            work += deployer_work(
                sync_mode=options.sync_mode,
                app_pusher=options.gate("AppPusher"),
                session=session,
                child=self.child,
                child_kubeconfig=options.kubeconfig,
            )
            work.append(
                publish_deployer_secret_forever(
                    session, self.child, cluster_id=cluster_id, cluster_name=options.cluster_name or ""
                )
            )
            if options.gate("SocketConnection"):
                work.append(self._tunnel(session, cluster_id))
            try:
                await _first_of(*work)
            except CredentialsRejected as exc:
                _log.warning("%s; registering again with the bootstrap token", exc)
                registrar.reject(session.credentials.token)
                use_stored = False
            finally:
                await session.close()
