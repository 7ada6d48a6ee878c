"""``obisgate init``: readable signal names, the reading options written into the device,
and the README's path from a meter to its history, end to end."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.commands import run_until

from obisgate.cli import main
from obisgate.cli.signal_names import signal_alias_for, unique_alias
from obisgate.gateway.config import load_config
from obisgate.simulator import get_profile, serve_tcp

OBISGATE = Path(sys.executable).parent / "obisgate"


@pytest.mark.parametrize(
    ("address", "alias"),
    [
        ("1.8.0", "energy_import"),
        ("1-0:1.8.0*255", "energy_import"),
        ("1-0:1.8.0", "energy_import"),
        ("1.8.1", "energy_import_t1"),
        ("1.8.2", "energy_import_t2"),
        ("2.8.0", "energy_export"),
        ("2.8.3", "energy_export_t3"),
        ("1.8.0*24", "energy_import_p24"),
        ("1.7.0", "power"),
        ("16.7.0", "power"),
        ("32.7.0", "voltage_l1"),
        ("32.7", "voltage_l1"),
        ("52.7.0", "voltage_l2"),
        ("72.7.0", "voltage_l3"),
        ("31.7.0", "current_l1"),
        ("51.7.0", "current_l2"),
        ("71.7.0", "current_l3"),
        ("14.7.0", "frequency"),
        ("0.9.1", "time"),
        ("C.1.0", "serial_number"),
        ("F.F", "error_code"),
        ("C.7.0", "power_failures"),  # the catalogue's service entries have names too
        ("0-1:24.2.1", "mbus1_reading"),  # DSMR: the M-Bus meter on channel 1
        ("C.99.0", "C.99.0"),  # not in the catalogue: the address itself
        ("1-0:99.1.0", "1-0_99.1.0"),  # not in the catalogue: the address made valid
        ("1-1:1.8.0", "1-1_1.8.0"),  # another channel is not "the" import register
        ("99.4&1", "99.4_1"),
        ("", "value"),
        ("!!", "value"),
    ],
)
def test_signal_names(address: str, alias: str) -> None:
    assert signal_alias_for(address) == alias


def test_names_are_valid_aliases_and_unique() -> None:
    taken: set[str] = set()
    names = [unique_alias(signal_alias_for(a), taken) for a in ("1.7.0", "16.7.0", "x" * 80)]
    assert names == ["power", "power_2", "x" * 64]
    assert unique_alias("x" * 64, taken) == "x" * 62 + "_2"


async def invoke(*args: str) -> Result:
    """The CLI in a worker thread (it runs its own event loop) while the simulator serves."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), prog_name="obisgate")


@pytest.mark.integration
async def test_init_takes_the_reading_options_of_read(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    out = tmp_path / "site.toml"
    trace = tmp_path / "trace.txt"
    async with await serve_tcp(profile) as sim:
        result = await invoke(
            "init", sim.url, "-o", str(out), "--alias", "kitchen", "--mode", "C",
            "--max-baud", "4800", "--t2", "250", "--timeout", "3", "--no-echo-strip",
            "--repeat-requests", "2", "--trace", str(trace),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out}: 1 device, ")
    config = load_config(out)
    (device,) = config.devices
    assert (device.device_alias, device.type, device.max_baud, device.t2) == (
        "kitchen", "C", 4800, 250,
    )  # fmt: skip
    assert (device.timeout_ms, device.strip_echo, device.repeat_requests) == (3000, False, 2)
    assert "< " in trace.read_text(encoding="utf-8")  # the exchange was traced
    signals = {s.tag_job_todo: s for s in config.signals}
    assert list(signals) == [ds.address for ds in profile.datasets if ds.address]
    energy = signals["1.8.0"]
    assert (energy.signal_alias, energy.log) == ("energy_import", 1)
    assert (signals["1.8.0*24"].signal_alias, signals["1.8.0*24"].log) == ("energy_import_p24", 1)
    assert signals["32.7.0"].signal_alias == "voltage_l1"
    assert energy.description == "Active energy import (+A, QI+QIV), total"  # the catalogue's
    assert signals["C.1.0"].log == 0  # a serial number is text: no history


async def command(cwd: Path, *args: str) -> tuple[int, str, str]:
    """``obisgate ARGS`` as a user types it, in ``cwd``."""
    process = await asyncio.create_subprocess_exec(
        OBISGATE, *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.integration
async def test_init_run_history_as_the_readme_says(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as sim:
        code, out, err = await command(tmp_path, "init", sim.url, "-o", "site.toml")
        assert code == 0, err
        assert (
            out
            == f"wrote site.toml: 1 device, {len(profile.datasets)} signals (check: obisgate check site.toml)\n"
        )
        code, out, err = await command(tmp_path, "check", "site.toml")
        assert code == 0, err
        assert out.splitlines()[0] == f"ok: 1 devices, {len(profile.datasets)} signals"
        assert out.splitlines()[2].startswith("  history  ")
        # As the README says, stopped (SIGTERM) once the energy was printed: a slow
        # runner may need more than a few seconds for the first readout.
        done = await run_until(
            [OBISGATE, "run", "site.toml", "--duration", "30"],
            line=lambda line: '"energy_import"' in line,
            cwd=tmp_path,
        )
        assert done.code == 0, done.err
    updates = [json.loads(line) for line in done.out.splitlines()]
    energy = [u for u in updates if u["signal"] == "energy_import"]
    assert energy and energy[0]["value"] == 148123.456 and energy[0]["quality"] == ["valid"]
    code, out, err = await command(
        tmp_path, "history", "meter1", "energy_import", "--config", "site.toml"
    )
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["time", "(UTC)", "value", "unit", "quality"]
    assert rows and rows[0].split()[2:] == ["148123.456", "kWh", "valid"]
    assert (tmp_path / "obisgate-history.sqlite").exists()


@pytest.mark.integration
async def test_init_a_push_meter_and_run_it(tmp_path: Path) -> None:
    """``init --mode d`` writes a push meter (it used to refuse: "the gateway polls modes
    A, B and C only") and the gateway then reads its telegrams."""
    profile = get_profile("ehz-push")
    async with await serve_tcp(profile) as sim:
        code, out, err = await command(
            tmp_path, "init", sim.url, "--mode", "d", "-o", "site.toml", "--timeout", "15"
        )
        assert code == 0, err
        assert out.startswith("wrote site.toml: 1 device, ")
        (device,) = load_config(tmp_path / "site.toml").devices
        assert (device.type, device.ip) == ("D", "127.0.0.1")
        done = await run_until(
            [OBISGATE, "run", "site.toml", "--duration", "30"],
            line=lambda line: '"energy_import"' in line,
            cwd=tmp_path,
        )
        assert done.code == 0, done.err
    energy = [
        u
        for u in map(json.loads, done.out.splitlines())
        if u["signal"] == "energy_import" and u["quality"] == ["valid"]
    ]
    assert energy and energy[0]["value"] == 123.4567
