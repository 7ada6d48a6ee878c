"""Shared pieces of the HTTP output tests: a configuration, a started output, batches."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from obisgate.cli.gateway_run import build_outputs
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.http.server import HttpOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import SimulatorServer
from obisgate.simulator.bus import MeterCatalog

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

TWO_METERS = """\
    [http]
    listen = "127.0.0.1:0"
    {http}

    [[devices]]
    device_alias = "m1"
    name = "Meter <one> & co"
    url = "tcp://127.0.0.1:1"

    [[devices]]
    device_alias = "m2"
    url = "tcp://127.0.0.1:2"

    [[devices]]
    device_alias = "off"
    url = "tcp://127.0.0.1:3"
    enable = 0

    [[signals]]
    device_alias = "m1"
    signal_alias = "energy"
    signal_name = "Active energy import"
    tag_job_todo = "1.8.0"
    number_type = "FLOAT"
    log = 1

    [[signals]]
    device_alias = "m1"
    signal_alias = "serial"
    tag_job_todo = "C.1.0"
    number_type = "STRING"

    [[signals]]
    device_alias = "m2"
    signal_alias = "voltage"
    tag_job_todo = "32.7.0"
    number_type = "INT16"
    unit = "V"
"""


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def two_meters(tmp_path: Path, http: str = "") -> GatewayConfig:
    return load_config(write_config(tmp_path, TWO_METERS.format(http=http)))


def update(
    device: str,
    signal: str,
    value: Any,
    *,
    unit: str | None = None,
    at: timedelta = timedelta(0),
    quality: Quality = Quality.VALID,
) -> SignalUpdate:
    return SignalUpdate(device, signal, value, unit, T0 + at, quality)


def status(device: str, value: str, at: timedelta = timedelta(0)) -> SignalUpdate:
    return update(device, STATUS_SIGNAL, value, at=at)


def good_m1(at: timedelta = timedelta(0), energy: float = 148123.5) -> list[SignalUpdate]:
    return [
        update("m1", "energy", energy, unit="kWh", at=at),
        update("m1", "serial", "71234567", at=at),
        status("m1", "ok", at),
    ]


@asynccontextmanager
async def serving(
    config: GatewayConfig, context: OutputContext | None = None
) -> AsyncIterator[HttpOutput]:
    """The HTTP output of ``config``, started (on a free port) and closed at the end.

    Its ``/api/gateway`` shows the outputs of ``context.health`` and its own health,
    as in a gateway."""
    context = context or OutputContext()
    (output,) = network_outputs(config, context)
    assert isinstance(output, HttpOutput)
    others = context.health
    context.health = lambda: {**others(), output.name: output.health()}
    await output.start()
    try:
        yield output
    finally:
        await output.aclose()


# -- a real gateway polling simulated meters -------------------------------------------

ENERGY_LINE = "1.8.0(0148123.456*kWh)"


def meter_config(ports: dict[str, int], history: Path, http: str = "") -> str:
    """Two simulated MT174 meters (``a`` and ``b``) polled every 300 ms, energy logged."""
    text = f'[http]\nlisten = "127.0.0.1:0"\n{http}\n[output]\nformat = "none"\n'
    text += f'[storage]\npath = "{history}"\n'
    for alias, port in ports.items():
        text += (
            f'[[devices]]\ndevice_alias = "{alias}"\nname = "Meter {alias.upper()}"\n'
            f'url = "tcp://127.0.0.1:{port}"\nserialnumber = "71234567"\n'
            "scan_rate_ms = 300\npoll_delay_ms = 0\nserial_close_delay = 0\n"
            "timeout_ms = 800\nretries = 0\n"
            f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "energy"\n'
            'tag_job_todo = "1.8.0"\nnumber_type = "FLOAT"\nlog = 1\n'
            f'[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "voltage"\n'
            'tag_job_todo = "32.7.0"\nnumber_type = "FLOAT"\n'
        )
    return text


def set_energy(server: SimulatorServer, value: str) -> None:
    """Make the simulated meter report ``value`` kWh from its next readout on."""
    (profile,) = server.catalog.profiles
    lines = tuple(
        f"1.8.0({value}*kWh)" if line.startswith("1.8.0(") else line for line in profile.lines
    )
    server.catalog = MeterCatalog([profile.replace(lines=lines)])


@dataclass
class RunningGateway:
    gateway: Gateway
    http: HttpOutput
    context: OutputContext

    @property
    def url(self) -> str:
        return self.http.url


@asynccontextmanager
async def running_gateway(config: GatewayConfig) -> AsyncIterator[RunningGateway]:
    """The gateway with every output of ``config`` (history, http), serving; stopped at the end."""
    context = OutputContext()
    outputs = build_outputs(config, None, None, context)
    (http,) = [o for o in outputs if isinstance(o, HttpOutput)]
    started = asyncio.Event()
    http.announce = lambda _line: started.set()
    gateway = Gateway(plans_from_config(config), outputs)
    gateway.inform(context)
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await asyncio.wait_for(started.wait(), 30)
        yield RunningGateway(gateway, http, context)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
