"""The agent's end of the tunnel: keep one websocket to the hub open, and dial what the hub asks for.

The agent connects to ``wss://<parent>/apis/proxies.clusternet.io/v1alpha1/sockets/<cluster-id>`` (through
the parent's aggregation layer, or straight to a hub) with its own parent token and a verified TLS
connection, then answers the hub's OPEN requests by dialling TCP — only to the child's API server and the
destinations the operator allowed with ``--tunnel-allowed-destinations``; anything else gets OPEN_FAIL.
Unlike upstream, which lets the hub reach anything the agent can, the allow-list keeps a compromised hub
from turning every agent into an open relay inside its cluster.

A lost connection is retried with jittered exponential backoff that starts fast and is capped at two
seconds, so an agent is back within about two and a half seconds of the hub's return.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from kubectl_clusternet.core.errors import UsageError
from kubectl_clusternet.core.proxy import REFUSED_NOT_ALLOWED, parse_host_port, parse_server_url, socket_url
from kubectl_clusternet.core.tunnel import DEFAULT_CONFIG, Destination, TunnelConfig
from kubectl_clusternet.core.tunnel.aio import OpenRefused, Splice, TunnelEndpoint, bounded, max_message_size

__all__ = [
    "ReconnectBackoff",
    "TunnelClient",
    "TunnelClientSettings",
    "WebsocketsChannel",
    "child_address_from_server",
    "parse_allowed_destinations",
    "main",
]

_log = logging.getLogger(__name__)


def parse_allowed_destinations(text: str) -> frozenset[tuple[str, int]]:
    """``host:port,host:port`` (IPv6 in brackets) -> a set of (lower-cased host, port); a port is required."""
    allowed: set[tuple[str, int]] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if not (item.rsplit(":", 1)[-1].isdigit() and ":" in item):
            raise UsageError(f"--tunnel-allowed-destinations: {item!r} needs a port (host:port)")
        try:
            allowed.add(parse_host_port(item, 0))
        except Exception as exc:
            raise UsageError(f"--tunnel-allowed-destinations: {exc}") from exc
    return frozenset(allowed)


@dataclass
class ReconnectBackoff:
    """Delays before reconnecting: ``initial``, growing by ``factor`` up to ``maximum``, jittered, never above
    ``ceiling``.

    The first retry comes fast because the usual cause is a hub restart. The delays grow gently to a low
    cap because the cap, not the outage, bounds how long an agent stays away once the hub is back: at most
    ``maximum * (1 + jitter)``, 2.5 s (doubling to 4 s allowed 5 s). The jitter compounds over the retries, so a fleet that lost its hub at one instant comes back spread
    over a window rather than in one burst.
    """

    initial: float = 0.25
    maximum: float = 2.0
    factor: float = 1.5
    jitter: float = 0.25
    ceiling: float = 5.0
    rng: random.Random = field(default_factory=random.Random)
    _attempt: int = 0

    def next_delay(self) -> float:
        base = min(self.initial * (self.factor**self._attempt), self.maximum)
        self._attempt = min(self._attempt + 1, 32)
        return float(min(base * (1 + self.jitter * self.rng.random()), self.ceiling))

    def reset(self) -> None:
        self._attempt = 0


class WebsocketsChannel:
    """The ``websockets`` client connection as the pump's WebSocketChannel."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    async def send(self, message: bytes) -> None:
        try:
            await self._connection.send(message)
        except ConnectionClosed as exc:
            raise ConnectionResetError(str(exc)) from exc

    async def receive(self) -> bytes | str | None:
        try:
            return await self._connection.recv()
        except ConnectionClosed:
            return None

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._connection.close(code, reason[:120])


@dataclass(frozen=True)
class TunnelClientSettings:
    """Where to connect and what may be dialled.

    ``server`` is the parent URL (the aggregation layer routes to the hub) or a hub's own URL; ``ca_pem``
    verifies it (None: the system trust store). ``child_address`` is the child API server's (host, port),
    always allowed.
    """

    server: str
    cluster_id: str
    ca_pem: bytes | None
    child_address: tuple[str, int]
    allowed_destinations: frozenset[tuple[str, int]] = frozenset()
    tls_server_name: str | None = None
    dial_timeout: float = 10.0
    open_timeout: float = 15.0
    tunnel_config: TunnelConfig = DEFAULT_CONFIG

    @property
    def url(self) -> str:
        return socket_url(self.server, self.cluster_id)

    def allows(self, destination: Destination) -> bool:
        wanted = (destination.host.lower(), destination.port)
        return destination.scheme == "tcp" and (
            wanted == (self.child_address[0].lower(), self.child_address[1])
            or wanted in self.allowed_destinations
        )


class TunnelClient:
    """Keeps the agent's tunnel up until cancelled; ``connected`` is set while a session is live."""

    def __init__(
        self,
        settings: TunnelClientSettings,
        token_source: Callable[[], str] | Callable[[], Awaitable[str]],
        *,
        backoff: ReconnectBackoff | None = None,
    ) -> None:
        self.settings = settings
        self._token_source = token_source
        self._backoff = backoff or ReconnectBackoff()
        self.connected = asyncio.Event()
        self.endpoint: TunnelEndpoint | None = None
        self.sessions = 0  # how many sessions were established, for health and tests
        self.last_error = ""
        self._context: ssl.SSLContext | None = None

    def _ssl_context(self) -> ssl.SSLContext | None:
        """Built once: the CA never changes, so parsing it again on every retry would be wasted work (as
        much as the TLS handshake itself, measured with many agents reconnecting in one process)."""
        if not self.settings.url.startswith("wss://"):
            return None
        if self._context is None:
            context = ssl.create_default_context(
                cadata=self.settings.ca_pem.decode() if self.settings.ca_pem else None
            )
            context.set_alpn_protocols(["http/1.1"])
            self._context = context
        return self._context

    async def _token(self) -> str:
        token = self._token_source()
        if asyncio.iscoroutine(token) or isinstance(token, Awaitable):
            return str(await token)
        return str(token)

    async def _dial(self, destination: Destination) -> asyncio.BaseProtocol:
        if not self.settings.allows(destination):
            _log.warning("refused a tunnel stream to %s: not an allowed destination", destination.address)
            raise OpenRefused(
                f"{REFUSED_NOT_ALLOWED}: {destination.address} is not an allowed destination of this agent"
            )
        splice = Splice()
        loop = asyncio.get_running_loop()
        try:
            await bounded(
                loop.create_connection(lambda: splice.protocols[0], destination.host, destination.port),
                self.settings.dial_timeout,
            )
        except asyncio.TimeoutError:
            raise OpenRefused(f"dial {destination.address}: timed out") from None
        except OSError as exc:
            raise OpenRefused(f"dial {destination.address}: {exc.strerror or exc}") from None
        return splice.protocols[1]

    async def run_once(self) -> None:
        """One connection: connect, pump until it ends. Raises on handshake failures."""
        token = await self._token()
        async with connect(
            self.settings.url,
            additional_headers={"Authorization": f"Bearer {token}"},
            ssl=self._ssl_context(),
            server_hostname=self.settings.tls_server_name,
            compression=None,
            max_size=max_message_size(self.settings.tunnel_config),
            ping_interval=None,  # the tunnel protocol's own PING keeps the session alive
            open_timeout=self.settings.open_timeout,
            close_timeout=5,
            proxy=None,
            user_agent_header="agent-lite",
        ) as connection:
            endpoint = TunnelEndpoint(
                "agent",
                WebsocketsChannel(connection),
                config=self.settings.tunnel_config,
                dialer=self._dial,
                name=self.settings.cluster_id,
            )
            self.endpoint = endpoint
            self.sessions += 1
            self.connected.set()
            self._backoff.reset()
            _log.info("tunnel to %s connected", self.settings.url)
            try:
                await endpoint.run()
            finally:
                self.connected.clear()
                _log.info("tunnel to %s closed: %s", self.settings.url, endpoint.close_reason or "done")

    async def run(self) -> None:
        """Connect, and reconnect after every failure or disconnection, until cancelled."""
        while True:
            problem = "the tunnel closed"
            try:
                await self.run_once()
                self.last_error = ""
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                body = exc.response.body[:200].decode(errors="replace") if exc.response.body else ""
                problem = self.last_error = (
                    f"the tunnel was refused: HTTP {exc.response.status_code} {body}".strip()
                )
            except (OSError, InvalidHandshake, asyncio.TimeoutError, ConnectionClosed) as exc:
                problem = self.last_error = f"cannot connect the tunnel: {exc or type(exc).__name__}"
            delay = self._backoff.next_delay()
            _log.warning("%s (%s); retrying in %.2fs", problem, self.settings.url, delay)
            await asyncio.sleep(delay)


def child_address_from_server(server: str) -> tuple[str, int]:
    """(host, port) of the child API server URL the agent uses (always an allowed destination)."""
    address = parse_server_url(server)
    return address.host, address.port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent_lite.tunnel_client",
        description="Keep an agent's tunnel to the hub open on its own (until it is wired into agent-lite).",
    )
    parser.add_argument("--server", required=True, help="the parent URL, or a hub's own URL")
    parser.add_argument("--cluster-id", required=True)
    parser.add_argument(
        "--token-file", required=True, help="the agent's parent token; re-read on every connect"
    )
    parser.add_argument("--ca-file", default="", help="CA to verify --server (default: the system's)")
    parser.add_argument("--tls-server-name", default="")
    parser.add_argument("--child-server", required=True, help="the child API server URL (always allowed)")
    parser.add_argument(
        "--tunnel-allowed-destinations", default="", help="more host:port destinations, comma-separated"
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


async def _run(args: argparse.Namespace) -> None:
    settings = TunnelClientSettings(
        server=args.server,
        cluster_id=args.cluster_id,
        ca_pem=Path(args.ca_file).read_bytes() if args.ca_file else None,
        child_address=child_address_from_server(args.child_server),
        allowed_destinations=parse_allowed_destinations(args.tunnel_allowed_destinations),
        tls_server_name=args.tls_server_name or None,
    )
    token_file = Path(args.token_file)
    client = TunnelClient(settings, lambda: token_file.read_text().strip())
    task = asyncio.ensure_future(client.run())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(_run(args))
    except (UsageError, OSError) as exc:
        logging.getLogger(__name__).error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
