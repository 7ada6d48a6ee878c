"""Helpers of the MQTT tests: an independent subscriber, configurations, waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import aiomqtt

from obisgate.cli.gateway_run import build_outputs
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import GatewayConfig
from obisgate.gateway.outputs import Output
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.health import OutputHealth
from obisgate.gateway.processing.build import processing_plan
from obisgate.gateway.processing.store import state_path
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from tests.stub_output import StubOutput


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """An MQTT client of its own that records every message, reconnecting after an outage.

    With ``persistent`` it keeps a session at the broker (QoS 1, clean_session off),
    so the broker queues messages for it while it reconnects.
    """

    def __init__(
        self, port: int, topics: Sequence[str] = ("#",), *, client_id: str = "test-subscriber"
    ) -> None:
        self.port = port
        self.topics = topics
        self.client_id = client_id
        self.messages: list[Received] = []
        self.connected = asyncio.Event()
        self._news = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        await wait_until(self.connected.is_set, "the subscriber connects")
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=self.client_id,
                    clean_session=False,
                    timeout=5,
                ) as client:
                    self.client = client
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        payload = message.payload
                        assert isinstance(payload, bytes)
                        self.messages.append(Received(str(message.topic), payload, message.retain))
                        self._news.set()
            except aiomqtt.MqttError:
                self.connected.clear()
                self.client = None
                await asyncio.sleep(0.1)  # the broker is down: try again (not a test wait)

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    async def wait_for(
        self, condition: Callable[[], bool], what: str, deadline_s: float = 30.0
    ) -> None:
        """Return once ``condition()`` holds, re-checked at every new message."""
        end = time.monotonic() + deadline_s
        while not condition():
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting until {what}")
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), min(left, 0.5))


async def wait_until(
    condition: Callable[[], bool], what: str, deadline_s: float = 30.0, step_s: float = 0.05
) -> None:
    """Poll ``condition`` until it holds or the deadline passes (then fail, saying ``what``)."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(step_s)


class Collect(StubOutput):
    """An output that records readouts and counts them per device."""

    name = "collect"

    def __init__(self) -> None:
        self.updates: list[SignalUpdate] = []
        self.polls = 0

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.updates.extend(updates)
        self.polls += sum(1 for u in updates if u.signal == STATUS_SIGNAL)

    async def aclose(self) -> None:
        pass


def gateway_config(
    folder: Path,
    meter_port: int,
    address: str,
    mqtt: str,
    *,
    scan_ms: int = 300,
) -> Path:
    """A configuration with one simulated mt174 over TCP, four signals, and ``[mqtt]``."""
    path = folder / "gw.toml"
    path.write_text(
        f"""
[storage]
path = "history.sqlite"

[[devices]]
device_alias = "house"
name = "House meter"
ip = "127.0.0.1"
port = {meter_port}
serialnumber = "{address}"
scan_rate_ms = {scan_ms}
poll_delay_ms = 0
serial_close_delay = 0
timeout_ms = 800
retries = 0

[[signals]]
device_alias = "house"
signal_alias = "energy"
signal_name = "Energy import"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
log = 1

[[signals]]
device_alias = "house"
signal_alias = "power"
tag_job_todo = "1.6.0"
number_type = "FLOAT"

[[signals]]
device_alias = "house"
signal_alias = "voltage.l1"
tag_job_todo = "32.7.0"
number_type = "FLOAT"

[[signals]]
device_alias = "house"
signal_alias = "missing"
tag_job_todo = "9.9.9"
number_type = "FLOAT"

[mqtt]
{mqtt}
""",
        encoding="utf-8",
    )
    return path


@asynccontextmanager
async def running_gateway(
    config: GatewayConfig, extra: Sequence[Output] = ()
) -> AsyncIterator[tuple[Gateway, OutputContext]]:
    """The gateway with its configured outputs (no printing) plus ``extra`` and its
    processing stage (state beside the history), stopped at the end."""
    context = OutputContext()
    outputs = [*build_outputs(config, "none", None, context), *extra]
    processing = processing_plan(config, state_file=state_path(config.storage.path))
    gateway = Gateway(plans_from_config(config), outputs, processing=processing)
    gateway.inform(context)
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        yield gateway, context
    finally:
        stop.set()
        await task


async def mqtt_outcome(config: GatewayConfig, accepted: bool) -> OutputHealth:
    """Run the gateway until its MQTT output has a PUBACK (``accepted``) or else an error
    while polling goes on (3 readouts); its health then."""
    collect = Collect()
    async with running_gateway(config, [collect]) as (_, context):

        def health() -> OutputHealth:
            return context.health()["mqtt"]

        if accepted:
            await wait_until(lambda: health().counters["sent_total"] >= 1, "a PUBACK")
        else:
            await wait_until(lambda: health().last_error is not None, "an error")
            await wait_until(lambda: collect.polls >= 3, "polling goes on")
        return health()


def mqtt_section(broker_port: int, *lines: str) -> str:
    return "\n".join(
        (
            f'url = "mqtt://127.0.0.1:{broker_port}"',
            'client_id = "gw1"',
            'topic_prefix = "og"',
            *lines,
        )
    )
