"""The small HTTP/1.1 reader handles the body framings the API server uses."""

from __future__ import annotations

import io

import pytest

from kubectl_clusternet.core.kube.wire import HttpResponse, ServerClosed


def response(raw: bytes, method: str = "GET") -> HttpResponse:
    return HttpResponse(io.BufferedReader(io.BytesIO(raw)), method)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "status", "body", "will_close"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", False),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
            200,
            b"hello",
            False,
        ),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 404, b"{}", True),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil close", 200, b"until close", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", False),
    ],
)
def test_bodies(raw: bytes, status: int, body: bytes, will_close: bool) -> None:
    """Content-Length, chunked, close-delimited and empty bodies all read back whole."""
    parsed = response(raw)
    assert (parsed.status, parsed.read(), parsed.will_close) == (status, body, will_close)


def test_watch_lines_span_chunks() -> None:
    """A watch stream's lines come out whole even when chunk boundaries cut through them."""
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'6\r\n{"a":1\r\n'
        b'4\r\n}\n{"\r\n'
        b'6\r\nb":2}\n\r\n'
        b"0\r\n\r\n"
    )
    parsed = response(raw)
    assert [parsed.readline(), parsed.readline(), parsed.readline()] == [b'{"a":1}\n', b'{"b":2}\n', b""]


def test_closed_before_answer() -> None:
    """A kept-alive connection the server closed is reported as ServerClosed, so the client retries."""
    with pytest.raises(ServerClosed):
        response(b"")
