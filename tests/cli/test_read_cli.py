"""``obisgate read`` and ``obisgate init`` against the simulator: formats and error exits."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from obisgate.cli import main
from obisgate.gateway.config import load_config
from obisgate.simulator import Faults, get_profile, serve_tcp

pytestmark = pytest.mark.integration


async def invoke(*args: str) -> Result:
    """Run the CLI in a worker thread (it runs its own event loop) while the simulator serves."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def test_read_json_is_exactly_one_object() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as sim:
        result = await invoke("read", sim.url, "--address", profile.address, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"identification", "mode", "baud", "bcc", "datasets"}
    assert data["identification"] == {
        "manufacturer": "ISk",
        "baud_char": "5",
        "enhanced": "",
        "identification": profile.identification,
    }
    assert (data["mode"], data["baud"], data["bcc"]) == ("C", 9600, "valid")
    expected = [
        {
            "address": ds.address,
            "values": [{"raw": v.raw, "value": v.value, "unit": v.unit} for v in ds.values],
        }
        for ds in profile.datasets
    ]
    assert data["datasets"] == expected


@pytest.mark.parametrize("fmt", ["table", "csv", "raw"])
async def test_read_other_formats(fmt: str) -> None:
    profile = get_profile("e350")
    async with await serve_tcp(profile) as sim:
        result = await invoke("read", sim.url, "--address", profile.address, "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        assert result.stdout.splitlines()[0] == "address,value_index,value,unit,raw"
        assert "1.8.0,1,001234.120,kWh,001234.120*kWh" in result.stdout.splitlines()
    elif fmt == "raw":
        assert result.stdout.splitlines()[0] == "/LGZ4ZMF100AC.M23"
        assert "1.8.0(001234.120*kWh)" in result.stdout.splitlines()
        # the meter's bytes as received: the data message keeps STX, ETX and its BCC
        raw = result.stdout_bytes
        assert raw.index(b"\x02") < raw.index(b"1.8.0(") < raw.index(b"!\r\n\x03")
        assert len(raw) == raw.index(b"!\r\n\x03") + 5
    else:
        assert "mode      C at 4800 Bd, BCC valid" in result.stdout
        assert any(
            line.split() == ["1.8.0", "001234.120", "kWh"] for line in result.stdout.splitlines()
        )


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        ("silence", 3, "obisgate: error: timeout: no answer from the meter (identification)"),
        ("bad-bcc", 4, "obisgate: error: BCC checksum error"),
        ("drop", 6, "obisgate: error: connection to"),
    ],
)
async def test_read_errors_exit_non_zero_with_one_line(fault: str, code: int, message: str) -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile, faults=Faults.from_names([fault])) as sim:
        result = await invoke("read", sim.url, "--address", profile.address, "--timeout", "1")
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(message)
    assert "Traceback" not in result.output


async def test_read_connection_refused_and_bad_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = await invoke("read", f"tcp://127.0.0.1:{port}")
    assert refused.exit_code == 6
    assert refused.stderr.startswith("obisgate: error: cannot connect to")
    bad = await invoke("read", "ftp://x:1")
    assert bad.exit_code == 2
    assert bad.stderr.splitlines() == [
        "obisgate: error: unknown URL scheme 'ftp' in 'ftp://x:1': expected a serial device "
        "path (/dev/ttyUSB0, COM3), tcp://HOST:PORT or rfc2217://HOST:PORT"
    ]


async def test_read_trace_file(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    trace = tmp_path / "trace.txt"
    async with await serve_tcp(profile) as sim:
        result = await invoke("read", sim.url, "--address", profile.address, "--trace", str(trace))
    assert result.exit_code == 0
    text = trace.read_text()
    assert " > " in text
    assert " < " in text
    assert "|/ISk5MT174" in text


async def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    out = tmp_path / "meter.toml"
    async with await serve_tcp(profile) as sim:
        result = await invoke("init", sim.url, "--address", profile.address, "-o", str(out))
    assert result.exit_code == 0, result.output
    config = load_config(out)
    (device,) = config.devices
    assert device.serialnumber == profile.address
    assert device.url_or_port == sim.url
    tags = [s.tag_job_todo for s in config.signals]
    assert tags == [ds.address for ds in profile.datasets if ds.address]
    types = {s.tag_job_todo: s.number_type.value for s in config.signals}
    assert types["1.8.0*24"] == "FLOAT"
    again = await invoke("init", sim.url, "-o", str(out))
    assert again.exit_code == 2
    assert "exists" in again.stderr


async def test_unwritable_trace_file_is_one_line(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as sim:
        result = await invoke("read", sim.url, "--trace", str(tmp_path / "no" / "dir" / "t.txt"))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"obisgate: error: cannot write the trace file {tmp_path}/no/dir/t.txt: "
        "No such file or directory"
    ]


async def test_a_sum7_meter_read_with_xor_is_told_to_try_sum7() -> None:
    """The checksum error says ``--bcc sum7`` when the 7-bit sum matches what it sent."""
    profile = get_profile("ce301")  # BCC as 7-bit sum
    async with await serve_tcp(profile) as sim:
        result = await invoke("read", sim.url, "--address", profile.address, "--timeout", "2")
        assert result.exit_code == 4, result.output
        (line,) = result.stderr.splitlines()[-1:]
        assert line.startswith("obisgate: error: BCC checksum error")
        assert line.endswith(
            '; this meter may use --bcc sum7 (bcc_method = "sum7" in the configuration): '
            "its checksum matches the 7-bit sum"
        )
        fixed = await invoke("read", sim.url, "--address", profile.address, "--bcc", "sum7")
    assert fixed.exit_code == 0, fixed.output


async def test_a_corrupt_checksum_gets_no_hint() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile, faults=Faults.from_names(["bad-bcc"])) as sim:
        result = await invoke("read", sim.url, "--address", profile.address, "--timeout", "1")
    assert result.exit_code == 4
    assert "--bcc" not in result.stderr


async def test_a_wrong_address_is_named_as_the_likely_cause() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as sim:
        wrong = await invoke("read", sim.url, "--address", "99999999", "--timeout", "1")
        assert wrong.exit_code == 3
        assert wrong.stderr.splitlines() == [
            "obisgate: error: timeout: no answer from the meter (identification) within 1 s "
            "(an addressed request (/?99999999!) is answered only by the meter with that "
            "address; without an address (/?!) any single meter answers)"
        ]
        right = await invoke("read", sim.url, "--address", profile.address, "--timeout", "1")
    assert right.exit_code == 0, right.output
