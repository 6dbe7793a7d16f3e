"""Secret ``child-cluster-deployer``: what the parent side needs to reach this child.

The hub verifies the child's API server with the CA published here when it proxies through the tunnel, and
applies Descriptions with the token published here in Push mode. The token belongs to ServiceAccount
``clusternet-app-deployer`` in the child (bound to cluster-admin by the agent's manifests, as upstream
binds its deployer; created here when missing and the agent may) and is a bound, expiring TokenRequest token renewed at 80% of its lifetime, unlike
upstream's endless token Secret. When the agent may not issue that token, the Secret still carries the CA
and the URL, so proxying keeps working; Push mode then reports that it has no credentials.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kubectl_clusternet.core.apis.builtin import SECRET, SERVICE_ACCOUNT
from kubectl_clusternet.core.errors import ApiError, ClusternetError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.registration import (
    CHILD_DEPLOYER_SECRET,
    CHILD_DEPLOYER_SERVICE_ACCOUNT,
    DEFAULT_TOKEN_EXPIRATION_SECONDS,
    SYSTEM_NAMESPACE,
    child_deployer_secret,
    parse_time,
    token_request,
)

from .parent import ParentSession

__all__ = ["DeployerToken", "issue_deployer_token", "publish_deployer_secret_forever", "next_publish_delay"]

_log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0
DEPLOYER_BINDING = "clusternet:app:deployer"  # as in the agent's manifests
NO_TOKEN_RECHECK_SECONDS = 300.0


@dataclass(frozen=True)
class DeployerToken:
    """A token for the deployer ServiceAccount, with what it takes to know when to renew it."""

    token: str
    uid: str
    issued: datetime
    expires: datetime | None


def next_publish_delay(token: DeployerToken | None, now: datetime) -> float:
    """Renew at 80% of the token's lifetime; without a token, look again every few minutes."""
    if token is None or token.expires is None:
        return NO_TOKEN_RECHECK_SECONDS
    lifetime = (token.expires - token.issued).total_seconds()
    return max(1.0, (token.issued - now).total_seconds() + 0.8 * lifetime)


async def _ensure_service_account(child: AsyncRestClient) -> dict[str, Any]:
    path = SERVICE_ACCOUNT.object_path(CHILD_DEPLOYER_SERVICE_ACCOUNT, SYSTEM_NAMESPACE)
    found = await child.get_or_none(path)
    if found:
        return dict(found)
    try:
        created = await child.create(
            SERVICE_ACCOUNT.collection_path(SYSTEM_NAMESPACE),
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": CHILD_DEPLOYER_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE},
            },
        )
    except ApiError as exc:
        if exc.status != 409:
            raise
        created = await child.get(path)
    return dict(created)


async def _ensure_cluster_admin_binding(child: AsyncRestClient) -> None:
    """The binding the agent's manifests install; created here when missing (an agent started by hand
    with an admin kubeconfig), never changed when present. Refused means the cluster's operators decide."""
    path = f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{DEPLOYER_BINDING}"
    if await child.get_or_none(path):
        return
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": DEPLOYER_BINDING},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [
            {"kind": "ServiceAccount", "name": CHILD_DEPLOYER_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}
        ],
    }
    try:
        await child.create(path.rsplit("/", 1)[0], binding)
    except ApiError as exc:
        if exc.status not in (403, 409):
            raise
        if exc.status == 403:
            _log.warning(
                "cannot bind ServiceAccount %s/%s to cluster-admin (%s); Push mode can deploy only what "
                "its RBAC allows",
                SYSTEM_NAMESPACE,
                CHILD_DEPLOYER_SERVICE_ACCOUNT,
                exc.message,
            )


async def issue_deployer_token(
    child: AsyncRestClient, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
) -> DeployerToken:
    """A fresh token for the deployer ServiceAccount (created when missing)."""
    account = await _ensure_service_account(child)
    await _ensure_cluster_admin_binding(child)
    issued_at = now()
    issued = await child.create(
        SERVICE_ACCOUNT.object_path(CHILD_DEPLOYER_SERVICE_ACCOUNT, SYSTEM_NAMESPACE) + "/token",
        token_request(DEFAULT_TOKEN_EXPIRATION_SECONDS),
    )
    status = issued.get("status") or {}
    token = str(status.get("token") or "")
    if not token:
        raise ApiError("the TokenRequest returned no token", status=500)
    uid = str((account.get("metadata") or {}).get("uid") or "")
    return DeployerToken(token, uid, issued_at, parse_time(status.get("expirationTimestamp")))


async def _write(session: ParentSession, secret: dict[str, Any]) -> None:
    """Create or overwrite (the agent is the Secret's only writer)."""
    client = session.client
    path = SECRET.object_path(CHILD_DEPLOYER_SECRET, session.namespace)
    try:
        await client.replace(path, secret)
    except ApiError as exc:
        if exc.status != 404:
            raise
        await client.create(SECRET.collection_path(session.namespace), secret)


async def publish_deployer_secret_forever(
    session: ParentSession,
    child: AsyncRestClient,
    *,
    cluster_id: str,
    cluster_name: str,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> None:
    """Publish the Secret now and again before each deployer token expires; never returns."""
    warned_no_token = False
    while True:
        token: DeployerToken | None = None
        try:
            token = await issue_deployer_token(child, now)
            warned_no_token = False
        except ApiError as exc:
            if not warned_no_token:
                _log.warning(
                    "cannot issue a token for ServiceAccount %s/%s in the child (%s %s: %s); publishing %s "
                    "without one: proxying works, Push mode does not",
                    SYSTEM_NAMESPACE,
                    CHILD_DEPLOYER_SERVICE_ACCOUNT,
                    exc.status,
                    exc.reason,
                    exc.message,
                    CHILD_DEPLOYER_SECRET,
                )
                warned_no_token = True
        except ClusternetError as exc:
            _log.warning("cannot reach the child to issue the deployer token: %s; retrying", exc)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        secret = child_deployer_secret(
            namespace=session.namespace,
            cluster_id=cluster_id,
            cluster_name=session.credentials.cluster_name or cluster_name,
            child_url=child.server,
            child_ca_pem=child.connection.ca_pem,
            token=token.token if token else "",
            service_account_name=CHILD_DEPLOYER_SERVICE_ACCOUNT if token else "",
            service_account_uid=token.uid if token else "",
        )
        try:
            await _write(session, secret)
        except ClusternetError as exc:
            _log.warning(
                "cannot publish Secret %s/%s: %s; retrying", session.namespace, CHILD_DEPLOYER_SECRET, exc
            )
            await asyncio.sleep(RETRY_SECONDS)
            continue
        delay = next_publish_delay(token, now())
        _log.info(
            "published Secret %s/%s; next renewal in %.0fs", session.namespace, CHILD_DEPLOYER_SECRET, delay
        )
        await asyncio.sleep(delay)
