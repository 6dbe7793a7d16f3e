"""The hub's end of the agents' tunnels: the websocket endpoint and the registry of live sessions.

``/apis/proxies.clusternet.io/v1alpha1/sockets/<cluster-id>`` upgrades to a websocket once the caller is
authenticated and allowed to ``get`` that one socket, which the per-cluster ClusterRole grants only for the
agent's own cluster ID: one cluster can never take over another's tunnel. The registry maps a cluster ID to
its live session; a reconnect replaces the old session, and nothing here outlives a restart that the next
reconnect does not rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from kubectl_clusternet.core.proxy import Identity
from kubectl_clusternet.core.tunnel import DEFAULT_CONFIG, TunnelConfig
from kubectl_clusternet.core.tunnel.aio import TunnelEndpoint, max_message_size

__all__ = ["AiohttpChannel", "TunnelRegistry", "TunnelServer"]

_log = logging.getLogger(__name__)


class AiohttpChannel:
    """aiohttp's server-side websocket as the pump's WebSocketChannel."""

    def __init__(self, websocket: web.WebSocketResponse) -> None:
        self._websocket = websocket

    async def send(self, message: bytes) -> None:
        if self._websocket.closed:
            raise ConnectionResetError("the websocket is closed")
        await self._websocket.send_bytes(message)

    async def receive(self) -> bytes | str | None:
        message = await self._websocket.receive()
        if message.type == WSMsgType.BINARY:
            return bytes(message.data)
        if message.type == WSMsgType.TEXT:
            return str(message.data)
        return None  # CLOSE, CLOSING, CLOSED, ERROR

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._websocket.close(code=code, message=reason.encode()[:120])


class TunnelRegistry:
    """cluster ID -> the live tunnel; the proxy asks it for a session, the endpoint keeps it current.

    Registering and unregistering are synchronous so that no cancellation can leave a stale entry.
    """

    def __init__(self) -> None:
        self._tunnels: dict[str, TunnelEndpoint] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def get(self, cluster_id: str) -> TunnelEndpoint | None:
        tunnel = self._tunnels.get(cluster_id)
        return None if tunnel is None or tunnel.closed else tunnel

    def connected(self) -> list[str]:
        return sorted(cid for cid, tunnel in self._tunnels.items() if not tunnel.closed)

    def stream_count(self) -> int:
        """Streams held across every tunnel: what a leak test watches."""
        return sum(tunnel.stream_count() for tunnel in self._tunnels.values())

    def register(self, cluster_id: str, tunnel: TunnelEndpoint) -> None:
        previous = self._tunnels.get(cluster_id)
        self._tunnels[cluster_id] = tunnel
        if previous is not None and previous is not tunnel:
            _log.info("cluster %s reconnected: replacing its previous tunnel", cluster_id)
            task = asyncio.ensure_future(previous.stop("replaced by a newer connection of the same cluster"))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def unregister(self, cluster_id: str, tunnel: TunnelEndpoint) -> None:
        if self._tunnels.get(cluster_id) is tunnel:
            del self._tunnels[cluster_id]

    async def close_all(self, reason: str) -> None:
        tunnels = list(self._tunnels.values())
        await asyncio.gather(*(t.stop(reason) for t in tunnels), return_exceptions=True)


class TunnelServer:
    """Serves the websocket endpoint; authentication and authorization happen before ``handle`` is called."""

    def __init__(self, registry: TunnelRegistry, *, config: TunnelConfig = DEFAULT_CONFIG) -> None:
        self.registry = registry
        self._config = config

    async def handle(self, request: web.Request, cluster_id: str, identity: Identity) -> web.StreamResponse:
        websocket = web.WebSocketResponse(
            compress=False,
            # aiohttp refuses a message of exactly max_msg_size bytes, hence the + 1.
            max_msg_size=max_message_size(self._config) + 1,
            autoping=True,
            heartbeat=None,
        )
        await websocket.prepare(request)
        tunnel = TunnelEndpoint("hub", AiohttpChannel(websocket), config=self._config, name=cluster_id)
        self.registry.register(cluster_id, tunnel)
        _log.info("cluster %s connected its tunnel (as %s)", cluster_id, identity.name)
        try:
            await tunnel.run()
        finally:
            self.registry.unregister(cluster_id, tunnel)
            _log.info("cluster %s tunnel closed: %s", cluster_id, tunnel.close_reason or "done")
        return websocket
