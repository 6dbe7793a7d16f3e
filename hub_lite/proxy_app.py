"""The hub's HTTPS application for ``proxies.clusternet.io``: discovery, the agents' tunnels and the proxy.

One aiohttp application serves both front doors. Through the parent's aggregation layer, kube-apiserver
calls it with its front-proxy client certificate; straight to the hub's port, callers bring a bearer
token. ``hub_lite.auth`` tells the two apart. The discovery documents are served without authentication,
as every API server serves them, because the aggregator's availability check reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import signal
import ssl
import sys
from dataclasses import dataclass

from aiohttp import web

from kubectl_clusternet.core.apiservice import api_group, api_group_list, api_resource_list
from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.kube.aio import AsyncRestClient, in_cluster_connection
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, load_and_resolve
from kubectl_clusternet.core.kube.rest import connection_from_config
from kubectl_clusternet.core.proxy import (
    GROUP,
    SOCKETS_PATH,
    VERSION,
    ProxyError,
    RequestHeaderSettings,
    authorization_verb,
    parse_socket_path,
    status_body,
)
from kubectl_clusternet.core.tunnel import DEFAULT_CONFIG, TunnelConfig

from . import lean_tls
from .auth import Authenticator, Authorizer, ResourceCheck, load_requestheader_settings
from .metrics import drain_proxy_app, instrument_proxy_app
from .proxy import ClusterDirectory, Forwarder, StreamCutError, status_from
from .tunnel_server import TunnelRegistry, TunnelServer

__all__ = [
    "ProxyServices",
    "create_proxy_services",
    "build_proxy_app",
    "server_ssl_context",
    "serve_proxy_app",
    "ProxyServer",
    "start_proxy_server",
    "status_response",
    "main",
]

_log = logging.getLogger(__name__)


@dataclass
class ProxyServices:
    """Everything the proxy application needs, built once per hub process."""

    parent: AsyncRestClient
    registry: TunnelRegistry
    directory: ClusterDirectory
    authorizer: Authorizer
    authenticator: Authenticator
    forwarder: Forwarder
    tunnel_server: TunnelServer
    requestheader: RequestHeaderSettings | None


async def create_proxy_services(
    parent: AsyncRestClient,
    *,
    requestheader: RequestHeaderSettings | None = None,
    load_requestheader: bool = True,
    tunnel_config: TunnelConfig = DEFAULT_CONFIG,
    cluster_cache_seconds: float = 10.0,
) -> ProxyServices:
    """Wire the pieces; reads extension-apiserver-authentication from the parent unless given or told not to."""
    if requestheader is None and load_requestheader:
        requestheader = await load_requestheader_settings(parent)
    registry = TunnelRegistry()
    directory = ClusterDirectory(parent, ttl_seconds=cluster_cache_seconds)
    authorizer = Authorizer(parent)
    authenticator = Authenticator(parent, authorizer, requestheader)
    return ProxyServices(
        parent=parent,
        registry=registry,
        directory=directory,
        authorizer=authorizer,
        authenticator=authenticator,
        forwarder=Forwarder(registry, directory, requestheader=requestheader),
        tunnel_server=TunnelServer(registry, config=tunnel_config),
        requestheader=requestheader,
    )


def status_response(code: int, message: str, reason: str = "") -> web.Response:
    return web.json_response(status_body(code, message, reason), status=code)


class _Handlers:
    def __init__(self, services: ProxyServices) -> None:
        self.services = services

    async def discovery_apis(self, request: web.Request) -> web.Response:
        return web.json_response(api_group_list())

    async def discovery_group(self, request: web.Request) -> web.Response:
        return web.json_response(api_group())

    async def discovery_version(self, request: web.Request) -> web.Response:
        return web.json_response(api_resource_list())

    async def healthz(self, request: web.Request) -> web.Response:
        if "verbose" not in request.query:
            return web.Response(text="ok")
        # Counts only, nothing about who is connected: enough for operators and for leak tests.
        registry = self.services.registry
        lines = [
            f"tunnels {len(registry.connected())}",
            f"streams {registry.stream_count()}",
            f"idle_connections {self.services.forwarder.pool.idle_count()}",
            f"tasks {len(asyncio.all_tasks())}",
            "ok",
        ]
        return web.Response(text="\n".join(lines) + "\n")

    async def sockets(self, request: web.Request) -> web.StreamResponse:
        services = self.services
        try:
            parsed = parse_socket_path(request.raw_path.partition("?")[0])
            identity = await services.authenticator.authenticate(request)
            if parsed.target is None:
                if request.method != "GET":
                    raise ProxyError(
                        f"{request.method} is not supported on a socket; agents connect with a websocket GET",
                        status=405,
                        reason="MethodNotAllowed",
                    )
                await services.authorizer.require(
                    identity, ResourceCheck("get", "sockets", name=parsed.cluster_id)
                )
                if not web.WebSocketResponse().can_prepare(request).ok:
                    raise ProxyError("the socket endpoint expects a websocket upgrade")
                return await services.tunnel_server.handle(request, parsed.cluster_id, identity)
            await services.authorizer.require(
                identity,
                ResourceCheck(
                    authorization_verb(request.method), "sockets", subresource="proxy", name=parsed.cluster_id
                ),
            )
            return await services.forwarder.forward(request, parsed.cluster_id, parsed.target, identity)
        except StreamCutError:
            raise
        except ProxyError as exc:
            return status_response(exc.status, exc.message, exc.reason)
        except Exception as exc:
            _log.exception("%s %s failed", request.method, request.path)
            code, reason, message = status_from(exc)
            return status_response(code, message, reason)


def build_proxy_app(services: ProxyServices) -> web.Application:
    """The aiohttp application; serve it with ``serve_proxy_app`` (handler cancellation matters, see there)."""
    handlers = _Handlers(services)
    app = web.Application(client_max_size=0)
    app.router.add_get("/apis", handlers.discovery_apis)
    app.router.add_get(f"/apis/{GROUP}", handlers.discovery_group)
    app.router.add_get(f"/apis/{GROUP}/{VERSION}", handlers.discovery_version)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, handlers.healthz)
    app.router.add_route("*", SOCKETS_PATH + "/{tail:.*}", handlers.sockets)
    app["proxy_services"] = services

    async def close_tunnels(_: web.Application) -> None:
        services.forwarder.pool.close_all()
        await services.registry.close_all("the hub is stopping")

    app.on_shutdown.append(close_tunnels)
    instrument_proxy_app(app)  # /metrics and request counts
    return app


def server_ssl_context(cert_file: str, key_file: str, client_ca_pem: bytes = b"") -> ssl.SSLContext:
    """The listener's TLS: our serving certificate, and optional client certificates from ``client_ca_pem``.

    Client certificates stay optional so bearer-token callers and the agents' websockets work; which CA
    signed a certificate is decided per request in ``hub_lite.auth``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["http/1.1"])
    if client_ca_pem.strip():
        context.load_verify_locations(cadata=client_ca_pem.decode())
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


async def serve_proxy_app(
    app: web.Application, *, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (``await runner.cleanup()`` to stop) and the bound port.

    ``handler_cancellation`` is on so a caller that hangs up cancels its request: a watch relayed from a
    child would otherwise hold its tunnel stream until the child's next event.
    """
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=512)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 - the only way to learn port 0
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


@dataclass
class ProxyServer:
    """A running proxies.clusternet.io server; ``await stop()`` closes tunnels, pooled connections, listener."""

    services: ProxyServices
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await drain_proxy_app(self.runner)  # stop listening; proxied requests finish before tunnels close
        await self.runner.cleanup()


async def start_proxy_server(
    parent: AsyncRestClient, *, bind_address: str, port: int, tls_cert_file: str, tls_private_key_file: str
) -> ProxyServer:
    """Everything in one call, for a daemon: read the requestheader settings from the parent, build the
    application, listen with TLS (client certificates optional, checked per request).

    Also switches the process to one TLS receive buffer per thread (``lean_tls``): each tunnel is a TLS
    connection, and asyncio's own 256 KiB buffer per connection would dwarf everything else a tunnel costs."""
    lean_tls.install()
    services = await create_proxy_services(parent)
    context = server_ssl_context(tls_cert_file, tls_private_key_file, services.authenticator.client_ca_pem)
    runner, bound = await serve_proxy_app(
        build_proxy_app(services), host=bind_address, port=port, ssl_context=context
    )
    _log.info("serving %s on https://%s:%d", GROUP, bind_address, bound)
    return ProxyServer(services, runner, bound)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hub_lite.proxy_app",
        description="Serve proxies.clusternet.io (agent tunnels and the proxy into child clusters) on its own.",
    )
    parser.add_argument("--kubeconfig", default="", help="the parent's kubeconfig (default: in-cluster)")
    parser.add_argument("--context", default="")
    parser.add_argument("--bind-address", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--tls-cert-file", required=True)
    parser.add_argument("--tls-private-key-file", required=True)
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


def _dump_tasks() -> None:
    """SIGUSR1: log where every task is waiting, to diagnose a stuck request without a debugger."""
    stream = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=stream)
    _log.warning("asyncio tasks:\n%s", stream.getvalue())


async def _serve_forever(args: argparse.Namespace) -> None:
    if args.kubeconfig:
        resolved = load_and_resolve(
            ConfigOverrides(kubeconfig=args.kubeconfig, context=args.context or None), os.environ
        )
        connection = connection_from_config(resolved)
    else:
        connection = in_cluster_connection()
    parent = AsyncRestClient(connection)
    try:
        server = await start_proxy_server(
            parent,
            bind_address=args.bind_address,
            port=args.port,
            tls_cert_file=args.tls_cert_file,
            tls_private_key_file=args.tls_private_key_file,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        await stop.wait()
        _log.info("stopping")
        await server.stop()
    finally:
        await parent.close()


def main(argv: list[str] | None = None) -> int:
    """Serve the proxy (its own process or container beside hub-lite: it scales apart and restarts alone)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(_serve_forever(args))
    except ClusternetError as exc:
        _log.error("%s", exc.message)
        return 1
    except OSError as exc:
        _log.error("cannot serve: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
