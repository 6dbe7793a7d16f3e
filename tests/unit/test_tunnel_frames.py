"""Tunnel framing: every frame type survives a round trip, and malformed messages are rejected."""

from __future__ import annotations

import struct

import pytest

from kubectl_clusternet.core.tunnel.errors import DestinationError, ProtocolViolation
from kubectl_clusternet.core.tunnel.frames import (
    HEADER_SIZE,
    MAX_REASON_BYTES,
    MAX_WINDOW,
    PROTOCOL_VERSION,
    CloseFrame,
    DataFrame,
    Destination,
    Frame,
    FrameType,
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

API_SERVER = Destination("tcp", "kubernetes.default.svc", 443)


def raw(frame_type: int, stream_id: int, payload: bytes = b"", *, version: int = PROTOCOL_VERSION) -> bytes:
    """A frame built by hand, so tests can say things the encoder refuses to."""
    return struct.pack("!BBII", version, frame_type, stream_id, len(payload)) + payload


ROUND_TRIP_CASES: list[Frame] = [
    OpenFrame(1, API_SERVER, 256 * 1024),
    OpenFrame(7, Destination("tls", "fd00::1", 6443), 1),
    OpenFrame(0xFFFF_FFFF, Destination("tcp", "192.0.2.1", 65535), MAX_WINDOW),
    OpenOkFrame(2, 65536),
    OpenFailFrame(3, "destination not allowed"),
    OpenFailFrame(3, ""),
    DataFrame(4, b"GET /api HTTP/1.1\r\n\r\n"),
    DataFrame(4, b""),
    DataFrame(5, bytes(range(256)) * 300),
    WindowUpdateFrame(6, 131072),
    CloseFrame(7),
    ResetFrame(8, "connection refused: ünïcode"),
    PingFrame(0),
    PingFrame(0xFFFF_FFFF_FFFF_FFFF),
    PongFrame(42),
    SyncFrame(0, ()),
    SyncFrame(9, (1, 4, 9)),
    GoAwayFrame("hub restarting"),
]


@pytest.mark.parametrize("frame", ROUND_TRIP_CASES, ids=lambda frame: type(frame).__name__)
def test_round_trip(frame: Frame) -> None:
    """Decoding an encoded frame gives back an equal frame."""
    assert decode_frame(encode_frame(frame)) == frame


def test_every_frame_type_is_covered_by_the_round_trip_table() -> None:
    """The round-trip table exercises each frame type the protocol defines."""
    covered = {encode_frame(frame)[1] for frame in ROUND_TRIP_CASES}
    assert covered == {frame_type.value for frame_type in FrameType}


def test_header_layout_is_version_type_stream_length() -> None:
    """The header is version, type, big-endian stream id and payload length, then the payload."""
    message = encode_frame(DataFrame(0x01020304, b"xyz"))
    assert message == bytes([PROTOCOL_VERSION, FrameType.DATA, 1, 2, 3, 4, 0, 0, 0, 3]) + b"xyz"
    assert HEADER_SIZE == 10


def test_long_reasons_are_cut_on_a_character_boundary() -> None:
    """A reason longer than the cap is shortened without splitting a multi-byte character."""
    decoded = decode_frame(encode_frame(ResetFrame(1, "é" * MAX_REASON_BYTES)))
    assert isinstance(decoded, ResetFrame)
    assert decoded.reason == "é" * (MAX_REASON_BYTES // 2)


MALFORMED_CASES = [
    ("empty message", b"", "shorter than"),
    ("short header", raw(FrameType.DATA, 1)[:9], "shorter than"),
    ("unknown version", raw(FrameType.DATA, 1, b"x", version=2), "unsupported tunnel protocol version 2"),
    ("version zero", raw(FrameType.PING, 0, bytes(8), version=0), "unsupported tunnel protocol version 0"),
    ("unknown type", raw(200, 1), "unknown frame type 200"),
    ("type zero", raw(0, 1), "unknown frame type 0"),
    ("length longer than payload", raw(FrameType.DATA, 1, b"abc")[:-1], "announces 3 payload bytes"),
    ("length shorter than payload", raw(FrameType.DATA, 1, b"abc") + b"d", "announces 3 payload bytes"),
    ("data on stream 0", raw(FrameType.DATA, 0, b"x"), "must name a stream"),
    ("ping on a stream", raw(FrameType.PING, 3, bytes(8)), "must use stream id 0"),
    ("sync on a stream", raw(FrameType.SYNC, 3, bytes(4)), "must use stream id 0"),
    ("short ping", raw(FrameType.PING, 0, bytes(7)), "expected 8"),
    ("long pong", raw(FrameType.PONG, 0, bytes(9)), "expected 8"),
    ("short window update", raw(FrameType.WINDOW_UPDATE, 1, bytes(3)), "expected 4"),
    ("zero credit", raw(FrameType.WINDOW_UPDATE, 1, bytes(4)), "outside 1.."),
    ("huge credit", raw(FrameType.WINDOW_UPDATE, 1, b"\xff" * 4), "outside 1.."),
    ("zero open window", raw(FrameType.OPEN_OK, 1, bytes(4)), "outside 1.."),
    ("close with payload", raw(FrameType.CLOSE, 1, b"x"), "expected 0"),
    ("reset reason not utf-8", raw(FrameType.RESET, 1, b"\xff\xfe"), "not UTF-8"),
    ("goaway reason not utf-8", raw(FrameType.GOAWAY, 0, b"\xc3"), "not UTF-8"),
    ("open too short", raw(FrameType.OPEN, 1, bytes(6)), "too short"),
    (
        "open without host",
        raw(FrameType.OPEN, 1, struct.pack("!IHB", 1, 443, 3) + b"tcp"),
        "missing its host",
    ),
    (
        "open with scheme past the end",
        raw(FrameType.OPEN, 1, struct.pack("!IHB", 1, 443, 200) + b"tcp"),
        "missing its host",
    ),
    (
        "open with port 0",
        raw(FrameType.OPEN, 1, struct.pack("!IHB", 1, 0, 3) + b"tcpa"),
        "invalid destination port",
    ),
    (
        "open with bad host",
        raw(FrameType.OPEN, 1, struct.pack("!IHB", 1, 80, 3) + b"tcpa b"),
        "destination host",
    ),
    (
        "open with non-ascii host",
        raw(FrameType.OPEN, 1, struct.pack("!IHB", 1, 80, 3) + b"tcp\xe9"),
        "destination",
    ),
    ("open with zero window", raw(FrameType.OPEN, 1, struct.pack("!IHB", 0, 80, 3) + b"tcph"), "outside 1.."),
    ("sync without watermark", raw(FrameType.SYNC, 0, bytes(2)), "not a list of u32 ids"),
    ("sync with ragged ids", raw(FrameType.SYNC, 0, bytes(6)), "not a list of u32 ids"),
    ("sync id above watermark", raw(FrameType.SYNC, 0, struct.pack("!II", 1, 2)), "above its watermark"),
    ("sync id zero", raw(FrameType.SYNC, 0, struct.pack("!II", 1, 0)), "equal to 0"),
]


@pytest.mark.parametrize(
    ("message", "expected"), [case[1:] for case in MALFORMED_CASES], ids=[c[0] for c in MALFORMED_CASES]
)
def test_malformed_messages_are_rejected(message: bytes, expected: str) -> None:
    """A malformed message raises ProtocolViolation with a message naming the problem."""
    with pytest.raises(ProtocolViolation) as raised:
        decode_frame(message)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("scheme", "host", "port"),
    [
        ("", "example", 80),
        ("TCP", "example", 80),
        ("1tcp", "example", 80),
        ("tcp", "", 80),
        ("tcp", "exa mple", 80),
        ("tcp", "[::1]", 80),
        ("tcp", "a/b", 80),
        ("tcp", "x" * 254, 80),
        ("tcp", "example", 0),
        ("tcp", "example", 65536),
        ("tcp", "example", True),
    ],
)
def test_invalid_destinations_are_refused(scheme: str, host: str, port: int) -> None:
    """A destination with a bad scheme, host or port cannot be built."""
    with pytest.raises(DestinationError):
        Destination(scheme, host, port)


@pytest.mark.parametrize(
    ("destination", "address", "text"),
    [
        (
            Destination("tcp", "kubernetes.default.svc", 443),
            "kubernetes.default.svc:443",
            "tcp://kubernetes.default.svc:443",
        ),
        (Destination("tcp", "10.96.0.1", 6443), "10.96.0.1:6443", "tcp://10.96.0.1:6443"),
        (Destination("tls", "fe80::1%eth0", 8443), "[fe80::1%eth0]:8443", "tls://[fe80::1%eth0]:8443"),
    ],
)
def test_destination_address_brackets_ipv6(destination: Destination, address: str, text: str) -> None:
    """A destination renders as host:port for dialers, bracketing IPv6 literals."""
    assert destination.address == address
    assert str(destination) == text
