"""Polling rules, with an injected clock: schedule, overrun, turns, failures, recovery."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from obisgate import AccessDeniedError, NoAnswerError, ReadoutOptions, parse_readout
from obisgate.gateway.app import Gateway
from obisgate.gateway.outputs import JsonLinesOutput
from obisgate.gateway.plan import DevicePlan, SignalPlan
from obisgate.gateway.poller import DeviceState, LinePoller
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.protocol.readout import Readout
from obisgate.transport.base import LineSettings

READOUT = parse_readout(b"1.8.0*24(0147238.4*kWh)\r\n1.6.0(02.468*kW)(2511180930)\r\n!\r\n")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def plan(alias: str, line: str = "bus", scan: float = 10.0, retries: int = 0) -> DevicePlan:
    return DevicePlan(
        alias=alias,
        url="tcp://127.0.0.1:1",
        port_key=line,
        line=LineSettings(),
        options=ReadoutOptions(),
        scan_rate_s=scan,
        retries=retries,
        signals=(
            SignalPlan(alias="energy", tag="1.8.0*24", number_type="FLOAT", log=True),
            SignalPlan(alias="power", tag="1.6.0", number_type="FLOAT", unit="kW"),
            SignalPlan(alias="absent", tag="9.9.9", number_type="FLOAT"),
        ),
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class FakeMeters:
    """Readouts that take `duration` seconds of fake time; `failing` ones raise."""

    def __init__(self, clock: FakeClock, duration: float = 1.0) -> None:
        self.clock = clock
        self.duration = duration
        self.failing: set[str] = set()
        self.started: list[tuple[str, float]] = []
        self.active = 0
        self.max_active = 0

    async def read(self, p: DevicePlan) -> Readout:
        self.started.append((p.alias, self.clock.now))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await self.clock.sleep(self.duration)
            if p.alias in self.failing:
                raise NoAnswerError("identification", 2.5)
            return READOUT
        finally:
            self.active -= 1


def poller(
    states: Sequence[DeviceState],
    clock: FakeClock,
    meters: FakeMeters,
    sink: list[Sequence[SignalUpdate]],
) -> LinePoller:
    return LinePoller(
        states, sink.append, read=meters.read, clock=clock, sleep=clock.sleep, wall_clock=lambda: T0
    )


async def test_every_scan_reads_once_and_maps_signals() -> None:
    clock = FakeClock()
    meters = FakeMeters(clock)
    sink: list[Sequence[SignalUpdate]] = []
    state = DeviceState(plan("m1"))
    await poller([state], clock, meters, sink).run(max_polls=3)
    assert [t for _, t in meters.started] == [0.0, 10.0, 20.0]
    assert state.missed_scans == 0
    by_signal = {u.signal: u for u in sink[-1]}
    assert by_signal["energy"].value == pytest.approx(147238.4)
    assert by_signal["energy"].unit == "kWh"
    assert by_signal["energy"].quality is Quality.VALID
    assert by_signal["power"].unit == "kW"
    assert by_signal["absent"].value is None
    assert by_signal["absent"].quality == Quality.NOT_TOPICAL
    assert by_signal[STATUS_SIGNAL].value == "ok"


async def test_overrun_counts_missed_scans_and_never_piles_up() -> None:
    clock = FakeClock()
    meters = FakeMeters(clock, duration=25.0)
    sink: list[Sequence[SignalUpdate]] = []
    state = DeviceState(plan("slow"))
    await poller([state], clock, meters, sink).run(max_polls=3)
    assert [t for _, t in meters.started] == [0.0, 30.0, 60.0]
    assert state.missed_scans == 6


async def test_devices_on_one_line_take_turns() -> None:
    clock = FakeClock()
    meters = FakeMeters(clock, duration=2.0)
    sink: list[Sequence[SignalUpdate]] = []
    states = [DeviceState(plan("a")), DeviceState(plan("b"))]
    await poller(states, clock, meters, sink).run(max_polls=4)
    assert meters.max_active == 1
    assert meters.started == [("a", 0.0), ("b", 2.0), ("a", 10.0), ("b", 12.0)]


async def test_failure_keeps_last_values_not_topical_and_isolates_devices(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    meters = FakeMeters(clock)
    sink: list[Sequence[SignalUpdate]] = []
    good, bad = DeviceState(plan("good")), DeviceState(plan("bad"))
    line = poller([good, bad], clock, meters, sink)
    await line.run(max_polls=2)
    meters.failing.add("bad")
    caplog.set_level(logging.INFO, logger="obisgate.gateway.poller")
    await line.poll(bad)
    await line.poll(bad)
    await line.poll(good)
    failed = {u.signal: u for u in sink[-2]}
    assert failed["energy"].value == pytest.approx(147238.4)
    assert failed["energy"].quality == Quality.NOT_TOPICAL
    assert failed[STATUS_SIGNAL].value == "no answer"
    assert bad.status == "no answer" and bad.up is False
    assert {u.signal: u for u in sink[-1]}["energy"].quality is Quality.VALID
    assert good.up is True
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bad" in warnings[0].getMessage()
    meters.failing.clear()
    await line.poll(bad)
    await line.poll(bad)
    recovered = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(recovered) == 1 and "answering again" in recovered[0].getMessage()


async def test_retries_within_one_scan() -> None:
    clock = FakeClock()
    meters = FakeMeters(clock)
    meters.failing.add("r")
    sink: list[Sequence[SignalUpdate]] = []
    state = DeviceState(plan("r", retries=2))
    await poller([state], clock, meters, sink).run(max_polls=1)
    assert len(meters.started) == 3
    assert state.failures == 1


async def test_lines_run_concurrently_and_stop_is_clean() -> None:
    started = {"x": asyncio.Event(), "y": asyncio.Event()}
    release = asyncio.Event()
    closed: list[str] = []

    async def read(p: DevicePlan) -> Readout:
        started[p.alias].set()
        try:
            await release.wait()
        finally:
            closed.append(p.alias)
        return READOUT

    out = io.StringIO()
    gateway = Gateway(
        [plan("x", line="line1", scan=0.01), plan("y", line="line2", scan=0.01)],
        [JsonLinesOutput(out)],
        read=read,
    )
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await started["x"].wait()
    await started["y"].wait()  # both in flight at once: different lines are concurrent
    stop.set()
    await run
    assert sorted(closed) == ["x", "y"]  # abandoned exchanges were unwound
    assert out.getvalue() == ""


def test_first_polls_are_spread_and_each_line_starts_at_its_first() -> None:
    gateway = Gateway(
        [plan("a", line="one"), plan("b", line="two"), plan("c", line="one"), plan("d")],
        [],
    )
    # Four devices over a 10 s scan: 0, 2.5, 5, 7.5 s; line "one" starts with "a".
    assert gateway._line_starts() == [
        (0.0, "one", {"a": 0.0, "c": 5.0}),
        (2.5, "two", {"b": 0.0}),
        (7.5, "bus", {"d": 0.0}),
    ]


async def test_a_line_is_not_set_up_before_its_first_poll_is_due() -> None:
    read_lines: list[str] = []
    first = asyncio.Event()

    async def read(p: DevicePlan) -> Readout:
        read_lines.append(p.port_key)
        first.set()
        return READOUT

    # The second line's first poll is due 500 s after the start: stopped long before.
    gateway = Gateway(
        [plan("a", line="early", scan=1000.0), plan("b", line="late", scan=1000.0)],
        [],
        read=read,
    )
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await first.wait()
    tasks = {t.get_name() for t in asyncio.all_tasks()}
    assert "line early" in tasks
    assert "line late" not in tasks
    stop.set()
    await run
    assert read_lines == ["early"]
    assert gateway.states[1].polls == 0


class _Escaped(BaseException):
    """Not an Exception: gets past the poller's per-device handling, as a bug would."""


async def test_a_line_poller_that_dies_stops_the_gateway_with_an_error() -> None:
    busy = asyncio.Event()
    cancelled: list[str] = []

    async def read(p: DevicePlan) -> Readout:
        if p.alias == "bad":
            await busy.wait()  # fails once the other line is in the middle of a readout
            raise _Escaped
        busy.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.append(p.alias)
        return READOUT

    # Both first polls at 0 s ("bad" has a zero scan, so its spread offset is 0 too).
    gateway = Gateway(
        [plan("good", line="g", scan=1000.0), plan("bad", line="b", scan=0.0)], [], read=read
    )
    with pytest.raises(RuntimeError, match="a line poller stopped: _Escaped"):
        await gateway.run()
    assert cancelled == ["good"]  # the other line's exchange was abandoned, not left running


async def test_a_line_poller_that_returns_stops_the_gateway_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def read(p: DevicePlan) -> Readout:
        return READOUT

    async def one_poll(self: LinePoller, *, max_polls: int | None = None) -> None:
        await self.poll(self.states[0])  # and then returns: a bug, never silent

    monkeypatch.setattr(LinePoller, "run", one_poll)
    gateway = Gateway([plan("m")], [], read=read)
    with pytest.raises(RuntimeError, match="a line poller stopped") as raised:
        await gateway.run()
    assert "line bus returned" in str(raised.value.__cause__)
    assert gateway.states[0].polls == 1


async def test_gateway_publishes_json_lines() -> None:
    done = asyncio.Event()
    polls = 0

    async def read(p: DevicePlan) -> Readout:
        nonlocal polls
        polls += 1
        if polls == 2:
            done.set()
        return READOUT

    out = io.StringIO()
    gateway = Gateway([plan("m", scan=0.001)], [JsonLinesOutput(out)], read=read)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await done.wait()
    stop.set()
    await run
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    energy = next(x for x in lines if x["signal"] == "energy")
    assert energy["device"] == "m"
    assert energy["value"] == pytest.approx(147238.4)
    assert energy["unit"] == "kWh"
    assert energy["quality"] == ["valid"]
    assert gateway.stats()["polls"] >= 1


async def test_a_bug_with_one_device_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    meters = FakeMeters(clock)
    broken_plan = plan("broken", retries=2)

    async def read(p: DevicePlan) -> Readout:
        if p.alias == "broken":
            raise RuntimeError("secret detail")
        return await meters.read(p)

    sink: list[Sequence[SignalUpdate]] = []
    broken, good = DeviceState(broken_plan), DeviceState(plan("good"))
    line = LinePoller(
        [broken, good],
        sink.append,
        read=read,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: T0,
    )
    await line.run(max_polls=4)
    assert broken.status == "internal error"
    assert broken.polls == 2
    assert good.status == "ok"
    assert good.polls == 2
    assert "secret detail" not in caplog.text


async def test_refused_password_is_not_retried() -> None:
    attempts = 0

    async def read(p: DevicePlan) -> Readout:
        nonlocal attempts
        attempts += 1
        raise AccessDeniedError()

    state = DeviceState(plan("locked", retries=3))
    line = LinePoller([state], lambda updates: None, read=read)
    await line.poll(state)
    assert attempts == 1
    assert state.status == "access denied"


async def test_not_topical_copies_are_not_logged_again() -> None:
    clock = FakeClock()
    meters = FakeMeters(clock)
    sink: list[Sequence[SignalUpdate]] = []
    state = DeviceState(plan("m"))
    line = poller([state], clock, meters, sink)
    await line.poll(state)
    meters.failing.add("m")
    await line.poll(state)
    good = {u.signal: u for u in sink[0]}["energy"]
    stale = {u.signal: u for u in sink[1]}["energy"]
    assert good.log is True
    assert (stale.value, stale.time, stale.log) == (good.value, good.time, False)
    assert stale.quality == Quality.NOT_TOPICAL


async def test_status_update_carries_the_identification_line() -> None:
    clock = FakeClock()
    meters = FakeMeters(clock)
    sink: list[Sequence[SignalUpdate]] = []
    with_ident = parse_readout(b"/ISk5MT174-0001\r\n1.8.0*24(0147238.4*kWh)\r\n!\r\n")
    state = DeviceState(plan("m1"))
    p = LinePoller(
        [state],
        sink.append,
        read=lambda _plan: _ready(with_ident),
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: T0,
    )
    await p.poll(state)
    meters.failing.add("m1")
    await poller([state], clock, meters, sink).poll(state)
    first, failed = ({u.signal: u for u in batch}[STATUS_SIGNAL] for batch in sink)
    assert first.raw == "/ISk5MT174-0001"
    assert "raw" not in first.to_json()
    assert (failed.value, failed.raw) == ("no answer", None)


async def _ready(readout: Readout) -> Readout:
    return readout
