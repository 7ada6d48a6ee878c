"""Fanout: a failing output loses (and counts) its batches without flooding the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from obisgate.gateway.outputs.base import Fanout
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class Scripted:
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


class Starting:
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
