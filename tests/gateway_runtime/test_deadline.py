"""Every line bounded in time: a trickling meter cannot hold a shared line hostage.

The poller's deadline runs on its injected sleep, so these tests drive it with
a virtual clock: no real waiting, no timed assertions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from tests.virtual_clock import VirtualClock

from obisgate import AccessDeniedError, ReadoutOptions, make_scheme, parse_readout
from obisgate.errors import NoAnswerError
from obisgate.gateway.plan import DevicePlan, ProgrammingPlan, SignalPlan
from obisgate.gateway.poller import DeviceState, LinePoller, ProgrammingFailed
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.protocol.programming_client import ProgrammingOptions
from obisgate.protocol.readout import Readout
from obisgate.transport.base import LineSettings

READOUT = parse_readout(b"1.8.0(000042.5*kWh)\r\n!\r\n")


def plan(alias: str, *, total: float | None = 3.0, retries: int = 1, **kw: object) -> DevicePlan:
    return DevicePlan(
        alias=alias,
        url="tcp://127.0.0.1:1",
        port_key="bus",
        line=LineSettings(),
        options=ReadoutOptions(),
        scan_rate_s=10.0,
        retries=retries,
        total_timeout_s=total,
        signals=(SignalPlan(alias="energy", tag="1.8.0", number_type="FLOAT"),),
        **kw,  # type: ignore[arg-type]
    )


class Meters:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.started: list[tuple[str, float]] = []
        self.released: list[str] = []

    async def read(self, p: DevicePlan) -> Readout:
        self.started.append((p.alias, self.clock.now))
        try:
            if p.alias == "trickler":
                while True:  # one byte every 0.5 s, within every inter-byte timeout
                    await self.clock.sleep(0.5)
            await self.clock.sleep(1.0)
            return READOUT
        finally:
            self.released.append(p.alias)


def latest(updates: Sequence[SignalUpdate], device: str, signal: str) -> SignalUpdate:
    return [u for u in updates if (u.device, u.signal) == (device, signal)][-1]


async def test_trickling_meter_does_not_hold_the_shared_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    meters = Meters(clock)
    published: list[SignalUpdate] = []
    states = [DeviceState(plan("trickler")), DeviceState(plan("good"))]
    poller = LinePoller(
        states,
        published.extend,
        read=meters.read,
        clock=clock,
        sleep=clock.sleep,
        start_offsets={"trickler": 0.0, "good": 5.0},
    )
    with caplog.at_level(logging.WARNING):
        await clock.drive(asyncio.create_task(poller.run(max_polls=8)))
    good = [t for alias, t in meters.started if alias == "good"]
    trickler = [t for alias, t in meters.started if alias == "trickler"]
    assert good == [5.0, 15.0, 25.0, 35.0]  # its scan rate, every time
    assert trickler == [0.0, 10.0, 20.0, 30.0]  # retries stay inside the deadline
    assert meters.released.count("trickler") == 4  # the port released each time
    assert latest(published, "trickler", STATUS_SIGNAL).value == "timeout"
    assert latest(published, "trickler", "energy").quality & Quality.NOT_TOPICAL
    assert latest(published, "good", STATUS_SIGNAL).value == "ok"
    assert latest(published, "good", "energy").quality is Quality.VALID
    trickler_logs = [r for r in caplog.records if r.getMessage().startswith("trickler:")]
    assert len(trickler_logs) == 1  # logged once, not per poll
    assert "3 s" in trickler_logs[0].getMessage()


async def test_values_older_than_a_failed_readout_are_not_valid() -> None:
    clock = VirtualClock()
    calls = 0

    async def read(p: DevicePlan) -> Readout:
        nonlocal calls
        calls += 1
        if calls == 1:
            return READOUT
        while True:
            await clock.sleep(0.5)

    published: list[SignalUpdate] = []
    state = DeviceState(plan("m", retries=0))
    poller = LinePoller([state], published.extend, read=read, clock=clock, sleep=clock.sleep)
    await clock.drive(asyncio.create_task(poller.run(max_polls=2)))
    energy = [u for u in published if u.signal == "energy"]
    assert energy[0].quality is Quality.VALID
    assert energy[1].value == energy[0].value
    assert energy[1].quality & Quality.NOT_TOPICAL


def programming_plan(alias: str) -> DevicePlan:
    return DevicePlan(
        alias=alias,
        url="tcp://127.0.0.1:1",
        port_key=alias,
        line=LineSettings(),
        options=ReadoutOptions(),
        scan_rate_s=10.0,
        retries=2,
        signals=(
            SignalPlan(alias="energy", tag="1.8.0", number_type="FLOAT"),
            SignalPlan(alias="reg", tag="0.9.1", number_type="STRING", by_command=True),
        ),
        programming=ProgrammingPlan(
            options=ProgrammingOptions(), scheme=lambda: make_scheme("p1", "secret")
        ),
    )


async def test_refused_password_is_not_sent_again_and_the_readout_is_kept() -> None:
    clock = VirtualClock()
    programming_reads = 0

    async def read(p: DevicePlan) -> Readout:
        nonlocal programming_reads
        if p.programming is None:
            return READOUT
        programming_reads += 1
        raise ProgrammingFailed(READOUT, AccessDeniedError())

    published: list[SignalUpdate] = []
    state = DeviceState(programming_plan("m"))
    poller = LinePoller([state], published.extend, read=read, clock=clock, sleep=clock.sleep)
    await clock.drive(asyncio.create_task(poller.run(max_polls=3)))
    assert programming_reads == 1  # never retried, never at a later scan
    statuses = [u.value for u in published if u.signal == STATUS_SIGNAL]
    assert statuses == ["access denied"] * 3
    energy = [u for u in published if u.signal == "energy"]
    assert [u.quality for u in energy] == [Quality.VALID] * 3  # the readout still published
    assert latest(published, "m", "reg").quality & Quality.NOT_TOPICAL


async def test_programming_failure_keeps_the_good_readout() -> None:
    clock = VirtualClock()

    async def read(p: DevicePlan) -> Readout:

        raise ProgrammingFailed(READOUT, NoAnswerError("password prompt (P0)", 2.5))

    published: list[SignalUpdate] = []
    state = DeviceState(programming_plan("m"))
    poller = LinePoller([state], published.extend, read=read, clock=clock, sleep=clock.sleep)
    await clock.drive(asyncio.create_task(poller.run(max_polls=1)))
    assert latest(published, "m", "energy").quality is Quality.VALID
    assert latest(published, "m", "energy").value == 42.5
    assert latest(published, "m", STATUS_SIGNAL).value == "no answer"


async def test_real_time_deadline_abandons_the_read_and_releases_the_port() -> None:
    """With the loop's own clock (no injected sleep) the deadline cancels the read."""
    released = asyncio.Event()
    published: list[SignalUpdate] = []

    async def silent(p: DevicePlan) -> Readout:
        try:
            await asyncio.Event().wait()  # a meter that never finishes
        finally:
            released.set()
        raise AssertionError("not reached")

    async def own_timeout(p: DevicePlan) -> Readout:
        raise TimeoutError("not the deadline")

    state = DeviceState(plan("silent", total=0.05, retries=0))
    await LinePoller([state], published.extend, read=silent).poll(state)
    assert released.is_set()
    assert latest(published, "silent", STATUS_SIGNAL).value == "timeout"
    other = DeviceState(plan("other", total=60.0, retries=0))
    await LinePoller([other], published.extend, read=own_timeout).poll(other)
    assert latest(published, "other", STATUS_SIGNAL).value != "timeout"
