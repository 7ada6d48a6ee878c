"""The gateway against a clocked simulated meter: configuration, outputs that record, running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from obisgate.cli.gateway_run import build_outputs
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.outputs import Output
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import get_profile
from obisgate.simulator.clocked import ClockedMeter, MeterClock
from tests.stub_output import StubOutput

PASSWORD = "Pf-Secret-42"
PASSWORD_ENV = "OBISGATE_TEST_METER_PW"
BASE = get_profile("mt174")
#: The meter's profile starts here; the tests' clocks start a little later.
ORIGIN = datetime(2026, 12, 1, 9, 0)


def clocked(start: datetime) -> tuple[MeterClock, ClockedMeter]:
    """A running meter clock from ``start`` and the meter it drives."""
    clock = MeterClock(start, ticks=time.monotonic)
    return clock, ClockedMeter(clock.now, origin=ORIGIN)


def config_text(port: int, *extra_device: str, extra: str = "", scan_ms: int = 1000) -> str:
    device = "\n".join(extra_device)
    return f"""
[storage]
path = "history.sqlite"

[[devices]]
device_alias = "house"
ip = "127.0.0.1"
port = {port}
serialnumber = "{BASE.address}"
scan_rate_ms = {scan_ms}
poll_delay_ms = 0
serial_close_delay = 0
timeout_ms = 1000
retries = 0
password_env = "{PASSWORD_ENV}"
profile = "P.01"
profile_timezone = "UTC"
{device}

[[signals]]
device_alias = "house"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
log = 1
profile_channel = "1.8.0"

[[signals]]
device_alias = "house"
signal_alias = "power"
tag_job_todo = "1.7.0"
number_type = "FLOAT"
log = 1
profile_channel = "1.5"
{extra}
"""


def write_config(folder: Path, text: str) -> Path:
    path = folder / "gw.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Recorder(StubOutput):
    """Records every batch it gets; ``takes_backfill`` as the class says."""

    name = "recorder"
    takes_backfill = True

    def __init__(self) -> None:
        self.batches: list[Sequence[SignalUpdate]] = []
        self.polls = 0
        self._news = asyncio.Event()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.batches.append(updates)
        self.polls += sum(1 for u in updates if u.signal == STATUS_SIGNAL)
        self._news.set()

    def backfilled(self, signal: str = "energy") -> list[SignalUpdate]:
        return [u for b in self.batches for u in b if u.quality.backfilled and u.signal == signal]

    def stamps(self) -> list[datetime]:
        return [u.time for u in self.backfilled()]

    async def until(self, condition: Callable[[], bool], what: str, deadline_s: float = 30) -> None:
        """Return once ``condition()`` holds, checked again at every batch."""
        end = time.monotonic() + deadline_s
        while not condition():
            left = end - time.monotonic()
            assert left > 0, f"timed out waiting until {what}"
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), left)
            except TimeoutError:
                continue


class LiveOnly(Recorder):
    """An output that does not take backfill (as the SCADA servers and live views)."""

    name = "live"
    takes_backfill = False


@asynccontextmanager
async def running(
    path: Path, clock: MeterClock, extra: Sequence[Output] = ()
) -> AsyncIterator[tuple[Gateway, OutputContext]]:
    """The gateway of ``path`` with its configured outputs (history included) and ``extra``,
    its wall clock the meter's (the meter runs in UTC)."""
    config = load_config(path)
    context = OutputContext()
    outputs = [*build_outputs(config, "none", None, context), *extra]
    gateway = Gateway(
        plans_from_config(config),
        outputs,
        history=context.history_path,
        wall_clock=lambda: clock.now().replace(tzinfo=UTC),
    )
    gateway.inform(context)
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        yield gateway, context
    finally:
        stop.set()
        await task


def quarters(first: datetime, last: datetime) -> list[datetime]:
    """The 15-minute stamps from ``first`` to ``last`` (naive meter times -> UTC)."""
    found = []
    while first <= last:
        found.append(first.replace(tzinfo=UTC))
        first += timedelta(minutes=15)
    return found
