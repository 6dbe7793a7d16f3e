"""``/healthz`` and ``/readyz`` on loopback, for a local liveness check or a sidecar.

/healthz answers 200 while the event loop runs. /readyz answers 200 once the agent does its job: it is the
leader and has reported at least once since joining, or it is a standby replica waiting for the Lease.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

__all__ = ["AgentState", "HealthServer"]

_log = logging.getLogger(__name__)


@dataclass
class AgentState:
    """What the agent is doing now, shown by /readyz."""

    phase: str = "starting"  # starting | standby | registering | reporting
    cluster_id: str = ""

    @property
    def ready(self) -> bool:
        return self.phase in ("standby", "reporting")


class HealthServer:
    def __init__(self, state: AgentState, port: int, host: str = "127.0.0.1") -> None:
        self._state = state
        self._port = port
        self._host = host
        self._runner: web.AppRunner | None = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        text = f"{self._state.phase}\n"
        return web.Response(text=text, status=200 if self._state.ready else 503)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        _log.info("serving /healthz and /readyz on http://%s:%d", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
