"""Just enough HTTP/1.1 for the Kubernetes API: requests with bodies, keep-alive, chunked streams.

Why not ``http.client``: importing it pulls in the ``email`` package and costs about 30 ms, a fifth of a
``kubectl clusternet get``. The API server speaks a small, well-behaved subset of HTTP/1.1 (Content-Length or
chunked bodies, no trailers we need), which a hundred lines cover.
"""

from __future__ import annotations

import io
import socket
import ssl
from collections.abc import Sequence

__all__ = ["HttpConnection", "HttpResponse", "ServerClosed"]

_MAX_LINE = 65536


class ServerClosed(ConnectionError):
    """The server closed a kept-alive connection before answering (safe to retry on a new one)."""


class HttpResponse:
    """Status, headers and a body read on demand (whole, or line by line for watches)."""

    def __init__(self, stream: io.BufferedReader, method: str) -> None:
        self._stream = stream
        status_line = stream.readline(_MAX_LINE)
        if not status_line:
            raise ServerClosed("the server closed the connection")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ConnectionError(f"not an HTTP response: {status_line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while True:
            line = stream.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.will_close = self.headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self._remaining: int | None = int(length) if length is not None and not self._chunked else None
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._remaining = 0
            self._chunked = False
        if self._remaining is None and not self._chunked:
            self.will_close = True  # the body ends when the connection does
        self._chunk_left = 0
        self._done = self._remaining == 0
        self._pending = b""

    def _next_chunk(self) -> bytes:
        """The next piece of body, de-chunked; b"" at the end."""
        if self._done:
            return b""
        if self._chunked:
            if self._chunk_left == 0:
                size_line = self._stream.readline(_MAX_LINE)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self._stream.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self._done = True
                    return b""
                self._chunk_left = size
            data = self._stream.read1(self._chunk_left)
            if not data:
                raise ConnectionError("the connection closed inside a chunked body")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self._stream.readline(_MAX_LINE)  # the CRLF after the chunk
            return data
        if self._remaining is not None:
            data = self._stream.read1(min(self._remaining, 65536)) if self._remaining else b""
            if not data and self._remaining:
                raise ConnectionError("the connection closed before the whole body arrived")
            self._remaining -= len(data)
            self._done = self._remaining == 0
            return data
        data = self._stream.read1(65536)
        self._done = not data
        return data

    def read(self) -> bytes:
        pieces = [self._pending]
        self._pending = b""
        while True:
            piece = self._next_chunk()
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)

    def readline(self) -> bytes:
        """One line of the body (with its newline), or b"" at the end: watch events are one JSON per line."""
        while b"\n" not in self._pending:
            piece = self._next_chunk()
            if not piece:
                line, self._pending = self._pending, b""
                return line
            self._pending += piece
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"


class HttpConnection:
    """One TCP (or TLS) connection that sends requests in turn and can be kept alive between them."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname or host
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._stream: io.BufferedReader | None = None

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is not None:
            sock = self._ssl_context.wrap_socket(sock, server_hostname=self._server_hostname)
        self._sock = sock
        stream = sock.makefile("rb")
        assert isinstance(stream, io.BufferedReader)
        self._stream = stream

    def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None
    ) -> HttpResponse:
        if self._sock is None:
            self._connect()
        assert self._sock is not None and self._stream is not None
        host = f"[{self.host}]" if ":" in self.host else self.host
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{self.port}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self._sock.sendall(head + (body or b""))
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ServerClosed(str(exc)) from exc
        return HttpResponse(self._stream, method)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._stream = None
