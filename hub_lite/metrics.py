"""hub-lite's Prometheus metrics, the ``/metrics`` handler, and the proxy's graceful drain.

Every family lives in the process-wide registry, so one ``/metrics`` shows whatever runs in this process:
the controllers (reconciles, heartbeat ages, leadership) in ``hub-lite``, the tunnels and proxied requests
wherever the proxy application runs (its own listener serves ``/metrics`` too, for the deployment where the
proxy is a separate container).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from kubectl_clusternet import __version__
from kubectl_clusternet.core import registration as reg
from kubectl_clusternet.core.metrics import CONTENT_TYPE, REGISTRY, daemon_metrics
from kubectl_clusternet.core.proxy import SOCKETS_PATH, parse_socket_path

__all__ = [
    "COMMON",
    "PROXIED_BYTES",
    "PROXIED_IN_FLIGHT",
    "PROXIED_REQUESTS",
    "heartbeat_ages",
    "drain_proxy_app",
    "instrument_proxy_app",
    "metrics_handler",
]

_log = logging.getLogger(__name__)

COMMON = daemon_metrics()
COMMON.build_info.set(1, "hub-lite", __version__)
PROXIED_REQUESTS = REGISTRY.counter(
    "clusternet_proxied_requests_total",
    "Requests to sockets/<cluster-id>/proxy/..., by the HTTP status the caller got (499: the caller left "
    "before any answer); refusals by the hub itself are counted too.",
    ("code",),
)
PROXIED_BYTES = REGISTRY.counter(
    "clusternet_proxied_response_bytes_total",
    "Bytes the proxy wrote back to callers (status line, headers and body), by HTTP status.",
    ("code",),
)
PROXIED_IN_FLIGHT = REGISTRY.gauge(
    "clusternet_proxied_requests_in_flight", "Proxied requests being served now (watches included)."
)

_CLIENT_LEFT = "499"


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics``: the whole registry in the text exposition format."""
    return web.Response(body=REGISTRY.render().encode(), headers={"Content-Type": CONTENT_TYPE})


def heartbeat_ages(
    clusters: Iterable[Mapping[str, Any]], now: datetime
) -> list[tuple[tuple[str, str], float]]:
    """((cluster ID, name), seconds since status.lastObservedTime) for every cluster that has reported.

    A clock skewed ahead of ours gives 0, not a negative age.
    """
    ages = []
    for cluster in clusters:
        observed = reg.parse_time((cluster.get("status") or {}).get("lastObservedTime"))
        cluster_id = str((cluster.get("spec") or {}).get("clusterId") or "")
        if observed is None or not cluster_id:
            continue
        name = str((cluster.get("metadata") or {}).get("name") or "")
        ages.append(((cluster_id, name), max(0.0, (now - observed).total_seconds())))
    return ages


def _is_proxied(request: web.Request) -> bool:
    path = request.raw_path.partition("?")[0]
    if not path.startswith(SOCKETS_PATH + "/"):
        return False
    try:
        return parse_socket_path(path).target is not None
    except Exception:  # noqa: BLE001 - a malformed path is refused by the handler, not proxied
        return False


class _InFlight:
    """Proxied requests of one application (so its drain waits for its own only), with the response each
    one prepared, if any: the status a caller already got when a relay is cut short."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.prepared: dict[int, web.StreamResponse | None] = {}

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()
        PROXIED_IN_FLIGHT.inc()

    def leave(self) -> None:
        self.count -= 1
        PROXIED_IN_FLIGHT.dec()
        if self.count == 0:
            self.idle.set()


def _middleware(in_flight: _InFlight) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def count_proxied(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not _is_proxied(request):
            return await handler(request)
        in_flight.enter()
        in_flight.prepared[id(request)] = None
        code = _CLIENT_LEFT
        try:
            response = await handler(request)
            code = str(response.status)
            # Finish sending here (aiohttp would right after, and does nothing twice), so the bytes are known.
            with contextlib.suppress(ConnectionError):
                await response.prepare(request)
                await response.write_eof()
            return response
        except BaseException:
            prepared = in_flight.prepared.get(id(request))
            if prepared is not None:
                code = str(prepared.status)  # a relay cut short: the caller got this status
            raise
        finally:
            in_flight.prepared.pop(id(request), None)
            in_flight.leave()
            PROXIED_REQUESTS.labels(code).inc()
            PROXIED_BYTES.labels(code).inc(float(request.writer.output_size) if request.writer else 0.0)

    return count_proxied


_IN_FLIGHT = web.AppKey("clusternet_proxied_in_flight", _InFlight)


def instrument_proxy_app(app: web.Application) -> None:
    """Add ``/metrics``, count proxied requests and export the tunnel count; ``drain_proxy_app`` then
    knows which proxied requests are running. Call before the application is frozen, once its
    ``proxy_services`` are set."""
    in_flight = _InFlight()
    app[_IN_FLIGHT] = in_flight
    app.router.add_get("/metrics", metrics_handler)
    app.middlewares.append(_middleware(in_flight))

    async def remember(request: web.Request, response: web.StreamResponse) -> None:
        if in_flight.prepared.get(id(request), response) is None:
            in_flight.prepared[id(request)] = response

    app.on_response_prepare.append(remember)
    services = app.get("proxy_services")
    if services is not None:
        registry = services.registry
        COMMON.tunnels.set_function(lambda: float(len(registry.connected())))


async def drain_proxy_app(runner: web.AppRunner, deadline: float = 15.0) -> None:
    """Stop listening, then let proxied requests already running finish for up to ``deadline`` seconds.

    Call before ``runner.cleanup()``, which closes the tunnels those requests travel through (with a
    websocket close frame) and, from its first step, stops reading from every open connection.
    """
    for site in list(runner.sites):
        await site.stop()
    in_flight = runner.app.get(_IN_FLIGHT)
    if in_flight is None or in_flight.count == 0:
        return
    _log.info("stopping: waiting up to %.0fs for %d proxied request(s) to finish", deadline, in_flight.count)
    try:
        await asyncio.wait_for(in_flight.idle.wait(), deadline)
    except asyncio.TimeoutError:
        _log.warning("stopping: %d proxied request(s) still running are cut off", in_flight.count)
