"""Push meters (mode D): telegram splitting with byte vectors, publishing rate, silence."""

from __future__ import annotations

import pytest
from tests.helpers import frame

from obisgate import ReadoutOptions
from obisgate.errors import ConnectionLostError
from obisgate.gateway.plan import DevicePlan, SignalPlan
from obisgate.gateway.poller import DeviceState
from obisgate.gateway.push import PushListener, TelegramSplitter
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.protocol.identification import ProtocolMode
from obisgate.transport.base import LineSettings, Transport


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


class ScriptedLine(Transport):
    """Returns (time, bytes) items in order, moving the clock; then the line closes."""

    url = "fake://push"
    can_set_baud = False
    baud = 2400

    def __init__(self, clock: FakeClock, items: list[tuple[float, bytes]]) -> None:
        self.clock = clock
        self.items = list(items)

    async def write(self, data: bytes) -> None:
        raise AssertionError("nothing is ever sent to a push meter")

    async def drain(self) -> None:
        pass

    async def read(self) -> bytes:
        if not self.items:
            raise ConnectionLostError("fake://push: closed")
        at, data = self.items.pop(0)
        self.clock.now = at
        return data

    async def set_baud(self, baud: int) -> None:
        pass

    async def aclose(self) -> None:
        pass


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
    line = ScriptedLine(
        clock,
        [(0.0, telegram("1")), (2.0, telegram("2")), (4.0, telegram("3")), (12.0, b"\r\n")],
    )
    with pytest.raises(ConnectionLostError):
        await listener._listen(line)
    energies = [next(u.value for u in batch if u.signal == "energy") for batch in published]
    assert energies == [1.0, 3.0]  # telegram 2 was superseded before its slot


async def test_silent_push_meter_turns_not_topical_and_the_port_stays_open() -> None:
    clock = FakeClock()
    published: list[SignalUpdate] = []
    state = DeviceState(push_plan(silence_s=0.01))
    listener = PushListener(state, published.extend, clock=clock)
    # Bytes that never complete a telegram: the meter is silent as far as readouts go.
    line = ScriptedLine(clock, [(0.0, telegram("1")), (20.0, b"\x00"), (40.0, b"\x00")])
    with pytest.raises(ConnectionLostError):
        await listener._listen(line)
    statuses = [u.value for u in published if u.signal == STATUS_SIGNAL]
    assert statuses[0] == "ok"
    assert "no answer" in statuses
    last_energy = [u for u in published if u.signal == "energy"][-1]
    assert last_energy.quality & Quality.NOT_TOPICAL
