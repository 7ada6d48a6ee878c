"""``obisgate read --mode E`` and ``--mode HDLC`` against the simulator: formats, options, exits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from obisgate.cli import main
from obisgate.simulator import Faults, get_profile, serve_tcp

pytestmark = pytest.mark.integration


async def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def test_read_mode_e_json_has_the_shape_of_a_d0_readout() -> None:
    profile = get_profile("zmd")
    async with await serve_tcp(profile) as sim:
        result = await invoke("read", sim.url, "--mode", "E", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"identification", "mode", "baud", "bcc", "datasets"}
    assert (data["mode"], data["baud"]) == ("E", 9600)
    energy = next(d for d in data["datasets"] if d["address"] == "1-0:1.8.0*255")
    assert energy["values"] == [{"raw": "48123456", "value": "48123456", "unit": "Wh"}]
    volts = next(d for d in data["datasets"] if d["address"] == "1-0:32.7.0*255")
    assert volts["values"] == [{"raw": "2301 scaler -1", "value": "230.1", "unit": "V"}]


@pytest.mark.parametrize("fmt", ["table", "csv", "raw"])
async def test_read_hdlc_other_formats(fmt: str) -> None:
    profile = get_profile("am550")
    async with await serve_tcp(profile) as sim:
        result = await invoke(
            "read", sim.url, "--mode", "HDLC", "--objects", "1.8.0,32.7.0", "--format", fmt
        )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    if fmt == "csv":
        assert lines == [
            "address,value_index,value,unit,raw",
            "1-0:1.8.0*255,1,4512345,Wh,4512345",
            "1-0:32.7.0*255,1,231.2,V,2312 scaler -1",
        ]
    elif fmt == "raw":
        assert lines[0].startswith("> 7E A0 ")
        assert lines[0].endswith("(SNRM 21 bytes)")
        assert lines[1].endswith("(UA 21 bytes)")
        assert any(line.endswith("AARQ)") for line in lines)
        assert lines[-1].endswith("(UA)")
    else:
        assert lines[0] == "meter     (direct HDLC: no identification)"
        assert lines[1].startswith("mode      HDLC at 9600 Bd")
        assert "1-0:32.7.0*255" in result.stdout


async def test_lls_password_from_env_and_file_never_in_the_trace(tmp_path: Path) -> None:
    profile = get_profile("zmd")
    trace = tmp_path / "trace.txt"
    secret = tmp_path / "pw"
    secret.write_text("00000000\n")
    secret.chmod(0o600)
    async with await serve_tcp(profile) as sim:
        ok = await invoke(
            "read",
            sim.url,
            "--mode",
            "E",
            "--dlms-client",
            "1",
            "--password-env",
            "PW",
            "--objects",
            "1.8.0",
            "--trace",
            str(trace),
            env={"PW": "00000000"},
        )
        from_file = await invoke(
            "read",
            sim.url,
            "--mode",
            "E",
            "--dlms-client",
            "1",
            "--password-file",
            str(secret),
            "--objects",
            "1.8.0",
            "--format",
            "raw",
        )
        wrong = await invoke(
            "read",
            sim.url,
            "--mode",
            "E",
            "--dlms-client",
            "1",
            "--password-env",
            "PW",
            env={"PW": "11111111"},
        )
    assert ok.exit_code == 0, ok.output
    text = trace.read_text()
    assert "HDLC > SNRM" in text
    assert "00000000" not in text
    assert "30 30 30 30 30 30 30 30" not in text
    assert from_file.exit_code == 0, from_file.output
    assert "30 30 30 30 30 30 30 30" not in from_file.stdout
    assert "2A 2A 2A 2A 2A 2A 2A 2A" in from_file.stdout
    assert wrong.exit_code == 7
    assert wrong.stderr.strip().endswith(
        "error: the meter rejected the association: authentication failure (wrong password)"
    )
    assert "11111111" not in wrong.output


async def test_meter_that_ignores_mode_e_exits_with_one_line() -> None:
    profile = get_profile("zmd")
    async with await serve_tcp(profile, faults=Faults(ignore_mode_e=True)) as sim:
        result = await invoke("read", sim.url, "--mode", "E")
    assert result.exit_code == 5
    assert "ignored the mode E request" in result.stderr
    assert result.stderr.count("obisgate: error:") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objects", "1.8.X"], "OBIS code"),
        (["--objects", ","], "no objects"),
        (["--password-env", "UNSET_VARIABLE_X"], "not set"),
        (["--dlms-client", "200"], "200"),
    ],
)
async def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = await invoke("read", "tcp://127.0.0.1:9", "--mode", "E", *args)
    assert result.exit_code == 2
    assert message in result.stderr


async def test_profile_mode_e_csv() -> None:
    profile = get_profile("zmd")
    async with await serve_tcp(profile) as sim:
        result = await invoke(
            "profile",
            sim.url,
            "--mode",
            "E",
            "--from",
            "2024-03-15T00:00",
            "--to",
            "2024-03-15T00:30",
            "--format",
            "csv",
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "timestamp,status,1-0:1.5.0*255 [W],1-0:2.5.0*255 [W]",
        "2024-03-15T00:00:00,,0.00,300.00",
        "2024-03-15T00:15:00,,700.00,1000.00",
        "2024-03-15T00:30:00,,1400.00,1700.00",
    ]


async def test_init_mode_e_writes_a_configuration_the_gateway_loads(tmp_path: Path) -> None:
    from obisgate.gateway.config import load_config  # noqa: PLC0415

    profile = get_profile("zmd")
    out = tmp_path / "site.toml"
    async with await serve_tcp(profile) as sim:
        result = await invoke(
            "init",
            sim.url,
            "--mode",
            "E",
            "--dlms-client",
            "1",
            "--password-env",
            "PW",
            "--objects",
            "1.8.0,32.7.0,9.9.9",
            "-o",
            str(out),
            env={"PW": "00000000"},
        )
    assert result.exit_code == 0, result.output
    assert "1 device, 2 signals" in result.stdout
    config = load_config(out)
    (device,) = config.devices
    assert (device.type, device.dlms_client, device.password_env) == ("E", 1, "PW")
    tags = sorted(s.tag_job_todo or "" for s in config.signals)
    assert tags == ["1-0:1.8.0*255", "1-0:32.7.0*255"]
    assert "00000000" not in out.read_text()


@pytest.mark.pty
async def test_read_mode_e_over_a_pty_through_the_cli() -> None:
    from obisgate.simulator import serve_pty  # noqa: PLC0415

    profile = get_profile("zmd")
    async with await serve_pty(profile) as sim:
        result = await invoke(
            "read", sim.path, "--mode", "E", "--objects", "1.8.0,14.7.0", "--format", "csv"
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "1-0:1.8.0*255,1,48123456,Wh,48123456",
        "1-0:14.7.0*255,1,50.01,Hz,5001 scaler -2",
    ]
