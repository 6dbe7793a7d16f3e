"""The tunnel session: one state machine per websocket, with no I/O and no clock of its own.

A front-end feeds it websocket messages (``receive_message``) and the passage of time (``tick``), forwards
application calls (``open_stream``, ``send_data``, ``consumed``...), then drains ``events()`` and sends
whatever ``messages_to_send()`` returns. Keeping sockets and timers out means the hub (aiohttp), the agent
(websockets) and the tests all run the very same protocol code, and every timeout is testable with a fake
``now``.

Streams are opened by the hub only, with ids counting up from 1 and never reused. That single rule carries
a lot: a frame for a forgotten id can never hit a newer stream, and "the highest id a side has seen" is a
watermark that makes periodic reconciliation (SYNC) safe against OPEN frames still in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, TypeAlias

from kubectl_clusternet.core.errors import ConfigError
from kubectl_clusternet.core.tunnel.errors import (
    BufferFullError,
    CloseCode,
    ProtocolViolation,
    SessionClosedError,
    StreamClosedError,
    StreamLimitError,
    TunnelStateError,
)
from kubectl_clusternet.core.tunnel.events import (
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
from kubectl_clusternet.core.tunnel.flow import ReceiveWindow, SendBuffer, SendWindow
from kubectl_clusternet.core.tunnel.frames import (
    MAX_STREAM_ID,
    MAX_WINDOW,
    CloseFrame,
    DataFrame,
    Destination,
    Frame,
    GoAwayFrame,
    OpenFailFrame,
    OpenFrame,
    OpenOkFrame,
    PingFrame,
    PongFrame,
    ResetFrame,
    SyncFrame,
    WindowUpdateFrame,
    decode_frame,
    encode_frame,
)

__all__ = ["Role", "TunnelConfig", "DEFAULT_CONFIG", "TunnelSession"]

Role: TypeAlias = Literal["hub", "agent"]

_MAX_PING_NONCE = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class TunnelConfig:
    """Limits and timers of one session; both ends may differ, since windows travel in OPEN and OPEN_OK.

    ``max_frame_payload`` must fit the peer's websocket message limit (the websockets library defaults to
    1 MiB). ``max_streams`` also bounds a SYNC frame to 4 bytes per stream.
    """

    initial_window: int = 256 * 1024
    max_frame_payload: int = 64 * 1024
    ping_interval: float = 20.0
    ping_timeout: float = 60.0
    close_timeout: float = 30.0
    open_timeout: float = 30.0
    sync_interval: float = 60.0
    max_buffered_per_stream: int = 1024 * 1024
    max_streams: int = 4096

    def __post_init__(self) -> None:
        if not 1 <= self.initial_window <= MAX_WINDOW:
            raise ConfigError(f"tunnel initial_window must be between 1 and {MAX_WINDOW} bytes")
        if not 1 <= self.max_frame_payload <= MAX_WINDOW:
            raise ConfigError(f"tunnel max_frame_payload must be between 1 and {MAX_WINDOW} bytes")
        if self.max_buffered_per_stream < 1:
            raise ConfigError("tunnel max_buffered_per_stream must be at least 1 byte")
        if not 1 <= self.max_streams <= MAX_STREAM_ID:
            raise ConfigError(f"tunnel max_streams must be between 1 and {MAX_STREAM_ID}")
        for name in ("ping_interval", "ping_timeout", "close_timeout", "open_timeout", "sync_interval"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"tunnel {name} must be a positive number of seconds")
        if self.ping_timeout <= self.ping_interval:
            # Otherwise an idle but healthy peer, which only pings every ping_interval, would time out.
            raise ConfigError("tunnel ping_timeout must be longer than ping_interval")


DEFAULT_CONFIG = TunnelConfig()


class _Phase(Enum):
    OPENING = "opening"  # hub: OPEN sent, no OPEN_OK / OPEN_FAIL yet
    AWAITING_ANSWER = "awaiting answer"  # agent: OpenRequested emitted, no accept_open / refuse_open yet
    OPEN = "open"


@dataclass(eq=False)
class _Stream:
    stream_id: int
    phase: _Phase
    send_window: SendWindow
    receive_window: ReceiveWindow
    send_buffer: SendBuffer = field(default_factory=SendBuffer)
    open_deadline: float | None = None
    close_deadline: float | None = None
    local_closed: bool = False  # close_stream was called; CLOSE goes out once the send buffer drains
    close_sent: bool = False
    remote_closed: bool = False


class TunnelSession:
    """Many byte streams over one websocket, from the point of view of one end.

    Errors made by the peer never raise: they become a ProtocolError event and close the session.
    Errors made by the caller raise TunnelError subclasses. Calls about a stream that existed but is gone
    (the peer reset it while the caller was busy) are quietly ignored, except ``send_data``, whose bytes
    would otherwise vanish; ids this session never saw always raise, since only a bug produces them.
    """

    def __init__(self, role: Role, *, now: float, config: TunnelConfig = DEFAULT_CONFIG) -> None:
        if role not in ("hub", "agent"):
            raise TunnelStateError(f"tunnel role must be 'hub' or 'agent', not {role!r}")
        self._role: Role = role
        self._config = config
        self._streams: dict[int, _Stream] = {}
        self._highest_stream_id = 0  # hub: last id allocated; agent: last id seen in an OPEN
        # Streams with both data and credit, in round-robin order (a dict is an ordered set).
        self._ready: dict[int, None] = {}
        self._outbox: list[bytes] = []
        self._events: list[Event] = []
        self._last_received = now
        self._last_sent = now
        self._sent_since_tick = False
        self._last_sync = now
        self._ping_nonce = 0
        self._ping_in_flight: tuple[int, float] | None = None
        self._round_trip_time: float | None = None
        self._goaway_sent = False
        self._goaway_received = False
        self._goaway_reason = ""
        self._close_code: CloseCode | None = None
        self._close_reason = ""

    # -- state --------------------------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def config(self) -> TunnelConfig:
        return self._config

    @property
    def closed(self) -> bool:
        """True once the session is over; send messages_to_send() one last time, then close the websocket."""
        return self._close_code is not None

    @property
    def close_code(self) -> CloseCode | None:
        """The websocket close code to use; None while the session is alive."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    @property
    def going_away(self) -> bool:
        """True after GOAWAY went either way: no new streams, the session ends when the last one does."""
        return self._goaway_sent or self._goaway_received

    @property
    def round_trip_time(self) -> float | None:
        """Seconds between the latest answered PING and its PONG, for health reporting."""
        return self._round_trip_time

    def open_stream_ids(self) -> set[int]:
        """Every stream this side still holds state for, in any phase."""
        return set(self._streams)

    def buffered_bytes(self, stream_id: int) -> int:
        """Bytes written with send_data but not yet framed; a front-end stops reading its source when high."""
        stream = self._lookup(stream_id)
        return 0 if stream is None else len(stream.send_buffer)

    # -- draining -----------------------------------------------------------------------------------

    def events(self) -> list[Event]:
        """Everything that happened since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def messages_to_send(self, max_bytes: int | None = None) -> list[bytes]:
        """Websocket binary messages to send, in order.

        Frames queued so far (OPEN, WINDOW_UPDATE, PING...) come first, then DATA frames taken round-robin from every stream holding both data
        and credit, one chunk of at most ``max_frame_payload`` per stream per round, so a large write
        cannot starve small ones. ``max_bytes`` stops framing DATA once that many payload bytes were
        produced, letting a front-end interleave fresh control frames with a long backlog.
        """
        produced = 0
        while self._ready and (max_bytes is None or produced < max_bytes):
            stream_id = next(iter(self._ready))
            del self._ready[stream_id]
            stream = self._streams[stream_id]
            size = stream.send_window.take(min(len(stream.send_buffer), self._config.max_frame_payload))
            self._queue(DataFrame(stream_id, stream.send_buffer.take(size)))
            produced += size
            self._schedule(stream)  # back of the round, or CLOSE right after its last DATA
        messages, self._outbox = self._outbox, []
        if messages:
            self._sent_since_tick = True
        return messages

    # -- feeding ------------------------------------------------------------------------------------

    def receive_message(self, message: bytes | str, now: float) -> None:
        """Process one websocket message; a malformed or illegal one closes the session, never raises."""
        if self.closed:
            return
        self._last_received = now
        try:
            if isinstance(message, str):
                raise ProtocolViolation(
                    "text message on the tunnel; frames are binary", CloseCode.UNSUPPORTED_DATA
                )
            self._handle(decode_frame(message), now)
        except ProtocolViolation as violation:
            self._events.append(ProtocolError(violation.message, int(violation.close_code)))
            self._shut_down(f"protocol error: {violation.message}", violation.close_code)

    def tick(self, now: float) -> None:
        """Run the timers: keepalive, open and close deadlines, reconciliation.

        Call it regularly (every second or so); its precision is the tick period.
        """
        if self.closed:
            return
        if self._sent_since_tick:
            self._last_sent = now
            self._sent_since_tick = False
        silence = now - self._last_received
        if silence >= self._config.ping_timeout:
            self._events.append(PeerTimedOut(silence))
            self._shut_down(
                f"keepalive timeout: nothing received for {silence:.1f}s", CloseCode.INTERNAL_ERROR
            )
            return
        for stream in list(self._streams.values()):
            if stream.open_deadline is not None and now >= stream.open_deadline:
                self._queue(ResetFrame(stream.stream_id, "open timed out"))
                self._drop(stream, f"no answer to OPEN within {self._config.open_timeout:g}s", by_peer=False)
            elif stream.close_deadline is not None and now >= stream.close_deadline:
                self._queue(ResetFrame(stream.stream_id, "close timed out"))
                self._drop(
                    stream, f"peer did not close within {self._config.close_timeout:g}s", by_peer=False
                )
        if self.closed:  # the last stream of a session going away just ended
            return
        if now - self._last_sync >= self._config.sync_interval:
            self._queue(SyncFrame(self._highest_stream_id, tuple(sorted(self._streams))))
            self._last_sync = now
        if now - self._last_sent >= self._config.ping_interval:
            self._ping_nonce = (self._ping_nonce + 1) & _MAX_PING_NONCE
            self._queue(PingFrame(self._ping_nonce))
            self._ping_in_flight = (self._ping_nonce, now)
            self._last_sent = now

    def connection_lost(self, reason: str = "websocket connection lost") -> None:
        """The websocket is gone: reset every stream so the front-end releases them."""
        if not self.closed:
            self._shut_down(reason, CloseCode.ABNORMAL)

    # -- application calls ----------------------------------------------------------------------------

    def open_stream(self, destination: Destination, now: float) -> int:
        """Hub: ask the agent to dial ``destination``; data may be written at once and flows after Opened."""
        if self._role != "hub":
            raise TunnelStateError("only the hub opens streams")
        if self.closed:
            raise SessionClosedError(f"tunnel session is closed: {self._close_reason}")
        if self.going_away:
            raise SessionClosedError(f"tunnel session is going away: {self._goaway_reason}")
        if len(self._streams) >= self._config.max_streams:
            raise StreamLimitError(
                f"tunnel already carries {len(self._streams)} streams, the configured maximum"
            )
        if self._highest_stream_id >= MAX_STREAM_ID:
            raise StreamLimitError("tunnel stream ids are exhausted; reconnect to start a new session")
        self._highest_stream_id += 1
        stream = _Stream(
            self._highest_stream_id,
            _Phase.OPENING,
            SendWindow(0),  # the agent's window arrives with OPEN_OK
            ReceiveWindow(self._config.initial_window),
            open_deadline=now + self._config.open_timeout,
        )
        self._streams[stream.stream_id] = stream
        self._queue(OpenFrame(stream.stream_id, destination, self._config.initial_window))
        return stream.stream_id

    def accept_open(self, stream_id: int) -> None:
        """Agent: the destination was dialled; the hub may start sending."""
        stream = self._answerable(stream_id)
        if stream is not None:
            stream.phase = _Phase.OPEN
            self._queue(OpenOkFrame(stream_id, stream.receive_window.remaining))

    def refuse_open(self, stream_id: int, reason: str) -> None:
        """Agent: the destination is not allowed or could not be dialled."""
        stream = self._answerable(stream_id)
        if stream is not None:
            self._queue(OpenFailFrame(stream_id, reason))
            self._forget(stream)

    def send_data(self, stream_id: int, data: bytes) -> None:
        """Buffer ``data`` for the stream; it is framed as credit allows. All or nothing on BufferFullError."""
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamClosedError(f"tunnel stream {stream_id} is not open")
        if stream.local_closed:
            raise StreamClosedError(f"tunnel stream {stream_id} is closed for writing")
        if stream.phase is _Phase.AWAITING_ANSWER:
            raise TunnelStateError(f"tunnel stream {stream_id} must be accepted before data is sent on it")
        if len(stream.send_buffer) + len(data) > self._config.max_buffered_per_stream:
            raise BufferFullError(
                f"tunnel stream {stream_id} would buffer more than {self._config.max_buffered_per_stream} bytes"
            )
        stream.send_buffer.append(bytes(data))
        self._schedule(stream)

    def close_stream(self, stream_id: int, now: float) -> None:
        """Half-close: no more data from this side. The peer must close too within close_timeout."""
        stream = self._lookup(stream_id)
        if stream is None or stream.local_closed:
            return
        if stream.phase is _Phase.AWAITING_ANSWER:
            raise TunnelStateError(f"tunnel stream {stream_id} must be accepted or refused, not closed")
        stream.local_closed = True
        stream.close_deadline = now + self._config.close_timeout
        self._schedule(stream)

    def reset_stream(self, stream_id: int, reason: str) -> None:
        """Abort the stream both ways at once, dropping buffered data; no event follows."""
        stream = self._lookup(stream_id)
        if stream is not None:
            self._queue(ResetFrame(stream_id, reason))
            self._forget(stream)

    def consumed(self, stream_id: int, size: int) -> None:
        """The application passed on ``size`` received bytes; credit goes back to the peer in batches."""
        stream = self._lookup(stream_id)
        if stream is None:
            return
        credit = stream.receive_window.consume(size)
        if credit and not stream.remote_closed:
            self._queue(WindowUpdateFrame(stream_id, credit))

    def go_away(self, reason: str) -> None:
        """Take no new streams; the session closes normally once the existing ones are done."""
        if self.closed or self._goaway_sent:
            return
        self._goaway_sent = True
        self._goaway_reason = self._goaway_reason or reason
        self._queue(GoAwayFrame(reason))
        self._close_if_drained()

    # -- incoming frames ------------------------------------------------------------------------------

    def _handle(self, frame: Frame, now: float) -> None:
        if isinstance(frame, DataFrame):
            self._on_data(frame)
        elif isinstance(frame, WindowUpdateFrame):
            self._on_window_update(frame)
        elif isinstance(frame, OpenFrame):
            self._on_open(frame)
        elif isinstance(frame, OpenOkFrame):
            self._on_open_ok(frame)
        elif isinstance(frame, OpenFailFrame):
            self._on_open_fail(frame)
        elif isinstance(frame, CloseFrame):
            self._on_close(frame)
        elif isinstance(frame, ResetFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is not None:  # a RESET is never answered, or two ends could bounce them forever
                self._drop(stream, frame.reason, by_peer=True)
        elif isinstance(frame, PingFrame):
            self._queue(PongFrame(frame.nonce))
        elif isinstance(frame, PongFrame):
            if self._ping_in_flight is not None and self._ping_in_flight[0] == frame.nonce:
                self._round_trip_time = now - self._ping_in_flight[1]
                self._ping_in_flight = None
        elif isinstance(frame, SyncFrame):
            self._on_sync(frame)
        else:
            self._on_go_away(frame)

    def _open_stream_for(self, stream_id: int, frame_name: str) -> _Stream | None:
        """The stream a DATA, WINDOW_UPDATE or CLOSE frame is about; None after answering an unknown id."""
        stream = self._streams.get(stream_id)
        if stream is None:
            # Usually a frame that crossed our RESET; the RESET back makes the peer forget it too.
            self._queue(ResetFrame(stream_id, "unknown stream"))
            return None
        if stream.phase is not _Phase.OPEN:
            raise ProtocolViolation(f"{frame_name} on tunnel stream {stream_id} before it was opened")
        return stream

    def _on_data(self, frame: DataFrame) -> None:
        stream = self._open_stream_for(frame.stream_id, "DATA")
        if stream is None:
            return
        if stream.remote_closed:
            raise ProtocolViolation(f"DATA on tunnel stream {frame.stream_id} after the peer closed it")
        stream.receive_window.receive(len(frame.data))
        if frame.data:
            self._events.append(DataReceived(frame.stream_id, frame.data))

    def _on_window_update(self, frame: WindowUpdateFrame) -> None:
        stream = self._open_stream_for(frame.stream_id, "WINDOW_UPDATE")
        if stream is not None:
            stream.send_window.grant(frame.credit)
            self._schedule(stream)

    def _on_close(self, frame: CloseFrame) -> None:
        stream = self._open_stream_for(frame.stream_id, "CLOSE")
        if stream is None:
            return
        if stream.remote_closed:
            raise ProtocolViolation(f"second CLOSE on tunnel stream {frame.stream_id}")
        stream.remote_closed = True
        self._events.append(RemoteClosed(frame.stream_id))
        if stream.close_sent:
            self._finish(stream)

    def _on_open(self, frame: OpenFrame) -> None:
        if self._role == "hub":
            raise ProtocolViolation("the agent sent OPEN; only the hub opens streams")
        if frame.stream_id <= self._highest_stream_id:
            raise ProtocolViolation(f"OPEN reuses tunnel stream id {frame.stream_id}")
        self._highest_stream_id = frame.stream_id
        if self.going_away:
            self._queue(OpenFailFrame(frame.stream_id, "agent is going away"))
        elif len(self._streams) >= self._config.max_streams:
            self._queue(OpenFailFrame(frame.stream_id, "agent carries too many streams"))
        else:
            stream = _Stream(
                frame.stream_id,
                _Phase.AWAITING_ANSWER,
                SendWindow(frame.window),
                ReceiveWindow(self._config.initial_window),
            )
            self._streams[frame.stream_id] = stream
            self._events.append(OpenRequested(frame.stream_id, frame.destination))

    def _on_open_ok(self, frame: OpenOkFrame) -> None:
        stream = self._streams.get(frame.stream_id)
        if stream is None:  # we gave up on it (open timeout, reset): make the agent hang up too
            self._queue(ResetFrame(frame.stream_id, "unknown stream"))
            return
        if stream.phase is not _Phase.OPENING:
            raise ProtocolViolation(f"OPEN_OK for tunnel stream {frame.stream_id}, which is not being opened")
        stream.phase = _Phase.OPEN
        stream.open_deadline = None
        stream.send_window.grant(frame.window)
        self._events.append(Opened(frame.stream_id))
        self._schedule(stream)

    def _on_open_fail(self, frame: OpenFailFrame) -> None:
        stream = self._streams.get(frame.stream_id)
        if stream is None:
            return
        if stream.phase is not _Phase.OPENING:
            raise ProtocolViolation(
                f"OPEN_FAIL for tunnel stream {frame.stream_id}, which is not being opened"
            )
        self._drop(stream, frame.reason, by_peer=True)

    def _on_go_away(self, frame: GoAwayFrame) -> None:
        if not self._goaway_received:
            self._goaway_received = True
            self._goaway_reason = self._goaway_reason or frame.reason
            self._events.append(GoingAway(frame.reason))
            self._close_if_drained()

    def _on_sync(self, frame: SyncFrame) -> None:
        """Reconcile with the peer's list of streams.

        Frames arrive in order, so everything the peer sent before its SYNC has already been applied here;
        only frames *we* sent that the peer had not yet read can make the lists differ legitimately. An
        OPEN in flight is the one that creates state, so ids above the peer's watermark are left alone.
        The others (RESET, CLOSE, OPEN_FAIL in flight) only remove state, and the worst they cause here is
        a redundant RESET for an id the peer forgets anyway.
        """
        peer_ids = frozenset(frame.stream_ids)
        horizon = min(frame.watermark, self._highest_stream_id)
        for stream in list(self._streams.values()):
            if stream.stream_id <= horizon and stream.stream_id not in peer_ids:
                self._drop(stream, "the peer no longer knows this stream", by_peer=False)
        for stream_id in sorted(peer_ids - self._streams.keys()):
            self._queue(ResetFrame(stream_id, "stream unknown here"))

    # -- helpers --------------------------------------------------------------------------------------

    def _queue(self, frame: Frame) -> None:
        self._outbox.append(encode_frame(frame))

    def _lookup(self, stream_id: int) -> _Stream | None:
        """The stream, or None if it existed once; raises for ids this session never saw."""
        stream = self._streams.get(stream_id)
        if stream is None and not 0 < stream_id <= self._highest_stream_id:
            raise TunnelStateError(f"tunnel stream {stream_id} was never opened on this session")
        return stream

    def _answerable(self, stream_id: int) -> _Stream | None:
        if self._role != "agent":
            raise TunnelStateError("only the agent answers OPEN requests")
        stream = self._lookup(stream_id)
        if stream is not None and stream.phase is not _Phase.AWAITING_ANSWER:
            raise TunnelStateError(f"tunnel stream {stream_id} was already answered")
        return stream

    def _schedule(self, stream: _Stream) -> None:
        """Put the stream in the send round if it can send; emit its CLOSE once its buffer is empty."""
        if stream.phase is not _Phase.OPEN:
            return
        if stream.send_buffer:
            if stream.send_window.credit:
                self._ready.setdefault(stream.stream_id)
        elif stream.local_closed and not stream.close_sent:
            self._queue(CloseFrame(stream.stream_id))
            stream.close_sent = True
            if stream.remote_closed:
                self._finish(stream)

    def _forget(self, stream: _Stream) -> None:
        del self._streams[stream.stream_id]
        self._ready.pop(stream.stream_id, None)
        stream.send_buffer.clear()
        self._close_if_drained()

    def _finish(self, stream: _Stream) -> None:
        self._events.append(StreamClosed(stream.stream_id))
        self._forget(stream)

    def _drop(self, stream: _Stream, reason: str, *, by_peer: bool) -> None:
        if stream.phase is _Phase.OPENING:
            self._events.append(OpenFailed(stream.stream_id, reason))
        else:
            self._events.append(StreamReset(stream.stream_id, reason, by_peer))
        self._forget(stream)

    def _close_if_drained(self) -> None:
        if not self.closed and self.going_away and not self._streams:
            self._close_code = CloseCode.NORMAL
            self._close_reason = self._goaway_reason

    def _shut_down(self, reason: str, code: CloseCode) -> None:
        """End the session abruptly: frames not yet sent are dropped, since the websocket closes next."""
        self._close_code = code
        self._close_reason = reason
        for stream in list(self._streams.values()):
            self._drop(stream, reason, by_peer=False)
        self._outbox.clear()
