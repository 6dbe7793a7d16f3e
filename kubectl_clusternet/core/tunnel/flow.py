"""Per-stream flow control: credit accounting and the send buffer.

Credit is per stream, not per session, so that one stream whose reader is slow runs out of credit and
stops while every other stream on the same websocket keeps moving. The receiver hands credit back only
when the application says it has consumed bytes, which is what carries back-pressure from a slow local
socket all the way to the remote writer.
"""

from __future__ import annotations

from collections import deque

from kubectl_clusternet.core.tunnel.errors import ProtocolViolation, TunnelStateError
from kubectl_clusternet.core.tunnel.frames import MAX_WINDOW

__all__ = ["SendWindow", "ReceiveWindow", "SendBuffer"]


class SendWindow:
    """Bytes the peer still allows us to send on one stream."""

    def __init__(self, credit: int = 0) -> None:
        self._credit = credit

    @property
    def credit(self) -> int:
        return self._credit

    def grant(self, credit: int) -> None:
        """Add credit from the peer; a total above MAX_WINDOW means the peer lost count of what it gave."""
        if self._credit + credit > MAX_WINDOW:
            raise ProtocolViolation(f"peer granted credit beyond the maximum window of {MAX_WINDOW} bytes")
        self._credit += credit

    def take(self, wanted: int) -> int:
        """Spend up to ``wanted`` bytes of credit and return how much was spent."""
        spent = min(wanted, self._credit)
        self._credit -= spent
        return spent


class ReceiveWindow:
    """The credit we granted the peer on one stream, and what the application has yet to consume.

    Credit goes back in batches of at least half a window: one WINDOW_UPDATE per consumed byte would
    double the frame count, while waiting for the whole window would stall the sender for a round trip.
    """

    def __init__(self, window: int) -> None:
        self._window = window
        self._remaining = window  # what the peer may still send before it needs more credit
        self._unconsumed = 0  # delivered to the application but not yet reported consumed
        self._consumed_not_granted = 0
        self._update_threshold = max(1, window // 2)

    @property
    def remaining(self) -> int:
        return self._remaining

    @property
    def unconsumed(self) -> int:
        return self._unconsumed

    def receive(self, size: int) -> None:
        """Account for ``size`` bytes of DATA; more than the granted credit is a protocol violation."""
        if size > self._remaining:
            raise ProtocolViolation(
                f"peer sent {size} bytes of DATA with only {self._remaining} bytes of credit"
            )
        self._remaining -= size
        self._unconsumed += size

    def consume(self, size: int) -> int:
        """Record that the application consumed ``size`` bytes; return credit to grant now (0: keep batching)."""
        if size < 0 or size > self._unconsumed:
            raise TunnelStateError(f"cannot consume {size} bytes: {self._unconsumed} bytes are unconsumed")
        self._unconsumed -= size
        self._consumed_not_granted += size
        if self._consumed_not_granted < self._update_threshold:
            return 0
        grant, self._consumed_not_granted = self._consumed_not_granted, 0
        self._remaining += grant
        return grant


class SendBuffer:
    """Bytes written by the application that have not gone out as DATA frames yet.

    A queue of chunks rather than one bytearray, so taking a frame's worth from the front never moves
    the rest of a large buffer.
    """

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._head_offset = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._size += len(data)

    def take(self, size: int) -> bytes:
        """Remove and return up to ``size`` bytes from the front."""
        pieces: list[bytes] = []
        wanted = min(size, self._size)
        while wanted:
            head = self._chunks[0]
            piece = head[self._head_offset : self._head_offset + wanted]
            pieces.append(piece)
            wanted -= len(piece)
            self._size -= len(piece)
            self._head_offset += len(piece)
            if self._head_offset == len(head):
                self._chunks.popleft()
                self._head_offset = 0
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def clear(self) -> None:
        self._chunks.clear()
        self._head_offset = 0
        self._size = 0
