"""The relay's wire format: byte-exact frames, every value type back as it was sent, any
split of the stream, and a typed error for every kind of bad input."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.quality import Quality
from obisgate.gateway.readstats import LATENESS_BUCKETS_S, ReadFigures, ReadStats
from obisgate.gateway.relay.codec import (
    MAX_FRAME,
    Batch,
    Figures,
    FrameDecoder,
    Hello,
    ReadAnswer,
    ReadAsk,
    RelayProtocolError,
    Stats,
    encode_answer,
    encode_ask,
    encode_batch,
    encode_figures,
    encode_hello,
    encode_stats,
)
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)


def decode_all(data: bytes, *, chunk: int | None = None) -> list[object]:
    decoder = FrameDecoder()
    found: list[object] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        decoder.feed(piece)
        while (message := decoder.next_message()) is not None:
            found.append(message)
    assert decoder.pending == 0
    return found


def test_a_batch_frame_byte_for_byte() -> None:
    update = SignalUpdate("m1", "energy", 148123.5, "kWh", T0, Quality.VALID, "0148123.5*kWh", True)
    body = b'[["m1","energy",148123.5,"kWh",1796119200123456,0,"0148123.5*kWh",true]]'
    assert encode_batch([update]) == struct.pack(">I", len(body) + 1) + b"\x02" + body
    assert encode_batch([update], replay=True)[4] == 3


def test_a_hello_frame_byte_for_byte() -> None:
    body = b'{"version":2,"shard":1,"count":3,"pid":4242}'
    assert encode_hello(Hello(1, 3, 4242)) == struct.pack(">I", len(body) + 1) + b"\x01" + body
    assert decode_all(encode_hello(Hello(1, 3, 4242))) == [Hello(1, 3, 4242)]


def stats_of(*polls: tuple[bool, float], missed: int = 0, priority: int = 0) -> ReadStats:
    stats = ReadStats()
    for ok, late in polls:
        stats.record(ok, late)
    stats.record_missed(missed)
    stats.priority = priority
    return stats


def as_json(stats: ReadStats) -> tuple[object, ...]:
    return (stats.to_json(), stats.histogram(), stats.lateness_sum_s)


def test_read_figures_arrive_whole_with_their_histograms() -> None:
    a = stats_of((True, 0.004), (False, 3.0), (True, 400.0), missed=2, priority=1)
    b = ReadStats()  # never polled: no histogram
    group = (stats_of((True, 0.2)), 2, 1, 3, 7, 12.5, 2)
    figures = ReadFigures(
        shard="1/3",
        total=ReadStats.total([a, b]),
        devices={"m1": ("tcp://h:1", "cell", a), "m2": ("/dev/ttyUSB0", None, b)},
        groups={"cell": group},
    )
    (message,) = decode_all(encode_figures(figures), chunk=7)
    assert isinstance(message, Figures)
    got = message.figures
    assert got.shard == "1/3"
    assert as_json(got.total) == as_json(figures.total)
    assert got.total.histogram()[len(LATENESS_BUCKETS_S)] == 1  # 400 s: the open bucket
    assert {k: (line, g, as_json(s)) for k, (line, g, s) in got.devices.items()} == {
        "m1": ("tcp://h:1", "cell", as_json(a)),
        "m2": ("/dev/ttyUSB0", None, as_json(b)),
    }
    (stats, *rest) = got.groups["cell"]
    assert (as_json(stats), *rest) == (as_json(group[0]), *group[1:])


def test_asks_and_answers_carry_their_number() -> None:
    update = SignalUpdate("m1", "energy", 1.5, "kWh", T0, Quality.VALID)
    frames = (
        encode_ask(ReadAsk(7, "m1"))
        + encode_answer(ReadAnswer(7, (update,)))
        + encode_answer(ReadAnswer(8, error="m9 is a push meter", reason="push"))
    )
    assert decode_all(frames, chunk=3) == [
        ReadAsk(7, "m1"),
        ReadAnswer(7, (update,)),
        ReadAnswer(8, error="m9 is a push meter", reason="push"),
    ]


VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**70,  # a 400-bit meter integer stays exact
    1.5,
    -0.0,
    "text with ümlaut, \x00 and \u2028",
    dt.datetime(2026, 11, 30, 23, 59, 59),  # meter-local DATETIME, naive
    dt.date(2026, 12, 1),
    dt.time(6, 30, 15),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_value_type_comes_back_as_sent(value: object) -> None:
    update = SignalUpdate("m1", "s", value, None, T0, Quality.INVALID | Quality.NOT_TOPICAL)
    (batch,) = decode_all(encode_batch([update]))
    assert isinstance(batch, Batch)
    assert batch.replay is False
    (back,) = batch.updates
    assert back == update
    assert type(back.value) is type(value)


def test_non_finite_floats_and_naive_times() -> None:
    naive = dt.datetime(2026, 12, 1, 10, 0)  # taken as UTC
    updates = [
        SignalUpdate("m1", "a", math.nan, "W", naive, Quality.VALID),
        SignalUpdate("m1", "b", math.inf, "W", T0, Quality.OVERFLOW),
    ]
    (batch,) = decode_all(encode_batch(updates))
    assert isinstance(batch, Batch)
    assert math.isnan(batch.updates[0].value)
    assert batch.updates[0].time == naive.replace(tzinfo=dt.UTC)
    assert batch.updates[1].value == math.inf


def test_stats_carry_counters_and_health() -> None:
    health = OutputHealth(
        state=OutputState.DISCONNECTED,
        since=T0,
        last_error="broker gone",
        address="mqtt://h:1883",
        counters={"sent_total": 3, "outbox_depth": 1.5},
    )
    frame = encode_stats(
        {"devices": 2, "dropped_batches": {"mqtt": 1}},
        {"m1": {"polls": 3, "last_duration_s": 0.25}},
        {"mqtt": health},
    )
    (stats,) = decode_all(frame)
    assert stats == Stats(
        gateway={"devices": 2, "dropped_batches": {"mqtt": 1}},
        devices={"m1": {"polls": 3, "last_duration_s": 0.25}},
        health={"mqtt": health},
    )


@given(st.integers(min_value=1, max_value=64))
def test_any_split_of_the_stream_gives_the_same_messages(chunk: int) -> None:
    updates = [SignalUpdate("m1", f"s{i}", i * 1.5, "kWh", T0, Quality.VALID) for i in range(5)]
    data = (
        encode_hello(Hello(0, 2, 1))
        + encode_batch(updates)
        + encode_batch(updates[:1], replay=True)
    )
    whole = decode_all(data)
    assert decode_all(data, chunk=chunk) == whole
    assert [type(m) for m in whole] == [Hello, Batch, Batch]
    assert isinstance(whole[2], Batch)
    assert whole[2].replay is True


def frame(kind: int, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 1) + bytes((kind,)) + body


BAD = [
    (struct.pack(">I", 0), "frame length of 0"),
    (struct.pack(">I", MAX_FRAME + 1), "frame length"),
    (frame(9, b"{}"), "unknown frame kind 9"),
    (frame(2, b"not json"), "malformed batch frame"),
    (frame(2, b'{"a": 1}'), "a batch is an array"),
    (frame(2, b'[["m1","s",1,null,1,0,null]]'), "malformed batch frame"),  # 7 fields
    (frame(2, b'[["m1","s",1,null,"late",0,null,false]]'), "expected an integer"),
    (frame(2, b'[["m1","s",1,null,1,99,null,false]]'), "malformed batch frame"),  # no such bits
    (frame(2, b'[["m1","s",{"x":"1"},null,1,0,null,false]]'), "unknown value tag"),
    (frame(2, b'[["m1","s",[1],null,1,0,null,false]]'), "never an array"),
    (frame(2, b'[[7,"s",1,null,1,0,null,false]]'), "expected text"),
    (frame(1, b'{"version":1,"shard":0,"count":1,"pid":1}'), "relay version 1"),
    (frame(1, b'{"version":2,"shard":3,"count":3,"pid":1}'), "shard 3 of 3"),
    (frame(5, b'{"shard":"0/1","total":[1,1,0,0,0.1,[1]],"devices":{},"groups":{}}'), "buckets"),
    (frame(5, b'{"shard":"0/1","total":[1,1,0,-1,0,null],"devices":{},"groups":{}}'), "negative"),
    (frame(5, b'{"shard":"0/1","total":[1,1,0,0,"x",null],"devices":{},"groups":{}}'), "number"),
    (frame(6, b'{"number":"1","device":"m1"}'), "expected an integer"),
    (frame(7, b'{"number":1,"error":"no"}'), "malformed answer frame"),  # no reason
    (frame(4, b'{"gateway":{},"devices":{"m":{"polls":"x"}},"health":{}}'), "are numbers"),
    (frame(4, b'{"gateway":{},"devices":{},"health":{"h":{"state":"?","since":"x"}}}'), "stats"),
]


@pytest.mark.parametrize(("data", "fragment"), BAD, ids=[f for _, f in BAD])
def test_bad_frames_raise_a_relay_error(data: bytes, fragment: str) -> None:
    decoder = FrameDecoder()
    decoder.feed(data)
    with pytest.raises(RelayProtocolError, match=fragment):
        decoder.next_message()


def test_an_incomplete_frame_waits_for_more() -> None:
    data = encode_hello(Hello(0, 1, 1))
    decoder = FrameDecoder()
    decoder.feed(data[:-1])
    assert decoder.next_message() is None
    decoder.feed(data[-1:])
    assert decoder.next_message() == Hello(0, 1, 1)
    assert decoder.next_message() is None


def test_a_batch_too_big_for_a_frame_is_refused_when_encoded() -> None:
    huge = SignalUpdate("m1", "s", "x" * MAX_FRAME, None, T0, Quality.VALID)
    with pytest.raises(RelayProtocolError, match="too big"):
        encode_batch([huge])


@given(st.binary(max_size=200))
def test_random_bytes_are_messages_or_a_relay_error(data: bytes) -> None:
    decoder = FrameDecoder()
    decoder.feed(data)
    try:
        while decoder.next_message() is not None:
            pass
    except RelayProtocolError:
        pass


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
            st.sampled_from(list(Quality)),
        ),
        max_size=20,
    )
)
def test_batches_round_trip(items: list[tuple[str, object, Quality]]) -> None:
    updates = [SignalUpdate("dev", s, v, None, T0, q) for s, v, q in items]
    (batch,) = decode_all(encode_batch(updates))
    assert isinstance(batch, Batch)
    assert list(batch.updates) == updates


def test_the_body_is_compact_json() -> None:
    update = SignalUpdate("m1", "energy", 1.0, "kWh", T0, Quality.VALID)
    payload = encode_batch([update])[5:]
    assert b" " not in payload
    assert json.loads(payload)[0][:2] == ["m1", "energy"]
