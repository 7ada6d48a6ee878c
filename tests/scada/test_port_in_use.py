"""A SCADA server whose port is taken says so in one line, like the HTTP output; nothing else
is logged at default verbosity, and the half-built server is stopped."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from obisgate.errors import TransportError
from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.iec104.mapping import IoaPoint
from obisgate.gateway.outputs.iec104.output import Iec104Output
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.mapping import RegisterMap
from obisgate.gateway.outputs.modbus.output import ModbusOutput
from tests.services import require_module

pytestmark = [pytest.mark.integration]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


async def test_modbus_port_in_use(busy_port: int, caplog: pytest.LogCaptureFixture) -> None:
    require_module("pymodbus", "the modbus extra")
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


class Recorded:
    """A c104 server that records on which thread ``start`` and ``stop`` ran."""

    def __init__(self, server: Any, calls: list[tuple[str, int]]) -> None:
        self.server = server
        self.calls = calls

    def start(self) -> None:
        self.calls.append(("start", threading.get_ident()))
        self.server.start()

    def stop(self) -> None:
        self.calls.append(("stop", threading.get_ident()))
        self.server.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


class RecordingIec104(Iec104Output):
    calls: list[tuple[str, int]]

    def _build(self, c104: ModuleType, host: str, port: int) -> Any:
        return Recorded(super()._build(c104, host, port), self.calls)


async def test_iec104_port_in_use(busy_port: int, caplog: pytest.LogCaptureFixture) -> None:
    require_module("c104", "the test group (GPL-3.0, never in all)")
    caplog.set_level(logging.WARNING)
    output = RecordingIec104(
        Iec104Config(listen=f"127.0.0.1:{busy_port}"), [IoaPoint(("m", "s"), 1, "M_ME_TF_1")]
    )
    output.calls = []
    with pytest.raises(TransportError) as caught:
        await output.start()
    assert str(caught.value) == (
        f"iec104 cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    )
    assert [r.getMessage() for r in caplog.records] == []
    loop_thread = threading.get_ident()
    assert [name for name, _ in output.calls] == ["start", "stop"]  # the failed server stopped
    assert all(thread != loop_thread for _, thread in output.calls)  # never on the event loop
    await output.aclose()


async def test_iec104_start_and_stop_run_off_the_event_loop() -> None:
    require_module("c104", "the test group (GPL-3.0, never in all)")
    output = RecordingIec104(Iec104Config(listen="127.0.0.1:0"), [])
    output.calls = []
    await output.start()
    await output.aclose()
    assert [name for name, _ in output.calls] == ["start", "stop"]
    assert all(thread != threading.get_ident() for _, thread in output.calls)


async def test_modbus_on_the_network_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    require_module("pymodbus", "the modbus extra")
    caplog.set_level(logging.WARNING)
    output = ModbusOutput(ModbusConfig(listen="0.0.0.0:0"), RegisterMap([]))
    await output.start()
    await output.aclose()
    assert [r.getMessage() for r in caplog.records] == [
        "[modbus] listen = '0.0.0.0:0' is reachable from other machines and Modbus TCP has no "
        "authentication: any client that reaches it reads every value; keep it on a trusted "
        "network"
    ]
