"""Errors of the tunnel protocol.

Two families with different audiences. ``ProtocolViolation`` is about the *peer*: it never leaves
``TunnelSession.receive_message`` as an exception but becomes a ``ProtocolError`` event and a websocket
close code, because a broken peer is an expected runtime condition. The other classes are about the
*caller* (a front-end calling the session at the wrong time), so they are raised where the mistake is made.
"""

from __future__ import annotations

from enum import IntEnum

from kubectl_clusternet.core.errors import ClusternetError

__all__ = [
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


class CloseCode(IntEnum):
    """Websocket close codes (RFC 6455 section 7.4.1) a front-end uses when the session ends.

    They live beside the errors because they play the role ``exit_code`` plays for the CLI: each way a
    session can end maps to exactly one code, decided here rather than in every front-end.
    """

    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL = 1006  # reserved: describes a connection that vanished; never put in a close frame
    INTERNAL_ERROR = 1011  # used for keepalive timeouts, as the websockets library does


class TunnelError(ClusternetError):
    """Base of every tunnel failure."""


class ProtocolViolation(TunnelError):
    """The peer sent something this protocol does not allow; the session cannot continue."""

    def __init__(self, message: str, close_code: CloseCode = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.close_code = close_code


class DestinationError(TunnelError):
    """A destination cannot be dialled: bad scheme, host or port."""


class TunnelStateError(TunnelError):
    """The call does not fit the session's role or the stream's state (a caller bug, not a peer's)."""


class SessionClosedError(TunnelStateError):
    """The session has ended or is going away, so no new streams can be opened."""


class StreamClosedError(TunnelStateError):
    """Data was written to a stream that is gone or already closed for writing."""


class BufferFullError(TunnelError):
    """A write would exceed the per-stream send buffer; the front-end should have applied back-pressure."""


class StreamLimitError(TunnelError):
    """The session already carries as many streams as it is configured to, or ran out of stream ids."""
