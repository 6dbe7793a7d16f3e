"""Watches through the async client: events of any size arrive whole, however the stream is chunked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.kube.rest import token_connection


def _event(name: str, payload_bytes: int) -> dict[str, Any]:
    return {
        "type": "ADDED",
        "object": {"kind": "ConfigMap", "metadata": {"name": name}, "data": {"big": "x" * payload_bytes}},
    }


async def _watch_all(chunks: list[bytes]) -> list[dict[str, Any]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for chunk in chunks:
            await response.write(chunk)
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/v1/configmaps", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = AsyncRestClient(token_connection(f"http://127.0.0.1:{port}", "t", None))
    try:
        return [event async for event in client.watch("/api/v1/configmaps")]
    finally:
        await client.close()
        await runner.cleanup()


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk_size", [4093, 65536, 1 << 22], ids=["tiny-chunks", "64KiB-chunks", "one-chunk"])
def test_large_events_arrive_whole(chunk_size: int) -> None:
    """A 3 MiB event (a big ConfigMap) between small ones; aiohttp's line reader alone refuses such lines."""
    events = [_event("small", 10), _event("huge", 3 * 1024 * 1024), _event("last", 10)]
    stream = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    assert asyncio.run(_watch_all(_split(stream, chunk_size))) == events


def test_a_last_event_without_newline_is_not_lost() -> None:
    events = [_event("a", 1), _event("b", 1)]
    stream = json.dumps(events[0]).encode() + b"\n" + json.dumps(events[1]).encode()
    assert asyncio.run(_watch_all([stream])) == events


def test_an_error_event_raises_with_the_servers_reason() -> None:
    gone = {
        "type": "ERROR",
        "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
    }
    with pytest.raises(ApiError) as raised:
        asyncio.run(_watch_all([json.dumps(gone).encode() + b"\n"]))
    assert raised.value.status == 410
