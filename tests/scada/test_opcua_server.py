"""A real OPC UA client (asyncua's) reads one variable per signal with its StatusCode."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from obisgate.errors import TransportError
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.opcua.mapping import STATUS
from obisgate.gateway.outputs.opcua.output import NAMESPACE, OpcUaOutput
from obisgate.simulator import get_profile, serve_tcp
from tests.scada.running import meter, running_gateway, signal, until
from tests.services import require_module

pytestmark = [pytest.mark.integration]

asyncua = require_module("asyncua", "the opcua extra")


async def test_client_reads_values_and_status_codes(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    sim = await serve_tcp(profile)
    port = sim.port
    text = (
        '[output]\nformat = "none"\n[opcua]\nlisten = "127.0.0.1:0"\n'
        + meter("m", port, profile.address)
        + signal("m", "volts", "32.7.0", "FLOAT")
        + signal("m", "missing", "99.99.9", "FLOAT")
        + signal("m", "code", "C.7.0", "INT8", multiply=100)
    )
    try:
        async with running_gateway(tmp_path, text) as (outputs, latest):
            (server,) = outputs
            async with asyncua.Client(server.endpoint) as client:
                index = await client.get_namespace_index(NAMESPACE)

                def node(name: str) -> Any:
                    return client.get_node(asyncua.ua.NodeId(f"m.{name}", index))

                async def read(name: str) -> Any:
                    return await node(name).read_data_value(raise_on_bad_status=False)

                async def volts_good() -> Any:
                    value = await read("volts")
                    return value if value.StatusCode.value == STATUS["Good"] else None

                volts = await until(volts_good, latest)
                assert volts.Value.Value == latest.json("m", "volts")
                assert volts.SourceTimestamp in latest.times[("m", "volts")]
                assert (await read("missing")).StatusCode.value == STATUS["BadNoCommunication"]
                assert (await read("code")).StatusCode.value == STATUS["BadOutOfRange"]
                assert (await read("_status")).Value.Value == "ok"
                await sim.aclose()

                async def stale() -> Any:
                    value = await read("volts")
                    wanted = STATUS["UncertainNoCommunicationLastUsableValue"]
                    return value if value.StatusCode.value == wanted else None

                silent = await until(stale, latest)
                assert silent.Value.Value == volts.Value.Value
                sim = await serve_tcp(profile, port=port)
                await until(volts_good, latest)
    finally:
        await sim.aclose()


def opcua_config(tmp_path: Path, listen: str) -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[opcua]\nlisten = "{listen}"\n'
        + meter("m", 1, "71234567")
        + signal("m", "volts", "32.7.0", "FLOAT"),
        encoding="utf-8",
    )
    return load_config(path)


async def test_start_logs_nothing_of_asyncua_at_default_verbosity(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    (output,) = network_outputs(opcua_config(tmp_path, "127.0.0.1:0"), OutputContext())
    assert isinstance(output, OpcUaOutput)
    await output.start()
    try:
        assert output.port not in (None, 0)
    finally:
        await output.aclose()
    assert [r.getMessage() for r in caplog.records] == []


async def test_port_in_use_is_one_line_and_the_server_is_cleaned_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (output,) = network_outputs(opcua_config(tmp_path, f"127.0.0.1:{port}"), OutputContext())
        assert isinstance(output, OpcUaOutput)
        tasks_before = asyncio.all_tasks()
        with pytest.raises(TransportError) as caught:
            await output.start()
    assert str(caught.value) == f"opcua cannot listen on 127.0.0.1:{port}: Address already in use"
    assert [r.getMessage() for r in caplog.records] == []  # no asyncua traceback, no warnings
    assert not output.health().up
    leftover = {t for t in asyncio.all_tasks() - tasks_before if not t.done()}
    assert leftover == set()  # server.stop() ended asyncua's background tasks
    await output.aclose()
