"""The agent's deployers (Pull mode, and Dual without AppPusher): the Descriptions of the cluster's dedicated
namespace in the parent become objects in this child cluster (``core.description_deployer``, the same code
the hub pushes with), and HelmReleases become Helm releases (``core.helm.deployer``).
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from kubectl_clusternet.core.deploy import agent_applies
from kubectl_clusternet.core.description_deployer import DescriptionDeployer
from kubectl_clusternet.core.helm.deployer import HelmReleaseDeployer
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.registration import AGENT_NAME

from .metrics import COMMON

__all__ = ["ParentLink", "deployer_work"]

_log = logging.getLogger(__name__)

_RECONCILES = COMMON.reconciles.labels("deployer")
_RECONCILE_ERRORS = COMMON.reconcile_errors.labels("deployer")


class ParentLink(Protocol):
    """What the deployer needs of the agent's session: the current parent client (replaced when the token
    is renewed) and the cluster's dedicated namespace."""

    @property
    def client(self) -> AsyncRestClient: ...

    @property
    def namespace(self) -> str: ...


def _count_reconcile(ok: bool) -> None:
    _RECONCILES.inc()
    if not ok:
        _RECONCILE_ERRORS.inc()


def deployer_work(
    *,
    sync_mode: str,
    app_pusher: bool,
    session: ParentLink,
    child: AsyncRestClient,
    child_kubeconfig: str | None = None,
) -> list[Coroutine[Any, Any, None]]:
    """The deployers (generic objects, and Helm releases) to run beside the reporter, or nothing when the
    hub applies (Push, or Dual with the AppPusher gate on). The Helm SDK reaches the child with
    ``child_kubeconfig`` (the agent's ``--kubeconfig``; ``None`` means in-cluster)."""
    if not agent_applies(sync_mode, app_pusher):
        _log.info("sync mode %s: the hub applies Descriptions; the agent's deployer stays off", sync_mode)
        return []
    descriptions = DescriptionDeployer(
        lambda: session.client, child, session.namespace, component=AGENT_NAME, on_reconcile=_count_reconcile
    )
    return [
        descriptions.run(),
        HelmReleaseDeployer(
            lambda: session.client, session.namespace, component=AGENT_NAME, kubeconfig=child_kubeconfig
        ).run(),
    ]
