"""Interoperability: obisgate's reader reads a DLMS server built on Gurux's GXDLMSServer.

The server (``tests/interop/gurux_server.py``) is Gurux 1.0.203 with the faults
that keep it from running patched in a subclass. obisgate reads it over TCP as
a direct HDLC meter: the object list, then every register with its scaler and
unit, the data object and the clock; with a small PDU size the object list
comes in GET data blocks (GET-next) and HDLC segments.
"""

from __future__ import annotations

import io

import pytest

from obisgate.dlms.client import DlmsOptions
from obisgate.dlms_session import read_dlms
from tests.interop.gurux_server import PatchedServer, registers, serve

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("max_pdu", [0xFFFF, 64])
async def test_obisgate_reads_a_gurux_server(max_pdu: int) -> None:
    listener, port = await serve(lambda: PatchedServer(registers()))
    trace = io.StringIO()
    try:
        result = await read_dlms(
            f"tcp://127.0.0.1:{port}", DlmsOptions(max_pdu=max_pdu), trace=trace
        )
    finally:
        listener.close()
        await listener.wait_closed()
    values = {ds.address: ds.value for ds in result.readout.datasets}
    assert (values["1-0:1.8.0*255"].value, values["1-0:1.8.0*255"].unit) == ("12345678", "Wh")
    assert (values["1-0:32.7.0*255"].value, values["1-0:32.7.0*255"].unit) == ("230.1", "V")
    assert values["1-0:32.7.0*255"].raw == "2301 scaler -1"
    assert values["0-0:96.1.0*255"].value == "GURUX0001"
    assert "0-0:1.0.0*255" in values
    text = trace.getvalue()
    assert "HDLC < I(S=0,R=1)" in text
    assert "RLRE" in text
    if max_pdu == 64:
        assert "GET-Request" in text
        assert any(f.text.endswith("10 bytes GET-Request") for f in result.frames)  # GET-next
