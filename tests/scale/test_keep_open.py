"""``keep_open``: converter connections stay open between polls; a stale one is replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from obisgate.errors import ConfigError
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.connections import KeptConnections
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import SimulatorStats, serve_tcp
from tests.scale.configs import line_profiles, tcp_config
from tests.stub_output import StubOutput

pytestmark = pytest.mark.integration


class Collect(StubOutput):
    name = "collect"

    def __init__(self, polls: int) -> None:
        self.statuses: list[str] = []
        self.done = asyncio.Event()
        self.polls = polls

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.statuses += [str(u.value) for u in updates if u.signal == STATUS_SIGNAL]
        if len(self.statuses) >= self.polls:
            self.done.set()

    async def aclose(self) -> None:
        pass


def config(tmp_path: Path, port: int, count: int, keep_open: bool) -> Path:
    path = tmp_path / "gw.toml"
    text = tcp_config([port], [count], scan_rate_ms=300)
    if keep_open:
        text = text.replace("retries = 1\n", "retries = 1\nkeep_open = 1\n")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("keep_open", "connections"), [(True, 1), (False, 8)])
async def test_a_shared_line_uses_one_connection(
    tmp_path: Path, keep_open: bool, connections: int
) -> None:
    stats = SimulatorStats()
    async with await serve_tcp(line_profiles(0, 2), stats=stats) as server:
        plans = plans_from_config(load_config(config(tmp_path, server.port, 2, keep_open)))
        collect = Collect(8)
        gateway = Gateway(plans, [collect])
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await asyncio.wait_for(collect.done.wait(), 30)
        stop.set()
        await task
    assert collect.statuses[:8] == ["ok"] * 8
    assert stats.connections == connections
    assert stats.readouts >= 8


async def test_a_stale_connection_is_replaced_without_a_failed_poll(tmp_path: Path) -> None:
    async with await serve_tcp(line_profiles(0, 1)) as server:
        port = server.port
        plan = plans_from_config(load_config(config(tmp_path, port, 1, True)))[0]
        kept = KeptConnections()
        await kept.read(plan)
    async with await serve_tcp(line_profiles(0, 1), port=port):  # the converter restarted
        readout = await kept.read(plan)
        assert readout.datasets
        await kept.read(plan)
    await kept.aclose()
    assert kept.opened == 2


def test_keep_open_is_for_raw_tcp_only(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(
        '[[devices]]\ndevice_alias = "a"\ndevice = "/dev/ttyUSB0"\nkeep_open = 1\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="keep_open: only for raw TCP"):
        load_config(path)
