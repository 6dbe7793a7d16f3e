"""The approver: turns each ClusterRegistrationRequest into a dedicated namespace, a ManagedCluster, an
identity with just enough RBAC, and a bound token for the agent (reference §3.4, with our differences).

Every step finds what an earlier attempt made (by the cluster-id labels) before creating anything, so a hub
killed half-way through, or two passes over the same request, never leave a second namespace, cluster or
ServiceAccount behind. Lists go to the API server (not a cache) because they are what prevents duplicates.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from kubectl_clusternet.core import registration as reg
from kubectl_clusternet.core.apis.builtin import (
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    NAMESPACE,
    ROLE,
    ROLE_BINDING,
    SERVICE_ACCOUNT,
)
from kubectl_clusternet.core.apis.clusters import CLUSTER_REGISTRATION_REQUEST, MANAGED_CLUSTER
from kubectl_clusternet.core.errors import ApiError, ClusternetError
from kubectl_clusternet.core.tokens import ServiceAccountToken, renewal_time, service_account_token

from .events import EventRecorder
from .informer import Informer, WorkQueue, run_workers

__all__ = ["Approver", "REASON_APPROVED", "REASON_DENIED", "REASON_FAILED"]

_log = logging.getLogger(__name__)

REASON_APPROVED = "ClusterRegistrationApproved"
REASON_DENIED = "ClusterRegistrationDenied"
REASON_FAILED = "FailedApprovingClusterRegistration"
FIELD_MANAGER = reg.HUB_NAME


class NamespaceTaken(Exception):
    """The requested dedicated namespace exists and was not made for this cluster: the request fails."""


class Approver:
    """Watches registration requests and approves (or denies) each one exactly once."""

    def __init__(
        self,
        client: Any,
        *,
        ca_pem: Callable[[], Awaitable[bytes]],
        recorder: EventRecorder,
        token_expiration_seconds: int = reg.DEFAULT_TOKEN_EXPIRATION_SECONDS,
        workers: int = 32,
    ) -> None:
        self._client = client
        self._ca_pem = ca_pem
        self._recorder = recorder
        self._token_expiration = token_expiration_seconds
        self._workers = workers
        self.queue = WorkQueue()
        self.informer = Informer(client, CLUSTER_REGISTRATION_REQUEST, self.queue.add)

    async def run(self) -> None:
        await asyncio.gather(
            self.informer.run(),
            run_workers(self.queue, self.reconcile, workers=self._workers, name="approver"),
        )

    async def reconcile(self, key: str) -> None:
        request = self.informer.get(key)
        if request is None:
            self.queue.forget(key)
            return
        result = (request.get("status") or {}).get("result")
        if result == "Approved":
            await self._keep_token_fresh(key, request)
            return
        if result:
            self.queue.forget(key)
            return
        message = reg.denial_message(request)
        if message is not None:
            await self._write_status(request, reg.denied_status(message))
            _log.warning("denied ClusterRegistrationRequest %s: %s", key, message)
            await self._recorder.record(request, "Warning", REASON_DENIED, message)
            self.queue.forget(key)
            return
        try:
            status = await self._approve(request)
        except NamespaceTaken as exc:
            await self._write_status(request, reg.failed_status(str(exc)))
            await self._recorder.record(request, "Warning", REASON_FAILED, str(exc))
            self.queue.forget(key)
            return
        except ApiError as exc:
            await self._recorder.record(request, "Warning", REASON_FAILED, f"approving failed: {exc}")
            raise
        await self._write_status(request, status)
        cluster_id = request["spec"]["clusterId"]
        _log.info(
            "approved ClusterRegistrationRequest %s: ManagedCluster %s/%s",
            key,
            status["dedicatedNamespace"],
            status["managedClusterName"],
            extra={"cluster_id": cluster_id},
        )
        await self._recorder.record(
            request,
            "Normal",
            REASON_APPROVED,
            f"approved: ManagedCluster {status['managedClusterName']} in namespace {status['dedicatedNamespace']}",
        )
        self.queue.forget(key)

    async def _keep_token_fresh(self, key: str, request: dict[str, Any]) -> None:
        """Re-issue the token an approved request hands out once it is past its renewal point.

        A running agent renews its own token; this is for an agent that was away longer than the token lived:
        it comes back with its bootstrap token, reads its (already approved) request, and finds a token that
        still works instead of one that expired while it was gone."""
        status = dict(request.get("status") or {})
        current = self._current_token(status)
        if current is not None:
            renew_at = renewal_time(current)
            now = datetime.now(timezone.utc)
            if renew_at is None:  # a token that never expires needs no care
                self.queue.forget(key)
                return
            if renew_at > now:
                self.queue.add_after(key, (renew_at - now).total_seconds())
                return
        namespace = str(status.get("dedicatedNamespace") or "")
        account = await self._find_one(
            SERVICE_ACCOUNT.collection_path(namespace), str(request["spec"]["clusterId"])
        )
        if account is None:
            self.queue.forget(key)
            return
        issued = await self._client.create(
            SERVICE_ACCOUNT.object_path(str(account["metadata"]["name"]), namespace) + "/token",
            reg.token_request(self._token_expiration),
        )
        token = str((issued.get("status") or {}).get("token") or "")
        if token:
            status["token"] = base64.b64encode(token.encode()).decode()
            await self._write_status(request, status)
            _log.info("re-issued the token of ClusterRegistrationRequest %s", key)
        self.queue.add_after(key, self._token_expiration * 0.5)

    @staticmethod
    def _current_token(status: dict[str, Any]) -> ServiceAccountToken | None:
        """The token the request hands out, or None when it is missing or unreadable (replace it)."""
        try:
            return service_account_token(base64.b64decode(str(status.get("token") or "")).decode())
        except (ValueError, ClusternetError):
            return None

    async def _write_status(self, request: dict[str, Any], status: dict[str, Any]) -> None:
        """Replace the status (carrying the resourceVersion, so a concurrent change makes this a retry)."""
        body = {**request, "status": status}
        name = request["metadata"]["name"]
        await self._client.replace(CLUSTER_REGISTRATION_REQUEST.object_path(name) + "/status", body)

    async def _find_one(self, path: str, cluster_id: str) -> dict[str, Any] | None:
        found = await self._client.get(path, query=[("labelSelector", reg.label_selector(cluster_id))])
        return reg.pick_owned(found.get("items") or [])

    async def _approve(self, request: dict[str, Any]) -> dict[str, Any]:
        """Create or find everything for the cluster; independent steps run concurrently (fewer round trips)."""
        cluster_id = str(request["spec"]["clusterId"])
        namespace = await self._ensure_namespace(request, cluster_id)
        cluster, account = await asyncio.gather(
            self._ensure_managed_cluster(request, cluster_id, namespace),
            self._ensure_service_account(request, cluster_id, namespace),
        )
        account_name = str(account["metadata"]["name"])
        rbac = [
            (CLUSTER_ROLE, reg.cluster_role(cluster_id)),
            (CLUSTER_ROLE_BINDING, reg.cluster_role_binding(cluster_id, account_name, namespace)),
            (ROLE, reg.managed_cluster_role(cluster_id, namespace)),
            (ROLE_BINDING, reg.managed_cluster_role_binding(cluster_id, namespace, account_name)),
        ]
        applied = [
            self._client.apply(
                resource_type.object_path(body["metadata"]["name"], body["metadata"].get("namespace")),
                body,
                field_manager=FIELD_MANAGER,
            )
            for resource_type, body in rbac
        ]
        # The token is only handed out (in the status) after every binding above exists.
        *_, issued, ca_pem = await asyncio.gather(
            *applied,
            self._client.create(
                SERVICE_ACCOUNT.object_path(account_name, namespace) + "/token",
                reg.token_request(self._token_expiration),
            ),
            self._ca_pem(),
        )
        token = str((issued.get("status") or {}).get("token") or "")
        if not token:
            raise ApiError(
                f"the TokenRequest for ServiceAccount {namespace}/{account_name} returned no token"
            )
        return reg.approved_status(
            namespace=namespace,
            managed_cluster_name=str(cluster["metadata"]["name"]),
            token=token,
            ca_pem=ca_pem,
        )

    async def _ensure_namespace(self, request: dict[str, Any], cluster_id: str) -> str:
        existing = await self._find_one(NAMESPACE.collection_path(), cluster_id)
        if existing is not None:
            return str(existing["metadata"]["name"])
        body = reg.dedicated_namespace(request)
        try:
            created = await self._client.create(NAMESPACE.collection_path(), body)
        except ApiError as exc:
            requested = body["metadata"].get("name")
            if exc.status != 409 or not requested:
                raise
            # Never adopt a namespace someone else made (kube-system, another cluster's): the agent would get
            # every right in it. Only namespaces labelled for this cluster are reused, found above.
            raise NamespaceTaken(
                f"the requested namespace {requested!r} already exists and was not created for cluster {cluster_id}"
            ) from exc
        return str(created["metadata"]["name"])

    async def _ensure_managed_cluster(
        self, request: dict[str, Any], cluster_id: str, namespace: str
    ) -> dict[str, Any]:
        existing = await self._find_one(MANAGED_CLUSTER.collection_path(), cluster_id)
        if existing is not None:
            return existing
        body = reg.managed_cluster(request, namespace)
        try:
            return dict(await self._client.create(MANAGED_CLUSTER.collection_path(namespace), body))
        except ApiError as exc:
            name = body["metadata"].get("name")
            if exc.status != 409 or not name:
                raise
            # Same name in our own dedicated namespace: only this cluster lives there, so it is ours.
            current = dict(await self._client.get(MANAGED_CLUSTER.object_path(name, namespace)))
            if (current.get("spec") or {}).get("clusterId") != cluster_id:
                raise
            return current

    async def _ensure_service_account(
        self, request: dict[str, Any], cluster_id: str, namespace: str
    ) -> dict[str, Any]:
        existing = await self._find_one(SERVICE_ACCOUNT.collection_path(namespace), cluster_id)
        if existing is not None:
            return existing
        return dict(
            await self._client.create(
                SERVICE_ACCOUNT.collection_path(namespace), reg.service_account(request, namespace)
            )
        )
