"""A SCADA server whose port is taken says so in one line, like the HTTP output; nothing else
is logged at default verbosity, and the half-built server is stopped."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from obisgate.errors import TransportError
from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.iec104.mapping import IoaPoint
from obisgate.gateway.outputs.iec104.output import Iec104Output
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.mapping import RegisterMap
from obisgate.gateway.outputs.modbus.output import ModbusOutput

pytestmark = [pytest.mark.integration]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


async def test_modbus_port_in_use(busy_port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    output = ModbusOutput(ModbusConfig(listen=f"127.0.0.1:{busy_port}"), RegisterMap([]))
    with pytest.raises(TransportError) as caught:
        await output.start()
    assert str(caught.value) == (
        f"modbus cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    )
    assert [r.getMessage() for r in caplog.records] == []
    assert not output.health().up
    await output.aclose()


async def test_iec104_port_in_use(busy_port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    output = Iec104Output(
        Iec104Config(listen=f"127.0.0.1:{busy_port}"), [IoaPoint(("m", "s"), 1, "M_ME_TF_1")]
    )
    with pytest.raises(TransportError) as caught:
        await output.start()
    assert str(caught.value) == (
        f"iec104 cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    )
    assert [r.getMessage() for r in caplog.records] == []
    assert not output.health().up
    await output.aclose()


async def test_modbus_on_the_network_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    output = ModbusOutput(ModbusConfig(listen="0.0.0.0:0"), RegisterMap([]))
    await output.start()
    await output.aclose()
    assert [r.getMessage() for r in caplog.records] == [
        "[modbus] listen = '0.0.0.0:0' is reachable from other machines and Modbus TCP has no "
        "authentication: any client that reaches it reads every value; keep it on a trusted "
        "network"
    ]
