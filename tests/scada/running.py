"""A gateway polling a simulated meter in-process, with its network outputs, for SCADA tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from tests.stub_output import StubOutput


@dataclass
class Latest(StubOutput):
    """An output that keeps the latest update of every signal, as ``--format jsonl`` prints it."""

    name: str = "latest"
    updates: dict[tuple[str, str], SignalUpdate] = field(default_factory=dict)
    times: dict[tuple[str, str], list[datetime]] = field(default_factory=dict)
    polls: int = 0
    failed_polls: int = 0
    polled: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        for update in updates:
            self.updates[(update.device, update.signal)] = update
            self.times.setdefault((update.device, update.signal), []).append(update.time)
            if update.signal == STATUS_SIGNAL:
                self.polls += 1
                self.failed_polls += update.value != "ok"
        self.polled.set()

    def json(self, device: str, signal: str) -> Any:
        return self.updates[(device, signal)].to_json()["value"]

    async def aclose(self) -> None:
        pass


def meter(alias: str, port: int, address: str, scan_ms: int = 200) -> str:
    return (
        f'[[devices]]\ndevice_alias = "{alias}"\nip = "127.0.0.1"\nport = {port}\n'
        f'serialnumber = "{address}"\nscan_rate_ms = {scan_ms}\npoll_delay_ms = 0\n'
        "serial_close_delay = 0\ntimeout_ms = 500\nretries = 0\n"
    )


def signal(device: str, alias: str, tag: str, ntype: str, **columns: object) -> str:
    lines = [
        "[[signals]]",
        f'device_alias = "{device}"',
        f'signal_alias = "{alias}"',
        f'tag_job_todo = "{tag}"',
        f'number_type = "{ntype}"',
    ]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in columns.items()]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def running_gateway(folder: Path, text: str) -> AsyncIterator[tuple[list[Any], Latest]]:
    """Run the gateway of configuration ``text``; yields (network outputs, latest values)
    once the outputs have started and the first readout is published."""
    path = folder / "gw.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    outputs: list[Any] = network_outputs(config, OutputContext())
    latest = Latest()
    gateway = Gateway(plans_from_config(config), [*outputs, latest])
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        async with asyncio.timeout(15):
            await latest.polled.wait()  # the outputs have started before the first poll
        yield outputs, latest
    finally:
        stop.set()
        await task


async def until(condition: Any, wake: Latest, *, timeout_s: float = 15.0) -> Any:
    """Await ``condition()`` (a coroutine function) again after every readout until it is truthy.

    Raises:
        TimeoutError: not true within ``timeout_s``.
    """
    async with asyncio.timeout(timeout_s):
        while not (result := await condition()):
            wake.polled.clear()
            await wake.polled.wait()
    return result
