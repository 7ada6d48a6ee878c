"""The outstation's sans-IO core: frames byte by byte, the link's windows and timers with an
injected clock, the station's events and answers, the hub's groups and who gives way."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from obisgate.gateway.outputs.iec104 import elements
from obisgate.gateway.outputs.iec104.apdu import (
    ApduReader,
    Asdu,
    FrameError,
    IFrame,
    SFrame,
    UFrame,
    UFunction,
    encode_asdu,
    encode_i,
    encode_s,
    encode_u,
)
from obisgate.gateway.outputs.iec104.hub import Hub, Member, choose_victim
from obisgate.gateway.outputs.iec104.link import Link, LinkChange, LinkParameters
from obisgate.gateway.outputs.iec104.mapping import IoaPoint
from obisgate.gateway.outputs.iec104.outgoing import Event, Outgoing, pack
from obisgate.gateway.outputs.iec104.station import Station
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

AT = dt.datetime(2026, 12, 1, 9, 30, 0, 250000, tzinfo=dt.UTC)  # a Tuesday
STARTDT_ACT = bytes.fromhex("68 04 07 00 00 00")
STARTDT_CON = bytes.fromhex("68 04 0b 00 00 00")


# -- frames ------------------------------------------------------------------


def test_u_and_s_frames() -> None:
    assert encode_u(UFunction.STARTDT_ACT) == STARTDT_ACT
    assert encode_u(UFunction.TESTFR_CON) == bytes.fromhex("68 04 83 00 00 00")
    assert encode_s(5) == bytes.fromhex("68 04 01 00 0a 00")
    assert encode_s(32767) == bytes.fromhex("68 04 01 00 fe ff")
    assert encode_s(32768) == bytes.fromhex("68 04 01 00 00 00")  # modulo 32768


def test_i_frame_sequence_numbers() -> None:
    assert encode_i(1, 2, b"\x64") == bytes.fromhex("68 05 02 00 04 00 64")
    assert encode_i(300, 32767, b"\x64") == bytes.fromhex("68 05 58 02 fe ff 64")
    with pytest.raises(ValueError, match="1-249"):
        encode_i(0, 0, bytes(250))


def test_reader_cuts_frames_across_and_within_chunks() -> None:
    stream = STARTDT_ACT + encode_i(3, 4, b"\x01\x02") + encode_s(7)
    reader = ApduReader()
    frames = [frame for byte in stream for frame in reader.feed(bytes((byte,)))]
    assert frames == [UFrame(UFunction.STARTDT_ACT), IFrame(3, 4, b"\x01\x02"), SFrame(7)]
    assert ApduReader().feed(stream) == frames


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET /", "start octet 0x47, expected 0x68"),
        (bytes.fromhex("68 03 07 00 00"), "APDU length 3, allowed 4-253"),
        (bytes.fromhex("68 fe"), "APDU length 254"),
        (bytes.fromhex("68 04 0f 00 00 00"), "U-frame control octet 0x0F"),
        (bytes.fromhex("68 04 07 00 01 00"), "U-frame control field"),
        (bytes.fromhex("68 05 01 00 02 00 00"), "S-frame with 1 octets of ASDU"),
        (bytes.fromhex("68 04 00 00 00 00"), "I-frame without an ASDU"),
        (bytes.fromhex("68 05 00 00 01 00 64"), "bit 1 of control octet 3"),
    ],
)
def test_reader_refuses_what_is_not_iec104(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        ApduReader().feed(data)


def test_asdu_header_and_mirror() -> None:
    gi = bytes.fromhex("64 01 06 05 2f 00 00 00 00 14")
    asdu = Asdu.parse(gi)
    assert (asdu.type_id, asdu.count, asdu.cot, asdu.originator, asdu.common_address) == (
        100,
        1,
        6,
        5,
        47,
    )
    assert asdu.single_object(1) == (0, b"\x14")
    assert asdu.mirror(7) == bytes.fromhex("64 01 07 05 2f 00 00 00 00 14")
    assert asdu.mirror(7, negative=True) == bytes.fromhex("64 01 47 05 2f 00 00 00 00 14")
    with pytest.raises(FrameError, match="expected one of 5"):
        asdu.single_object(2)
    with pytest.raises(FrameError, match="a header has 6"):
        Asdu.parse(b"\x64\x01")


def test_asdu_encoding_and_limits() -> None:
    assert encode_asdu(13, 3, 47, [(1001, b"\x00\x00\x66\x43\x40")]) == bytes.fromhex(
        "0d 01 03 00 2f 00 e9 03 00 00 00 66 43 40"
    )
    with pytest.raises(ValueError, match="at most 127"):
        encode_asdu(1, 3, 1, [(i, b"\x00") for i in range(128)])
    with pytest.raises(ValueError, match="at most 249"):
        encode_asdu(36, 3, 1, [(i, bytes(12)) for i in range(17)])


# -- elements ----------------------------------------------------------------


def test_cp56_time_tag() -> None:
    tag = elements.cp56(AT)
    assert tag == bytes.fromhex("fa 00 1e 09 41 0c 1a")  # 250 ms, 30 min, 9 h, Tue 1., Dec, 26
    assert elements.parse_cp56(tag) == AT
    local = AT.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert elements.cp56(local) == tag  # always UTC
    with pytest.raises(FrameError, match="CP56Time2a"):
        elements.parse_cp56(bytes.fromhex("fa 00 1e 09 41 0d 1a"))  # month 13
    with pytest.raises(FrameError, match="7"):
        elements.parse_cp56(b"\x00")


def test_quality_float_and_counter_elements() -> None:
    assert elements.qds(invalid=True, not_topical=True, overflow=True) == 0xC1
    assert elements.siq(True, invalid=False, not_topical=True) == 0x41
    assert elements.short_float(230.5, 0x40) == struct.pack("<f", 230.5) + b"\x40"
    assert elements.bcr(-2, invalid=True, carry=True, sequence=3) == bytes.fromhex("fe ff ff ff a3")


# -- link --------------------------------------------------------------------

PARAMETERS = LinkParameters(t1=15, t2=10, t3=20, k=3, w=2)


def started_link(now: float = 0.0) -> Link:
    link = Link(PARAMETERS, now)
    assert link.receive(STARTDT_ACT, now) == ([], [LinkChange.STARTED])
    assert link.output(now) == STARTDT_CON
    return link


def items(count: int) -> list[Outgoing]:
    return [Outgoing(bytes((0x0D, i))) for i in range(count)]


def test_link_sends_within_the_window_k() -> None:
    link = started_link()
    link.enqueue(items(5))
    sent = ApduReader().feed(link.output(1.0))
    assert [(f.send_seq, f.recv_seq) for f in sent if isinstance(f, IFrame)] == [
        (0, 0),
        (1, 0),
        (2, 0),
    ]
    assert link.output(1.0) == b""  # window full
    link.receive(encode_s(2), 2.0)  # two acknowledged
    assert ApduReader().feed(link.output(2.0)) == [
        IFrame(3, 0, bytes((0x0D, 3))),
        IFrame(4, 0, bytes((0x0D, 4))),
    ]
    assert (link.queued, link.unacknowledged) == (0, 3)


def test_link_acknowledges_after_w_frames_or_t2() -> None:
    link = started_link()
    link.receive(encode_i(0, 0, b"\x64\x01"), 1.0)
    assert link.output(1.0) == b""
    assert link.next_deadline() == 11.0  # t2 after the first unacknowledged frame
    link.receive(encode_i(1, 0, b"\x64\x01"), 2.0)
    assert link.output(2.0) == encode_s(2)  # w = 2 reached
    link.receive(encode_i(2, 0, b"\x64\x01"), 3.0)
    assert link.tick(12.9) is None
    assert link.output(12.9) == b""
    assert link.tick(13.0) is None
    assert link.output(13.0) == encode_s(3)


def test_link_t1_without_acknowledgement_closes() -> None:
    link = started_link()
    link.enqueue(items(1))
    link.output(5.0)
    assert link.next_deadline() == 20.0
    assert link.tick(19.9) is None
    assert link.tick(20.0) == "no acknowledgement of an I-frame within t1 (15 s)"


def test_link_t3_test_frame_then_t1() -> None:
    link = started_link()
    assert link.next_deadline() == 20.0
    assert link.tick(20.0) is None
    assert link.output(20.0) == encode_u(UFunction.TESTFR_ACT)
    assert link.tick(34.9) is None
    assert link.tick(35.0) == "no TESTFR con within t1 (15 s)"
    answered = started_link()
    answered.tick(20.0)
    answered.receive(encode_u(UFunction.TESTFR_CON), 21.0)
    assert answered.tick(36.0) is None
    assert answered.next_deadline() == 41.0


def test_link_answers_test_and_stop() -> None:
    link = started_link()
    link.receive(encode_u(UFunction.TESTFR_ACT), 1.0)
    assert link.output(1.0) == encode_u(UFunction.TESTFR_CON)
    link.receive(encode_i(0, 0, b"\x64\x01"), 2.0)
    assert link.receive(encode_u(UFunction.STOPDT_ACT), 3.0) == ([], [LinkChange.STOPPED])
    assert link.output(3.0) == encode_s(1) + encode_u(UFunction.STOPDT_CON)
    link.enqueue(items(1))
    assert link.output(4.0) == b""  # stopped: nothing is sent


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (encode_i(0, 0, b"\x64"), "I-frame before STARTDT"),
        (STARTDT_ACT + encode_i(1, 0, b"\x64"), "send sequence number 1, expected 0"),
        (STARTDT_ACT + encode_s(1), "acknowledgement of frame 1, but only up to 0 was sent"),
        (encode_u(UFunction.STARTDT_CON), "STARTDT CON from a controlling station"),
    ],
)
def test_link_refuses_frames_out_of_order(frames: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        Link(PARAMETERS, 0.0).receive(frames, 0.0)


def test_link_hands_over_what_it_did_not_deliver() -> None:
    link = started_link()
    event = Event(36, 1, b"x")
    link.enqueue([Outgoing(b"\x24\x01", (event,), 1), *items(3)])
    link.output(1.0)  # three sent, one queued
    handed = link.hand_over()
    assert [o.events for o in handed] == [(event,), ()]
    assert link.take_all() == [Outgoing(b"\x24\x01", (), 1), *items(3)[:2]]  # events left


# -- station -----------------------------------------------------------------

POINTS = [
    IoaPoint(("m", "volts"), 1001, "M_ME_TF_1"),
    IoaPoint(("m", "door"), 3001, "M_SP_TB_1"),
    IoaPoint(("m", "energy"), 2001, "M_IT_TB_1", scale=1000.0),
]


def update(signal: str, value: object, quality: Quality = Quality.VALID) -> SignalUpdate:
    return SignalUpdate("m", signal, value, None, AT, quality)


def test_station_events_only_on_change() -> None:
    station = Station(POINTS, 47, started=AT)
    (event,) = station.update([update("volts", 230.5)])
    assert event == Event(36, 1001, elements.short_float(230.5, 0) + elements.cp56(AT))
    assert station.update([update("volts", 230.5)]) == []
    assert station.update([update("volts", 230.50000001)]) == []  # same short float
    assert len(station.update([update("volts", 230.5, Quality.NOT_TOPICAL)])) == 1
    assert station.update([update("other", 1.0)]) == []


def test_station_not_topical_event_carries_the_detection_time() -> None:
    station = Station(POINTS, 47, started=AT)
    station.update([update("energy", 1.5)])
    detected = AT + dt.timedelta(minutes=5)
    failed = SignalUpdate("m", "_status", "no answer", None, detected, Quality.VALID)
    (event,) = station.update([update("energy", 1.5, Quality.NOT_TOPICAL), failed])
    assert event.element == elements.bcr(1500, invalid=True, carry=False) + elements.cp56(detected)


def test_station_never_read_points_stay_invalid_without_events() -> None:
    station = Station(POINTS, 47, started=AT)
    assert station.update([update("volts", None, Quality.NOT_TOPICAL)]) == []
    volts, _door = station.interrogation()
    assert Asdu.parse(volts).body[3:8] == elements.short_float(0.0, 0xC0)  # IV + NT


def test_station_interrogation_with_and_without_time() -> None:
    station = Station(POINTS, 47, started=AT)
    station.update([update("volts", 230.5), update("door", 1), update("energy", 2.0)])
    timed = [Asdu.parse(a).type_id for a in station.interrogation()]
    assert timed == [36, 30]
    plain = Station(POINTS, 47, gi_without_time=True, started=AT)
    plain.update([update("volts", 230.5), update("door", 1)])
    asdus = [Asdu.parse(a) for a in plain.interrogation()]
    assert [(a.type_id, a.cot, a.body) for a in asdus] == [
        (13, 20, b"\xe9\x03\x00" + elements.short_float(230.5, 0)),
        (1, 20, b"\xb9\x0b\x00\x01"),
    ]
    (counters,) = station.counters()
    assert Asdu.parse(counters).type_id == 37


def test_station_commands() -> None:
    station = Station(POINTS, 47, started=AT)
    gi = encode_asdu(100, 6, 0xFFFF, [(0, b"\x14")])  # broadcast
    reply = station.handle(gi)
    heads = [
        (Asdu.parse(a).type_id, Asdu.parse(a).cot, Asdu.parse(a).common_address)
        for a in reply.asdus
    ]
    assert heads == [(100, 7, 47), (36, 20, 47), (30, 20, 47), (100, 10, 47)]
    clock = encode_asdu(103, 6, 47, [(0, elements.cp56(AT))])
    assert station.handle(clock).clock == AT
    refused = station.handle(clock, clock_sync="refuse")
    assert Asdu.parse(refused.asdus[0]).negative
    assert refused.clock == AT
    bad_time = station.handle(encode_asdu(103, 6, 47, [(0, bytes.fromhex("fa 00 1e 09 41 0d 1a"))]))
    assert bad_time.problem is not None
    assert Asdu.parse(bad_time.asdus[0]).negative
    unknown = station.handle(encode_asdu(45, 6, 47, [(5, b"\x01")]))
    assert (Asdu.parse(unknown.asdus[0]).cot, Asdu.parse(unknown.asdus[0]).negative) == (44, True)
    other = station.handle(gi[:4] + b"\x0c\x00" + gi[6:])
    assert Asdu.parse(other.asdus[0]).cot == 46
    assert station.handle(b"\x64").problem == "ASDU of 1 octets, a header has 6"


# -- hub ---------------------------------------------------------------------


def member(
    key: int, *, started: bool, opened: float, heard: float | None, group: str = ""
) -> Member:
    link = Link(PARAMETERS, opened)
    if heard is not None:
        link.receive(
            encode_u(UFunction.TESTFR_ACT if not started else UFunction.STARTDT_ACT), heard
        )
    return Member(key, f"peer{key}", group, link)


def test_victims_in_order() -> None:
    live = member(1, started=True, opened=0, heard=99)
    standby = member(2, started=False, opened=5, heard=98)
    silent = member(3, started=False, opened=50, heard=None)
    gone = member(4, started=True, opened=0, heard=70)
    now, t3 = 100.0, 20.0

    def key(*members: Member) -> int | None:
        victim = choose_victim(members, now, t3, 5)
        return None if victim is None else victim.key

    assert key(live, standby, silent, gone) == 3
    assert key(live, standby, gone) == 4
    assert key(live, standby) == 2
    assert choose_victim([live], now, t3, 5) is None
    live.probed_at = 99.5  # a test frame after its last frame, unanswered for 5 s
    assert choose_victim([live], 104.0, t3, 5) is None
    victim = choose_victim([live], 104.5, t3, 5)
    assert victim is not None
    assert victim.reason.startswith("did not answer a test frame")


def test_hub_buffers_while_no_connection_is_active_and_trims() -> None:
    hub = Hub([], 47, buffer_size=2)
    events = [Event(36, i, b"x") for i in range(3)]
    hub.publish(events)
    assert (hub.buffered, hub.dropped) == (2, 1)
    one = member(1, started=True, opened=0, heard=0)
    hub.add(one)
    hub.started(1)
    assert [e.ioa for o in one.link.take_queued() for e in o.events] == [1, 2]
    assert hub.buffered == 0


def test_hub_group_switch_over_moves_undelivered_events() -> None:
    hub = Hub([("cc", ())], 47, buffer_size=100)
    first = member(1, started=True, opened=0, heard=0, group="cc")
    second = member(2, started=True, opened=0, heard=0, group="cc")
    hub.add(first)
    hub.add(second)
    hub.started(1)
    hub.publish([Event(36, 1, b"a")])
    first.link.output(1.0)  # sent, not acknowledged
    hub.publish([Event(36, 2, b"b")])  # queued on the first
    first.link.enqueue([])
    hub.started(2)
    assert not first.active
    moved = second.link.take_queued()
    assert [e.ioa for o in moved for e in o.events] == [1, 2]  # sent unacknowledged, and queued
    assert first.link.queued == 0


def test_pack_keeps_order_and_splits_by_type_and_size() -> None:
    events = [Event(36, i, bytes(12)) for i in range(20)] + [Event(13, 99, bytes(5))]
    packed = pack(events, 47, serial=3)
    assert [len(o.events) for o in packed] == [16, 4, 1]
    assert [o.serial for o in packed] == [3, 3, 3]
    assert [e.ioa for o in packed for e in o.events] == [*range(20), 99]


def test_with_groups_the_default_group_keeps_events_only_once_it_has_a_connection() -> None:
    hub = Hub([("cc", ())], 47, buffer_size=2)
    hub.publish([Event(36, i, b"x") for i in range(3)])
    assert (hub.buffered_in("cc"), hub.dropped_in("cc")) == (2, 1)
    assert (hub.buffered_in(""), hub.dropped_in("")) == (0, 0)  # no master outside the groups
    hub.add(member(1, started=False, opened=0, heard=None))
    hub.publish([Event(36, 9, b"x")])
    assert hub.buffered_in("") == 1
