"""The hub-agent tunnel protocol: many byte streams over one websocket, as a sans-I/O state machine.

Sans-I/O so that both daemons (aiohttp on the hub, websockets on the agent) and the tests drive the same
code: a front-end moves websocket messages in and out of a TunnelSession and calls tick() on a timer;
nothing in this package touches a socket, an event loop or the clock.
"""

from __future__ import annotations

from kubectl_clusternet.core.tunnel.errors import (
    BufferFullError,
    CloseCode,
    DestinationError,
    ProtocolViolation,
    SessionClosedError,
    StreamClosedError,
    StreamLimitError,
    TunnelError,
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
from kubectl_clusternet.core.tunnel.frames import Destination
from kubectl_clusternet.core.tunnel.session import DEFAULT_CONFIG, Role, TunnelConfig, TunnelSession

__all__ = [
    "TunnelSession",
    "TunnelConfig",
    "DEFAULT_CONFIG",
    "Role",
    "Destination",
    "Event",
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
    "CloseCode",
    "TunnelError",
    "ProtocolViolation",
    "DestinationError",
    "TunnelStateError",
    "SessionClosedError",
    "StreamClosedError",
    "BufferFullError",
    "StreamLimitError",
]
