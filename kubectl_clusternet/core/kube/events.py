"""Events about objects in the parent, written by the deployers (agent or hub) as kubectl describe shows them."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..apis.builtin import EVENT
from ..apis.model import ResourceType
from ..errors import ClusternetError
from ..registration import format_time
from .aio import AsyncRestClient

__all__ = ["record_event"]

_log = logging.getLogger(__name__)


async def record_event(
    client: AsyncRestClient,
    resource_type: ResourceType,
    obj: Mapping[str, Any],
    *,
    component: str,
    event_type: str,
    reason: str,
    message: str,
) -> None:
    """Best effort: an Event that cannot be written is logged, never raised (the work it reports is done)."""
    metadata = obj.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "")
    stamp = format_time(datetime.now(timezone.utc))
    host = socket.gethostname()
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata.get('name')}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": resource_type.api_version,
            "kind": resource_type.kind,
            "name": metadata.get("name"),
            "namespace": namespace,
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component, "host": host},
        "reportingComponent": component,
        "reportingInstance": host,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        await client.create(EVENT.collection_path(namespace), body)
    except ClusternetError as exc:
        _log.warning(
            "could not record event %s for %s %s: %s", reason, resource_type.kind, metadata.get("name"), exc
        )
