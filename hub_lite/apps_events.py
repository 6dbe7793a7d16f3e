"""Events for the application controllers, under the component names upstream Clusternet uses.

Users read ``kubectl describe`` output written by upstream's scheduler and controller-manager; the
scheduler's and the deployer's Events keep those names in the ``From`` column, so runbooks and searches
keep working. Like the hub's own recorder, a failed Event is logged and never fails a reconcile.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Final

from kubectl_clusternet.core.apis.builtin import EVENT
from kubectl_clusternet.core.errors import ClusternetError

from .events import event_body

__all__ = ["ComponentRecorder", "SCHEDULER_COMPONENT", "CONTROLLER_MANAGER_COMPONENT"]

_log = logging.getLogger(__name__)

SCHEDULER_COMPONENT: Final = "clusternet-scheduler"
CONTROLLER_MANAGER_COMPONENT: Final = "clusternet-controller-manager"


class ComponentRecorder:
    """Writes Events as ``component``; ``instance`` is this hub replica's identity."""

    def __init__(self, client: Any, component: str, instance: str) -> None:
        self._client = client
        self._component = component
        self._instance = instance

    async def record(self, involved: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        body = event_body(
            involved,
            event_type=event_type,
            reason=reason,
            message=message,
            now=datetime.now(timezone.utc),
            instance=self._instance,
        )
        body["source"]["component"] = self._component
        body["reportingComponent"] = self._component
        try:
            await self._client.create(EVENT.collection_path(body["metadata"]["namespace"]), body)
        except ClusternetError as exc:
            _log.warning(
                "could not record event %s for %s: %s", reason, body["involvedObject"].get("name"), exc
            )
