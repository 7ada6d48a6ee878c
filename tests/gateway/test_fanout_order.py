"""Fanout, durable before visible: the live outputs get a batch only after every store has
finished with it, in order; a failing or stopped store holds nobody."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from obisgate.gateway.outputs.base import STORE_RUN, Fanout
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from tests.stub_output import StubOutput

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

Log = list[tuple[str, object]]


def batch(number: int) -> list[SignalUpdate]:
    return [SignalUpdate("m1", "energy", number, "kWh", T0, Quality.VALID)]


class Store(StubOutput):
    """A durable output that writes each run when its ``gate`` is open (open unless told),
    logging ``(name, value)``; with ``error`` it raises that instead of storing."""

    durable = True

    def __init__(self, name: str, log: Log, *, error: Exception | None = None) -> None:
        self.name = name
        self.log = log
        self.error = error
        self.gate = asyncio.Event()
        self.gate.set()
        self.holding = asyncio.Event()  # a run is in publish_many
        self.wrote = asyncio.Event()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        await self.publish_many([updates])

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        self.holding.set()
        await self.gate.wait()
        self.holding.clear()
        if self.error is not None:
            raise self.error
        self.log.extend((self.name, u.value) for updates in batches for u in updates)
        self.wrote.set()


class Live(StubOutput):
    """A live output logging ``(name, value)``; :meth:`until` waits for its n-th value."""

    def __init__(self, name: str, log: Log) -> None:
        self.name = name
        self.log = log
        self.values: list[object] = []
        self._got = asyncio.Event()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        for u in updates:
            self.log.append((self.name, u.value))
            self.values.append(u.value)
        self._got.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.values) < count:
                self._got.clear()
                await self._got.wait()


async def turns(count: int = 10) -> None:
    """Let every ready task run a few steps (no wait for time)."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_live_output_gets_a_batch_only_after_every_store_has_it() -> None:
    log: Log = []
    fast, slow, live = Store("fast", log), Store("slow", log), Live("live", log)
    slow.gate.clear()
    fanout = Fanout([fast, live, slow])
    await fanout.start()
    fanout.publish(batch(1))
    async with asyncio.timeout(10):
        await fast.wrote.wait()
        await slow.holding.wait()
    await turns()
    assert live.values == []  # the slow store still holds it
    slow.gate.set()
    await live.until(1)
    assert log == [("fast", 1), ("slow", 1), ("live", 1)]
    await fanout.aclose()
    assert fanout.dropped == {"fast": 0, "live": 0, "slow": 0}


async def test_batches_reach_the_live_outputs_in_the_order_they_were_published() -> None:
    log: Log = []
    first, second, live = Store("first", log), Store("second", log), Live("live", log)
    second.gate.clear()
    fanout = Fanout([first, second, live])
    await fanout.start()
    fanout.publish(batch(1))  # taken alone by each store
    async with asyncio.timeout(10):
        await second.holding.wait()
    for number in (2, 3, 4):
        fanout.publish(batch(number))  # waiting in the second store's queue
    async with asyncio.timeout(10):
        while len([v for name, v in log if name == "first"]) < 4:
            first.wrote.clear()
            await first.wrote.wait()
    await turns()
    assert live.values == []  # the first store is done with all four: not enough
    second.gate.set()
    await live.until(4)
    assert live.values == [1, 2, 3, 4]
    await fanout.aclose()


async def test_a_failing_store_does_not_stall_the_live_outputs_nor_the_other_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: Log = []
    broken = Store("broken", log, error=OSError("disk gone"))
    working, live = Store("working", log), Live("live", log)
    fanout = Fanout([broken, working, live])
    await fanout.start()
    for number in range(5):
        fanout.publish(batch(number))
        await live.until(number + 1)  # one at a time: each is released after the failure
    await fanout.aclose()
    assert live.values == [0, 1, 2, 3, 4]
    assert [v for name, v in log if name == "working"] == [0, 1, 2, 3, 4]
    assert fanout.dropped == {"broken": 5, "working": 0, "live": 0}  # the broken one's loss
    assert "output broken still failing at close; 5 batches were dropped" in caplog.text


async def test_a_store_that_did_not_start_is_not_waited_for() -> None:
    class Refusing(Store):
        async def start(self) -> None:
            raise OSError("cannot open the outbox")

    log: Log = []
    refusing, live = Refusing("refusing", log), Live("live", log)
    refusing.gate.clear()  # it would hold every batch, were it waited for
    fanout = Fanout([refusing, live])
    await fanout.start()
    fanout.publish(batch(1))
    await live.until(1)
    refusing.gate.set()
    await fanout.aclose()
    assert log == [("live", 1)]
    assert fanout.failed == {"refusing": "cannot open the outbox"}


async def test_lingering_stores_write_the_run_before_close_shows_it_live() -> None:
    class Lingering(Store):
        lingers = True

    log: Log = []
    store, live = Lingering("store", log), Live("live", log)
    fanout = Fanout([live, store], linger_s=3600.0)
    await fanout.start()
    for number in range(3):
        fanout.publish(batch(number))
    await turns()
    assert log == []  # the store lingers for more; nothing is shown before it is stored
    await fanout.aclose()  # ends the linger: the run is stored, then shown
    assert log == [("store", 0), ("store", 1), ("store", 2)] + [("live", n) for n in range(3)]


async def test_held_back_readings_go_to_the_store_and_do_not_hold_the_live_outputs() -> None:
    class History(Store):
        keeps_every_reading = True

    log: Log = []
    history, live = History("history", log), Live("live", log)
    fanout = Fanout([history, live])
    await fanout.start()
    fanout.publish(batch(1), batch(1))
    fanout.publish([], batch(2))  # everything held back by a deadband: the history only
    fanout.publish(batch(3), batch(3))
    await live.until(2)
    await fanout.aclose()
    assert [v for name, v in log if name == "history"] == [1, 2, 3]
    assert live.values == [1, 3]


async def test_a_store_that_hangs_holds_the_live_outputs_only_so_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: Log = []
    hung, live = Store("hung", log), Live("live", log)
    hung.gate.clear()
    backlog = 4
    fanout = Fanout([hung, live], queue_size=2, store_backlog=backlog)
    await fanout.start()
    bound = backlog + STORE_RUN
    fanout.publish(batch(0))
    async with asyncio.timeout(10):
        await hung.holding.wait()
    for number in range(1, bound + 2):  # bound + 2 waiting in all
        fanout.publish(batch(number))
    await live.until(2)
    assert live.values == [0, 1]  # the oldest two, shown before the hung store has them
    assert fanout.dropped["hung"] == bound + 1 - backlog  # beyond its backlog: dropped
    assert f"a store is {bound} batches behind: readings are shown before" in caplog.text
    hung.gate.set()
    await fanout.aclose()
    # the backlog comes out at once: one burst, which the live queue takes whole
    assert live.values == list(range(bound + 2))
    assert fanout.dropped["live"] == 0
    assert "the stores caught up; 2 batches were shown before they were stored" in caplog.text


async def test_without_a_store_every_output_gets_the_batch_at_once() -> None:
    log: Log = []
    live = Live("live", log)
    fanout = Fanout([live], linger_s=3600.0)
    await fanout.start()
    fanout.publish(batch(1))
    await live.until(1)
    await fanout.aclose()
    assert log == [("live", 1)]
