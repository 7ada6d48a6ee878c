"""Head-end polling on a virtual clock: rate groups, jitter, throttle groups, priority reads
and read-success figures."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from tests.virtual_clock import VirtualClock

from obisgate import NoAnswerError, ProtocolMode, ReadoutOptions, parse_readout
from obisgate.gateway.app import Gateway
from obisgate.gateway.plan import DevicePlan, SignalPlan
from obisgate.gateway.poller import DeviceState, LinePoller, ReadRequestError
from obisgate.gateway.quality import Quality
from obisgate.gateway.readstats import ReadStats
from obisgate.gateway.schedule import phase_of
from obisgate.gateway.throttle import SessionLimiter
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.protocol.readout import Readout
from obisgate.transport.base import LineSettings

READOUT = parse_readout(b"1.8.0(0001234.5*kWh)\r\n1.7.0(01.250*kW)\r\n!\r\n")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(unix_s: float) -> datetime:
    """The wall clock at Unix second ``unix_s``."""
    return datetime.fromtimestamp(unix_s, UTC)


def plan(
    alias: str,
    line: str = "bus",
    scan: float = 10.0,
    energy_scan: float | None = None,
    group: str | None = None,
) -> DevicePlan:
    return DevicePlan(
        alias=alias,
        url="tcp://127.0.0.1:1",
        port_key=line,
        line=LineSettings(),
        options=ReadoutOptions(),
        scan_rate_s=scan,
        retries=0,
        group=group,
        signals=(
            SignalPlan(alias="power", tag="1.7.0", number_type="FLOAT"),
            SignalPlan(alias="energy", tag="1.8.0", number_type="FLOAT", scan_rate_s=energy_scan),
        ),
    )


class Meters:
    """Readouts taking ``duration`` virtual seconds; records who was read when, and with
    which signals; counts reads in flight."""

    def __init__(self, clock: VirtualClock, duration: float = 1.0) -> None:
        self.clock = clock
        self.duration = duration
        self.failing: set[str] = set()
        self.reads: list[tuple[str, float, tuple[str, ...]]] = []
        self.active = 0
        self.max_active = 0

    async def read(self, p: DevicePlan) -> Readout:
        self.reads.append((p.alias, self.clock.now, tuple(s.alias for s in p.signals)))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await self.clock.sleep(self.duration)
            if p.alias in self.failing:
                raise NoAnswerError("identification", 2.5)
            return READOUT
        finally:
            self.active -= 1

    def started(self, alias: str) -> list[float]:
        return [t for a, t, _ in self.reads if a == alias]


def line_poller(
    states: Sequence[DeviceState],
    clock: VirtualClock,
    meters: Meters,
    sink: list[Sequence[SignalUpdate]] | None = None,
    **kwargs: object,
) -> LinePoller:
    return LinePoller(
        states,
        (sink if sink is not None else []).append,
        read=meters.read,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: T0,
        **kwargs,  # type: ignore[arg-type]
    )


# -- rate groups ----------------------------------------------------------------------


async def test_signals_with_their_own_scan_rates_are_read_when_due() -> None:
    clock = VirtualClock()
    meters = Meters(clock)
    sink: list[Sequence[SignalUpdate]] = []
    state = DeviceState(plan("m", scan=10.0, energy_scan=30.0))
    task = asyncio.create_task(line_poller([state], clock, meters, sink).run(max_polls=7))
    await clock.run_until(task.done)
    assert [(t, signals) for _, t, signals in meters.reads] == [
        (0.0, ("power", "energy")),
        (10.0, ("power",)),
        (20.0, ("power",)),
        (30.0, ("power", "energy")),
        (40.0, ("power",)),
        (50.0, ("power",)),
        (60.0, ("power", "energy")),
    ]
    # A poll publishes its due signals only (and the status): the others keep their values.
    assert [u.signal for u in sink[1]] == ["power", STATUS_SIGNAL]
    assert [u.signal for u in sink[3]] == ["power", "energy", STATUS_SIGNAL]
    assert state.reads.scheduled == 7 and state.reads.succeeded == 7


async def test_a_failed_partial_poll_marks_only_its_signals_not_topical() -> None:
    clock = VirtualClock()
    meters = Meters(clock)
    sink: list[Sequence[SignalUpdate]] = []
    state = DeviceState(plan("m", scan=10.0, energy_scan=30.0))
    poller = line_poller([state], clock, meters, sink)
    task = asyncio.create_task(poller.run(max_polls=1))
    await clock.run_until(task.done)
    meters.failing.add("m")
    task = asyncio.create_task(poller.run(max_polls=1))  # a fresh start: both due again
    await clock.run_until(task.done)
    failed = {u.signal: u for u in sink[-1]}
    assert set(failed) == {"power", "energy", STATUS_SIGNAL}
    meters.failing.clear()
    partial, _ = state.read_for(0b01)
    assert partial is not None
    meters.failing.add("m")
    polled = asyncio.create_task(poller.poll(state, partial))
    await clock.run_until(polled.done)
    assert [u.signal for u in sink[-1]] == ["power", STATUS_SIGNAL]
    assert sink[-1][0].quality & Quality.NOT_TOPICAL


# -- jitter -----------------------------------------------------------------------------


def test_each_device_polls_at_the_phase_of_its_alias_on_the_wall_clock() -> None:
    plans = [
        dataclasses.replace(plan(a, line=a, scan=60.0), phase_s=phase_of(a, 60.0))
        for a in ("a", "b", "c")
    ]
    at_1000 = Gateway(plans, [], wall_clock=lambda: _at(1000.0))._line_starts()
    at_1013 = Gateway(plans, [], wall_clock=lambda: _at(1013.0))._line_starts()
    firsts = {key: first for first, key, _ in at_1000}
    later = {key: first for first, key, _ in at_1013}
    for alias in ("a", "b", "c"):
        # The first slot is the next wall-clock time t with (t - phase) mod 60 == 0 ...
        assert firsts[alias] == pytest.approx((phase_of(alias, 60.0) - 1000.0) % 60.0)
        # ... the same wall-clock slots after a restart 13 s later.
        assert (1000.0 + firsts[alias]) % 60.0 == pytest.approx((1013.0 + later[alias]) % 60.0)


def test_ten_thousand_meters_do_not_all_start_at_the_same_second() -> None:
    plans = [
        dataclasses.replace(plan(f"m{i}", line=f"l{i}", scan=60.0), phase_s=phase_of(f"m{i}", 60.0))
        for i in range(10_000)
    ]
    starts = Gateway(plans, [], wall_clock=lambda: _at(1_800_000_000.0))._line_starts()
    per_second = [0] * 60
    for first, _, _ in starts:
        per_second[int(first)] += 1
    assert max(per_second) < 250  # 167 a second on average
    assert min(per_second) > 100


def test_rate_groups_start_at_their_own_slots_of_the_phase() -> None:
    p = dataclasses.replace(plan("m", scan=10.0, energy_scan=60.0), phase_s=4.0)
    ((first, key, offsets),) = Gateway([p], [], wall_clock=lambda: _at(100.0))._line_starts()
    # power at 104 (every 10 s from phase 4), energy at 124 (every 60 s from phase 4).
    assert (first, key) == (4.0, "bus")
    assert offsets == {"m": [0.0, 20.0]}


def test_scan_align_keeps_the_spread_in_configuration_order() -> None:
    plans = [plan("a", line="one"), plan("b", line="two"), plan("c", line="one"), plan("d")]
    assert Gateway(plans, [], wall_clock=lambda: _at(1234.5))._line_starts() == [
        (0.0, "one", {"a": 0.0, "c": 5.0}),
        (2.5, "two", {"b": 0.0}),
        (7.5, "bus", {"d": 0.0}),
    ]


# -- throttle groups --------------------------------------------------------------------


async def test_a_throttle_group_never_opens_more_than_its_sessions() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=4.0)
    limiter = SessionLimiter("cell", 2)
    group = ReadStats()
    states = [DeviceState(plan(f"m{i}", line=f"l{i}", scan=60.0, group="cell")) for i in range(5)]
    pollers = [
        line_poller(
            [state],
            clock,
            meters,
            limiters={"cell": limiter},
            totals=lambda _state: (group,),
        )
        for state in states
    ]
    tasks = [asyncio.create_task(p.run(max_polls=2)) for p in pollers]
    await clock.run_until(lambda: all(t.done() for t in tasks))
    assert meters.max_active == 2
    # Each scan: two read at once at 0, two more at 4, the last at 8.
    assert sorted(meters.started(f"m{i}")[0] for i in range(5)) == [0.0, 0.0, 4.0, 4.0, 8.0]
    assert limiter.waited_total == 6  # three waited in each of the two scans
    assert limiter.wait_seconds_total == pytest.approx(2 * (4 + 4 + 8))
    assert (limiter.open, limiter.peak) == (0, 2)
    # The waits are the polls' lateness: 0, 0, 4, 4, 8 s each scan.
    assert group.scheduled == 10 and group.succeeded == 10
    assert group.lateness_sum_s == pytest.approx(2 * (4 + 4 + 8))
    assert group.percentile(0.5) == pytest.approx(2.5 + 2.5 * 0.0, abs=2.5)


async def test_a_group_without_a_limit_is_only_counted() -> None:
    limiter = SessionLimiter("free", None)
    for _ in range(50):
        assert limiter.try_acquire()
    assert (limiter.open, limiter.waited_total) == (50, 0)


# -- priority reads ---------------------------------------------------------------------


async def test_a_priority_read_cuts_the_wait_for_the_next_slot() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=1.0)
    a = DeviceState(plan("a", scan=100.0))
    b = DeviceState(plan("b", scan=100.0))
    poller = line_poller([a, b], clock, meters, start_offsets={"a": 0.0, "b": 50.0})
    task = asyncio.create_task(poller.run())
    await clock.advance(10.0)
    assert meters.reads == [("a", 0.0, ("power", "energy"))]
    first = poller.request(b)
    assert poller.request(b) is first  # asked twice before it ran: one read
    await clock.run_until(first.done)
    updates = first.result()
    assert {u.signal for u in updates} == {"power", "energy", STATUS_SIGNAL}
    assert meters.started("b") == [10.0]
    assert b.reads.priority == 1 and b.reads.scheduled == 0
    # The schedule goes on as before: b's own slot at 50 still comes.
    await clock.run_until(lambda: len(meters.started("b")) == 2)
    assert meters.started("b") == [10.0, 50.0]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_priority_read_waits_only_for_the_poll_in_progress() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=5.0)
    states = [DeviceState(plan(n, scan=30.0)) for n in ("a", "b", "c")]
    poller = line_poller(states, clock, meters, start_offsets={"a": 0.0, "b": 0.0, "c": 0.0})
    task = asyncio.create_task(poller.run())
    await clock.advance(2.0)  # a is being read (0-5 s); b and c are due and waiting
    asked = poller.request(states[2])
    await clock.run_until(asked.done)
    # a's poll finished, then c (asked for), then b (due since 0) and c's own turn.
    assert [(alias, t) for alias, t, _ in meters.reads][:3] == [
        ("a", 0.0),
        ("c", 5.0),
        ("b", 10.0),
    ]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert asked.done() and not asked.cancelled()


class IdleSessions:
    """The line's idle work (as a backfill): a session of ``length`` virtual seconds
    whenever at least that much is free before the next poll; records when each began."""

    def __init__(self, clock: VirtualClock, length: float) -> None:
        self.clock = clock
        self.length = length
        self.sessions: list[float] = []

    async def __call__(self, budget_s: float) -> bool:
        if budget_s < self.length:
            return False
        self.sessions.append(self.clock.now)
        await self.clock.sleep(self.length)
        return True


async def test_idle_work_fills_the_free_time_and_a_priority_read_goes_before_more() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=1.0)
    a, b = DeviceState(plan("a", scan=30.0)), DeviceState(plan("b", scan=30.0))
    idle = IdleSessions(clock, 10.0)
    poller = line_poller([a, b], clock, meters, start_offsets={"a": 0.0, "b": 0.0}, idle=idle)
    task = asyncio.create_task(poller.run())
    await clock.advance(5.0)
    # a and b read at 0 and 1; from 2 the line is free until 30: sessions at 2 and 12
    # (22 would end past the slot at 30).
    assert [(alias, t) for alias, t, _ in meters.reads] == [("a", 0.0), ("b", 1.0)]
    assert idle.sessions == [2.0]
    asked = poller.request(b)  # during the session that began at 2
    await clock.run_until(asked.done)
    # The session in progress ends at 12, then the priority read, then more idle work.
    assert meters.started("b") == [1.0, 12.0]
    await clock.run_until(lambda: len(meters.started("a")) == 2)
    assert idle.sessions == [2.0, 13.0]
    assert meters.started("a") == [0.0, 30.0]  # the idle work never made a poll late
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_queued_priority_reads_are_cancelled_when_the_line_stops() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=5.0)
    states = [DeviceState(plan(n)) for n in ("a", "b")]
    poller = line_poller(states, clock, meters)
    task = asyncio.create_task(poller.run())
    await clock.advance(1.0)
    asked = poller.request(states[1])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert asked.cancelled()


async def test_a_priority_read_goes_first_in_its_groups_queue() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=10.0)
    limiter = SessionLimiter("modems", 1)
    x, y, z = (DeviceState(plan(n, line=n, scan=100.0, group="modems")) for n in "xyz")
    pollers = {
        s.plan.alias: line_poller(
            [s], clock, meters, limiters={"modems": limiter}, start_offsets={s.plan.alias: o}
        )
        for s, o in ((x, 0.0), (y, 1.0), (z, 50.0))
    }
    tasks = [asyncio.create_task(p.run()) for p in pollers.values()]
    await clock.advance(2.0)  # x reads (0-10), y waits for the group since 1
    asked = pollers["z"].request(z)
    await clock.run_until(asked.done)
    # z (asked for) gets the session x gives back at 10; y, waiting since 1, gets it at 20.
    await clock.run_until(lambda: len(meters.reads) >= 3)
    assert [(alias, t) for alias, t, _ in meters.reads][:3] == [
        ("x", 0.0),
        ("z", 10.0),
        ("y", 20.0),
    ]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_gateway_priority_reads_refuse_what_cannot_be_asked() -> None:
    push = dataclasses.replace(plan("push", line="p"), options=ReadoutOptions(mode=ProtocolMode.D))
    gateway = Gateway([plan("m")], [])
    with pytest.raises(ReadRequestError) as stopped:
        gateway.request_read("m")
    assert stopped.value.reason == "stopped"
    gateway = Gateway([plan("m"), push], [])
    with pytest.raises(ReadRequestError) as unknown:
        gateway.request_read("nope")
    assert unknown.value.reason == "unknown"
    with pytest.raises(ReadRequestError) as pushed:
        gateway.request_read("push")
    assert pushed.value.reason == "push"


async def test_a_priority_read_starts_a_line_whose_first_poll_is_far_ahead() -> None:
    read: list[str] = []
    first = asyncio.Event()

    async def instant(p: DevicePlan) -> Readout:
        read.append(p.alias)
        first.set()
        return READOUT

    # The second line's first poll is 500 s away.
    gateway = Gateway(
        [plan("early", line="e", scan=1000.0), plan("late", line="l", scan=1000.0)],
        [],
        read=instant,
    )
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await first.wait()
    assert "l" not in gateway.pollers
    updates = await gateway.request_read("late")
    assert read == ["early", "late"]
    assert {u.signal for u in updates} == {"power", "energy", STATUS_SIGNAL}
    figures = gateway.read_figures()
    assert figures.devices["late"][2].priority == 1
    assert figures.total.priority == 1

    async def job() -> int:
        return 42

    assert await gateway.submit("late", job, background=True) == 42
    with pytest.raises(ReadRequestError):
        gateway.submit("nope", job)
    stop.set()
    await run


# -- read-success figures --------------------------------------------------------------


async def test_lateness_and_missed_scans_are_counted_per_device_and_in_total() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=3.0)
    total = ReadStats()
    a, b = DeviceState(plan("a", scan=10.0)), DeviceState(plan("b", scan=10.0))
    meters.failing.add("b")
    poller = line_poller(
        [a, b], clock, meters, totals=lambda _s: (total,), start_offsets={"a": 0.0, "b": 0.0}
    )
    task = asyncio.create_task(poller.run(max_polls=4))
    await clock.run_until(task.done)
    # a at 0 and 10, b at 3 (3 s late) and 13 (3 s late).
    assert [(x, t) for x, t, _ in meters.reads] == [("a", 0), ("b", 3), ("a", 10), ("b", 13)]
    assert a.reads.succeeded == 2 and a.reads.success_share == 1.0
    assert b.reads.scheduled == 2 and b.reads.succeeded == 0
    assert 2.5 <= (b.reads.percentile(0.5) or 0.0) <= 5.0  # its bucket: (2.5 s, 5 s]
    assert b.reads.lateness_sum_s == pytest.approx(6.0)
    assert total.scheduled == 4 and total.succeeded == 2
    # An overrun: 25 s polls of a 10 s schedule miss slots, counted as scheduled reads.
    slow = DeviceState(plan("slow", scan=10.0))
    meters.duration = 25.0
    task = asyncio.create_task(line_poller([slow], clock, meters).run(max_polls=2))
    await clock.run_until(task.done)
    assert slow.missed_scans == 4
    assert slow.reads.missed == 4
    assert slow.reads.scheduled == 6
    assert slow.reads.success_share == pytest.approx(2 / 6)


def test_percentiles_come_from_the_histogram() -> None:
    stats = ReadStats()
    assert stats.percentile(0.5) is None
    for _ in range(90):
        stats.record(True, 0.005)
    for _ in range(10):
        stats.record(False, 7.0)
    assert stats.percentile(0.5) == pytest.approx(0.01 * 50 / 90)
    assert stats.percentile(0.95) == pytest.approx(5.0 + 5.0 * 0.5)
    assert stats.to_json()["read_success"] == 0.9
    total = ReadStats.total([stats, stats])
    assert total.scheduled == 200 and total.histogram()[0] == 180
    stats.record(True, 1000.0)
    assert stats.percentile(1.0) == 300.0  # beyond the last bound: that bound


# -- work of other stages on the line -------------------------------------------------


async def test_other_stages_queue_jobs_between_polls_of_the_line() -> None:
    clock = VirtualClock()
    meters = Meters(clock, duration=5.0)
    limiter = SessionLimiter("modems", 1)
    a = DeviceState(plan("a", scan=60.0, group="modems"))
    b = DeviceState(plan("b", scan=60.0, group="modems"))
    poller = line_poller(
        [a, b], clock, meters, limiters={"modems": limiter}, start_offsets={"a": 0.0, "b": 20.0}
    )
    ran: list[tuple[str, float, int]] = []

    async def profile_read(name: str, seconds: float) -> str:
        ran.append((name, clock.now, limiter.open))
        await clock.sleep(seconds)
        return name

    async def broken() -> str:
        raise ValueError("the job's own failure")

    task = asyncio.create_task(poller.run())
    await clock.advance(1.0)  # a is being read (0-5 s)
    now = poller.submit(a, lambda: profile_read("now", 2.0))
    later = poller.submit(b, lambda: profile_read("idle", 3.0), background=True)
    failing = poller.submit(b, broken)
    await clock.run_until(lambda: now.done() and later.done() and failing.done())
    # The head job after a's poll (5-7), then the idle one (7-10), before b's slot at 20.
    assert ran == [("now", 5.0, 1), ("idle", 7.0, 1)]
    assert (now.result(), later.result()) == ("now", "idle")
    with pytest.raises(ValueError, match="own failure"):
        failing.result()
    await clock.run_until(lambda: len(meters.started("b")) == 1)
    assert meters.started("b") == [20.0]  # the schedule is untouched
    assert a.reads.priority == 0  # a job is no read
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
