"""Core v1 Events about the objects the hub acts on, so ``kubectl describe`` shows what happened and why."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timezone
from typing import Any

from kubectl_clusternet.core.apis.builtin import EVENT
from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.registration import HUB_NAME, format_time

__all__ = ["EventRecorder", "event_body"]

_log = logging.getLogger(__name__)


def event_body(
    involved: dict[str, Any],
    *,
    event_type: str,
    reason: str,
    message: str,
    now: datetime,
    instance: str,
) -> dict[str, Any]:
    """An Event in the object's namespace (``default`` for cluster-scoped objects, as kubectl looks there)."""
    metadata = involved.get("metadata") or {}
    name = str(metadata.get("name") or "")
    namespace = str(metadata.get("namespace") or "default")
    reference = {
        "apiVersion": involved.get("apiVersion"),
        "kind": involved.get("kind"),
        "name": name,
        "uid": metadata.get("uid"),
        "resourceVersion": metadata.get("resourceVersion"),
    }
    if metadata.get("namespace"):
        reference["namespace"] = metadata["namespace"]
    stamp = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name}.", "namespace": namespace},
        "involvedObject": {k: v for k, v in reference.items() if v},
        "type": event_type,
        "reason": reason,
        "message": message,
        "source": {"component": HUB_NAME, "host": socket.gethostname()},
        "reportingComponent": HUB_NAME,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Writes Events best-effort: a failed Event is logged, never allowed to fail the reconcile."""

    def __init__(self, client: Any, instance: str) -> None:
        self._client = client
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
        try:
            await self._client.create(EVENT.collection_path(body["metadata"]["namespace"]), body)
        except ClusternetError as exc:
            _log.warning(
                "could not record event %s for %s: %s", reason, body["involvedObject"].get("name"), exc
            )
