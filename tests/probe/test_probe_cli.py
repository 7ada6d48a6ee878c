"""``obisgate probe`` on the command line: the table, the exit status, what it writes,
and what it never sends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from obisgate.cli import main
from obisgate.gateway.config import load_config
from obisgate.simulator import Faults, get_profile, serve_tcp

pytestmark = pytest.mark.integration

E350 = get_profile("e350")


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), prog_name="obisgate")


async def test_a_meter_that_reads_at_once() -> None:
    async with await serve_tcp(E350) as sim:
        result = await invoke("probe", sim.url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["try", "settings", "result", "time"]
    assert lines[1].split(maxsplit=3)[:3] == ["1", "7E1,", "/?!"]
    assert "read 9 data sets, BCC valid (mode C at 4800 Bd)" in lines[1]
    assert "meter: /LGZ4ZMF100AC.M23" in lines
    assert f"read it with: obisgate read {sim.url}" in lines
    assert "[[devices]]" in lines and 'serialnumber = "0"' in lines


async def test_nothing_answers_exit_3_with_the_hint(tmp_path: Path) -> None:
    out = tmp_path / "site.toml"
    async with await serve_tcp(E350, faults=Faults(silence=True)) as sim:
        result = await invoke("probe", sim.url, "--timeout", "1", "--budget", "12", "-o", str(out))
    assert result.exit_code == 3, result.output
    assert "no answer at all (check the head's position and the port)" in result.stdout
    assert "needs --address (often the serial number on its label)" in result.stdout
    assert "the budget of 12 s ran out" in result.stdout
    assert result.stderr == "obisgate: error: nothing answered: no setting read the meter\n"
    assert not out.exists()


async def test_an_answer_that_never_reads_cleanly_exits_5(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    async with await serve_tcp(E350, faults=Faults(bad_bcc=True)) as sim:
        result = await invoke(
            "probe", sim.url, "--timeout", "1", "--budget", "20", "--trace", str(trace)
        )
        sessions = sim.stats.programming_sessions
    assert result.exit_code == 5, result.output
    rows = result.stdout.splitlines()[1:4]
    assert [r.split("  ")[-2].strip() for r in rows] == ["checksum wrong"] * 3
    assert "3 repeat requests" in rows[1] and "7-bit sum checksum" in rows[2]
    assert result.stderr.startswith("obisgate: error: the meter answered, but no setting read")
    # Only readout requests went out: never a password, a write or programming mode.
    sent = [
        bytes.fromhex(line.split(">", 1)[1].split("|")[0].split(maxsplit=1)[1])
        for line in trace.read_text(encoding="utf-8").splitlines()
        if ") > " in line
    ]
    assert sent and sessions == 0
    assert not any(b"\x01" in data for data in sent)  # SOH: no command message at all
    acks = [data for data in sent if data.startswith(b"\x06")]
    assert acks and all(a[3:4] == b"0" for a in acks)  # option selects ask for a readout


async def test_probe_writes_the_starter_configuration_like_init(tmp_path: Path) -> None:
    probe_out, init_out = tmp_path / "probe.toml", tmp_path / "init.toml"
    async with await serve_tcp(E350, faults=Faults(needs_wakeup=True)) as sim:
        probed = await invoke("probe", sim.url, "--timeout", "1", "-o", str(probe_out))
        init = await invoke("init", sim.url, "--probe", "--timeout", "1", "-o", str(init_out))
    assert probed.exit_code == 0, probed.output
    assert init.exit_code == 0, init.output
    assert probed.stdout.splitlines()[-1].startswith(f"wrote {probe_out}: 1 device, 9 signals")
    assert init.stdout.splitlines()[-1].startswith(f"wrote {init_out}: 1 device, 9 signals")
    assert probe_out.read_text() == init_out.read_text()
    config = load_config(probe_out)
    (device,) = config.devices
    assert (device.wakeup, device.timeout_ms) == (66, 1000)
    signals = {s.tag_job_todo: s for s in config.signals}
    assert (signals["1.8.0"].signal_alias, signals["1.8.0"].log) == ("energy_import", 1)
    assert signals["1.8.0"].description == "Active energy import (+A, QI+QIV), total"


async def test_given_options_are_kept_in_every_try() -> None:
    async with await serve_tcp(E350, faults=Faults(needs_wakeup=True)) as sim:
        result = await invoke(
            "probe", sim.url, "--timeout", "1", "--budget", "10", "--wakeup", "0", "--no-switch"
        )
    assert result.exit_code == 3, result.output
    assert "wake-up" not in result.stdout  # --wakeup 0 was given: never tried otherwise


async def test_usage_errors() -> None:
    result = await invoke("probe", "tcp://127.0.0.1:1", "--budget", "0")
    assert result.exit_code == 2
    result = await invoke("init", "tcp://127.0.0.1:1", "--budget", "5")
    assert (result.exit_code, result.stderr) == (
        2,
        "obisgate: error: --budget is an option of --probe\n",
    )
    result = await invoke("probe", "tcp://127.0.0.1:1", "--timeout", "1")
    assert result.exit_code == 6  # cannot connect: no try can run
    assert result.stderr.startswith("obisgate: error: cannot connect to tcp://127.0.0.1:1")


async def test_a_mode_e_meter_is_read_in_mode_c_and_the_note_names_mode_e() -> None:
    async with await serve_tcp(get_profile("zmd")) as sim:
        result = await invoke("probe", sim.url, "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert "(mode C at" in result.stdout.splitlines()[1]
    assert "note: the meter also speaks mode E (DLMS/COSEM" in result.stdout


def test_probe_refuses_mode_e_and_hdlc() -> None:
    for mode in ("E", "hdlc"):
        result = CliRunner().invoke(main, ["probe", "tcp://127.0.0.1:9", "--mode", mode])
        assert result.exit_code == 2, result.output
        assert "obisgate read URL --mode E (or HDLC)" in result.stderr
