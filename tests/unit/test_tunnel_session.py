"""The tunnel session state machine, driven by two sessions joined back to back in memory."""

from __future__ import annotations

import random
import struct
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from kubectl_clusternet.core.errors import ConfigError
from kubectl_clusternet.core.tunnel import (
    BufferFullError,
    CloseCode,
    DataReceived,
    Destination,
    Event,
    GoingAway,
    Opened,
    OpenFailed,
    OpenRequested,
    PeerTimedOut,
    ProtocolError,
    RemoteClosed,
    Role,
    SessionClosedError,
    StreamClosed,
    StreamClosedError,
    StreamLimitError,
    StreamReset,
    TunnelConfig,
    TunnelError,
    TunnelSession,
    TunnelStateError,
)
from kubectl_clusternet.core.tunnel.frames import (
    PROTOCOL_VERSION,
    CloseFrame,
    DataFrame,
    Frame,
    FrameType,
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

# Small windows and frames so a few kilobytes exercise chunking and many window updates.
SMALL = TunnelConfig(
    initial_window=4096,
    max_frame_payload=1024,
    ping_interval=10.0,
    ping_timeout=30.0,
    close_timeout=20.0,
    open_timeout=15.0,
    sync_interval=5.0,
    max_buffered_per_stream=64 * 1024,
    max_streams=256,
)
WINDOW = SMALL.initial_window
API_SERVER = Destination("tcp", "kubernetes.default.svc", 443)
SIDES: tuple[Role, Role] = ("hub", "agent")


def other(side: Role) -> Role:
    return "agent" if side == "hub" else "hub"


class Link:
    """A hub and an agent session joined in memory; the test plays both applications.

    Each application consumes what it receives at once unless its stream is in ``stalled``, and the
    agent accepts every OPEN unless ``refusal`` is set or ``answer_opens`` is off.
    """

    def __init__(self, hub_config: TunnelConfig = SMALL, agent_config: TunnelConfig | None = None) -> None:
        self.now = 0.0
        self.sessions: dict[Role, TunnelSession] = {
            "hub": TunnelSession("hub", now=self.now, config=hub_config),
            "agent": TunnelSession("agent", now=self.now, config=agent_config or hub_config),
        }
        self.received: defaultdict[tuple[Role, int], bytearray] = defaultdict(bytearray)
        self.log: dict[Role, list[Event]] = {"hub": [], "agent": []}
        self.stalled: set[tuple[Role, int]] = set()
        self.refusal: str | None = None
        self.answer_opens = True

    @property
    def hub(self) -> TunnelSession:
        return self.sessions["hub"]

    @property
    def agent(self) -> TunnelSession:
        return self.sessions["agent"]

    def pump(self) -> None:
        """Deliver messages both ways and let each application react, until both sides are quiet."""
        while True:
            busy = False
            for side in SIDES:
                for message in self.sessions[side].messages_to_send():
                    self.sessions[other(side)].receive_message(message, self.now)
                    busy = True
            for side in SIDES:
                for event in self.sessions[side].events():
                    busy = True
                    self.log[side].append(event)
                    self._react(side, event)
            if not busy:
                return

    def _react(self, side: Role, event: Event) -> None:
        session = self.sessions[side]
        if isinstance(event, DataReceived):
            self.received[side, event.stream_id] += event.data
            if (side, event.stream_id) not in self.stalled:
                session.consumed(event.stream_id, len(event.data))
        elif isinstance(event, OpenRequested) and self.answer_opens:
            if self.refusal is None:
                session.accept_open(event.stream_id)
            else:
                session.refuse_open(event.stream_id, self.refusal)

    def open(self) -> int:
        """A stream the agent has accepted."""
        stream_id = self.hub.open_stream(API_SERVER, self.now)
        self.pump()
        assert Opened(stream_id) in self.log["hub"]
        return stream_id

    def drain_events(self, side: Role) -> list[Event]:
        events = self.sessions[side].events()
        self.log[side].extend(events)
        return events


def frames_of(messages: list[bytes]) -> list[Frame]:
    return [decode_frame(message) for message in messages]


def test_many_streams_deliver_every_byte_in_order_and_leave_nothing_behind() -> None:
    """100 streams carry random amounts both ways in random writes; every byte arrives in order, nothing leaks."""
    rng = random.Random(1234)
    link = Link()
    stream_ids = [link.hub.open_stream(API_SERVER, link.now) for _ in range(100)]
    link.pump()
    payloads = {(side, sid): rng.randbytes(rng.randrange(0, 20_000)) for side in SIDES for sid in stream_ids}
    written = dict.fromkeys(payloads, 0)
    while any(written[key] < len(payload) for key, payload in payloads.items()):
        for (side, sid), payload in payloads.items():
            session = link.sessions[side]
            room = SMALL.max_buffered_per_stream - session.buffered_bytes(sid)
            size = min(rng.randrange(1, 8_000), room, len(payload) - written[side, sid])
            if size > 0:
                session.send_data(sid, payload[written[side, sid] : written[side, sid] + size])
                written[side, sid] += size
            if written[side, sid] == len(payload):
                session.close_stream(sid, link.now)
        link.pump()
    link.pump()
    for (side, sid), payload in payloads.items():
        assert bytes(link.received[other(side), sid]) == payload
    for side in SIDES:
        assert {e.stream_id for e in link.log[side] if isinstance(e, StreamClosed)} == set(stream_ids)
        assert not [e for e in link.log[side] if isinstance(e, (StreamReset, OpenFailed, ProtocolError))]
        assert link.sessions[side].open_stream_ids() == set()


def test_slow_reader_stalls_only_its_own_stream() -> None:
    """A stream whose reader never consumes stops at its window while another stream delivers everything."""
    link = Link()
    slow, fast = link.open(), link.open()
    link.stalled.add(("agent", slow))
    slow_data, fast_data = bytes(5 * WINDOW), random.Random(7).randbytes(40_000)
    link.hub.send_data(slow, slow_data)
    link.hub.send_data(fast, fast_data)
    link.pump()
    assert bytes(link.received["agent", fast]) == fast_data
    assert len(link.received["agent", slow]) == WINDOW
    assert link.hub.buffered_bytes(slow) == len(slow_data) - WINDOW
    assert link.hub.buffered_bytes(fast) == 0


def test_consumed_bytes_restore_credit() -> None:
    """Once the slow reader consumes, the sender gets that credit back and the rest of the data follows."""
    link = Link()
    slow = link.open()
    link.stalled.add(("agent", slow))
    data = random.Random(3).randbytes(5 * WINDOW)
    link.hub.send_data(slow, data)
    link.pump()
    link.agent.consumed(slow, WINDOW // 2)
    link.pump()
    assert len(link.received["agent", slow]) == WINDOW + WINDOW // 2
    link.stalled.clear()
    link.agent.consumed(slow, WINDOW)  # everything delivered so far and not yet consumed
    link.pump()
    assert bytes(link.received["agent", slow]) == data
    assert link.hub.buffered_bytes(slow) == 0


@pytest.mark.parametrize(
    ("consumed_steps", "expected_credits"),
    [
        ([100, 200], []),
        ([WINDOW // 2], [WINDOW // 2]),
        ([1000, 1000, 48], [2048]),
        ([1000, 1500, 1000], [2500]),
        ([4096], [4096]),
    ],
)
def test_window_updates_are_batched(consumed_steps: list[int], expected_credits: list[int]) -> None:
    """Credit goes back in one WINDOW_UPDATE once half a window is consumed, not one per consumed call."""
    link = Link()
    sid = link.open()
    link.stalled.add(("agent", sid))
    link.hub.send_data(sid, bytes(WINDOW))
    link.pump()
    for step in consumed_steps:
        link.agent.consumed(sid, step)
    frames = frames_of(link.agent.messages_to_send())
    assert frames == [WindowUpdateFrame(sid, credit) for credit in expected_credits]


def test_large_write_is_chunked_and_interleaved_with_other_streams() -> None:
    """DATA frames never exceed the maximum payload and streams take turns, so a big write starves no one."""
    link = Link(replace(SMALL, initial_window=64 * 1024))
    big, small = link.open(), link.open()
    link.hub.send_data(big, bytes(8 * 1024))
    link.hub.send_data(small, bytes(2 * 1024))
    frames = frames_of(link.hub.messages_to_send())
    assert all(isinstance(frame, DataFrame) and len(frame.data) == 1024 for frame in frames)
    assert [frame.stream_id for frame in frames if isinstance(frame, DataFrame)] == [
        big,
        small,
        big,
        small,
    ] + [big] * 6


def test_max_bytes_spreads_data_over_several_calls_but_never_holds_back_control_frames() -> None:
    """messages_to_send(max_bytes) frames about that much DATA per call, always including pending control frames."""
    link = Link(replace(SMALL, initial_window=64 * 1024))
    sid, doomed = link.open(), link.open()
    link.hub.send_data(sid, bytes(5 * 1024))
    link.hub.reset_stream(doomed, "cancelled")
    first = frames_of(link.hub.messages_to_send(max_bytes=2048))
    assert first == [
        ResetFrame(doomed, "cancelled"),
        DataFrame(sid, bytes(1024)),
        DataFrame(sid, bytes(1024)),
    ]
    assert len(frames_of(link.hub.messages_to_send(max_bytes=2048))) == 2
    assert len(frames_of(link.hub.messages_to_send())) == 1


def test_data_written_before_the_agent_accepts_flows_once_it_does() -> None:
    """The hub may write and even close before OPEN_OK; everything is delivered after the accept."""
    link = Link()
    sid = link.hub.open_stream(API_SERVER, link.now)
    link.hub.send_data(sid, b"GET /version HTTP/1.1\r\n\r\n")
    link.hub.close_stream(sid, link.now)
    assert link.hub.buffered_bytes(sid) == 25
    link.pump()
    assert bytes(link.received["agent", sid]) == b"GET /version HTTP/1.1\r\n\r\n"
    assert RemoteClosed(sid) in link.log["agent"]
    link.agent.send_data(sid, b"HTTP/1.1 200 OK\r\n\r\n")
    link.agent.close_stream(sid, link.now)
    link.pump()
    assert bytes(link.received["hub", sid]) == b"HTTP/1.1 200 OK\r\n\r\n"
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == set()


@pytest.mark.parametrize("first", SIDES)
def test_half_close_keeps_the_other_direction_open(first: Role) -> None:
    """After one side closes, the other still sends until it closes too; then both forget the stream."""
    link = Link()
    sid = link.open()
    second = other(first)
    link.sessions[first].send_data(sid, b"last words")
    link.sessions[first].close_stream(sid, link.now)
    link.pump()
    assert link.log[second][-1] == RemoteClosed(sid)
    assert bytes(link.received[second, sid]) == b"last words"
    assert sid in link.sessions[first].open_stream_ids() and sid in link.sessions[second].open_stream_ids()
    with pytest.raises(StreamClosedError):
        link.sessions[first].send_data(sid, b"more")
    link.sessions[second].send_data(sid, b"a reply after the half-close")
    link.sessions[second].close_stream(sid, link.now)
    link.pump()
    assert bytes(link.received[first, sid]) == b"a reply after the half-close"
    assert link.log[first][-2:] == [RemoteClosed(sid), StreamClosed(sid)]
    assert link.log[second][-1] == StreamClosed(sid)
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == set()


def test_close_is_sent_only_after_buffered_data() -> None:
    """A CLOSE waits behind data still held back by flow control, so the reader sees every byte before EOF."""
    link = Link()
    sid = link.open()
    link.stalled.add(("agent", sid))
    data = random.Random(5).randbytes(3 * WINDOW)
    link.hub.send_data(sid, data)
    link.hub.close_stream(sid, link.now)
    link.pump()
    assert RemoteClosed(sid) not in link.log["agent"]
    link.stalled.clear()
    link.agent.consumed(sid, WINDOW)
    link.pump()
    assert bytes(link.received["agent", sid]) == data
    assert link.log["agent"][-1] == RemoteClosed(sid)


@pytest.mark.parametrize("resetter", SIDES)
def test_reset_aborts_the_stream_on_both_sides(resetter: Role) -> None:
    """A reset stream is forgotten at once locally, the peer gets StreamReset with the reason, and no leaks remain."""
    link = Link()
    sid = link.open()
    link.sessions[resetter].send_data(
        sid, bytes(3 * WINDOW)
    )  # some of it still buffered, dropped by the reset
    link.sessions[resetter].reset_stream(sid, "client went away")
    link.pump()
    assert StreamReset(sid, "client went away", by_peer=True) in link.log[other(resetter)]
    assert not [e for e in link.log[resetter] if isinstance(e, (StreamReset, StreamClosed))]
    for side in SIDES:
        session = link.sessions[side]
        assert session.open_stream_ids() == set()
        with pytest.raises(StreamClosedError):
            session.send_data(sid, b"x")
        session.close_stream(sid, link.now)  # calls about a stream that is gone are harmless
        session.reset_stream(sid, "again")
        session.consumed(sid, 0)
        assert session.buffered_bytes(sid) == 0


def test_refused_open_fails_on_the_hub() -> None:
    """The agent's refusal reaches the hub as OpenFailed with the reason, and neither side keeps the stream."""
    link = Link()
    link.refusal = "destination not allowed"
    sid = link.hub.open_stream(Destination("tcp", "169.254.169.254", 80), link.now)
    link.pump()
    assert link.log["agent"] == [OpenRequested(sid, Destination("tcp", "169.254.169.254", 80))]
    assert link.log["hub"] == [OpenFailed(sid, "destination not allowed")]
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == set()


def test_unanswered_open_times_out() -> None:
    """An OPEN the agent never answers fails on the hub at open_timeout and the agent is told to forget it."""
    link = Link()
    link.answer_opens = False
    sid = link.hub.open_stream(API_SERVER, link.now)
    link.pump()
    link.hub.tick(SMALL.open_timeout - 0.1)
    assert link.drain_events("hub") == []
    link.now = SMALL.open_timeout
    link.hub.tick(link.now)
    link.pump()
    assert [e for e in link.log["hub"] if isinstance(e, OpenFailed)] == [
        OpenFailed(sid, "no answer to OPEN within 15s")
    ]
    assert StreamReset(sid, "open timed out", by_peer=True) in link.log["agent"]
    link.agent.accept_open(sid)  # a late answer about a forgotten stream changes nothing
    assert frames_of(link.agent.messages_to_send()) == []
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == set()


@pytest.mark.parametrize("closer", SIDES)
def test_close_deadline_resets_a_stream_the_peer_never_closes(closer: Role) -> None:
    """A stream closed locally but not by the peer within close_timeout is reset and removed on both sides."""
    link = Link()
    sid = link.open()
    link.sessions[closer].close_stream(sid, link.now)
    link.pump()
    link.sessions[closer].tick(SMALL.close_timeout - 0.1)
    assert sid in link.sessions[closer].open_stream_ids()
    link.now = SMALL.close_timeout
    link.sessions[closer].tick(link.now)
    link.pump()
    assert StreamReset(sid, "peer did not close within 20s", by_peer=False) in link.log[closer]
    assert StreamReset(sid, "close timed out", by_peer=True) in link.log[other(closer)]
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == set()


def test_ping_is_answered_and_measures_round_trip() -> None:
    """An idle side pings after ping_interval; the peer's PONG gives a round-trip time."""
    link = Link(replace(SMALL, sync_interval=1000.0))
    link.hub.tick(SMALL.ping_interval - 0.1)
    assert link.hub.messages_to_send() == []
    link.hub.tick(SMALL.ping_interval)
    link.now = SMALL.ping_interval + 0.25
    ping = link.hub.messages_to_send()
    assert frames_of(ping) == [PingFrame(1)]
    link.agent.receive_message(ping[0], link.now)
    pong = link.agent.messages_to_send()
    assert frames_of(pong) == [PongFrame(1)]
    link.hub.receive_message(pong[0], link.now)
    assert link.hub.round_trip_time == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("tick_times", "expect_ping_at_last"),
    [
        ([4.0, 13.9], False),  # traffic was seen by the tick at 4, so the line is not idle until 14
        ([4.0, 14.0], True),
        ([10.0], False),  # traffic is dated at the first tick that sees it
        ([10.0, 20.0], True),
    ],
)
def test_traffic_postpones_pings(tick_times: list[float], expect_ping_at_last: bool) -> None:
    """A side that sent frames recently does not ping; the idle clock restarts at the tick that saw traffic."""
    link = Link()
    link.hub.open_stream(API_SERVER, link.now)
    link.hub.messages_to_send()
    for now in tick_times:
        link.hub.tick(now)
    pings = [frame for frame in frames_of(link.hub.messages_to_send()) if isinstance(frame, PingFrame)]
    assert bool(pings) is expect_ping_at_last


def test_silent_peer_times_out_and_resets_every_stream() -> None:
    """No frame for ping_timeout ends the session with PeerTimedOut, code 1011 and every stream reset."""
    link = Link()
    sid = link.open()
    link.hub.receive_message(encode_frame(PingFrame(9)), 10.0)  # any frame counts as a sign of life
    link.hub.tick(39.9)
    assert not link.hub.closed
    link.hub.tick(40.0)
    events = link.drain_events("hub")
    assert events[0] == PeerTimedOut(30.0)
    assert events[1] == StreamReset(sid, "keepalive timeout: nothing received for 30.0s", by_peer=False)
    assert link.hub.closed and link.hub.close_code == CloseCode.INTERNAL_ERROR
    assert link.hub.open_stream_ids() == set()
    assert link.hub.messages_to_send() == []


def lose_messages(session: TunnelSession) -> None:
    """Throw away what a session wants to send, to force the two ends out of step."""
    session.messages_to_send()


@pytest.mark.parametrize(
    ("forgetter", "syncer", "expected_on_holder"),
    [
        # The hub's SYNC no longer lists the stream: the agent drops it itself.
        ("hub", "hub", StreamReset(1, "the peer no longer knows this stream", by_peer=False)),
        # The agent's SYNC no longer lists the stream: the hub drops it itself.
        ("agent", "agent", StreamReset(1, "the peer no longer knows this stream", by_peer=False)),
        # The agent's SYNC still lists a stream the hub forgot: the hub answers RESET.
        ("hub", "agent", StreamReset(1, "stream unknown here", by_peer=True)),
        # The hub's SYNC still lists a stream the agent forgot: the agent answers RESET.
        ("agent", "hub", StreamReset(1, "stream unknown here", by_peer=True)),
    ],
)
def test_sync_reconciles_streams_only_one_side_knows(
    forgetter: Role, syncer: Role, expected_on_holder: Event
) -> None:
    """When a RESET is lost, the next SYNC from either side makes the other side drop the stream too."""
    link = Link()
    sid = link.open()
    link.sessions[forgetter].reset_stream(sid, "lost")
    lose_messages(link.sessions[forgetter])
    holder = other(forgetter)
    assert sid in link.sessions[holder].open_stream_ids()
    link.sessions[syncer].tick(SMALL.sync_interval)
    link.pump()
    assert expected_on_holder in link.log[holder]
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == set()


def test_sync_spares_a_stream_whose_open_is_in_flight() -> None:
    """An agent SYNC sent before the agent saw an OPEN does not make the hub drop that new stream."""
    link = Link()
    first = link.open()
    fresh = link.hub.open_stream(API_SERVER, link.now)
    open_in_flight = link.hub.messages_to_send()
    link.agent.tick(SMALL.sync_interval)
    agent_messages = link.agent.messages_to_send()
    assert SyncFrame(first, (first,)) in frames_of(agent_messages)
    for message in agent_messages:
        link.hub.receive_message(message, link.now)
    assert link.drain_events("hub") == []
    assert link.hub.open_stream_ids() == {first, fresh}
    for message in open_in_flight:
        link.agent.receive_message(message, link.now)
    link.pump()
    assert Opened(fresh) in link.log["hub"]
    link.hub.send_data(fresh, b"still alive")
    link.pump()
    assert bytes(link.received["agent", fresh]) == b"still alive"


def test_sync_leaves_streams_both_sides_know_alone() -> None:
    """SYNC between two sessions that agree changes nothing."""
    link = Link()
    stream_ids = {link.open() for _ in range(3)}
    link.hub.tick(SMALL.sync_interval)
    link.agent.tick(SMALL.sync_interval)
    link.pump()
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == stream_ids
    assert not [e for side in SIDES for e in link.log[side] if isinstance(e, (StreamReset, OpenFailed))]


def raw(frame_type: int, stream_id: int, payload: bytes = b"", *, version: int = PROTOCOL_VERSION) -> bytes:
    return struct.pack("!BBII", version, frame_type, stream_id, len(payload)) + payload


PROTOCOL_ERROR_CASES: list[tuple[str, Role, bytes | str, CloseCode, str]] = [
    ("short header", "agent", b"\x01\x04\x00", CloseCode.PROTOCOL_ERROR, "shorter than the 10-byte header"),
    (
        "unknown version",
        "agent",
        raw(FrameType.DATA, 1, b"x", version=9),
        CloseCode.PROTOCOL_ERROR,
        "version 9",
    ),
    ("unknown type", "hub", raw(99, 1), CloseCode.PROTOCOL_ERROR, "unknown frame type 99"),
    (
        "bad length",
        "hub",
        raw(FrameType.DATA, 1, b"abc")[:-1],
        CloseCode.PROTOCOL_ERROR,
        "announces 3 payload bytes",
    ),
    ("text message", "agent", "hello", CloseCode.UNSUPPORTED_DATA, "text message"),
    (
        "agent opens",
        "hub",
        encode_frame(OpenFrame(5, API_SERVER, 100)),
        CloseCode.PROTOCOL_ERROR,
        "only the hub",
    ),
    (
        "stream id reused",
        "agent",
        encode_frame(OpenFrame(1, API_SERVER, 100)),
        CloseCode.PROTOCOL_ERROR,
        "reuses",
    ),
    (
        "data beyond credit",
        "agent",
        encode_frame(DataFrame(1, bytes(WINDOW + 1))),
        CloseCode.PROTOCOL_ERROR,
        "credit",
    ),
    ("open ok twice", "hub", encode_frame(OpenOkFrame(1, 100)), CloseCode.PROTOCOL_ERROR, "not being opened"),
    (
        "open ok to agent",
        "agent",
        encode_frame(OpenOkFrame(1, 100)),
        CloseCode.PROTOCOL_ERROR,
        "not being opened",
    ),
    (
        "credit overflow",
        "hub",
        encode_frame(WindowUpdateFrame(1, 0x7FFF_FFFF)),
        CloseCode.PROTOCOL_ERROR,
        "beyond",
    ),
]


@pytest.mark.parametrize(
    ("side", "message", "close_code", "expected"),
    [case[1:] for case in PROTOCOL_ERROR_CASES],
    ids=[case[0] for case in PROTOCOL_ERROR_CASES],
)
def test_protocol_errors_close_the_session(
    side: Role, message: bytes | str, close_code: CloseCode, expected: str
) -> None:
    """A malformed or illegal message yields ProtocolError with a close code, resets every stream and ends the session."""
    link = Link()
    sid = link.open()
    session = link.sessions[side]
    session.receive_message(message, link.now)
    events = link.drain_events(side)
    assert isinstance(events[0], ProtocolError)
    assert expected in events[0].message
    assert events[0].close_code == close_code
    assert isinstance(events[1], StreamReset) and events[1].stream_id == sid and not events[1].by_peer
    assert session.closed and session.close_code == close_code
    assert session.open_stream_ids() == set()
    assert session.messages_to_send() == []
    session.receive_message(encode_frame(PingFrame(1)), link.now)  # a closed session ignores further input
    assert session.messages_to_send() == [] and session.events() == []


@pytest.mark.parametrize("side", SIDES)
def test_data_after_close_is_a_protocol_error(side: Role) -> None:
    """DATA on a stream the peer already closed ends the session."""
    link = Link()
    sid = link.open()
    link.sessions[other(side)].close_stream(sid, link.now)
    link.pump()
    link.sessions[side].receive_message(encode_frame(DataFrame(sid, b"late")), link.now)
    assert link.sessions[side].closed
    assert "after the peer closed" in str(link.drain_events(side)[0])


@pytest.mark.parametrize(
    ("side", "frame", "answered"),
    [
        ("agent", DataFrame(9, b"x"), True),
        ("agent", WindowUpdateFrame(9, 10), True),
        ("agent", CloseFrame(9), True),
        ("agent", OpenOkFrame(9, 10), True),
        ("hub", DataFrame(9, b"x"), True),
        ("hub", OpenOkFrame(9, 10), True),
        (
            "agent",
            ResetFrame(9, "whatever"),
            False,
        ),  # never answer a RESET, or two ends could bounce them forever
        ("hub", OpenFailFrame(9, "whatever"), False),
    ],
)
def test_frames_for_unknown_streams_are_answered_with_reset(side: Role, frame: Frame, answered: bool) -> None:
    """A frame about a stream this side does not hold gets a RESET back (RESET and OPEN_FAIL get nothing)."""
    session = TunnelSession(side, now=0.0, config=SMALL)
    session.receive_message(encode_frame(frame), 0.0)
    expected = [ResetFrame(9, "unknown stream")] if answered else []
    assert frames_of(session.messages_to_send()) == expected
    assert not session.closed and session.events() == []


@pytest.mark.parametrize("leaver", SIDES)
def test_go_away_lets_streams_finish_then_closes_normally(leaver: Role) -> None:
    """After GOAWAY no stream can be opened, existing ones finish, and the session then closes with code 1000."""
    link = Link()
    sid = link.open()
    link.sessions[leaver].go_away("restarting")
    link.pump()
    assert GoingAway("restarting") in link.log[other(leaver)]
    with pytest.raises(SessionClosedError):
        link.hub.open_stream(API_SERVER, link.now)
    link.agent.send_data(sid, b"still flowing")
    link.agent.close_stream(sid, link.now)
    link.hub.close_stream(sid, link.now)
    assert not link.hub.closed and not link.agent.closed
    link.pump()
    assert bytes(link.received["hub", sid]) == b"still flowing"
    for side in SIDES:
        assert link.sessions[side].closed
        assert link.sessions[side].close_code == CloseCode.NORMAL
        assert link.sessions[side].close_reason == "restarting"


def test_go_away_without_streams_closes_at_once_but_still_sends_goaway() -> None:
    """An idle session closes as soon as it goes away, yet the GOAWAY frame is still there to send."""
    session = TunnelSession("agent", now=0.0, config=SMALL)
    session.go_away("shutting down")
    assert session.closed and session.close_code == CloseCode.NORMAL
    assert len(session.messages_to_send()) == 1


def test_agent_refuses_an_open_that_crossed_its_goaway() -> None:
    """An OPEN the hub sent before it saw the agent's GOAWAY fails instead of starting a stream."""
    link = Link()
    busy = link.open()
    link.agent.go_away("draining")
    crossing = link.hub.open_stream(API_SERVER, link.now)
    link.pump()
    assert OpenFailed(crossing, "agent is going away") in link.log["hub"]
    assert link.hub.open_stream_ids() == link.agent.open_stream_ids() == {busy}
    assert not link.hub.closed and not link.agent.closed


def test_stream_limits_are_enforced_on_both_sides() -> None:
    """The hub cannot open past its max_streams, and the agent refuses opens past its own."""
    link = Link(replace(SMALL, max_streams=2), replace(SMALL, max_streams=1))
    link.open()
    refused = link.hub.open_stream(API_SERVER, link.now)
    link.pump()
    assert OpenFailed(refused, "agent carries too many streams") in link.log["hub"]
    link.hub.open_stream(API_SERVER, link.now)
    with pytest.raises(StreamLimitError):
        link.hub.open_stream(API_SERVER, link.now)


def test_connection_lost_ends_every_stream() -> None:
    """When the websocket drops, every stream ends with a terminal event and the session is closed."""
    link = Link()
    established = link.open()
    link.answer_opens = False
    pending = link.hub.open_stream(API_SERVER, link.now)
    link.pump()
    link.hub.connection_lost("websocket closed by peer")
    assert link.drain_events("hub") == [
        StreamReset(established, "websocket closed by peer", by_peer=False),
        OpenFailed(pending, "websocket closed by peer"),
    ]
    assert link.hub.closed and link.hub.close_code == CloseCode.ABNORMAL
    assert link.hub.open_stream_ids() == set()
    with pytest.raises(SessionClosedError):
        link.hub.open_stream(API_SERVER, link.now)


def _pending_open(link: Link) -> int:
    link.answer_opens = False
    return link.hub.open_stream(API_SERVER, link.now)


MISUSE_CASES: list[tuple[str, Callable[[Link], object], type[TunnelError]]] = [
    ("agent opens", lambda link: link.agent.open_stream(API_SERVER, 0.0), TunnelStateError),
    ("hub accepts", lambda link: link.hub.accept_open(link.open()), TunnelStateError),
    ("hub refuses", lambda link: link.hub.refuse_open(link.open(), "no"), TunnelStateError),
    ("accept twice", lambda link: link.agent.accept_open(link.open()), TunnelStateError),
    ("consume unreceived", lambda link: link.agent.consumed(link.open(), 1), TunnelStateError),
    ("close unknown id", lambda link: link.hub.close_stream(99, 0.0), TunnelStateError),
    ("reset unknown id", lambda link: link.agent.reset_stream(99, "x"), TunnelStateError),
    ("consume unknown id", lambda link: link.agent.consumed(99, 1), TunnelStateError),
    ("buffered unknown id", lambda link: link.hub.buffered_bytes(0), TunnelStateError),
    ("write unknown id", lambda link: link.hub.send_data(99, b"x"), StreamClosedError),
    ("overfill buffer", lambda link: link.hub.send_data(link.open(), bytes(64 * 1024 + 1)), BufferFullError),
]


@pytest.mark.parametrize(
    ("call", "error"), [case[1:] for case in MISUSE_CASES], ids=[case[0] for case in MISUSE_CASES]
)
def test_caller_mistakes_raise(call: Callable[[Link], object], error: type[TunnelError]) -> None:
    """Calls that do not fit the role or the stream's state raise a TunnelError subclass."""
    with pytest.raises(error):
        call(Link())


@pytest.mark.parametrize("call", ["send_data", "close_stream"])
def test_agent_must_answer_an_open_before_using_the_stream(call: str) -> None:
    """The agent cannot write to or close a stream it has not accepted yet."""
    link = Link()
    sid = _pending_open(link)
    link.pump()
    with pytest.raises(TunnelStateError):
        if call == "send_data":
            link.agent.send_data(sid, b"x")
        else:
            link.agent.close_stream(sid, link.now)


def test_overfilling_the_buffer_keeps_what_was_buffered() -> None:
    """A write refused with BufferFullError buffers nothing of itself."""
    link = Link()
    sid = link.open()
    link.stalled.add(("agent", sid))
    link.hub.send_data(sid, bytes(60 * 1024))
    link.pump()
    before = link.hub.buffered_bytes(sid)
    with pytest.raises(BufferFullError):
        link.hub.send_data(sid, bytes(64 * 1024 - before + 1))
    assert link.hub.buffered_bytes(sid) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"initial_window": 0},
        {"initial_window": 2**31},
        {"max_frame_payload": 0},
        {"max_buffered_per_stream": 0},
        {"max_streams": 0},
        {"ping_interval": 0.0},
        {"open_timeout": -1.0},
        {"ping_timeout": 10.0, "ping_interval": 10.0},
    ],
)
def test_config_rejects_unusable_values(changes: dict[str, Any]) -> None:
    """A configuration that could never work is refused with ConfigError."""
    with pytest.raises(ConfigError):
        replace(SMALL, **changes)


def test_unknown_role_is_refused() -> None:
    """A session is either the hub or the agent."""
    with pytest.raises(TunnelStateError):
        TunnelSession("parent", now=0.0)  # type: ignore[arg-type]


def test_garbled_messages_never_raise_out_of_receive_message() -> None:
    """Thousands of truncated, bit-flipped and random messages either work or close the session, never raise."""
    rng = random.Random(99)
    valid = [encode_frame(frame) for frame in ROUND_TRIP_SAMPLES]
    for round_number in range(3000):
        link = Link()
        link.open()
        side: Role = SIDES[round_number % 2]
        session = link.sessions[side]
        message = bytearray(rng.choice(valid))
        mutation = rng.randrange(4)
        if mutation == 0:  # truncated
            del message[rng.randrange(len(message)) :]
        elif mutation == 1:  # one bit flipped anywhere
            message[rng.randrange(len(message))] ^= 1 << rng.randrange(8)
        elif mutation == 2:  # random payload behind a stale length
            message = message[:10] + rng.randbytes(rng.randrange(0, 40))
        else:  # random payload behind a correct length, so the payload parsers see it
            payload = rng.randbytes(rng.randrange(0, 40))
            message = message[:6] + struct.pack("!I", len(payload)) + payload
        session.receive_message(bytes(message), link.now)
        events = session.events()
        if session.closed:
            assert isinstance(events[0], ProtocolError)
            assert session.open_stream_ids() == set() and session.messages_to_send() == []
        else:
            assert not [e for e in events if isinstance(e, ProtocolError)]
            session.messages_to_send()
            session.tick(1.0)


ROUND_TRIP_SAMPLES: list[Frame] = [
    OpenFrame(2, API_SERVER, 4096),
    OpenOkFrame(1, 4096),
    OpenFailFrame(1, "refused"),
    DataFrame(1, b"payload"),
    WindowUpdateFrame(1, 1024),
    CloseFrame(1),
    ResetFrame(1, "reset"),
    PingFrame(5),
    PongFrame(5),
    SyncFrame(1, (1,)),
]


def test_deadline_ending_the_last_stream_of_a_departing_session_closes_it_quietly() -> None:
    """When a deadline removes the last stream after GOAWAY, the session closes and queues no SYNC or PING."""
    link = Link()
    sid = link.open()
    link.hub.close_stream(sid, link.now)
    link.hub.go_away("shutting down")
    link.pump()
    link.hub.tick(SMALL.close_timeout)
    assert link.hub.closed and link.hub.close_code == CloseCode.NORMAL
    assert frames_of(link.hub.messages_to_send()) == [ResetFrame(sid, "close timed out")]
