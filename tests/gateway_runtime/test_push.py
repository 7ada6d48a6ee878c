"""Push meters (mode D): telegram splitting with byte vectors, publishing rate, silence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.helpers import frame

from obisgate import ReadoutOptions, ScriptedTransport
from obisgate.errors import ConnectionLostError
from obisgate.gateway.plan import DevicePlan, SignalPlan
from obisgate.gateway.poller import DeviceState
from obisgate.gateway.push import PushListener, TelegramSplitter
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.protocol.identification import ProtocolMode
from obisgate.transport.base import LineSettings


def telegram(energy: str, *, ident: bytes = b"/XYZ5Push One\r\n", tail: bytes = b"!\r\n") -> bytes:
    return (
        ident + b"\r\n1-0:1.8.0*255(" + energy.encode() + b"*kWh)\r\n1-0:16.7.0(00042*W)\r\n" + tail
    )


def test_complete_telegrams_come_out_one_by_one() -> None:
    splitter = TelegramSplitter()
    stream = telegram("1") + telegram("2")
    assert splitter.feed(stream) == [telegram("1"), telegram("2")]


def test_telegram_split_across_reads() -> None:
    splitter = TelegramSplitter()
    whole = telegram("1")
    out: list[bytes] = []
    for i in range(len(whole)):
        out += splitter.feed(whole[i : i + 1])
    assert out == [whole]


def test_a_telegram_whose_start_was_cut_is_skipped() -> None:
    splitter = TelegramSplitter()
    cut = telegram("1")[20:]  # the port opened in the middle of a push
    assert splitter.feed(cut + telegram("2")) == [telegram("2")]
    assert splitter.skipped == len(cut)


def test_a_slash_inside_a_value_does_not_start_a_telegram() -> None:
    splitter = TelegramSplitter()
    noise = b"0-0:96.13.0(a/b/c)\r\n!\r\n"
    assert splitter.feed(noise + telegram("3")) == [telegram("3")]


def test_dsmr_crc_trailer_and_framed_telegrams() -> None:
    dsmr = telegram("4", tail=b"!6796\r\n")
    framed = b"/XYZ5Push One\r\n" + frame(b"1-0:1.8.0(5*kWh)\r\n!\r\n")
    assert TelegramSplitter().feed(dsmr + framed) == [dsmr, framed]


def test_identification_without_data_before_the_next_one_is_dropped() -> None:
    splitter = TelegramSplitter()
    assert splitter.feed(b"/XYZ5Push One\r\n1-0:1.8.0(7\r\n" + telegram("8")) == [telegram("8")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scripted_line(clock: FakeClock, items: list[tuple[float, bytes]]) -> ScriptedTransport:
    """A push meter's line: each (time, bytes) item is read at that time; then it closes."""

    def pushes() -> Iterator[bytes]:
        for at, data in items:
            clock.now = at
            yield data

    return ScriptedTransport(replies=pushes(), eof=True, baud=2400, url="fake://push")


def push_plan(silence_s: float = 100.0) -> DevicePlan:
    return DevicePlan(
        alias="house",
        url="fake://push",
        port_key="fake://push",
        line=LineSettings(baudrate=2400),
        options=ReadoutOptions(mode=ProtocolMode.D, response_timeout_s=silence_s),
        scan_rate_s=10.0,
        signals=(SignalPlan(alias="energy", tag="1-0:1.8.0*255", number_type="FLOAT"),),
    )


async def test_scan_rate_limits_publishing_and_the_latest_telegram_wins() -> None:
    clock = FakeClock()
    published: list[list[SignalUpdate]] = []
    listener = PushListener(
        DeviceState(push_plan()), lambda u: published.append(list(u)), clock=clock
    )
    line = scripted_line(
        clock,
        [(0.0, telegram("1")), (2.0, telegram("2")), (4.0, telegram("3")), (12.0, b"\r\n")],
    )
    with pytest.raises(ConnectionLostError):
        await listener._listen(line)
    energies = [next(u.value for u in batch if u.signal == "energy") for batch in published]
    assert energies == [1.0, 3.0]  # telegram 2 was superseded before its slot
    assert line.written == []  # nothing is ever sent to a push meter


async def test_silent_push_meter_turns_not_topical_and_the_port_stays_open() -> None:
    clock = FakeClock()
    published: list[SignalUpdate] = []
    state = DeviceState(push_plan(silence_s=0.01))
    listener = PushListener(state, published.extend, clock=clock)
    # Bytes that never complete a telegram: the meter is silent as far as readouts go.
    line = scripted_line(clock, [(0.0, telegram("1")), (20.0, b"\x00"), (40.0, b"\x00")])
    with pytest.raises(ConnectionLostError):
        await listener._listen(line)
    statuses = [u.value for u in published if u.signal == STATUS_SIGNAL]
    assert statuses[0] == "ok"
    assert "no answer" in statuses
    last_energy = [u for u in published if u.signal == "energy"][-1]
    assert last_energy.quality & Quality.NOT_TOPICAL
    assert line.written == []
