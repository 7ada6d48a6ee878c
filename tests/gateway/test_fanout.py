"""Fanout: a failing output loses (and counts) its batches without flooding the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from obisgate.gateway.outputs.base import MAX_BATCHES_AT_ONCE, Fanout
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from tests.stub_output import StubOutput

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class Scripted(StubOutput):
    """An output whose n-th ``publish`` raises the n-th exception of a script (None: works)."""

    name = "flaky"

    def __init__(self, script: Sequence[Exception | None]) -> None:
        self.script = list(script)
        self.received: list[object] = []

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        error = self.script.pop(0)
        if error is not None:
            raise error
        self.received.extend(u.value for u in updates)

    async def aclose(self) -> None:
        pass


def batch(number: int) -> list[SignalUpdate]:
    return [SignalUpdate("m1", "energy", number, "kWh", T0, Quality.VALID)]


async def test_failures_are_logged_when_they_start_change_and_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = Scripted(
        [
            None,
            OSError("disk gone"),
            OSError("disk gone"),
            OSError("disk gone"),
            ValueError("bad value"),
            ValueError("bad value"),
            None,
            None,
            RuntimeError("broken again"),
            RuntimeError("broken again"),
        ]
    )
    other = Scripted([None] * 10)
    other.name = "steady"
    fanout = Fanout([output, other])
    caplog.set_level(logging.INFO, logger="obisgate.gateway.outputs.base")
    await fanout.start()
    for number in range(10):
        fanout.publish(batch(number))
    await fanout.aclose()  # delivers every queued batch first

    assert output.received == [0, 6, 7]
    assert other.received == list(range(10))
    assert fanout.dropped == {"flaky": 7, "steady": 0}
    logged = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert logged == [
        ("ERROR", "output flaky failed; batches are dropped", True),
        (
            "ERROR",
            "output flaky now fails with ValueError: bad value (4 batches dropped so far)",
            False,
        ),
        ("WARNING", "output flaky works again; 5 batches were dropped", False),
        ("ERROR", "output flaky failed; batches are dropped", True),
        ("ERROR", "output flaky still failing at close; 2 batches were dropped", False),
    ]
    first = caplog.records[0].exc_info
    assert first is not None
    assert isinstance(first[1], OSError)


class Starting(StubOutput):
    """An output whose ``start`` waits for ``wait_for`` (if any), then sets ``started``."""

    def __init__(self, name: str, wait_for: asyncio.Event | None = None) -> None:
        self.name = name
        self.wait_for = wait_for
        self.started = asyncio.Event()

    async def start(self) -> None:
        if self.wait_for is not None:
            await self.wait_for.wait()
        self.started.set()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        pass

    async def aclose(self) -> None:
        pass


class Refusing(Starting):
    async def start(self) -> None:
        raise OSError("address in use")


async def test_outputs_start_concurrently_and_a_failed_start_turns_off_only_that_output(
    caplog: pytest.LogCaptureFixture,
) -> None:
    last = Starting("last")
    first = Starting("first", wait_for=last.started)  # started one after another: never ends
    fanout = Fanout([first, Refusing("broken"), last])
    async with asyncio.timeout(10):
        await fanout.start()
    assert first.started.is_set() and last.started.is_set()
    assert fanout.failed == {"broken": "address in use"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "output broken did not start: address in use"
    ]
    await fanout.aclose()


class Sick(Starting):
    def health(self) -> OutputHealth:
        raise ZeroDivisionError("a bug in health()")


async def test_health_of_every_output_alike_even_when_one_is_off_or_broken() -> None:
    fanout = Fanout([Starting("fine"), Refusing("broken"), Sick("sick")])
    await fanout.start()
    try:
        health = fanout.health()
        assert list(health) == ["fine", "broken", "sick"]
        assert (health["fine"].state, health["fine"].up) == (OutputState.RUNNING, True)
        assert (health["broken"].state, health["broken"].last_error) == (
            OutputState.OFF,
            "address in use",
        )
        assert not health["broken"].up
        assert (health["sick"].state, health["sick"].last_error) == (
            OutputState.UNKNOWN,
            "health unavailable (ZeroDivisionError)",
        )
    finally:
        await fanout.aclose()


class Storing(StubOutput):
    """An output with ``publish_many``; records each call as ``(method, values)``. The
    n-th ``publish_many`` raises the n-th exception of ``script`` (None: works); a
    ``publish`` of a batch holding ``bad`` raises ValueError."""

    name = "store"

    def __init__(self, script: Sequence[Exception | None] = (), bad: object = None) -> None:
        self.script = list(script)
        self.bad = bad
        self.calls: list[tuple[str, list[object]]] = []

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        values = [u.value for u in updates]
        if self.bad in values:
            raise ValueError("bad reading")
        self.calls.append(("one", values))

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        if self.script and (error := self.script.pop(0)) is not None:
            raise error
        self.calls.append(("many", [u.value for updates in batches for u in updates]))

    async def aclose(self) -> None:
        pass


async def test_batches_that_waited_are_handed_over_at_once_in_order() -> None:
    output = Storing()
    fanout = Fanout([output])
    await fanout.start()
    for number in range(5):  # all queued before the delivery task runs
        fanout.publish(batch(number))
    await asyncio.sleep(0)  # let the delivery task take what is queued
    fanout.publish(batch(5))
    await fanout.aclose()
    assert output.calls == [("many", [0, 1, 2, 3, 4]), ("one", [5])]
    assert fanout.dropped == {"store": 0}


async def test_at_most_so_many_batches_per_call() -> None:
    output = Storing()
    fanout = Fanout([output], queue_size=1000)
    await fanout.start()
    for number in range(MAX_BATCHES_AT_ONCE + 3):
        fanout.publish(batch(number))
    await fanout.aclose()
    assert [(method, len(values)) for method, values in output.calls] == [
        ("many", MAX_BATCHES_AT_ONCE),
        ("many", 3),
    ]
    assert [v for _, values in output.calls for v in values] == list(range(MAX_BATCHES_AT_ONCE + 3))


async def test_when_publish_many_fails_each_batch_is_tried_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = Storing([ValueError("bad reading in the run")], bad=1)
    fanout = Fanout([output])
    await fanout.start()
    for number in range(3):
        fanout.publish(batch(number))
    await asyncio.sleep(0)  # the three go in one failing call, then one by one
    fanout.publish(batch(3))
    await fanout.aclose()
    assert output.calls == [("one", [0]), ("one", [2]), ("one", [3])]
    assert fanout.dropped == {"store": 1}  # only the bad readout is lost
    assert "output store works again; 1 batches were dropped" in caplog.text


class Recording(StubOutput):
    """Records the batches it gets."""

    def __init__(self, name: str, *, every: bool = False) -> None:
        self.name = name
        self.keeps_every_reading = every  # type: ignore[misc]
        self.batches: list[list[object]] = []

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.batches.append([u.value for u in updates])


async def test_held_back_readings_reach_only_the_outputs_that_keep_every_reading() -> None:
    live, history = Recording("live"), Recording("history", every=True)
    fanout = Fanout([live, history])
    await fanout.start()
    fanout.publish(batch(1), batch(1))
    fanout.publish([], batch(2))  # everything held back: nothing for the live output
    fanout.publish(batch(3))
    await fanout.aclose()
    assert live.batches == [[1], [3]]
    assert history.batches == [[1], [2], [3]]
    assert fanout.dropped == {"live": 0, "history": 0}


class Signalling(Storing):
    """A :class:`Storing` output that lingers (a store) and sets an event at every call."""

    lingers = True

    def __init__(self) -> None:
        super().__init__()
        self.called = asyncio.Event()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        await super().publish(updates)
        self.called.set()

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        await super().publish_many(batches)
        self.called.set()


async def test_a_store_lingers_for_more_batches_before_it_is_handed_the_run() -> None:
    output = Signalling()
    fanout = Fanout([output], linger_s=3600.0)
    await fanout.start()
    fanout.publish(batch(0))
    for number in (1, 2):
        for _ in range(3):  # the delivery task has taken batch 0 and waits for more
            await asyncio.sleep(0)
        fanout.publish(batch(number))
    for _ in range(3):
        await asyncio.sleep(0)
    assert output.calls == []  # still lingering (without a linger, batch 0 went alone)
    await fanout.aclose()  # the end marker ends the linger: the run is delivered whole
    assert output.calls == [("many", [0, 1, 2])]


async def test_the_linger_ends_and_a_lone_batch_is_delivered() -> None:
    output = Signalling()
    fanout = Fanout([output], linger_s=0.01)
    await fanout.start()
    fanout.publish(batch(7))
    async with asyncio.timeout(10):
        await output.called.wait()
    assert output.calls == [("one", [7])]
    await fanout.aclose()


async def test_an_output_that_does_not_linger_never_waits() -> None:
    output = Scripted([None])  # shows values live: lingers is False
    delivered = asyncio.Event()
    publish = output.publish

    async def publish_and_tell(updates: Sequence[SignalUpdate]) -> None:
        await publish(updates)
        delivered.set()

    output.publish = publish_and_tell  # type: ignore[method-assign]
    fanout = Fanout([output], linger_s=3600.0)
    await fanout.start()
    fanout.publish(batch(1))
    async with asyncio.timeout(10):
        await delivered.wait()
    assert output.received == [1]
    await fanout.aclose()
