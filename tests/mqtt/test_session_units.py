"""The MQTT session's units: every outcome is taken, also when the session is cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from obisgate.gateway.outputs.mqtt.connection import _run_units


class PublishFailed(Exception):
    pass


async def test_a_unit_that_failed_as_the_session_was_cancelled_is_not_left_unretrieved() -> None:
    # Left unretrieved, asyncio logs "Task exception was never retrieved" with its traceback
    # when the task is collected (seen in bench_gateway --history-mqtt at 100 000 meters).
    units: list[asyncio.Task[Any]] = []
    failing_now = asyncio.Event()

    async def announcer() -> None:
        units.append(asyncio.current_task())  # type: ignore[arg-type]
        failing_now.set()
        raise PublishFailed

    async def sender() -> None:
        await asyncio.Event().wait()

    session = asyncio.create_task(
        _run_units((announcer(), "mqtt-announcer"), (sender(), "mqtt-sender"))
    )
    await failing_now.wait()
    session.cancel()  # the listener ended the session at the same moment
    with pytest.raises(asyncio.CancelledError):
        await session
    (failed,) = units
    assert failed.done()
    assert not failed._log_traceback  # what asyncio's "never retrieved" log looks at


async def test_the_unit_that_ended_first_is_first_among_the_failures() -> None:
    async def announcer() -> None:
        raise PublishFailed("announce")

    async def sender() -> None:
        await asyncio.Event().wait()

    with pytest.raises(ExceptionGroup) as caught:
        await _run_units((announcer(), "mqtt-announcer"), (sender(), "mqtt-sender"))
    assert [type(e) for e in caught.value.exceptions] == [PublishFailed]
