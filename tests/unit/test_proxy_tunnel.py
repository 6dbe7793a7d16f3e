"""The tunnel's asyncio front-ends on real loopback sockets: the hub's aiohttp websocket endpoint and
registry, the agent's ``websockets`` client and dialer, streams as transports (TLS included), and
back-pressure. No Kubernetes here: the endpoint is served without authentication."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from agent_lite.tunnel_client import (
    ReconnectBackoff,
    TunnelClient,
    TunnelClientSettings,
    parse_allowed_destinations,
)
from hub_lite.tunnel_server import TunnelRegistry, TunnelServer
from kubectl_clusternet.core.errors import UsageError
from kubectl_clusternet.core.proxy import Identity
from kubectl_clusternet.core.tunnel import Destination
from kubectl_clusternet.core.tunnel.aio import OpenRefused, TunnelEndpoint, bounded, open_tunnel_connection
from kubectl_clusternet.localfleet.pki import issue_cert, new_ca

CLUSTER = "3b0c9db7-079b-407e-9152-5ff6b4803a9c"
DEADLINE = 60.0


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait (generously) for a condition the event loop will make true."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@dataclass
class Link:
    registry: TunnelRegistry
    client: TunnelClient
    hub_port: int

    @property
    def hub(self) -> TunnelEndpoint:
        tunnel = self.registry.get(CLUSTER)
        assert tunnel is not None
        return tunnel


async def _serve(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], **kwargs: object
) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    return server, server.sockets[0].getsockname()[1]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def tunnel_link(allowed: frozenset[tuple[str, int]], child_port: int) -> AsyncIterator[Link]:
    """A hub (aiohttp, the real TunnelServer) and an agent (the real TunnelClient) on loopback."""
    registry = TunnelRegistry()
    server = TunnelServer(registry)

    async def socket_endpoint(request: web.Request) -> web.StreamResponse:
        return await server.handle(request, request.match_info["cluster"], Identity(name="test-agent"))

    app = web.Application()
    app.router.add_get("/apis/proxies.clusternet.io/v1alpha1/sockets/{cluster}", socket_endpoint)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    settings = TunnelClientSettings(
        server=f"http://127.0.0.1:{port}",
        cluster_id=CLUSTER,
        ca_pem=None,
        child_address=("127.0.0.1", child_port),
        allowed_destinations=allowed,
    )
    client = TunnelClient(settings, lambda: "token", backoff=ReconnectBackoff(initial=0.05, maximum=0.2))
    task = asyncio.ensure_future(client.run())
    try:
        await eventually(lambda: registry.get(CLUSTER) is not None, "the agent to connect")
        yield Link(registry, client, port)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await registry.close_all("test over")
        await runner.cleanup()


async def test_bytes_and_half_close_cross_the_tunnel() -> None:
    """Data written on a hub stream reaches the destination and its echo comes back, EOF included."""
    server, port = await _serve(echo)
    async with server, tunnel_link(frozenset(), port) as link:
        reader, writer = await open_tunnel_connection(link.hub, Destination("tcp", "127.0.0.1", port))
        writer.write(b"hello tunnel")
        writer.write_eof()
        assert await reader.read() == b"hello tunnel"
        writer.close()
        await eventually(lambda: link.hub.stream_count() == 0, "the stream to be released")


async def test_megabytes_both_ways_in_full_frames() -> None:
    """8 MiB each way arrive intact; full-size DATA frames pass both websocket libraries' message limits."""
    server, port = await _serve(echo)
    payload = random.Random(7).randbytes(8 * 1024 * 1024)
    async with server, tunnel_link(frozenset(), port) as link:
        reader, writer = await open_tunnel_connection(link.hub, Destination("tcp", "127.0.0.1", port))

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        sending = asyncio.ensure_future(send())
        received = await reader.read()
        await sending
        assert received == payload
        assert link.client.sessions == 1  # the websocket was never torn down and re-established


async def test_a_stalled_stream_does_not_block_its_neighbours() -> None:
    """A stream nobody reads throttles its sender (bounded by windows and buffers, not by memory) while
    another stream on the same tunnel keeps flowing."""
    sent = [0]

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"x" * 65536)
                sent[0] += 65536
                await writer.drain()

    hose, hose_port = await _serve(firehose)
    server, port = await _serve(echo)
    async with hose, server, tunnel_link(frozenset({("127.0.0.1", hose_port)}), port) as link:
        _, stalled_writer = await open_tunnel_connection(
            link.hub, Destination("tcp", "127.0.0.1", hose_port), limit=1024
        )
        await eventually(lambda: sent[0] > 0, "the firehose to start")
        reader, writer = await open_tunnel_connection(link.hub, Destination("tcp", "127.0.0.1", port))
        for round_number in range(200):
            message = f"round {round_number}".encode()
            writer.write(message)
            assert await reader.readexactly(len(message)) == message
        assert sent[0] < 32 * 1024 * 1024  # an unthrottled loopback sender pushes gigabytes meanwhile
        stalled_writer.close()
        writer.close()


async def test_destinations_outside_the_allow_list_are_refused() -> None:
    """The agent answers OPEN_FAIL for anything but the child API server and its allowed destinations."""
    server, port = await _serve(echo)
    async with server, tunnel_link(frozenset(), port) as link:
        with pytest.raises(OpenRefused, match="destination not allowed"):
            await open_tunnel_connection(link.hub, Destination("tcp", "127.0.0.1", 1))
        with pytest.raises(OpenRefused, match="destination not allowed"):
            await open_tunnel_connection(link.hub, Destination("tcp", "localhost", port))
        await eventually(lambda: link.hub.stream_count() == 0, "refused streams to be forgotten")


async def test_allowed_destinations_that_do_not_answer_fail_the_open() -> None:
    """An allowed destination nobody listens on is an OPEN_FAIL with the dial error, not a hang."""
    probe = await asyncio.start_server(echo, "127.0.0.1", 0)
    closed_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    server, port = await _serve(echo)
    async with server, tunnel_link(frozenset({("127.0.0.1", closed_port)}), port) as link:
        with pytest.raises(OpenRefused, match="dial 127.0.0.1"):
            await open_tunnel_connection(link.hub, Destination("tcp", "127.0.0.1", closed_port))


async def test_tls_runs_end_to_end_over_a_stream(tmp_path: Path) -> None:
    """The hub verifies the destination's certificate through the tunnel; a wrong CA is refused."""
    ca = new_ca("child-ca")
    serving = issue_cert(ca, "child", ip_addresses=[ipaddress.ip_address("127.0.0.1")], server=True)
    (tmp_path / "tls.crt").write_bytes(serving.cert_pem)
    (tmp_path / "tls.key").write_bytes(serving.key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server, port = await _serve(echo, ssl=server_context)
    trusting = ssl.create_default_context(cadata=ca.cert_pem.decode())
    stranger = ssl.create_default_context(cadata=new_ca("other-ca").cert_pem.decode())
    async with server, tunnel_link(frozenset(), port) as link:
        destination = Destination("tcp", "127.0.0.1", port)
        reader, writer = await open_tunnel_connection(link.hub, destination, ssl_context=trusting)
        payload = b"secret" * 50_000
        writer.write(payload)
        assert await reader.readexactly(len(payload)) == payload
        writer.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await open_tunnel_connection(link.hub, destination, ssl_context=stranger)


async def test_losing_the_websocket_releases_every_stream() -> None:
    """When the tunnel goes, open streams see their connection end and the registry forgets the session."""
    server, port = await _serve(echo)
    async with server, tunnel_link(frozenset(), port) as link:
        tunnel = link.hub
        reader, writer = await open_tunnel_connection(tunnel, Destination("tcp", "127.0.0.1", port))
        await tunnel.stop("test: hub going away")
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await reader.readexactly(1)
        assert tunnel.stream_count() == 0
        # The hub registers the new session when it accepts it; the agent counts it once its own side of the
        # handshake is done, which may come a moment later.
        await eventually(
            lambda: link.registry.get(CLUSTER) is not None
            and link.registry.get(CLUSTER) is not tunnel
            and link.client.sessions == 2,
            "the agent to reconnect",
        )


async def test_a_reconnect_replaces_the_previous_session() -> None:
    """Registering a second tunnel for a cluster stops the first; only the newest is served."""
    server, port = await _serve(echo)
    async with server, tunnel_link(frozenset(), port) as link:
        first = link.hub
        second = TunnelEndpoint("hub", _SilentChannel(), name="second")
        runner = asyncio.ensure_future(second.run())
        link.registry.register(CLUSTER, second)
        await first.wait_closed()
        assert link.registry.get(CLUSTER) is second
        await second.stop("done")
        await runner


class _SilentChannel:
    """A websocket that never receives anything, until closed."""

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    async def send(self, message: bytes) -> None:
        if self._closed.is_set():
            raise ConnectionResetError("closed")

    async def receive(self) -> bytes | str | None:
        await self._closed.wait()
        return None

    async def close(self, code: int, reason: str) -> None:
        self._closed.set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", frozenset()),
        ("192.0.2.1:8080", frozenset({("192.0.2.1", 8080)})),
        ("Predictor.local:8080, [fd00::1]:443,", frozenset({("predictor.local", 8080), ("fd00::1", 443)})),
    ],
)
def test_allowed_destination_lists(text: str, expected: frozenset[tuple[str, int]]) -> None:
    """--tunnel-allowed-destinations takes host:port items, IPv6 in brackets, hosts compared lower-case."""
    assert parse_allowed_destinations(text) == expected


@pytest.mark.parametrize("text", ["host", "host:", "[::1]", "host:0", "host:70000"])
def test_allowed_destinations_need_valid_ports(text: str) -> None:
    """Every allowed destination names one valid port."""
    with pytest.raises(UsageError):
        parse_allowed_destinations(text)


@pytest.mark.parametrize(
    ("destination", "allowed"),
    [
        (Destination("tcp", "127.0.0.1", 6443), True),
        (Destination("tcp", "192.0.2.1", 8080), True),
        (Destination("tcp", "127.0.0.1", 6444), False),
        (Destination("tls", "127.0.0.1", 6443), False),
        (Destination("tcp", "169.254.169.254", 80), False),
    ],
)
def test_what_the_agent_dials(destination: Destination, allowed: bool) -> None:
    """The child API server and the listed destinations, over plain TCP; nothing else."""
    settings = TunnelClientSettings(
        server="https://parent",
        cluster_id=CLUSTER,
        ca_pem=None,
        child_address=("127.0.0.1", 6443),
        allowed_destinations=frozenset({("192.0.2.1", 8080)}),
    )
    assert settings.allows(destination) is allowed


def test_reconnect_delays_start_fast_and_stay_under_five_seconds() -> None:
    """The first retry comes within a third of a second; no delay ever exceeds five seconds; reset restarts."""
    backoff = ReconnectBackoff(rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(40)]
    assert delays[0] <= 0.25 * 1.25
    assert delays == sorted(delays[:5]) + delays[5:]  # grows at first
    assert max(delays) <= 5.0
    backoff.reset()
    assert backoff.next_delay() <= 0.25 * 1.25


def test_reconnect_delays_level_off_so_an_agent_is_back_soon_after_the_hub() -> None:
    """Whatever the outage, the wait after the hub's return is at most the capped delay: 2.5 s."""
    backoff = ReconnectBackoff(rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(200)]
    assert max(delays) <= 2.0 * 1.25
    assert min(delays[20:]) >= 2.0  # levelled off at the cap, jittered upwards only
    assert len({round(d, 6) for d in delays[20:]}) > 100  # jittered: agents do not retry in lockstep


def test_the_tls_context_is_built_once_per_client() -> None:
    ca = new_ca("tunnel-client-ca")
    settings = TunnelClientSettings(
        server="https://parent.example:6443",
        cluster_id=CLUSTER,
        ca_pem=ca.cert_pem,
        child_address=("127.0.0.1", 6443),
    )
    client = TunnelClient(settings, lambda: "token")
    first = client._ssl_context()  # noqa: SLF001
    assert first is not None and client._ssl_context() is first  # noqa: SLF001


async def test_bounded_waits_times_out_and_passes_cancellation_on() -> None:
    """bounded() returns results, raises TimeoutError, and a cancelled caller cancels the awaited work too."""

    async def value_after(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    assert await bounded(value_after(0), 5) == "done"
    with pytest.raises(asyncio.TimeoutError):
        await bounded(value_after(60), 0.01)
    inner = asyncio.ensure_future(value_after(60))
    outer = asyncio.ensure_future(bounded(inner, 60))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert inner.cancelled()
