"""Binary framing of the tunnel: one websocket message carries exactly one frame.

One frame per message because the websocket already delimits messages: the header needs no sync marker,
and a malformed frame cannot desynchronise the ones after it. The header has a fixed size so a receiver
can reject a frame (wrong version, unknown type) before it looks at the payload.

Header, network byte order, 10 bytes::

    version u8 | type u8 | stream id u32 | payload length u32 | payload ...

The length repeats what the websocket already knows on purpose: a mismatch exposes truncation, or a peer
that speaks some other framing, with a clear message instead of a garbled payload. Stream id 0 is the
session itself (PING, PONG, SYNC, GOAWAY); every other frame names a stream, so 0 is invalid there.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from kubectl_clusternet.core.tunnel.errors import DestinationError, ProtocolViolation

__all__ = [
    "PROTOCOL_VERSION",
    "HEADER_SIZE",
    "MAX_STREAM_ID",
    "MAX_WINDOW",
    "MAX_REASON_BYTES",
    "FrameType",
    "Destination",
    "OpenFrame",
    "OpenOkFrame",
    "OpenFailFrame",
    "DataFrame",
    "WindowUpdateFrame",
    "CloseFrame",
    "ResetFrame",
    "PingFrame",
    "PongFrame",
    "SyncFrame",
    "GoAwayFrame",
    "Frame",
    "encode_frame",
    "decode_frame",
]

PROTOCOL_VERSION = 1
_HEADER = struct.Struct("!BBII")
HEADER_SIZE = _HEADER.size
MAX_STREAM_ID = 0xFFFF_FFFF
# Windows stay below 2**31 so that credit never overflows the u32 fields even while an update is in flight.
MAX_WINDOW = 0x7FFF_FFFF
# Reasons are for humans and logs; capping them keeps a chatty peer from turning RESETs into bulk data.
MAX_REASON_BYTES = 512

_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_OPEN_FIXED = struct.Struct("!IHB")  # window the opener grants, port, scheme length; then scheme, then host

_SCHEME_PATTERN = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
# DNS names and IP literals; IPv6 is written without brackets (``address`` adds them), with an optional zone.
_HOST_PATTERN = re.compile(r"[A-Za-z0-9._:%-]{1,253}")


class FrameType(IntEnum):
    """The frame type byte; values are wire format and must never be renumbered."""

    OPEN = 1
    OPEN_OK = 2
    OPEN_FAIL = 3
    DATA = 4
    WINDOW_UPDATE = 5
    CLOSE = 6
    RESET = 7
    PING = 8
    PONG = 9
    SYNC = 10
    GOAWAY = 11


_SESSION_FRAME_TYPES = frozenset({FrameType.PING, FrameType.PONG, FrameType.SYNC, FrameType.GOAWAY})


@dataclass(frozen=True)
class Destination:
    """What the hub asks the agent to dial; the agent's allow-list judges all three parts.

    Validated on construction so that a bad destination is refused where it is made, on the hub,
    instead of travelling to the agent first.
    """

    scheme: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not _SCHEME_PATTERN.fullmatch(self.scheme):
            raise DestinationError(f"invalid destination scheme {self.scheme!r}")
        if not _HOST_PATTERN.fullmatch(self.host):
            raise DestinationError(f"invalid destination host {self.host!r}")
        if isinstance(self.port, bool) or not 1 <= self.port <= 65535:
            raise DestinationError(f"invalid destination port {self.port!r}")

    @property
    def address(self) -> str:
        """``host:port`` as dialers expect it, with IPv6 literals in brackets."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.address}"


@dataclass(frozen=True)
class OpenFrame:
    """Hub asks the agent to dial ``destination``; ``window`` is the credit the hub grants for replies."""

    stream_id: int
    destination: Destination
    window: int


@dataclass(frozen=True)
class OpenOkFrame:
    """Agent dialled; ``window`` is the credit the agent grants the hub for this stream."""

    stream_id: int
    window: int


@dataclass(frozen=True)
class OpenFailFrame:
    """Agent refused or failed to dial."""

    stream_id: int
    reason: str


@dataclass(frozen=True)
class DataFrame:
    """Stream bytes; the sender must hold at least ``len(data)`` credit."""

    stream_id: int
    data: bytes


@dataclass(frozen=True)
class WindowUpdateFrame:
    """The receiver consumed bytes and hands ``credit`` back to the sender."""

    stream_id: int
    credit: int


@dataclass(frozen=True)
class CloseFrame:
    """Half-close: the sender will send no more DATA on this stream but keeps reading."""

    stream_id: int


@dataclass(frozen=True)
class ResetFrame:
    """Abort the stream in both directions; the sender has already forgotten it."""

    stream_id: int
    reason: str


@dataclass(frozen=True)
class PingFrame:
    """Keepalive probe; the peer echoes ``nonce`` in a PONG."""

    nonce: int


@dataclass(frozen=True)
class PongFrame:
    """Answer to a PING."""

    nonce: int


@dataclass(frozen=True)
class SyncFrame:
    """The streams the sender holds, for reconciliation.

    ``watermark`` is the highest stream id the sender had seen when it built the list; the receiver only
    judges ids at or below it, so a stream whose OPEN is still in flight is never mistaken for a leak.
    """

    watermark: int
    stream_ids: tuple[int, ...]


@dataclass(frozen=True)
class GoAwayFrame:
    """The sender takes no new streams; existing ones may finish, then the websocket closes."""

    reason: str


Frame: TypeAlias = (
    OpenFrame
    | OpenOkFrame
    | OpenFailFrame
    | DataFrame
    | WindowUpdateFrame
    | CloseFrame
    | ResetFrame
    | PingFrame
    | PongFrame
    | SyncFrame
    | GoAwayFrame
)


def _pack(frame_type: FrameType, stream_id: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(PROTOCOL_VERSION, frame_type, stream_id, len(payload)) + payload


def _encode_reason(reason: str) -> bytes:
    encoded = reason.encode("utf-8")
    if len(encoded) <= MAX_REASON_BYTES:
        return encoded
    # Cut on a character boundary so the peer can always decode what it gets.
    return encoded[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


def encode_frame(frame: Frame) -> bytes:
    """One websocket binary message for ``frame``; reasons longer than MAX_REASON_BYTES are cut."""
    if isinstance(frame, DataFrame):
        return _pack(FrameType.DATA, frame.stream_id, frame.data)
    if isinstance(frame, WindowUpdateFrame):
        return _pack(FrameType.WINDOW_UPDATE, frame.stream_id, _U32.pack(frame.credit))
    if isinstance(frame, OpenFrame):
        scheme = frame.destination.scheme.encode("ascii")
        host = frame.destination.host.encode("ascii")
        fixed = _OPEN_FIXED.pack(frame.window, frame.destination.port, len(scheme))
        return _pack(FrameType.OPEN, frame.stream_id, fixed + scheme + host)
    if isinstance(frame, OpenOkFrame):
        return _pack(FrameType.OPEN_OK, frame.stream_id, _U32.pack(frame.window))
    if isinstance(frame, OpenFailFrame):
        return _pack(FrameType.OPEN_FAIL, frame.stream_id, _encode_reason(frame.reason))
    if isinstance(frame, CloseFrame):
        return _pack(FrameType.CLOSE, frame.stream_id)
    if isinstance(frame, ResetFrame):
        return _pack(FrameType.RESET, frame.stream_id, _encode_reason(frame.reason))
    if isinstance(frame, PingFrame):
        return _pack(FrameType.PING, 0, _U64.pack(frame.nonce))
    if isinstance(frame, PongFrame):
        return _pack(FrameType.PONG, 0, _U64.pack(frame.nonce))
    if isinstance(frame, SyncFrame):
        ids = struct.pack(f"!{len(frame.stream_ids)}I", *frame.stream_ids)
        return _pack(FrameType.SYNC, 0, _U32.pack(frame.watermark) + ids)
    return _pack(FrameType.GOAWAY, 0, _encode_reason(frame.reason))


def _expect_size(payload: bytes, size: int, name: str) -> None:
    if len(payload) != size:
        raise ProtocolViolation(f"{name} frame payload is {len(payload)} bytes, expected {size}")


def _window(payload: bytes, name: str) -> int:
    _expect_size(payload, _U32.size, name)
    (value,) = _U32.unpack(payload)
    if not 1 <= value <= MAX_WINDOW:
        raise ProtocolViolation(f"{name} frame grants {value} bytes, outside 1..{MAX_WINDOW}")
    return int(value)


def _reason(payload: bytes, name: str) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation(f"{name} frame reason is not UTF-8") from None


def _parse_open(stream_id: int, payload: bytes) -> Frame:
    if len(payload) < _OPEN_FIXED.size:
        raise ProtocolViolation(f"OPEN frame payload is {len(payload)} bytes, too short for a destination")
    window, port, scheme_length = _OPEN_FIXED.unpack_from(payload)
    host_start = _OPEN_FIXED.size + scheme_length
    if host_start >= len(payload):
        raise ProtocolViolation("OPEN frame is missing its host")
    try:
        scheme = payload[_OPEN_FIXED.size : host_start].decode("ascii")
        host = payload[host_start:].decode("ascii")
        destination = Destination(scheme, host, port)
    except (UnicodeDecodeError, DestinationError) as error:
        raise ProtocolViolation(f"OPEN frame has an unusable destination: {error}") from None
    if not 1 <= window <= MAX_WINDOW:
        raise ProtocolViolation(f"OPEN frame grants {window} bytes, outside 1..{MAX_WINDOW}")
    return OpenFrame(stream_id, destination, window)


def _parse_ping_nonce(payload: bytes, name: str) -> int:
    _expect_size(payload, _U64.size, name)
    return int(_U64.unpack(payload)[0])


def _parse_close(stream_id: int, payload: bytes) -> Frame:
    _expect_size(payload, 0, "CLOSE")
    return CloseFrame(stream_id)


def _parse_sync(payload: bytes) -> Frame:
    if len(payload) < _U32.size or len(payload) % _U32.size:
        raise ProtocolViolation(f"SYNC frame payload of {len(payload)} bytes is not a list of u32 ids")
    count = len(payload) // _U32.size - 1
    watermark, *ids = struct.unpack(f"!{count + 1}I", payload)
    if any(not 0 < stream_id <= watermark for stream_id in ids):
        raise ProtocolViolation("SYNC frame lists a stream id above its watermark or equal to 0")
    return SyncFrame(int(watermark), tuple(ids))


_PARSERS: dict[FrameType, Callable[[int, bytes], Frame]] = {
    FrameType.OPEN: _parse_open,
    FrameType.OPEN_OK: lambda sid, p: OpenOkFrame(sid, _window(p, "OPEN_OK")),
    FrameType.OPEN_FAIL: lambda sid, p: OpenFailFrame(sid, _reason(p, "OPEN_FAIL")),
    FrameType.DATA: lambda sid, p: DataFrame(sid, p),
    FrameType.WINDOW_UPDATE: lambda sid, p: WindowUpdateFrame(sid, _window(p, "WINDOW_UPDATE")),
    FrameType.CLOSE: _parse_close,
    FrameType.RESET: lambda sid, p: ResetFrame(sid, _reason(p, "RESET")),
    FrameType.PING: lambda _, p: PingFrame(_parse_ping_nonce(p, "PING")),
    FrameType.PONG: lambda _, p: PongFrame(_parse_ping_nonce(p, "PONG")),
    FrameType.SYNC: lambda _, p: _parse_sync(p),
    FrameType.GOAWAY: lambda _, p: GoAwayFrame(_reason(p, "GOAWAY")),
}


def decode_frame(message: bytes) -> Frame:
    """Parse one websocket binary message.

    Raises ProtocolViolation for anything malformed; it never returns a partially checked frame, so the
    session can act on the result without re-validating it.
    """
    if len(message) < HEADER_SIZE:
        raise ProtocolViolation(
            f"frame of {len(message)} bytes is shorter than the {HEADER_SIZE}-byte header"
        )
    version, type_code, stream_id, length = _HEADER.unpack_from(message)
    if version != PROTOCOL_VERSION:
        raise ProtocolViolation(
            f"unsupported tunnel protocol version {version} (this side speaks {PROTOCOL_VERSION})"
        )
    if length != len(message) - HEADER_SIZE:
        raise ProtocolViolation(
            f"frame header announces {length} payload bytes but the message carries {len(message) - HEADER_SIZE}"
        )
    try:
        frame_type = FrameType(type_code)
    except ValueError:
        raise ProtocolViolation(f"unknown frame type {type_code}") from None
    if frame_type in _SESSION_FRAME_TYPES:
        if stream_id != 0:
            raise ProtocolViolation(f"{frame_type.name} frame must use stream id 0, not {stream_id}")
    elif stream_id == 0:
        raise ProtocolViolation(f"{frame_type.name} frame must name a stream, not stream id 0")
    return _PARSERS[frame_type](stream_id, bytes(message[HEADER_SIZE:]))
