"""``run --duration`` counts polling time: a slow output start does not eat into it; the
configuration is not kept while polling."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence
from pathlib import Path

from tests.stub_output import StubOutput

from obisgate.cli.gateway_run import run_gateway
from obisgate.gateway.config import GatewayConfig, load_config
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.updates import SignalUpdate

CONFIG = """\
[output]
format = "none"

[[devices]]
device_alias = "m1"
url = "tcp://127.0.0.1:1"

[[signals]]
device_alias = "m1"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
"""


class SlowStart(StubOutput):
    """An output whose start takes ``seconds`` (like an OPC UA server building its
    address space); it records the loop time when its start ended and when it was closed."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started_at: float | None = None
        self.closed_at: float | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        loop.call_later(self.seconds, ready.set_result, None)
        await ready
        self.started_at = loop.time()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        pass

    async def aclose(self) -> None:
        self.closed_at = asyncio.get_running_loop().time()


async def test_duration_counts_from_when_polling_starts(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG, encoding="utf-8")
    slow = SlowStart(0.4)
    outputs: list[Output] = [slow]
    async with asyncio.timeout(30):
        await run_gateway(load_config(path), outputs, duration_s=0.2)
    assert slow.started_at is not None and slow.closed_at is not None
    # The timer never fires early: with it started before the outputs, the
    # gateway stopped the moment the slow start ended (0.4 s > 0.2 s).
    assert slow.closed_at - slow.started_at >= 0.2


class ConfigWatch(StubOutput):
    """An output that records, when polling starts, whether the configuration still exists."""

    name = "watch"

    def __init__(self, config: weakref.ref[GatewayConfig]) -> None:
        self.config = config
        self.alive_while_polling: bool | None = None
        self.published = asyncio.Event()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        if self.alive_while_polling is None:
            self.alive_while_polling = self.config() is not None
        self.published.set()

    async def aclose(self) -> None:
        pass


async def test_the_configuration_is_freed_once_the_plans_are_built(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    watch = ConfigWatch(weakref.ref(config))
    running = asyncio.ensure_future(run_gateway(config, [watch], duration_s=60))
    del config
    # Until the unreachable meter's status update reached the output while polling
    # (not a fixed duration that a slow runner may not fill), then stop the gateway.
    async with asyncio.timeout(30):
        await watch.published.wait()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert watch.alive_while_polling is False
