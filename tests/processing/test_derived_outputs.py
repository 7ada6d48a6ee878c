"""Derived signals through the whole gateway: two simulated meters over TCP, every output
(SQLite history, MQTT with Home Assistant discovery on a real mosquitto, HTTP, Modbus),
and an expression that fails at run time while polling goes on."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from obisgate.cli.gateway_run import build_outputs
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.history import HistoryStore
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.http.server import HttpOutput
from obisgate.gateway.outputs.modbus.output import ModbusOutput
from obisgate.gateway.processing.build import processing_plan
from obisgate.gateway.processing.store import state_path
from obisgate.gateway.quality import Quality
from obisgate.simulator import get_profile, serve_tcp
from tests.mqtt.support import Collect, Subscriber, wait_until
from tests.services import Mosquitto, require_module

pytestmark = pytest.mark.integration


def discovered(sub: Subscriber, signal: str) -> list[dict[str, Any]]:
    """The Home Assistant discovery configs of ``signal`` seen so far, under the meter's
    node (keyed on its identity), without the empty ones that remove an older node's."""
    return [
        json.loads(m.payload)
        for m in sub.messages
        if m.topic.startswith("homeassistant/sensor/")
        and m.topic.endswith(f"/{signal}/config")
        and m.payload
    ]


pymodbus_client = require_module("pymodbus.client", "the modbus extra")

HOUSE = get_profile("mt174")  # 1.8.0 148123.456 kWh, 2.8.0 0 kWh
GARAGE = get_profile("e350")  # 1.8.0 1234.12 kWh, 2.8.0 0 kWh
SITE = 148123.456 + 1234.12


def meter(alias: str, port: int, address: str) -> str:
    return (
        f'[[devices]]\ndevice_alias = "{alias}"\nip = "127.0.0.1"\nport = {port}\n'
        f'serialnumber = "{address}"\nscan_rate_ms = 200\npoll_delay_ms = 0\n'
        "serial_close_delay = 0\ntimeout_ms = 800\nretries = 0\n"
    )


def config_text(house: int, garage: int, broker: int) -> str:
    return (
        '[storage]\npath = "history.sqlite"\n[output]\nformat = "none"\n'
        + meter("house", house, HOUSE.address)
        + meter("garage", garage, GARAGE.address)
        + """
[[signals]]
device_alias = "house"
signal_alias = "import"
tag_job_todo = "1.8.0"
number_type = "DOUBLE"

[[signals]]
device_alias = "garage"
signal_alias = "import"
tag_job_todo = "1.8.0"
number_type = "DOUBLE"

[[signals]]
device_alias = "garage"
signal_alias = "export"
tag_job_todo = "2.8.0"
number_type = "DOUBLE"

[[signals]]
device_alias = "house"
signal_alias = "site"
signal_name = "Site import"
operation = "sum"
sources = ["import", "garage.import"]
log = 1
modbus_address = 0
modbus_type = "float64"

[[signals]]
device_alias = "house"
signal_alias = "ratio"
source = "import / garage.export"
log = 1
"""
        + f"""
[mqtt]
url = "mqtt://127.0.0.1:{broker}"
client_id = "gw1"
topic_prefix = "og"

[http]
listen = "127.0.0.1:0"

[modbus]
listen = "127.0.0.1:0"
"""
    )


@asynccontextmanager
async def gateway_of(config: GatewayConfig, collect: Collect) -> AsyncIterator[list[Any]]:
    context = OutputContext()
    outputs = build_outputs(config, "none", None, context)
    (http,) = [o for o in outputs if isinstance(o, HttpOutput)]
    started = asyncio.Event()
    http.announce = lambda _line: started.set()
    plan = processing_plan(config, state_file=state_path(config.storage.path))
    gateway = Gateway(plans_from_config(config), [*outputs, collect], processing=plan)
    gateway.inform(context)
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await asyncio.wait_for(started.wait(), 30)
        yield outputs
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_derived_signals_reach_every_output_and_a_failing_one_stops_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    collect = Collect()
    try:
        async with (
            await serve_tcp(HOUSE) as house,
            await serve_tcp(GARAGE) as garage,
            Subscriber(broker.port, ("og/#", "homeassistant/#")) as sub,
        ):
            path = tmp_path / "gw.toml"
            path.write_text(config_text(house.port, garage.port, broker.port), encoding="utf-8")
            config = load_config(path)
            with caplog.at_level(logging.WARNING, logger="obisgate.gateway.processing"):
                async with gateway_of(config, collect) as outputs:
                    await wait_until(lambda: collect.polls >= 6, "three readouts of each meter")
                    await sub.wait_for(
                        lambda: bool(discovered(sub, "site")),
                        "the discovery config of the derived signal",
                    )
                    (http,) = [o for o in outputs if isinstance(o, HttpOutput)]
                    async with (
                        aiohttp.ClientSession() as client,
                        client.get(http.url + "api/signals?device=house") as response,
                    ):
                        signals = {s["signal"]: s for s in await response.json()}
                    async with (
                        aiohttp.ClientSession() as client,
                        client.get(http.url + "metrics") as response,
                    ):
                        metrics = await response.text()
                    roles = {i.signal: r.value for i, r in http.state.energy_roles("house")}
                    (modbus,) = [o for o in outputs if isinstance(o, ModbusOutput)]
                    client_ = pymodbus_client.AsyncModbusTcpClient("127.0.0.1", port=modbus.port)
                    await client_.connect()
                    try:
                        answer = await client_.read_holding_registers(0, count=4, device_id=1)
                    finally:
                        client_.close()
    finally:
        broker.stop()

    # the fan-out: the printed output's view
    site = [u for u in collect.updates if u.signal == "site"]
    valid = [u for u in site if u.quality is Quality.VALID]
    assert valid
    assert {u.value for u in valid} == {SITE}
    assert all(u.device == "house" and u.unit == "kWh" for u in valid)
    ratio = [u for u in collect.updates if u.signal == "ratio"]
    assert ratio
    assert {(u.value, u.quality) for u in ratio} <= {
        (None, Quality.INVALID),
        (None, Quality.NOT_TOPICAL),
    }
    # polling went on: every readout of both meters is ok and their signals valid
    statuses = [u.value for u in collect.updates if u.signal == "_status"]
    assert set(statuses) == {"ok"}
    read = [u for u in collect.updates if u.signal in ("import", "export")]
    assert read
    assert all(u.quality is Quality.VALID for u in read)
    # one log line for the failing expression, however often it failed
    failing = [r.getMessage() for r in caplog.records if r.name.startswith("obisgate.gateway.proc")]
    assert failing == [
        "house/ratio: import / garage.export has no valid result (division by zero (/))"
    ]
    # SQLite history
    with HistoryStore(tmp_path / "history.sqlite", create=False) as store:
        rows = store.query("house", "site")
    assert {row.value for row in rows if row.quality is Quality.VALID} == {SITE}
    # MQTT: the house's state carries it; Home Assistant discovers it
    states = [json.loads(m.payload) for m in sub.on("og/house/state")]
    assert any(u["signal"] == "site" and u["value"] == SITE for s in states for u in s["updates"])
    discovery = discovered(sub, "site")[-1]
    assert (discovery["name"], discovery["unit_of_measurement"]) == ("Site import", "kWh")
    # a derived signal may go down (no monotonic = 1): total, never taken for a reset
    assert (discovery["device_class"], discovery["state_class"]) == ("energy", "total")
    # HTTP
    assert (signals["site"]["value"], signals["site"]["quality"]) == (SITE, ["valid"])
    assert signals["ratio"]["quality"] == ["invalid"]
    assert "site" not in roles  # the energy view counts no register that may go down
    assert 'obisgate_signal_value{device="house",signal="site",unit="kWh"}' in metrics
    assert 'obisgate_energy_watt_hours_total{device="house",signal="import"}' in metrics
    assert 'signal="site"}' not in metrics.split("obisgate_energy_watt_hours_total", 1)[1]
    # Modbus
    assert not answer.isError()
    assert struct.unpack(">d", struct.pack(">4H", *answer.registers))[0] == SITE
