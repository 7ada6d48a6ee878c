"""A line's backfill takes only the free time between its polls: schedules on an injected clock."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from datetime import datetime, time, timedelta

import pytest

from obisgate import AccessDeniedError, LoadProfile, NoAnswerError, parse_readout
from obisgate.backoff import Backoff
from obisgate.gateway.backfill.device import MAX_ATTEMPTS, Phase
from obisgate.gateway.backfill.line import LineBackfill
from obisgate.gateway.backfill.reading import ProfileRequest
from obisgate.gateway.history import HistoryGaps
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.poller import DeviceState, LinePoller
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from obisgate.protocol.readout import Readout
from tests.backfill.support import T0, device_plan, load_profile, profile_plan
from tests.virtual_clock import VirtualClock

READOUT = parse_readout(b"1.8.0(0001000.000*kWh)\r\n1.5.0(1.5*kW)\r\n!\r\n")


class FakeClock(VirtualClock):
    """The virtual clock, and the wall clock it drives (from T0)."""

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)

    async def run(self, poller: LinePoller, polls: int) -> None:
        await self.drive(asyncio.create_task(poller.run(max_polls=polls)))


class FakeLine:
    """Polls taking ``poll_s``, profile sessions taking ``session_s`` + ``per_row_s`` per
    interval asked for, on the fake clock; what the meter holds: a row every 15 minutes."""

    def __init__(self, clock: FakeClock, poll_s: float = 1.0, session_s: float = 2.0) -> None:
        self.clock = clock
        self.poll_s = poll_s
        self.session_s = session_s
        self.per_row_s = 0.0
        self.down: set[str] = set()
        self.profile_error: Exception | None = None
        self.polls: list[tuple[str, float]] = []
        self.sessions: list[tuple[str, float, float, ProfileRequest]] = []
        self.busy = False

    async def read(self, plan: DevicePlan) -> Readout:
        assert not self.busy, "two exchanges at once on one line"
        self.busy = True
        self.polls.append((plan.alias, self.clock.now))
        try:
            await self.clock.sleep(self.poll_s)
            if plan.alias in self.down:
                raise NoAnswerError("identification", 2.5)
            return READOUT
        finally:
            self.busy = False

    async def profile(self, plan: DevicePlan, request: ProfileRequest) -> LoadProfile:
        assert not self.busy, "two exchanges at once on one line"
        self.busy = True
        began = self.clock.now
        try:
            stamps = []
            moment = request.start.replace(minute=0, second=0, microsecond=0)
            while moment <= request.end:
                if moment >= request.start:
                    stamps.append(moment)
                moment += timedelta(minutes=15)
            await self.clock.sleep(self.session_s + self.per_row_s * len(stamps))
            if self.profile_error is not None:
                raise self.profile_error
            rows = [(t, (f"{t:%H%M}.000", "1.000")) for t in stamps]
            return load_profile(rows)
        finally:
            self.busy = False
            self.sessions.append((plan.alias, began, self.clock.now, request))


class Delivered:
    def __init__(self) -> None:
        self.batches: list[Sequence[SignalUpdate]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.batches.extend(batches)

    def stamps(self, device: str = "m1") -> list[datetime]:
        return [b[0].time for b in self.batches if b[0].device == device]


def line(
    plans: Sequence[DevicePlan], clock: FakeClock, fake: FakeLine, delivered: Delivered
) -> tuple[LinePoller, LineBackfill, list[Sequence[SignalUpdate]]]:
    states = [DeviceState(p) for p in plans]
    backfill = LineBackfill(
        states, delivered, read=fake.profile, clock=clock, sleep=clock.sleep, wall_clock=clock.wall
    )
    for device in backfill.devices.values():
        device.backoff = Backoff(1.0, 8.0, rng=random.Random(1))
    published: list[Sequence[SignalUpdate]] = []
    poller = LinePoller(
        states,
        backfill.watch(published.append),
        read=fake.read,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=clock.wall,
        idle=backfill,
    )
    return poller, backfill, published


def quarters(first: datetime, last: datetime) -> list[datetime]:
    found = []
    while first <= last:
        found.append(first)
        first += timedelta(minutes=15)
    return found


async def test_sessions_run_between_polls_which_start_on_time() -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock)
    plan = device_plan(profile=profile_plan(chunk=3))
    poller, backfill, _ = line([plan], clock, fake, delivered)
    backfill.load({"m1": HistoryGaps(T0 - timedelta(hours=2), [])})
    await clock.run(poller, 8)
    assert [t for _, t in fake.polls] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    assert not fake.busy
    # Every session started after a poll ended and ended before the next one was due.
    for _, began, ended, _ in fake.sessions:
        assert began % 10 >= 1.0
        assert ended <= (began // 10 + 1) * 10
    assert delivered.stamps() == quarters(T0 - timedelta(minutes=105), T0)
    assert [len(b) for b in delivered.batches] == [2] * 8
    assert all(u.quality is Quality.BACKFILLED for b in delivered.batches for u in b)
    # Three a chunk, but the last interval (10:00) only once it is 30 s old.
    asked = [(r.start.time(), r.end.time()) for *_, r in fake.sessions]
    assert asked == [
        (time(8), time(8, 45)),
        (time(8, 45), time(9, 30)),
        (time(9, 30), time(9, 45)),
        (time(9, 45), time(10)),
    ]
    assert fake.sessions[-1][1] >= 30.0
    assert backfill.devices["m1"].phase is Phase.IDLE


async def test_a_session_longer_than_the_free_time_is_cut_and_the_next_is_shorter() -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock, session_s=1.0)
    fake.per_row_s = 0.5  # 8 intervals: 5 s; 96 asked: 1 + 48 s, far beyond the 9 s free
    plan = device_plan(profile=profile_plan(chunk=96), total_timeout_s=60.0)
    poller, backfill, _ = line([plan], clock, fake, delivered)
    backfill.load({"m1": HistoryGaps(T0 - timedelta(hours=12), [])})
    await clock.run(poller, 30)
    assert [t for _, t in fake.polls] == [10.0 * n for n in range(30)]
    device = backfill.devices["m1"]
    assert device.chunk < 96
    assert delivered.stamps() == quarters(T0 - timedelta(hours=12) + timedelta(minutes=15), T0)
    assert len(set(delivered.stamps())) == len(delivered.stamps())


async def test_devices_of_a_line_take_turns() -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock)
    plans = [device_plan(a, scan=20.0, profile=profile_plan(chunk=2)) for a in ("m1", "m2")]
    poller, backfill, _ = line(plans, clock, fake, delivered)
    backfill.load({a: HistoryGaps(T0 - timedelta(hours=1), []) for a in ("m1", "m2")})
    await clock.run(poller, 8)
    order = [alias for alias, *_ in fake.sessions]
    assert order[:4] == ["m1", "m2", "m1", "m2"]
    for alias in ("m1", "m2"):
        assert delivered.stamps(alias) == quarters(T0 - timedelta(minutes=45), T0)


async def test_a_failing_session_is_retried_with_backoff_then_given_up_never_a_loop() -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock)
    fake.profile_error = NoAnswerError("profile", 2.5)
    poller, backfill, published = line([device_plan()], clock, fake, delivered)
    backfill.load({"m1": HistoryGaps(T0 - timedelta(hours=1), [])})
    await clock.run(poller, 200)
    assert len(fake.sessions) == MAX_ATTEMPTS
    assert backfill.devices["m1"].phase is Phase.GAVE_UP
    waits = [b - a for (_, a, *_), (_, b, *_) in itertools.pairwise(fake.sessions)]
    assert all(w >= 10.0 for w in waits)  # never straight again
    assert delivered.batches == []
    assert len(published) == 200  # polling went on throughout


async def test_a_refused_password_is_sent_once_and_stops_programming_reads() -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock)
    fake.profile_error = AccessDeniedError("password refused")
    poller, backfill, _ = line([device_plan()], clock, fake, delivered)
    backfill.load({"m1": HistoryGaps(T0 - timedelta(hours=1), [])})
    await clock.run(poller, 50)
    assert len(fake.sessions) == 1
    device = backfill.devices["m1"]
    assert device.phase is Phase.REFUSED
    assert device.state.access_denied
    assert backfill.progress()["m1"]["phase"] == "refused"


async def test_nothing_is_read_while_the_meter_is_down_its_gap_after() -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock, poll_s=0.5)
    poller, backfill, _ = line([device_plan(scan=60.0)], clock, fake, delivered)
    backfill.load({"m1": HistoryGaps(T0, [])})
    await clock.run(poller, 2)  # up at 10:00 and 10:01: nothing missing
    assert fake.sessions == []
    fake.down.add("m1")
    await clock.run(poller, 40)  # 40 minutes without an answer
    assert fake.sessions == []
    fake.down.clear()
    await clock.run(poller, 3)
    assert delivered.stamps() == quarters(T0 + timedelta(minutes=15), T0 + timedelta(minutes=30))


async def test_a_busy_output_never_holds_the_line() -> None:
    clock, delivered = FakeClock(), Delivered()
    delivered.gate = asyncio.Event()
    fake = FakeLine(clock)
    poller, backfill, _ = line([device_plan(profile=profile_plan(chunk=2))], clock, fake, delivered)
    backfill.load({"m1": HistoryGaps(T0 - timedelta(hours=1), [])})
    await clock.run(poller, 10)
    assert [t for _, t in fake.polls] == [10.0 * n for n in range(10)]
    assert len(fake.sessions) == 1  # the next waits until the first chunk is handed over
    delivered.gate.set()
    await clock.run(poller, 5)
    assert delivered.stamps() == quarters(T0 - timedelta(minutes=45), T0)
    await backfill.aclose()


@pytest.mark.parametrize("total_timeout_s", [5.0])
async def test_a_session_longer_than_a_poll_may_take_is_a_failure(total_timeout_s: float) -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock, session_s=7.0)
    poller, backfill, _ = line(
        [device_plan(total_timeout_s=total_timeout_s)], clock, fake, delivered
    )
    backfill.load({"m1": HistoryGaps(T0 - timedelta(hours=1), [])})
    await clock.run(poller, 3)
    device = backfill.devices["m1"]
    assert device.failures_total == len(fake.sessions) >= 1
    assert device.last_error == "timeout: the whole backfill session took longer than 5 s"
    assert all(ended - began == 5.0 for _, began, ended, _ in fake.sessions)
    assert [t for _, t in fake.polls] == [0.0, 10.0, 20.0]


async def test_a_line_too_busy_for_any_session_takes_a_turn_every_ten_polls() -> None:
    clock, delivered = FakeClock(), Delivered()
    fake = FakeLine(clock, poll_s=1.0, session_s=1.5)
    plan = device_plan(scan=1.0, profile=profile_plan(chunk=2))  # no free time at all
    poller, backfill, _ = line([plan], clock, fake, delivered)
    backfill.load({"m1": HistoryGaps(T0 - timedelta(hours=1), [])})
    await clock.run(poller, 60)
    # A turn after every ten polls, each about one poll long (twice a poll at first, then
    # what the last session took).
    polls_before = [sum(1 for _, t in fake.polls if t < began) for _, began, *_ in fake.sessions]
    assert polls_before[:3] == [10, 20, 30]
    assert all(ended - began <= 2.0 for _, began, ended, _ in fake.sessions)
    assert delivered.stamps() == quarters(T0 - timedelta(minutes=45), T0)
    device = backfill.devices["m1"]
    assert device.failures_total == 0
    assert poller.states[0].missed_scans > 0  # the price: polls after a turn are late
