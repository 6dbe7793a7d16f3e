"""agent-lite's Prometheus metrics: the families shared with the hub, plus when the last heartbeat landed.

The heartbeat age is measured on the agent's monotonic clock from its last *successful* status report, so
an agent whose reports are refused or cannot reach the parent shows a growing age even though it is alive.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubectl_clusternet import __version__
from kubectl_clusternet.core.metrics import daemon_metrics

__all__ = ["COMMON", "HEARTBEATS", "Heartbeats"]

COMMON = daemon_metrics()
COMMON.build_info.set(1, "agent-lite", __version__)


class Heartbeats:
    """The moment of the last successful report, per cluster (one agent reports for one cluster)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._last: dict[tuple[str, str], float] = {}

    def mark(self, cluster_id: str, cluster_name: str) -> None:
        key = (cluster_id, cluster_name)
        self._last = {key: self._monotonic()}  # a renamed or re-registered cluster replaces the old series

    def ages(self) -> list[tuple[tuple[str, str], float]]:
        now = self._monotonic()
        return [(key, max(0.0, now - at)) for key, at in self._last.items()]


HEARTBEATS = Heartbeats()
COMMON.heartbeat_age.set_collector(HEARTBEATS.ages)
