"""The driver and rate switches: bytes kept on a converter, discarded (and traced) on a real port."""

from __future__ import annotations

import io

from tests.helpers import frame

from obisgate.errors import ConnectionLostError
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.readout import BccStatus
from obisgate.session import read_meter_on
from obisgate.trace import Trace
from obisgate.transport.base import Transport

IDENT_B = b"/XYZEMode B meter\r\n"  # E: the meter switches to 9600 Bd by itself
DATA = frame(b"1.8.0(000042.5*kWh)\r\n!\r\n")


class ScriptedPort(Transport):
    """Hands out scripted chunks; records rate switches."""

    url = "scripted://port"
    baud = 300

    def __init__(self, chunks: list[bytes], *, can_set_baud: bool) -> None:
        self.chunks = list(chunks)
        self.can_set_baud = can_set_baud
        self.switches: list[int] = []

    async def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def read(self) -> bytes:
        if not self.chunks:
            raise ConnectionLostError("scripted://port: closed")
        return self.chunks.pop(0)

    async def set_baud(self, baud: int) -> None:
        self.switches.append(baud)
        self.baud = baud

    async def aclose(self) -> None:
        pass


async def test_converter_keeps_the_data_sent_with_the_identification() -> None:
    port = ScriptedPort([IDENT_B + DATA], can_set_baud=False)
    result = await read_meter_on(port, ReadoutOptions())
    assert result.readout.bcc is BccStatus.VALID
    assert result.baud == 9600


async def test_serial_port_discards_bytes_received_during_the_switch_and_says_so() -> None:
    garbage = b"\x7f\x7e\x13\x19"  # the meter's first bytes at 9600, heard at 300 Bd
    port = ScriptedPort([IDENT_B + garbage, DATA], can_set_baud=True)
    stream = io.StringIO()
    result = await read_meter_on(port, ReadoutOptions(), trace=Trace(stream))
    assert port.switches == [9600]
    assert result.readout.bcc is BccStatus.VALID
    assert "discarded 4 bytes received while the rate switched" in stream.getvalue()
