"""What a TunnelSession tells its front-end.

Events are plain frozen data so front-ends (aiohttp on the hub, websockets on the agent, in-memory pairs
in tests) dispatch on type and nothing in them can call back into the session. Every stream ends with
exactly one terminal event (OpenFailed, StreamReset or StreamClosed), except when the front-end itself
ended it with refuse_open or reset_stream, so a front-end can free a stream's resources in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from kubectl_clusternet.core.tunnel.frames import Destination

__all__ = [
    "OpenRequested",
    "Opened",
    "OpenFailed",
    "DataReceived",
    "RemoteClosed",
    "StreamReset",
    "StreamClosed",
    "PeerTimedOut",
    "ProtocolError",
    "GoingAway",
    "Event",
]


@dataclass(frozen=True)
class OpenRequested:
    """Agent side: the hub wants ``destination``; answer with accept_open or refuse_open."""

    stream_id: int
    destination: Destination


@dataclass(frozen=True)
class Opened:
    """Hub side: the agent accepted the stream; buffered data starts flowing."""

    stream_id: int


@dataclass(frozen=True)
class OpenFailed:
    """Hub side, terminal: the agent refused, reset or never answered; the stream is gone."""

    stream_id: int
    reason: str


@dataclass(frozen=True)
class DataReceived:
    """Bytes from the peer; report them with ``consumed`` once written on, or the peer stalls."""

    stream_id: int
    data: bytes


@dataclass(frozen=True)
class RemoteClosed:
    """The peer sent its last byte on this stream (EOF); this side may still send."""

    stream_id: int


@dataclass(frozen=True)
class StreamReset:
    """Terminal: the stream was aborted and forgotten.

    ``by_peer`` tells a RESET from the peer apart from this side giving up (close deadline, reconciliation,
    session ending), which matters for logs and little else.
    """

    stream_id: int
    reason: str
    by_peer: bool


@dataclass(frozen=True)
class StreamClosed:
    """Terminal: both sides closed the stream cleanly and it was forgotten."""

    stream_id: int


@dataclass(frozen=True)
class PeerTimedOut:
    """No frame arrived for ``silence`` seconds; the session is closed and every stream reset."""

    silence: float


@dataclass(frozen=True)
class ProtocolError:
    """The peer broke the protocol; the session is closed, close the websocket with ``close_code``."""

    message: str
    close_code: int


@dataclass(frozen=True)
class GoingAway:
    """The peer takes no new streams; existing ones may finish, then the session closes."""

    reason: str


Event: TypeAlias = (
    OpenRequested
    | Opened
    | OpenFailed
    | DataReceived
    | RemoteClosed
    | StreamReset
    | StreamClosed
    | PeerTimedOut
    | ProtocolError
    | GoingAway
)
