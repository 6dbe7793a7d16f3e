"""Memory-minded pieces of the hub: the shared TLS receive buffer and the expiring review cache.

The buffer swap is checked with real TLS on loopback (several connections at once, large transfers both
ways, TLS over a tunnel-like ``start_tls`` upgrade too), since a buffer shared by mistake would corrupt
bytes rather than fail loudly.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import ssl
from asyncio import sslproto
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_lite import lean_tls
from hub_lite.auth import _TtlCache
from kubectl_clusternet.localfleet.pki import issue_cert, new_ca

PAYLOAD = 3 * 1024 * 1024 + 17  # several TLS records and several 256 KiB reads, not a round number


@pytest.fixture
def lean() -> Iterator[None]:
    """Install the shared buffer for one test and put asyncio's own class back afterwards."""
    original = sslproto.SSLProtocol
    if not lean_tls.install():
        pytest.skip("this Python's TLS protocol has no per-connection receive buffer")
    try:
        yield
    finally:
        sslproto.SSLProtocol = original  # type: ignore[misc]


def contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = new_ca("lean-tls-test-ca")
    serving = issue_cert(ca, "localhost", ip_addresses=[ipaddress.ip_address("127.0.0.1")], server=True)
    (tmp_path / "tls.crt").write_bytes(serving.cert_pem)
    (tmp_path / "tls.key").write_bytes(serving.key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    return server, ssl.create_default_context(cadata=ca.cert_pem.decode())


def pattern(seed: int) -> bytes:
    """Distinct bytes per connection, so data crossing between connections would be noticed."""
    block = hashlib.sha256(str(seed).encode()).digest() * 4096
    return (block * (PAYLOAD // len(block) + 1))[:PAYLOAD]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read everything, then answer with its SHA-256 and the bytes reversed in 64 KiB blocks."""
    data = await reader.readexactly(PAYLOAD)
    writer.write(hashlib.sha256(data).digest())
    for start in range(0, len(data), 65536):
        writer.write(data[start : start + 65536][::-1])
    await writer.drain()
    writer.close()


async def exchange(port: int, client: ssl.SSLContext, seed: int, *, upgrade: bool) -> None:
    data = pattern(seed)
    if upgrade:  # plain TCP first, then TLS on the same connection, as the hub does over a tunnel stream
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        raw, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        tls = await loop.start_tls(raw, protocol, client, server_hostname="127.0.0.1")
        assert tls is not None
        protocol.connection_made(tls)
        writer = asyncio.StreamWriter(tls, protocol, reader, loop)
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    writer.write(data)
    await writer.drain()
    digest = await reader.readexactly(32)
    back = await reader.readexactly(PAYLOAD)
    writer.close()
    assert digest == hashlib.sha256(data).digest()
    expected = b"".join(data[s : s + 65536][::-1] for s in range(0, len(data), 65536))
    assert back == expected


async def test_many_tls_connections_share_one_receive_buffer_without_mixing_bytes(
    lean: None, tmp_path: Path
) -> None:
    """Eight connections at once (half of them upgraded with start_tls) move 3 MiB each way intact, and
    every TLS protocol of the loop reads into the same buffer."""
    server_context, client_context = contexts(tmp_path)
    seen: list[asyncio.BaseProtocol] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.transport._ssl_protocol)  # type: ignore[attr-defined]  # noqa: SLF001
        await echo(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(exchange(port, client_context, i, upgrade=i % 2 == 1) for i in range(8))), 120
        )
    finally:
        server.close()
        await server.wait_closed()
    assert len(seen) == 8
    assert all(isinstance(p, lean_tls.LeanSSLProtocol) for p in seen)
    buffers = {id(p._ssl_buffer_view.obj) for p in seen}  # type: ignore[attr-defined]  # noqa: SLF001
    assert len(buffers) == 1


def test_install_reports_whether_the_swap_happened() -> None:
    """install() is idempotent and says whether asyncio now uses the lean class."""
    original = sslproto.SSLProtocol
    try:
        first = lean_tls.install()
        assert lean_tls.install() == first
        assert lean_tls.installed() == first
    finally:
        sslproto.SSLProtocol = original  # type: ignore[misc]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_answers_until_the_entry_expires() -> None:
    clock = FakeClock()
    cache = _TtlCache(10.0, clock=clock)
    cache.put("a", 1)
    clock.now += 9.9
    assert cache.get("a") == 1
    clock.now += 0.2
    assert cache.get("a") is None
    assert len(cache) == 0


def test_cache_drops_expired_entries_as_new_ones_arrive() -> None:
    """A burst of answers nobody asks for again does not stay in memory once it has expired."""
    clock = FakeClock()
    cache = _TtlCache(10.0, clock=clock)
    for index in range(1000):
        cache.put(f"agent-{index}", index)
    clock.now += 5.0
    cache.put("middle", "m")
    assert len(cache) == 1001
    clock.now += 6.0  # the burst is 11 s old, "middle" 6 s
    cache.put("late", "l")
    assert len(cache) == 2
    assert cache.get("middle") == "m"
    assert cache.get("late") == "l"


def test_cache_renewing_a_key_moves_it_behind_older_entries() -> None:
    clock = FakeClock()
    cache = _TtlCache(10.0, clock=clock)
    cache.put("a", 1)
    clock.now += 5.0
    cache.put("b", 2)
    cache.put("a", 3)  # renewed: now expires after "b"
    clock.now += 7.0  # "b" is 7 s old, "a" 7 s since renewal: both alive
    cache.put("c", 4)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (3, 2, 4)
    clock.now += 4.0  # everything but "c" (4 s) has expired
    cache.put("d", 5)
    assert len(cache) == 2


def test_cache_at_its_limit_evicts_the_oldest_live_entries() -> None:
    clock = FakeClock()
    cache = _TtlCache(10.0, limit=3, clock=clock)
    for key in "abcd":
        clock.now += 0.1
        cache.put(key, key)
    assert len(cache) == 3
    assert cache.get("a") is None
    assert [cache.get(k) for k in "bcd"] == ["b", "c", "d"]
