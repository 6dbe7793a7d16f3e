"""Heartbeats: collect the child's state every collect period, write it to ``ManagedCluster.status`` every
report period (reference §4.1, §4.2).

Collection and reporting are separate loops, as upstream: collection is cheap and local, the report is one
status write to the parent per beat. The first report goes out as soon as the first collection is done, so a
freshly approved cluster turns Ready within seconds instead of one full period later.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kubectl_clusternet import __version__
from kubectl_clusternet.core.apis.builtin import NODE
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER
from kubectl_clusternet.core.errors import ApiError, ClusternetError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.registration import (
    LABEL_CLUSTER_ID,
    aggregate_node_labels,
    pick_owned,
    replace_prefixed_labels,
)

from .backoff import Backoff
from .metrics import COMMON, HEARTBEATS
from .parent import ParentSession
from .status import (
    APISERVER_SELECTORS,
    CONTROLLER_MANAGER_SELECTORS,
    KUBE_PROXY_SELECTORS,
    CollectedStatus,
    discover_cidrs,
    managed_cluster_status,
    merge_reported_conditions,
    node_statistics,
    resource_totals,
)

__all__ = ["ReportSettings", "StatusCollector", "StatusReporter", "list_all"]

_log = logging.getLogger(__name__)

PODS_PATH = "/api/v1/pods"
_PAGE_SIZE = 500
_PROBE_TIMEOUT = 10.0
_CONFLICT_RETRIES = 5
_REPORTS = COMMON.reconciles.labels("status-reporter")
_REPORT_ERRORS = COMMON.reconcile_errors.labels("status-reporter")


@dataclass(frozen=True)
class ReportSettings:
    """The knobs of status reporting, from the agent's flags."""

    collect_seconds: float = 20.0
    report_seconds: float = 30.0
    app_pusher: bool = False
    use_socket: bool = False
    kube_qps: float = 50.0
    kube_burst: int = 100
    label_prefixes: tuple[str, ...] = ("node.clusternet.io/",)
    label_threshold: float = 0.8


async def list_all(
    client: AsyncRestClient, path: str, *, label_selector: str | None = None
) -> list[dict[str, Any]]:
    """Every item of a collection, page by page, so a cluster of thousands of nodes is never one response."""
    items: list[dict[str, Any]] = []
    continue_token = ""
    while True:
        query = [("limit", str(_PAGE_SIZE))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if continue_token:
            query.append(("continue", continue_token))
        page = await client.get(path, query=query)
        items.extend(page.get("items") or [])
        continue_token = str((page.get("metadata") or {}).get("continue") or "")
        if not continue_token:
            return items


class StatusCollector:
    """Reads what the child says about itself; each part fails on its own and never stops a report."""

    def __init__(
        self,
        child: AsyncRestClient,
        settings: ReportSettings,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._child = child
        self._settings = settings
        self._environ = environ if environ is not None else os.environ
        self._clock = clock
        self._version: dict[str, Any] = {}
        self._nodes: list[dict[str, Any]] | None = None
        self._cidr_warned = False

    async def _probe(self, path: str) -> bool:
        try:
            status, _ = await self._child.request_raw("GET", path, timeout=_PROBE_TIMEOUT)
        except ClusternetError as exc:
            _log.debug("probe %s of the child failed: %s", path, exc)
            return False
        return status == 200

    async def _pods(self, selectors: tuple[str, ...]) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = []
        for selector in selectors:
            pods.extend(await list_all(self._child, PODS_PATH, label_selector=selector))
        return pods

    async def _cidrs(self) -> tuple[str, str]:
        try:
            controller_managers = await self._pods(CONTROLLER_MANAGER_SELECTORS)
            apiservers = await self._pods(APISERVER_SELECTORS)
            proxies = await self._pods(KUBE_PROXY_SELECTORS)
        except ClusternetError as exc:
            if not self._cidr_warned:
                _log.warning("cannot list control-plane pods to discover the CIDRs: %s", exc)
                self._cidr_warned = True
            controller_managers, apiservers, proxies = [], [], []
        return discover_cidrs(
            controller_manager_pods=controller_managers,
            apiserver_pods=apiservers,
            kube_proxy_pods=proxies,
            environ=self._environ,
        )

    async def collect(self) -> CollectedStatus:
        observed_at = self._clock()
        healthz, livez, readyz = await asyncio.gather(
            self._probe("/healthz"), self._probe("/livez"), self._probe("/readyz")
        )
        try:
            self._version = dict(await self._child.get("/version"))
        except ClusternetError as exc:
            _log.warning("cannot read /version of the child: %s", exc)
        try:
            self._nodes = await list_all(self._child, NODE.collection_path())
        except ClusternetError as exc:
            _log.warning("cannot list the child's nodes: %s (reporting the last known numbers)", exc)
        nodes = self._nodes or []
        cluster_cidr, service_cidr = await self._cidrs()
        return CollectedStatus(
            observed_at=observed_at,
            k8s_version=str(self._version.get("gitVersion") or ""),
            platform=str(self._version.get("platform") or ""),
            apiserver_url=self._child.server,
            healthz=healthz,
            livez=livez,
            readyz=readyz,
            node_statistics=node_statistics(nodes),
            capacity=resource_totals(nodes, "capacity"),
            allocatable=resource_totals(nodes, "allocatable"),
            cluster_cidr=cluster_cidr,
            service_cidr=service_cidr,
            aggregated_labels=aggregate_node_labels(
                nodes, prefixes=self._settings.label_prefixes, threshold=self._settings.label_threshold
            ),
        )


class StatusReporter:
    """Writes collected status into this cluster's ManagedCluster in the parent."""

    def __init__(
        self,
        *,
        session: ParentSession,
        collector: StatusCollector,
        settings: ReportSettings,
        cluster_id: str,
        on_report: Callable[[], None] = lambda: None,
    ) -> None:
        self._session = session
        self._collector = collector
        self._settings = settings
        self._cluster_id = cluster_id
        self._on_report = on_report
        self._latest: CollectedStatus | None = None
        self._collected = asyncio.Event()
        self._cached: dict[str, Any] | None = None

    async def run(self) -> None:
        """Both loops until cancelled; raises CredentialsRejected when the parent refuses the token."""
        collecting = asyncio.ensure_future(self._collect_forever())
        try:
            await self._report_forever()
        finally:
            collecting.cancel()
            await asyncio.gather(collecting, return_exceptions=True)

    async def _collect_forever(self) -> None:
        while True:
            try:
                self._latest = await self._collector.collect()
                self._collected.set()
            except Exception:  # a bug in one round must not stop the heartbeat
                _log.exception("collecting the cluster status failed")
            await asyncio.sleep(self._settings.collect_seconds)

    async def _report_forever(self) -> None:
        await self._collected.wait()
        backoff = Backoff(initial=2.0, maximum=self._settings.report_seconds)
        while True:
            latest = self._latest
            assert latest is not None
            _REPORTS.inc()
            try:
                written = await self.report(latest)
                backoff.reset()
                self._on_report()
                delay = self._settings.report_seconds
                if written is None:
                    _REPORT_ERRORS.inc()
                else:
                    HEARTBEATS.mark(self._cluster_id, written)
            except ApiError as exc:
                _REPORT_ERRORS.inc()
                if exc.status == 401:
                    raise self._session.rejected(exc) from exc
                delay = backoff.next_delay()
                _log.warning(
                    "reporting the cluster status failed (%s %s): %s; retrying in %.0fs",
                    exc.status,
                    exc.reason,
                    exc.message,
                    delay,
                )
            except ClusternetError as exc:
                _REPORT_ERRORS.inc()
                delay = backoff.next_delay()
                _log.warning("reporting the cluster status failed: %s; retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)

    async def _find(self) -> dict[str, Any] | None:
        client = self._session.client
        found = await client.get(
            MANAGED_CLUSTER.collection_path(self._session.namespace),
            query=[("labelSelector", f"{LABEL_CLUSTER_ID}={self._cluster_id}")],
        )
        cluster = pick_owned(found.get("items") or [])
        if cluster is None:
            _log.warning(
                "no ManagedCluster labelled %s=%s in namespace %s of the parent yet",
                LABEL_CLUSTER_ID,
                self._cluster_id,
                self._session.namespace,
            )
        return cluster

    async def report(self, collected: CollectedStatus) -> str | None:
        """One heartbeat: labels if they changed, then the status (re-read and retried on conflict).

        Returns the name of the ManagedCluster written, or None when nothing was (none found yet, or too
        many conflicts): the heartbeat metric only counts reports that landed.
        """
        for _ in range(_CONFLICT_RETRIES):
            cluster = self._cached or await self._find()
            if cluster is None:
                return None
            try:
                cluster = await self._patch_labels(cluster, collected)
                self._cached = await self._write_status(cluster, collected)
                return str((self._cached.get("metadata") or {}).get("name") or "")
            except ApiError as exc:
                self._cached = None
                if exc.status in (404, 409):
                    _log.debug("ManagedCluster changed under us (%s); reading it again", exc.status)
                    continue
                raise
        _log.warning("gave up writing the ManagedCluster status after %d conflicts", _CONFLICT_RETRIES)
        return None

    def _path(self, cluster: Mapping[str, Any]) -> str:
        metadata = cluster["metadata"]
        return MANAGED_CLUSTER.object_path(metadata["name"], metadata["namespace"])

    async def _patch_labels(self, cluster: dict[str, Any], collected: CollectedStatus) -> dict[str, Any]:
        current = (cluster.get("metadata") or {}).get("labels") or {}
        patch = replace_prefixed_labels(
            current, collected.aggregated_labels, prefixes=self._settings.label_prefixes
        )
        if not patch:
            return cluster
        _log.info("updating aggregated node labels on the ManagedCluster: %s", patch)
        return dict(await self._session.client.patch(self._path(cluster), {"metadata": {"labels": patch}}))

    async def _write_status(self, cluster: dict[str, Any], collected: CollectedStatus) -> dict[str, Any]:
        status = managed_cluster_status(
            collected,
            agent_version=f"v{__version__}",
            app_pusher=self._settings.app_pusher,
            use_socket=self._settings.use_socket,
            kube_qps=self._settings.kube_qps,
            kube_burst=self._settings.kube_burst,
            heartbeat_seconds=self._settings.report_seconds,
        )
        status["conditions"] = merge_reported_conditions(
            (cluster.get("status") or {}).get("conditions"), status["conditions"]
        )
        body = {**cluster, "status": status}
        written = await self._session.client.replace(self._path(cluster) + "/status", body)
        _log.debug("reported the cluster status (Ready=%s)", status["conditions"])
        return dict(written)
