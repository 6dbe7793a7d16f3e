"""``/healthz``, ``/readyz`` and ``/metrics``, on loopback unless ``--healthz-bind-address`` says otherwise.

/healthz answers 200 while the event loop runs. /readyz answers 200 once the agent does its job: it is the
leader and has reported at least once since joining, or it is a standby replica waiting for the Lease; it
answers 503 again once the agent is stopping. /metrics is the Prometheus text exposition (agent_lite.metrics).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from kubectl_clusternet.core.metrics import CONTENT_TYPE, REGISTRY

from .metrics import COMMON

__all__ = ["AgentState", "HealthServer"]

_log = logging.getLogger(__name__)


@dataclass
class AgentState:
    """What the agent is doing now, shown by /readyz."""

    phase: str = "starting"  # starting | standby | registering | reporting
    cluster_id: str = ""
    stopping: bool = False  # set on SIGTERM: take this replica out of rotation while it winds down

    @property
    def ready(self) -> bool:
        return not self.stopping and self.phase in ("standby", "reporting")

    @property
    def leading(self) -> bool:
        """Registering and reporting happen only while this replica holds the Lease."""
        return self.phase in ("registering", "reporting")


class HealthServer:
    def __init__(self, state: AgentState, port: int, host: str = "127.0.0.1") -> None:
        self._state = state
        self._port = port
        self._host = host
        self._runner: web.AppRunner | None = None
        COMMON.leader.set_function(lambda: 1.0 if state.leading else 0.0)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        text = f"{'stopping' if self._state.stopping else self._state.phase}\n"
        return web.Response(text=text, status=200 if self._state.ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=REGISTRY.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        _log.info("serving /healthz, /readyz and /metrics on http://%s:%d", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
