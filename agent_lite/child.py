"""The agent's own cluster (the child): how to reach it, and the few objects the agent keeps there.

Everything the agent must remember lives in the child, never on local disk: the Lease whose UID is the
cluster ID, Secret ``parent-cluster`` with the credentials the parent issued, and (written by the operator)
Secret ``clusternet-agent-cluster-registration`` with the parent URL and bootstrap token. Any replica can
therefore be killed and another pick up exactly where it stopped.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_clusternet.core.apis.builtin import LEASE, NAMESPACE, SECRET
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.aio import AsyncRestClient, in_cluster_connection
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, load_and_resolve
from kubectl_clusternet.core.kube.rest import Connection, connection_from_config
from kubectl_clusternet.core.registration import (
    AGENT_LEASE_NAME,
    PARENT_CLUSTER_SECRET,
    SYSTEM_NAMESPACE,
    cluster_id_from_lease,
)

__all__ = [
    "REGISTRATION_SECRET",
    "RegistrationSource",
    "child_connection",
    "read_registration_source",
    "ensure_cluster_lease",
    "read_cluster_id",
    "read_parent_cluster_secret",
    "write_secret",
]

_log = logging.getLogger(__name__)

REGISTRATION_SECRET = "clusternet-agent-cluster-registration"


def child_connection(kubeconfig: str | None, environ: Mapping[str, str] | None = None) -> Connection:
    """The child's API server from ``--kubeconfig`` (kubectl's rules), else the Pod's ServiceAccount."""
    if kubeconfig:
        resolved = load_and_resolve(ConfigOverrides(kubeconfig=kubeconfig), environ or os.environ)
        return connection_from_config(resolved)
    return in_cluster_connection()


@dataclass(frozen=True)
class RegistrationSource:
    """The parent URL and bootstrap token as the operator stored them in the child (both may be empty)."""

    parent_url: str = ""
    token: str = ""


def _decoded(data: Mapping[str, Any], key: str) -> str:
    raw = data.get(key)
    if not raw:
        return ""
    try:
        return base64.b64decode(str(raw)).decode().strip()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        _log.warning(
            "key %s of Secret %s/%s is not base64 text; ignoring it",
            key,
            SYSTEM_NAMESPACE,
            REGISTRATION_SECRET,
        )
        return ""


async def read_registration_source(child: AsyncRestClient) -> RegistrationSource | None:
    """Keys ``parentURL`` and ``regToken`` of the registration Secret (upstream's Deployment reads the same);
    None when the Secret does not exist."""
    secret = await child.get_or_none(SECRET.object_path(REGISTRATION_SECRET, SYSTEM_NAMESPACE))
    if secret is None:
        return None
    data = secret.get("data") or {}
    return RegistrationSource(parent_url=_decoded(data, "parentURL"), token=_decoded(data, "regToken"))


async def ensure_cluster_lease(child: AsyncRestClient) -> dict[str, Any]:
    """The Lease ``clusternet-system/clusternet-agent``, created (with its namespace) when absent.

    Its UID is the cluster's identity, so it is created even when leader election is off.
    """
    path = LEASE.object_path(AGENT_LEASE_NAME, SYSTEM_NAMESPACE)
    lease = await child.get_or_none(path)
    if lease is not None:
        return dict(lease)
    try:
        await child.create(
            NAMESPACE.collection_path(),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
        )
    except ApiError as exc:
        if exc.status != 409:
            raise
    try:
        created = await child.create(
            LEASE.collection_path(SYSTEM_NAMESPACE),
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": AGENT_LEASE_NAME, "namespace": SYSTEM_NAMESPACE},
                "spec": {},
            },
        )
        _log.info("created Lease %s/%s; its UID is this cluster's ID", SYSTEM_NAMESPACE, AGENT_LEASE_NAME)
        return dict(created)
    except ApiError as exc:
        if exc.status != 409:  # another replica created it first: read theirs
            raise
    return dict(await child.get(path))


async def read_cluster_id(child: AsyncRestClient) -> str:
    """The cluster ID: the agent Lease's ``legacy-cluster-id`` annotation, else its UID."""
    return cluster_id_from_lease(await ensure_cluster_lease(child))


async def read_parent_cluster_secret(child: AsyncRestClient) -> dict[str, Any] | None:
    found = await child.get_or_none(SECRET.object_path(PARENT_CLUSTER_SECRET, SYSTEM_NAMESPACE))
    return dict(found) if found else None


async def write_secret(child: AsyncRestClient, secret: Mapping[str, Any]) -> None:
    """Create or overwrite a Secret (an unconditional update: the agent is its only writer)."""
    metadata = secret["metadata"]
    path = SECRET.object_path(metadata["name"], metadata["namespace"])
    try:
        await child.replace(path, dict(secret))
    except ApiError as exc:
        if exc.status != 404:
            raise
        try:
            await child.create(SECRET.collection_path(metadata["namespace"]), dict(secret))
        except ApiError as create_error:
            if create_error.status != 409:
                raise
            await child.replace(path, dict(secret))
