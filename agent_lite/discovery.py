"""Deciding how to trust the parent's TLS certificate before the agent has any credentials of its own.

With a bootstrap token the agent does what ``kubeadm join`` does: read ``kube-public/cluster-info``
anonymously (over TLS it cannot verify yet, which is fine because nothing secret is sent and the answer is
checked), and accept the CA inside only if the parent signed that document with the same token. A
man-in-the-middle does not know the token, so it cannot forge the signature. With a ServiceAccount JWT there
is no such signature: the agent then relies on the system's trust store, or on an explicit
``--insecure-skip-parent-verify``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kubectl_clusternet.core.apis.builtin import CONFIG_MAP
from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.kube.rest import Connection, token_connection
from kubectl_clusternet.core.tokens import (
    CLUSTER_INFO_NAME,
    CLUSTER_INFO_NAMESPACE,
    TokenError,
    parent_info_from_cluster_info,
    parse_bootstrap_token,
)

__all__ = ["ParentTrust", "ParentTrustError", "fetch_cluster_info", "parent_trust", "registration_connection"]

_log = logging.getLogger(__name__)


class ParentTrustError(Exception):
    """The parent's CA could not be established safely; the message says why and what to do."""


@dataclass(frozen=True)
class ParentTrust:
    """How to verify the parent: a CA (PEM), the system trust store (``ca_pem`` None), or not at all."""

    ca_pem: bytes | None
    insecure: bool = False
    source: str = ""


async def fetch_cluster_info(parent_url: str) -> dict[str, object]:
    """The public ``kube-public/cluster-info`` ConfigMap, read anonymously without verifying TLS.

    Only this public object is read on such a connection, and its contents are verified before use.
    """
    async with AsyncRestClient(
        token_connection(parent_url, None, None, insecure=True), timeout=15.0
    ) as client:
        found = await client.get(CONFIG_MAP.object_path(CLUSTER_INFO_NAME, CLUSTER_INFO_NAMESPACE))
    return dict(found)


async def parent_trust(parent_url: str, token: str, *, insecure_skip_verify: bool) -> ParentTrust:
    """How to verify the parent for registering with ``token``.

    Raises ParentTrustError when a bootstrap token's signature is missing or wrong (and the insecure flag is
    off); ClusternetError (unreachable parent, API errors) passes through for the caller's retry loop.
    """
    if insecure_skip_verify:
        return ParentTrust(ca_pem=None, insecure=True, source="--insecure-skip-parent-verify")
    bootstrap = parse_bootstrap_token(token)
    if bootstrap is None:
        # A ServiceAccount JWT signs nothing the agent could check; only a publicly trusted certificate works.
        return ParentTrust(ca_pem=None, source="the system trust store")
    config_map = await fetch_cluster_info(parent_url)
    try:
        info = parent_info_from_cluster_info(config_map, bootstrap)
    except TokenError as exc:
        raise ParentTrustError(str(exc)) from exc
    return ParentTrust(
        ca_pem=info.ca_pem,
        source=f"{CLUSTER_INFO_NAMESPACE}/{CLUSTER_INFO_NAME} (signed for token ID {bootstrap.token_id})",
    )


def registration_connection(parent_url: str, token: str, trust: ParentTrust) -> Connection:
    """A connection to the parent that authenticates with the registration token."""
    try:
        return token_connection(parent_url, token, trust.ca_pem, insecure=trust.insecure)
    except ClusternetError as exc:
        raise ParentTrustError(f"the parent's CA from {trust.source} is unusable: {exc}") from exc
