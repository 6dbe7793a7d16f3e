"""Tunnel flow control: credit accounting and the send buffer, apart from any session."""

from __future__ import annotations

import pytest

from kubectl_clusternet.core.tunnel.errors import ProtocolViolation, TunnelStateError
from kubectl_clusternet.core.tunnel.flow import ReceiveWindow, SendBuffer, SendWindow
from kubectl_clusternet.core.tunnel.frames import MAX_WINDOW


@pytest.mark.parametrize(
    ("credit", "wanted", "spent", "left"),
    [(100, 30, 30, 70), (100, 100, 100, 0), (100, 250, 100, 0), (0, 10, 0, 0)],
)
def test_send_window_spends_at_most_its_credit(credit: int, wanted: int, spent: int, left: int) -> None:
    """Taking credit never spends more than was granted."""
    window = SendWindow(credit)
    assert window.take(wanted) == spent
    assert window.credit == left


def test_send_window_adds_grants_and_rejects_overflow() -> None:
    """Grants add up, and a grant that would pass the maximum window is a protocol violation."""
    window = SendWindow(10)
    window.grant(5)
    assert window.credit == 15
    with pytest.raises(ProtocolViolation):
        window.grant(MAX_WINDOW)
    assert window.credit == 15


def test_receive_window_rejects_data_beyond_credit() -> None:
    """DATA larger than the remaining credit is a protocol violation and changes nothing."""
    window = ReceiveWindow(100)
    window.receive(60)
    with pytest.raises(ProtocolViolation):
        window.receive(41)
    assert (window.remaining, window.unconsumed) == (40, 60)


@pytest.mark.parametrize(
    ("window_size", "consumed_steps", "grants"),
    [
        (100, [10, 20, 19], [0, 0, 0]),  # 49 consumed: below half a window, keep batching
        (100, [10, 40], [0, 50]),  # reaching half a window grants everything consumed so far
        (100, [100], [100]),
        (100, [30, 30, 30], [0, 60, 0]),
        (1, [1], [1]),  # tiny windows still grant (threshold is at least one byte)
    ],
)
def test_receive_window_batches_credit(
    window_size: int, consumed_steps: list[int], grants: list[int]
) -> None:
    """Consumed bytes go back as credit once at least half a window has accumulated."""
    window = ReceiveWindow(window_size)
    window.receive(sum(consumed_steps))
    assert [window.consume(step) for step in consumed_steps] == grants
    assert window.remaining == window_size - sum(consumed_steps) + sum(grants)


@pytest.mark.parametrize("size", [-1, 11])
def test_receive_window_rejects_consuming_what_was_not_received(size: int) -> None:
    """Consuming a negative amount or more than was delivered is a caller error."""
    window = ReceiveWindow(100)
    window.receive(10)
    with pytest.raises(TunnelStateError):
        window.consume(size)


@pytest.mark.parametrize(
    ("writes", "takes", "expected"),
    [
        ([b"abcdef"], [2, 2, 2], [b"ab", b"cd", b"ef"]),
        ([b"ab", b"cd", b"ef"], [3, 3], [b"abc", b"def"]),
        ([b"ab", b"", b"cdef"], [10], [b"abcdef"]),
        ([b"abc"], [0, 5, 5], [b"", b"abc", b""]),
    ],
)
def test_send_buffer_takes_bytes_in_order(
    writes: list[bytes], takes: list[int], expected: list[bytes]
) -> None:
    """The send buffer returns bytes in write order whatever the chunking on either side."""
    buffer = SendBuffer()
    for data in writes:
        buffer.append(data)
    assert len(buffer) == sum(map(len, writes))
    assert [buffer.take(size) for size in takes] == expected
    assert len(buffer) == sum(map(len, writes)) - sum(map(len, expected))
