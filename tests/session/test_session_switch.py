"""The driver and rate switches: bytes kept on a converter, discarded (and traced) on a real
port. Unit tests: the meter is a ScriptedTransport, the bytes are exact."""

from __future__ import annotations

import io
import logging

import pytest
from tests.helpers import frame

from obisgate import (
    BccStatus,
    ReadoutOptions,
    ReadResult,
    ScriptedTransport,
    Trace,
    read_meter_on,
    session,
)

IDENT_B = b"/XYZEMode B meter\r\n"  # E: the meter switches to 9600 Bd by itself
DATA = frame(b"1.8.0(000042.5*kWh)\r\n!\r\n")


def energy(result: ReadResult) -> list[tuple[str, list[str]]]:
    return [(d.address, [v.raw for v in d.values]) for d in result.readout.datasets]


async def test_converter_keeps_the_data_sent_with_the_identification() -> None:
    port = ScriptedTransport(replies=[IDENT_B + DATA], eof=True, can_set_baud=False)
    result = await read_meter_on(port, ReadoutOptions())
    assert result.readout.bcc is BccStatus.VALID
    assert energy(result) == [("1.8.0", ["000042.5*kWh"])]
    assert result.baud == 9600
    assert port.written == [b"/?!\r\n"]  # mode B: no acknowledgement
    assert port.bauds == []


async def test_serial_port_discards_bytes_received_during_the_switch_and_says_so() -> None:
    garbage = b"\x7f\x7e\x13\x19"  # the meter's first bytes at 9600, heard at 300 Bd
    port = ScriptedTransport(replies=[IDENT_B + garbage, DATA], eof=True, can_set_baud=True)
    stream = io.StringIO()
    result = await read_meter_on(port, ReadoutOptions(), trace=Trace(stream))
    assert port.bauds == [9600]
    assert result.readout.bcc is BccStatus.VALID
    assert energy(result) == [("1.8.0", ["000042.5*kWh"])]
    assert "discarded 4 bytes received while the rate switched" in stream.getvalue()
    assert port.written == [b"/?!\r\n"]


async def test_converters_that_cannot_switch_are_warned_about_ten_by_name_then_so_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(session, "_WARNED_RATE", set())
    caplog.set_level(logging.DEBUG, logger="obisgate.session")
    for n in range(14):
        for _read in range(2):
            port = ScriptedTransport(
                replies=[IDENT_B + DATA], eof=True, can_set_baud=False, url=f"tcp://c{n}:1"
            )
            await read_meter_on(port, ReadoutOptions())
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.split(":", 2)[1] for w in warned] == [f"//c{n}" for n in range(11)]
    assert all(w.endswith("so the converter's own rate must match") for w in warned[:10])
    assert "and so on: more transports that cannot switch are logged at debug" in warned[10]
    debug = [
        r for r in caplog.records if r.levelno == logging.DEBUG and "switches" in r.getMessage()
    ]
    assert len(debug) == 14 * 2 - 11
