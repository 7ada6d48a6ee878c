"""``obisgate probe`` against every simulated quirk, over a pty and TCP: it finds the
setting that reads the meter within its budget, and the configuration it writes
reads that meter with ``obisgate run``."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from obisgate.cli import main
from obisgate.gateway.config import load_config
from obisgate.simulator import (
    Faults,
    PtySimulator,
    SimulatorServer,
    get_profile,
    serve_pty,
    serve_tcp,
)
from obisgate.simulator.profile import MeterProfile
from tests.commands import run_until

pytestmark = pytest.mark.integration

OBISGATE = Path(sys.executable).parent / "obisgate"
E350 = get_profile("e350")
#: A short readout, for the personality that sends it at 300 Bd in real time.
SMALL = E350.replace(lines=("F.F(00)", "0.0.0(00188123)", "1.8.0(001234.120*kWh)"))
#: The settings the probe may write; those not expected must stay at their defaults.
PROBED = {
    "wakeup": 0,
    "software_parity": False,
    "databits": 7,
    "request_start": "/?",
    "baud_change_delay_ms": 0,
    "switch_baud": True,
    "type": "C",
    "t2": 200,
}


@dataclass(frozen=True)
class Personality:
    """A simulated meter with a quirk, and the settings the probe must find for it."""

    profile: MeterProfile
    faults: tuple[str, ...] = ()
    realtime: bool = False
    args: tuple[str, ...] = ()
    timeout: str = "1"
    converter_baud: int | None = None
    pty: dict[str, object] | None = None
    tcp: dict[str, object] | None = None


PERSONALITIES = {
    "needs-wakeup": Personality(E350, ("needs-wakeup",), pty={"wakeup": 66}, tcp={"wakeup": 66}),
    # on a pty the client's 7E1 already carries the parity bit (the kernel
    # refuses 7E1 on a pty: the port is 8N1 and the bit is computed)
    "7e1-as-8n1": Personality(
        E350, ("parity", "strict-parity"), pty={}, tcp={"software_parity": True}
    ),
    "echo": Personality(E350, ("echo",), pty={}, tcp={}),
    # a raw TCP converter never switches from our side: nothing to wait for (the
    # readout comes 0.3 s + its 0.8 s reaction time after the acknowledgement)
    "long-switch-delay": Personality(
        E350.replace(reaction_time_s=0.8),
        ("slow-switch",),
        timeout="2",
        pty={"baud_change_delay_ms": 500},
        tcp={},
    ),
    # over raw TCP the 300 Bd bytes arrive intact whatever the client "switched" to
    "mode-a-only": Personality(SMALL, ("mode-a-only",), realtime=True, pty={"type": "A"}, tcp={}),
    "variant-request": Personality(
        E350.replace(request_starts=("/#",)),
        pty={"request_start": "/#"},
        tcp={"request_start": "/#"},
    ),
    "own-address-only": Personality(
        E350, ("address-only",), args=("--address", E350.address), pty={}, tcp={}
    ),
    "converter-fixed-rate": Personality(E350, converter_baud=300, tcp={"switch_baud": False}),
}
CASES = [
    pytest.param(name, transport, id=f"{name}-{transport}")
    for name, personality in PERSONALITIES.items()
    for transport in ("pty", "tcp")
    if getattr(personality, transport) is not None
]


async def invoke(*args: str) -> Result:
    """The CLI in a worker thread (it runs its own event loop) while the simulator serves."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), prog_name="obisgate")


def energy_read(line: str) -> bool:
    """A JSON line of ``obisgate run`` with a valid energy_import value."""
    update = json.loads(line)
    return bool(update["signal"] == "energy_import" and update["quality"] == ["valid"])


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_probe_finds_the_setting_and_run_reads_with_it(
    tmp_path: Path, name: str, transport: str
) -> None:
    personality = PERSONALITIES[name]
    expected = getattr(personality, transport)
    assert expected is not None
    faults = Faults.from_names(personality.faults)
    server: PtySimulator | SimulatorServer
    if transport == "pty":
        server = await serve_pty(
            [personality.profile], faults=faults, realtime=personality.realtime
        )
        url = server.path
    else:
        server = await serve_tcp(
            personality.profile,
            faults=faults,
            realtime=personality.realtime,
            converter_baud=personality.converter_baud,
        )
        url = server.url
    out = tmp_path / "site.toml"
    async with server:
        result = await invoke(
            "probe",
            url,
            "-o",
            str(out),
            "--timeout",
            personality.timeout,
            "--budget",
            "60",
            *personality.args,
        )
        assert result.exit_code == 0, result.output
        assert f"wrote {out}: 1 device, 9 signals" in result.stdout or "wrote" in result.stdout
        (device,) = load_config(out).devices
        for field, default in PROBED.items():
            assert getattr(device, field) == expected.get(field, default), field
        ran = await run_until(
            [OBISGATE, "run", "site.toml", "--format", "jsonl"], line=energy_read, cwd=tmp_path
        )
    assert ran.code == 0, ran.err
    energy = [json.loads(line) for line in ran.out.splitlines() if energy_read(line)]
    assert energy[0]["value"] == 1234.12
