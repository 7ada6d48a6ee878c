"""The gateway against simulated meters: shared pty bus, TCP, a dead meter, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.stub_output import StubOutput
from tests.toml_rows import device, signal_

from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.history import HistoryStore
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import Faults, get_profile, serve_pty, serve_tcp

pytestmark = [pytest.mark.integration]


class Collect(StubOutput):
    """An output that records updates and wakes the test when every device polled enough."""

    name = "collect"

    def __init__(self, devices: Sequence[str], polls: int) -> None:
        self.updates: list[SignalUpdate] = []
        self.polls: Counter[str] = Counter()
        self.devices = devices
        self.wanted = polls
        self.done = asyncio.Event()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.updates.extend(updates)
        for u in updates:
            if u.signal == STATUS_SIGNAL:
                self.polls[u.device] += 1
        if all(self.polls[d] >= self.wanted for d in self.devices):
            self.done.set()

    async def aclose(self) -> None:
        pass

    def latest(self, device: str, signal: str) -> SignalUpdate:
        return [u for u in self.updates if (u.device, u.signal) == (device, signal)][-1]


@pytest.mark.pty
async def test_bus_tcp_and_a_dead_meter(tmp_path: Path) -> None:
    mt174, e350, kam, aux = (get_profile(n) for n in ("mt174", "e350", "kamstrup", "aux"))
    async with (
        await serve_pty([mt174, e350]) as bus,
        await serve_tcp(kam) as mode_a,
        await serve_tcp(aux, faults=Faults(silence=True)) as dead,
    ):
        text = (
            device("bus1", f'device = "{bus.path}"', mt174.address, "C")
            + device("bus2", f'device = "{bus.path}"', e350.address, "C")
            + device(
                "tcpa",
                f'ip = "127.0.0.1"\nport = {mode_a.port}',
                kam.address,
                "A",
                "decimal_comma = 1",
            )
            + device("dead", f'ip = "127.0.0.1"\nport = {dead.port}', aux.address, "C")
            + signal_("bus1", "energy24", "1.8.0*24")
            + signal_("bus1", "demand_time", "1.6.0", "DATETIME", "value_index = 2")
            + signal_("bus1", "missing", "9.9.9")
            + signal_("bus2", "energy", "1.8.0")
            + signal_("tcpa", "energy", "1.8.0")
            + signal_("dead", "energy", "1.8.0")
        )
        path = tmp_path / "gw.toml"
        path.write_text(text)
        config = load_config(path)
        plans = plans_from_config(config)
        assert plans[0].port_key == plans[1].port_key == bus.path
        out = Collect(["bus1", "bus2", "tcpa", "dead"], polls=2)
        gateway = Gateway(plans, [out])
        stop = asyncio.Event()
        run = asyncio.create_task(gateway.run(stop))
        await out.done.wait()
        stop.set()
        await run
    energy24 = out.latest("bus1", "energy24")
    assert (energy24.value, energy24.unit, energy24.quality) == (147238.4, "kWh", Quality.VALID)
    assert out.latest("bus1", "demand_time").value.isoformat() == "2025-11-18T09:30:00"
    assert out.latest("bus1", "missing").quality == Quality.NOT_TOPICAL
    assert out.latest("bus2", "energy").value == pytest.approx(1234.12)
    assert out.latest("tcpa", "energy").quality is Quality.VALID
    assert out.latest("dead", STATUS_SIGNAL).value == "no answer"
    assert out.latest("dead", "energy").quality == Quality.NOT_TOPICAL
    for alias in ("bus1", "bus2", "tcpa"):
        assert out.latest(alias, STATUS_SIGNAL).value == "ok"
    stats = gateway.stats()
    assert stats["lines"] == 3
    assert stats["failures"] >= 2


async def test_sigterm_stops_cleanly_and_keeps_history(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    db = tmp_path / "history.sqlite"
    async with await serve_tcp(profile) as sim:
        config = tmp_path / "gw.toml"
        config.write_text(
            f'[storage]\npath = "{db}"\n'
            + device("m", f'ip = "127.0.0.1"\nport = {sim.port}', profile.address, "C")
            + signal_("m", "energy24", "1.8.0*24", extra="log = 1")
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "obisgate",
            "run",
            str(config),
            "--format",
            "jsonl",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        seen: list[dict[str, object]] = []
        while len(seen) < 4:  # two polls: energy24 + status each
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, (await proc.stderr.read()).decode()
            seen.append(json.loads(line))
        proc.send_signal(signal.SIGTERM)
        _rest, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    energy = [s for s in seen if s["signal"] == "energy24"]
    assert energy[0]["value"] == 147238.4
    with HistoryStore(db, create=False) as store:
        rows = store.query("m", "energy24")
    assert len(rows) >= 2
    assert rows[0].value == 147238.4
