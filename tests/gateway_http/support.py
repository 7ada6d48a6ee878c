"""Shared pieces of the HTTP output tests: a configuration, a started output, batches."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.outputs.factory import OutputContext
from obisgate.gateway.outputs.http import create
from obisgate.gateway.outputs.http_server import HttpOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

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
    """The HTTP output of ``config``, started (on a free port) and closed at the end."""
    output = create(config, context or OutputContext())
    assert isinstance(output, HttpOutput)
    await output.start()
    try:
        yield output
    finally:
        await output.aclose()
