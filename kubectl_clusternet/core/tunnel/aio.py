"""asyncio front-end of the tunnel: pump a TunnelSession over a websocket and expose streams as transports.

Both daemons use this one pump: the hub with aiohttp's websocket, the agent with the ``websockets`` client,
each behind the four-method ``WebSocketChannel`` protocol. Streams are ``asyncio.Transport`` objects, so the
hub can wrap one with ``loop.start_tls`` and asyncio streams (HTTP and TLS over the tunnel need no code of
their own) and the agent can splice one to a TCP connection with ordinary protocols.

Back-pressure runs end to end through asyncio's own flow control: a protocol that stops reading
(``pause_reading``) stops ``consumed`` being reported, so the peer runs out of credit; a stream whose send
buffer grows past its high-water mark gets ``pause_writing`` until the pump has framed enough of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .errors import SessionClosedError, TunnelError
from .events import (
    DataReceived,
    Event,
    GoingAway,
    Opened,
    OpenFailed,
    OpenRequested,
    PeerTimedOut,
    ProtocolError,
    RemoteClosed,
    StreamClosed,
    StreamReset,
)
from .frames import HEADER_SIZE, MAX_REASON_BYTES, Destination
from .session import DEFAULT_CONFIG, Role, TunnelConfig, TunnelSession

__all__ = [
    "WebSocketChannel",
    "TunnelEndpoint",
    "TunnelTransport",
    "OpenRefused",
    "StreamResetError",
    "Dialer",
    "Splice",
    "max_message_size",
    "open_tunnel_connection",
    "bounded",
    "GOING_AWAY_CODE",
]

_log = logging.getLogger(__name__)

GOING_AWAY_CODE = 1001  # RFC 6455: the endpoint is going away (a replaced session, a stopping daemon)
_TICK_SECONDS = 1.0
_SEND_BATCH_BYTES = 256 * 1024  # DATA bytes framed per round before control frames get a turn
_WRITE_HIGH_WATER = 256 * 1024
_WRITE_LOW_WATER = 64 * 1024


T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float) -> T:
    """``await awaitable`` for at most ``seconds`` (TimeoutError after), never swallowing a cancellation.

    Python 3.10/3.11's ``asyncio.wait_for`` can lose a cancellation of the *caller* when the inner
    awaitable finishes at the same moment (CPython gh-86296); a daemon that loses a cancellation never
    stops, so every timeout here goes through ``asyncio.wait``, which cannot.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise asyncio.TimeoutError(f"timed out after {seconds:g}s")
    return task.result()


def max_message_size(config: TunnelConfig = DEFAULT_CONFIG) -> int:
    """The largest websocket message a peer with ``config`` sends: a full DATA frame or a full SYNC.

    Websocket libraries cap incoming messages (``max_size``/``max_msg_size``); matching the cap to the
    protocol keeps a misbehaving peer from making us buffer more than one frame.
    """
    sync_payload = 4 + 4 * config.max_streams
    open_payload = 7 + 32 + 253  # window, port, scheme length, longest scheme and host
    return HEADER_SIZE + max(config.max_frame_payload, sync_payload, open_payload, MAX_REASON_BYTES)


class WebSocketChannel(Protocol):
    """The little a pump needs from a websocket library; each daemon adapts its own."""

    async def send(self, message: bytes) -> None:
        """Send one binary message; raise ConnectionError (or any OSError) once the socket is gone."""

    async def receive(self) -> bytes | str | None:
        """The next message, or None once the websocket is closed."""

    async def close(self, code: int, reason: str) -> None:
        """Close the websocket; must not raise if it is already closed."""


class OpenRefused(TunnelError):
    """Hub: the agent refused or failed to open the stream (OPEN_FAIL, or no answer in time).

    Agent: raised by a Dialer to refuse an OPEN with ``reason``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StreamResetError(ConnectionResetError):
    """Passed to ``connection_lost`` when a stream was reset rather than closed by both sides."""


# An agent-side callback: dial ``destination`` and return the protocol that will receive the stream's bytes
# (``connection_made`` is called with the stream's transport); raise OpenRefused to refuse.
Dialer = Callable[[Destination], Awaitable[asyncio.BaseProtocol]]


def _feed_buffered(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    """Hand ``data`` to a BufferedProtocol through the buffers it lends, as asyncio's own transports do."""
    view = memoryview(data)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        size = min(len(buffer), len(view))
        if not size:
            raise RuntimeError("get_buffer() returned an empty buffer")
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]


class TunnelTransport(asyncio.Transport):
    """One tunnel stream as an asyncio transport (flow control included); usable with ``loop.start_tls``."""

    _start_tls_compatible = True

    def __init__(self, endpoint: TunnelEndpoint, stream_id: int, destination: Destination) -> None:
        super().__init__({"peername": (destination.host, destination.port), "tunnel_stream_id": stream_id})
        self._endpoint = endpoint
        self.stream_id = stream_id
        self.destination = destination
        self._protocol: asyncio.BaseProtocol | None = None
        self._closing = False  # close() or abort() was called: deliver nothing more
        self._lost = False
        self._reading_paused = False
        self._pending: deque[bytes] = deque()  # received while reading was paused, not yet consumed
        self._pending_eof = False
        self._overflow: deque[bytes] = deque()  # written but not yet accepted by the session's buffer
        self._overflow_size = 0
        self._eof_requested = False  # write_eof()/close(): CLOSE once the overflow drains
        self._writing_paused = False
        self._high_water = _WRITE_HIGH_WATER
        self._low_water = _WRITE_LOW_WATER

    # -- asyncio.BaseTransport -------------------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def close(self) -> None:
        """Graceful: flush what was written, half-close, and stop delivering; the peer closes its side."""
        if self._closing or self._lost:
            return
        self._closing = True
        self._pending.clear()
        self._eof_requested = True
        self._endpoint._transport_changed(self)

    def abort(self) -> None:
        """Reset the stream at once, dropping buffered data both ways."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        """asyncio's TLS protocol calls this private hook on a fatal error (a failed handshake)."""
        if self._lost:
            return
        self._closing = True
        self._endpoint._abort(self, "aborted by the application" if exc is None else f"aborted: {exc}")

    # -- read side ---------------------------------------------------------------------------------------

    def is_reading(self) -> bool:
        return not self._reading_paused and not self.is_closing()

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        self._endpoint._loop.call_soon(self._deliver_pending)

    def _deliver(self, data: bytes) -> None:
        if self._closing or self._lost:
            self._endpoint._consumed(self.stream_id, len(data))
        elif self._reading_paused or self._pending or self._protocol is None:
            self._pending.append(data)
        else:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        protocol = self._protocol
        self._endpoint._consumed(self.stream_id, len(data))
        if isinstance(protocol, asyncio.BufferedProtocol):  # asyncio's TLS protocol is one (3.11+)
            _feed_buffered(protocol, data)
        else:
            assert isinstance(protocol, asyncio.Protocol)
            protocol.data_received(data)

    def _deliver_pending(self) -> None:
        if self._protocol is None:
            return
        while self._pending and not self._reading_paused and not self.is_closing():
            self._feed(self._pending.popleft())
        if self._pending_eof and not self._pending and not self.is_closing() and not self._reading_paused:
            self._pending_eof = False
            self._eof()

    def _remote_closed(self) -> None:
        if self._closing or self._lost:
            return
        if self._pending or self._reading_paused or self._protocol is None:
            self._pending_eof = True
        else:
            self._eof()

    def _eof(self) -> None:
        protocol = self._protocol
        assert isinstance(protocol, (asyncio.Protocol, asyncio.BufferedProtocol))
        keep_open = protocol.eof_received()
        if not keep_open:
            self.close()

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._pending.clear()
        self._overflow.clear()
        self._overflow_size = 0
        if self._protocol is not None:
            self._protocol.connection_lost(exc)

    # -- write side --------------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_requested or self._lost:
            return  # as asyncio's own transports do after close(): quietly drop
        if not data:
            return
        chunk = bytes(data)
        self._overflow.append(chunk)
        self._overflow_size += len(chunk)
        self._endpoint._transport_changed(self)
        self._check_write_pressure()

    def write_eof(self) -> None:
        if self._eof_requested or self._lost:
            return
        self._eof_requested = True
        self._endpoint._transport_changed(self)

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return self._overflow_size + self._endpoint._buffered(self.stream_id)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low_water, self._high_water

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high_water = _WRITE_HIGH_WATER if high is None else high
        self._low_water = self._high_water // 4 if low is None else low
        self._check_write_pressure()

    def _check_write_pressure(self) -> None:
        size = self.get_write_buffer_size()
        if not self._writing_paused and size > self._high_water:
            self._writing_paused = True
            self._endpoint._write_paused.add(self)
            if self._protocol is not None:
                self._protocol.pause_writing()
        elif self._writing_paused and size <= self._low_water:
            self._writing_paused = False
            self._endpoint._write_paused.discard(self)
            if self._protocol is not None and not self._lost:
                self._protocol.resume_writing()

    def __repr__(self) -> str:
        return f"<TunnelTransport stream={self.stream_id} {self.destination}>"


class TunnelEndpoint:
    """One end of a live tunnel: a TunnelSession pumped over a websocket until either side ends it.

    ``run()`` owns the websocket until it closes. The hub opens streams with ``open_connection``; the agent
    answers OPENs with its ``dialer``. Every stream still open when the session ends gets
    ``connection_lost``, so nothing outlives the websocket.
    """

    def __init__(
        self,
        role: Role,
        websocket: WebSocketChannel,
        *,
        config: TunnelConfig = DEFAULT_CONFIG,
        dialer: Dialer | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_seconds: float = _TICK_SECONDS,
        name: str = "",
    ) -> None:
        if role == "agent" and dialer is None:
            raise ValueError("an agent endpoint needs a dialer")
        self.name = name or role
        self._clock = clock
        self._session = TunnelSession(role, now=clock(), config=config)
        self._websocket = websocket
        self._dialer = dialer
        self._tick_seconds = tick_seconds
        self._loop = asyncio.get_running_loop()
        self._transports: dict[int, TunnelTransport] = {}
        self._opening: dict[int, tuple[asyncio.Future[TunnelTransport], Destination]] = {}
        self._answering: set[asyncio.Task[None]] = set()
        self._write_paused: set[TunnelTransport] = set()
        self._feeding: dict[int, TunnelTransport] = {}  # transports with overflow or a pending EOF
        self._wake_writer = asyncio.Event()
        self._finished = asyncio.Event()
        self._stopping: tuple[int, str] | None = None
        self._started = False
        self.close_reason = ""

    # -- state -------------------------------------------------------------------------------------------

    @property
    def session(self) -> TunnelSession:
        return self._session

    @property
    def closed(self) -> bool:
        return self._finished.is_set() or self._session.closed or self._stopping is not None

    def stream_count(self) -> int:
        """Streams this end still holds state for (the session's view, plus opens not yet answered)."""
        return len(self._session.open_stream_ids() | set(self._transports) | set(self._opening))

    async def wait_closed(self) -> None:
        await self._finished.wait()

    # -- hub: opening streams ------------------------------------------------------------------------------

    async def open_connection(
        self, destination: Destination, protocol_factory: Callable[[], asyncio.BaseProtocol]
    ) -> tuple[TunnelTransport, asyncio.BaseProtocol]:
        """Ask the agent to dial ``destination``; returns once it accepted, like ``loop.create_connection``.

        Raises OpenRefused when the agent refuses, cannot dial or does not answer within the session's
        open timeout, and SessionClosedError when the tunnel is gone.
        """
        if self.closed:
            raise SessionClosedError(f"tunnel {self.name} is closed")
        stream_id = self._session.open_stream(destination, self._clock())
        opened: asyncio.Future[TunnelTransport] = self._loop.create_future()
        self._opening[stream_id] = (opened, destination)
        self._wake_writer.set()
        try:
            transport = await opened
        except asyncio.CancelledError:
            self._opening.pop(stream_id, None)
            if opened.done() and not opened.cancelled() and opened.exception() is None:
                opened.result().abort()
            else:
                self._reset(stream_id, "the opener gave up")
            raise
        if transport.is_closing():
            raise OpenRefused("the stream was reset as soon as it opened")
        protocol = protocol_factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        transport._deliver_pending()
        return transport, protocol

    # -- running ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Pump until the websocket closes or the session ends; then release every stream.

        However it ends (even cancelled half-way through winding down), every stream gets
        ``connection_lost`` and ``wait_closed`` returns: nothing waits forever on a dead tunnel.
        """
        self._started = True
        writer = asyncio.ensure_future(self._write_loop())
        ticker = asyncio.ensure_future(self._tick_loop())
        reader = asyncio.ensure_future(self._read_loop())
        try:
            await asyncio.wait({writer, ticker, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            try:
                await self._wind_down(writer, ticker, reader)
            finally:
                for task in (reader, ticker, writer, *self._answering):
                    task.cancel()
                self._fail_everything(self.close_reason or "tunnel closed")
                self._finished.set()

    async def _wind_down(
        self, writer: asyncio.Future[None], ticker: asyncio.Future[None], reader: asyncio.Future[None]
    ) -> None:
        for task in (reader, ticker):
            task.cancel()
        if not self._session.closed:
            reason = (
                self._stopping[1] if self._stopping is not None else self.close_reason or "websocket closed"
            )
            self._session.connection_lost(reason)
        self._process_events()
        # A normal end (GOAWAY drained) or a protocol error still has frames to flush before closing.
        self._wake_writer.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait({writer}, timeout=5.0)
        writer.cancel()
        for task in list(self._answering):
            task.cancel()
        results = await asyncio.gather(reader, ticker, writer, *self._answering, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                _log.error("tunnel %s: pump failed", self.name, exc_info=result)
                self.close_reason = self.close_reason or f"internal error: {result!r}"
        code, reason = self._close_code()
        with contextlib.suppress(Exception):
            await bounded(self._websocket.close(code, reason), 5.0)

    def _close_code(self) -> tuple[int, str]:
        if self._stopping is not None:
            return self._stopping
        code = self._session.close_code
        reason = self._session.close_reason[:120]
        if code is None or code == 1006:  # 1006 describes a lost socket; it is never sent in a close frame
            return 1000, reason
        return int(code), reason

    async def stop(self, reason: str, code: int = GOING_AWAY_CODE) -> None:
        """End the tunnel now (a replaced session, a stopping daemon) and wait until it is released."""
        if self._stopping is None and not self._finished.is_set():
            self._stopping = (code, reason)
            self.close_reason = reason
            self._wake_writer.set()
            if not self._started:  # nothing will ever run the clean-up: do it here
                self._session.connection_lost(reason)
                self._fail_everything(reason)
                self._finished.set()
            with contextlib.suppress(Exception):
                await bounded(self._websocket.close(code, reason), 5.0)
        await self._finished.wait()

    async def _read_loop(self) -> None:
        while not self._session.closed and self._stopping is None:
            try:
                message = await self._websocket.receive()
            except (ConnectionError, OSError) as exc:
                self.close_reason = f"websocket failed: {exc}"
                return
            if message is None:
                self.close_reason = self.close_reason or "websocket closed by the peer"
                return
            self._session.receive_message(message, self._clock())
            self._process_events()
            self._wake_writer.set()

    async def _tick_loop(self) -> None:
        while not self._session.closed and self._stopping is None:
            await asyncio.sleep(self._tick_seconds)
            self._session.tick(self._clock())
            self._process_events()
            self._wake_writer.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            while True:
                self._feed_sessions()
                messages = self._session.messages_to_send(_SEND_BATCH_BYTES)
                if not messages:
                    break
                for message in messages:
                    try:
                        await self._websocket.send(message)
                    except (ConnectionError, OSError) as exc:
                        self.close_reason = f"websocket failed: {exc}"
                        return
                    except Exception as exc:  # library-specific "connection closed" errors
                        self.close_reason = f"websocket closed: {exc}"
                        return
                self._relieve_pressure()
                self._process_events()  # CLOSE after the last DATA may finish streams
            if self._session.closed or self._stopping is not None:
                return

    # -- session plumbing --------------------------------------------------------------------------------

    def _feed_sessions(self) -> None:
        """Move bytes transports were given into the session's buffers, as far as they have room."""
        limit = self._session.config.max_buffered_per_stream
        for stream_id, transport in list(self._feeding.items()):
            if stream_id not in self._transports:
                del self._feeding[stream_id]
                continue
            room = limit - self._session.buffered_bytes(stream_id)
            while transport._overflow and room > 0:
                chunk = transport._overflow.popleft()
                if len(chunk) > room:
                    transport._overflow.appendleft(chunk[room:])
                    chunk = chunk[:room]
                transport._overflow_size -= len(chunk)
                room -= len(chunk)
                try:
                    self._session.send_data(stream_id, chunk)
                except TunnelError:  # the peer reset it a moment ago; its event is on the way
                    transport._overflow.clear()
                    transport._overflow_size = 0
                    break
            if not transport._overflow:
                del self._feeding[stream_id]
                if transport._eof_requested:
                    with contextlib.suppress(TunnelError):
                        self._session.close_stream(stream_id, self._clock())
        self._process_events()

    def _relieve_pressure(self) -> None:
        for transport in list(self._write_paused):
            transport._check_write_pressure()
        if self._feeding:
            self._wake_writer.set()

    def _transport_changed(self, transport: TunnelTransport) -> None:
        if transport.stream_id in self._transports:
            self._feeding[transport.stream_id] = transport
            self._wake_writer.set()

    def _buffered(self, stream_id: int) -> int:
        if stream_id not in self._transports:
            return 0
        return self._session.buffered_bytes(stream_id)

    def _consumed(self, stream_id: int, size: int) -> None:
        if stream_id in self._transports:
            self._session.consumed(stream_id, size)
            self._wake_writer.set()

    def _reset(self, stream_id: int, reason: str) -> None:
        with contextlib.suppress(TunnelError):
            self._session.reset_stream(stream_id, reason)
        self._wake_writer.set()

    def _abort(self, transport: TunnelTransport, reason: str) -> None:
        stream_id = transport.stream_id
        if self._transports.get(stream_id) is transport:
            del self._transports[stream_id]
            self._feeding.pop(stream_id, None)
            self._write_paused.discard(transport)
            self._reset(stream_id, reason)
        self._loop.call_soon(transport._connection_lost, None)

    def _process_events(self) -> None:
        for event in self._session.events():
            try:
                self._dispatch(event)
            except Exception:
                # A protocol that fails on its own bytes loses its stream, never the whole tunnel.
                _log.exception("tunnel %s: handling %s failed", self.name, type(event).__name__)
                transport = self._transports.get(getattr(event, "stream_id", 0))
                if transport is not None:
                    transport.abort()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, DataReceived):
            transport = self._transports.get(event.stream_id)
            if transport is None:
                with contextlib.suppress(TunnelError):
                    self._session.consumed(event.stream_id, len(event.data))
            else:
                transport._deliver(event.data)
        elif isinstance(event, RemoteClosed):
            transport = self._transports.get(event.stream_id)
            if transport is not None:
                transport._remote_closed()
        elif isinstance(event, Opened):
            opening = self._opening.pop(event.stream_id, None)
            if opening is None:
                return
            future, destination = opening
            transport = TunnelTransport(self, event.stream_id, destination)
            self._transports[event.stream_id] = transport
            if not future.done():
                future.set_result(transport)
        elif isinstance(event, OpenFailed):
            opening = self._opening.pop(event.stream_id, None)
            if opening is not None and not opening[0].done():
                opening[0].set_exception(OpenRefused(event.reason))
        elif isinstance(event, (StreamReset, StreamClosed)):
            self._stream_gone(event)
        elif isinstance(event, OpenRequested):
            task = asyncio.ensure_future(self._answer(event.stream_id, event.destination))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        elif isinstance(event, (PeerTimedOut, ProtocolError)):
            _log.warning("tunnel %s: %s", self.name, event)
            self.close_reason = self._session.close_reason
        elif isinstance(event, GoingAway):
            _log.info("tunnel %s: the peer is going away (%s)", self.name, event.reason)

    def _stream_gone(self, event: StreamReset | StreamClosed) -> None:
        transport = self._transports.pop(event.stream_id, None)
        self._feeding.pop(event.stream_id, None)
        if transport is None:
            return
        self._write_paused.discard(transport)
        exc = StreamResetError(event.reason) if isinstance(event, StreamReset) else None
        self._loop.call_soon(transport._connection_lost, exc)

    async def _answer(self, stream_id: int, destination: Destination) -> None:
        """Agent: dial, then accept or refuse; a hub that gave up meanwhile gets nothing but a closed dial."""
        assert self._dialer is not None
        try:
            protocol = await self._dialer(destination)
        except OpenRefused as refused:
            self._refuse(stream_id, refused.reason)
            return
        except Exception as exc:  # a dialer bug must not take the tunnel down
            _log.exception("tunnel %s: dialling %s failed", self.name, destination)
            self._refuse(stream_id, f"dial {destination.address}: {exc}")
            return
        if self._session.closed or stream_id not in self._session.open_stream_ids():
            transport = TunnelTransport(self, stream_id, destination)
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            transport._connection_lost(StreamResetError("the hub gave up on the stream"))
            return
        self._session.accept_open(stream_id)
        transport = TunnelTransport(self, stream_id, destination)
        transport.set_protocol(protocol)
        self._transports[stream_id] = transport
        protocol.connection_made(transport)
        self._wake_writer.set()

    def _refuse(self, stream_id: int, reason: str) -> None:
        if not self._session.closed and stream_id in self._session.open_stream_ids():
            self._session.refuse_open(stream_id, reason)
            self._wake_writer.set()

    def _fail_everything(self, reason: str) -> None:
        for future, _ in self._opening.values():
            if not future.done():
                future.set_exception(OpenRefused(f"tunnel closed: {reason}"))
        self._opening.clear()
        for transport in list(self._transports.values()):
            transport._connection_lost(StreamResetError(f"tunnel closed: {reason}"))
        self._transports.clear()
        self._feeding.clear()
        self._write_paused.clear()


class _Pipe(asyncio.Protocol):
    """One direction of a Splice: what arrives on its own transport is written to the other one."""

    def __init__(self, splice: Splice, side: int) -> None:
        self._splice = splice
        self._side = side
        self.transport: asyncio.Transport | None = None
        self.early: list[bytes] = []
        self.early_eof = False
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._splice._attached(self._side)

    def data_received(self, data: bytes) -> None:
        peer = self._splice.other(self._side).transport
        if peer is None:
            self.early.append(data)
        else:
            peer.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self._splice.other(self._side).transport
        if peer is None:
            self.early_eof = True
        elif peer.can_write_eof():
            peer.write_eof()
        self._splice._maybe_finish()
        return True

    def pause_writing(self) -> None:
        peer = self._splice.other(self._side).transport
        if peer is not None:
            peer.pause_reading()

    def resume_writing(self) -> None:
        peer = self._splice.other(self._side).transport
        if peer is not None:
            peer.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._splice._lost(self._side, exc)


class Splice:
    """Join two transports byte for byte, half-closes and back-pressure included.

    Use ``protocols[0]`` for one connection (say the TCP dial) and ``protocols[1]`` for the other (the
    tunnel stream); bytes arriving before the other side exists are held until it does.
    """

    def __init__(self) -> None:
        self.protocols = (_Pipe(self, 0), _Pipe(self, 1))
        self.done = asyncio.get_running_loop().create_future()

    def other(self, side: int) -> _Pipe:
        return self.protocols[1 - side]

    def _attached(self, side: int) -> None:
        other = self.other(side)
        this = self.protocols[side]
        assert this.transport is not None
        for chunk in other.early:
            this.transport.write(chunk)
        other.early.clear()
        if other.early_eof and this.transport.can_write_eof():
            this.transport.write_eof()
        if other.transport is not None and other.transport.is_closing():
            this.transport.close()

    def _maybe_finish(self) -> None:
        if all(p.eof for p in self.protocols):
            for pipe in self.protocols:
                if pipe.transport is not None:
                    pipe.transport.close()

    def _lost(self, side: int, exc: Exception | None) -> None:
        other = self.other(side).transport
        if other is not None and not other.is_closing():
            if exc is None:
                other.close()
            else:
                other.abort()
        if (
            all(p.transport is None or p.transport.is_closing() for p in self.protocols)
            and not self.done.done()
        ):
            self.done.set_result(None)


async def open_tunnel_connection(
    endpoint: TunnelEndpoint,
    destination: Destination,
    *,
    ssl_context: Any = None,
    server_hostname: str | None = None,
    limit: int = 2**16,
    handshake_timeout: float = 30.0,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio streams over a new tunnel stream, TLS included when ``ssl_context`` is given.

    TLS runs on the hub, end to end with the destination, so the agent only ever sees ciphertext and the
    hub verifies the destination's certificate itself.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    if ssl_context is None:
        transport, _ = await endpoint.open_connection(destination, lambda: protocol)
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
    raw, _ = await endpoint.open_connection(destination, asyncio.Protocol)
    try:
        tls_transport = await loop.start_tls(
            raw,
            protocol,
            ssl_context,
            server_hostname=server_hostname or destination.host,
            ssl_handshake_timeout=handshake_timeout,
        )
    except BaseException:
        raw.abort()
        raise
    assert tls_transport is not None
    protocol.connection_made(tls_transport)
    return reader, asyncio.StreamWriter(tls_transport, protocol, reader, loop)
