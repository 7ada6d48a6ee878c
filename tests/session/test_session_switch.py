"""The driver and rate switches: bytes kept on a converter, discarded (and traced) on a real
port. Unit tests: the meter is a ScriptedTransport, the bytes are exact."""

from __future__ import annotations

import io

from tests.helpers import frame

from obisgate import (
    BccStatus,
    ReadoutOptions,
    ReadResult,
    ScriptedTransport,
    Trace,
    read_meter_on,
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
