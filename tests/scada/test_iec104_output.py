"""The IEC 104 output on its own: protocol parameters reach c104, the station-size warning."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.iec104.mapping import IoaPoint
from obisgate.gateway.outputs.iec104.output import Iec104Output
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate


def points(count: int) -> list[IoaPoint]:
    return [IoaPoint(("m", f"s{i}"), 1 + i, "M_ME_TF_1") for i in range(count)]


async def test_protocol_parameters_and_connection_limit() -> None:
    section = Iec104Config(listen="127.0.0.1:0", max_connections=3, t1=30, t2=20, t3=60, k=24, w=16)
    output = Iec104Output(section, points(1))
    await output.start()
    try:
        server = output._server
        parameters = server.protocol_parameters
        assert (
            parameters.message_timeout,
            parameters.confirm_interval,
            parameters.keep_alive_interval,
            parameters.send_window_size,
            parameters.receive_window_size,
        ) == (30, 20, 60, 24, 16)
        assert server.max_connections == 3
        assert output.health().up
        assert output.port is not None
        assert server.port == output.port
    finally:
        await output.aclose()
    assert not output.health().up


async def test_publishing_before_start_is_ignored_and_unmapped_signals_skipped() -> None:
    output = Iec104Output(Iec104Config(listen="127.0.0.1:0"), points(1))
    now = dt.datetime.now(dt.UTC)
    await output.publish([SignalUpdate("m", "s0", 1.0, None, now, Quality.VALID)])
    await output.start()
    try:
        await output.publish(
            [
                SignalUpdate("m", "s0", 1.0, None, now, Quality.VALID),
                SignalUpdate("m", "other", 2.0, None, now, Quality.VALID),
            ]
        )
        assert output.sent == 1
    finally:
        await output.aclose()


async def test_a_station_too_big_for_general_interrogation_is_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = Iec104Output(Iec104Config(listen="127.0.0.1:0"), points(2300))
    with caplog.at_level(logging.WARNING):
        await output.start()
    await output.aclose()
    assert "2300 points answer general interrogation" in caplog.text
