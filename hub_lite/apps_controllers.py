"""Everything the hub does for applications, started together by the Lease holder (``Hub.lead``).

One shared cache (``apps_cache``) feeds the controllers: the scheduler (Subscription → bound clusters),
the deployer (→ Bases and Descriptions, deletion), the status aggregator (Descriptions → Subscription
status), the feed protector (Manifests in use cannot be deleted), the HelmChart verifier (chart in its
repository?), the HelmRelease controller (Helm Descriptions → HelmReleases, their phase back) and the push
deployers (Push mode, and Dual with AppPusher: the hub applies Generic Descriptions to those children itself,
through the tunnel).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubectl_clusternet.core.kube.kubeconfig import ResolvedConfig

from .apps_cache import AppsCache
from .apps_events import CONTROLLER_MANAGER_COMPONENT, SCHEDULER_COMPONENT, ComponentRecorder
from .apps_feeds import FeedProtector
from .apps_status import StatusAggregator
from .deployer import DeployerController
from .helm_charts import HelmChartVerifier
from .helm_releases import HelmReleaseController
from .pusher import PushDeployers
from .scheduler import SchedulerController

__all__ = ["Applications"]

_log = logging.getLogger(__name__)


class Applications:
    def __init__(self, client: Any, *, identity: str, parent_config: ResolvedConfig | None = None) -> None:
        self.cache = AppsCache(client)
        controller_manager = ComponentRecorder(client, CONTROLLER_MANAGER_COMPONENT, identity)
        self.scheduler = SchedulerController(
            client, self.cache, recorder=ComponentRecorder(client, SCHEDULER_COMPONENT, identity)
        )
        self.deployer = DeployerController(client, self.cache, recorder=controller_manager)
        self.status = StatusAggregator(client, self.cache, recorder=controller_manager)
        self.feeds = FeedProtector(client, self.cache)
        self.helm_charts = HelmChartVerifier(
            client, self.cache, recorder=controller_manager, on_verified=self.deployer.chart_verified
        )
        self.deployer.chart_pending = self.helm_charts.pending
        self.helm_releases = HelmReleaseController(client, self.cache, recorder=controller_manager)
        self.pusher = PushDeployers(client, self.cache, parent_config=parent_config)

    async def run(self) -> None:
        _log.info(
            "starting controllers: scheduler, deployer, status, feed-protection, helmchart, helmrelease, pusher"
        )
        await asyncio.gather(
            self.cache.run(),
            self.scheduler.run(),
            self.deployer.run(),
            self.status.run(),
            self.feeds.run(),
            self.helm_charts.run(),
            self.helm_releases.run(),
            self.pusher.run(),
        )
