"""``obisgate run`` with [modbus] and [iec104]: both servers announce their port on stderr,
and a Modbus master reads what ``--format jsonl`` prints."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import struct
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from obisgate.simulator import get_profile, serve_tcp
from tests.scada.running import meter
from tests.scada.running import signal as signal_row

pytestmark = [pytest.mark.integration]

LISTENING = re.compile(rb"(modbus|iec104) listening on 127\.0\.0\.1:(\d+)")


async def test_run_announces_both_servers_and_serves_the_printed_values(tmp_path: Path) -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile) as sim:
        config = tmp_path / "gw.toml"
        config.write_text(
            '[modbus]\nlisten = "127.0.0.1:0"\n[iec104]\nlisten = "127.0.0.1:0"\n'
            + meter("m", sim.port, profile.address)
            + signal_row("m", "volts", "32.7.0", "FLOAT", modbus_address=0, ioa=1)
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "obisgate", "run", str(config), "--format", "jsonl",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        try:
            ports: dict[bytes, int] = {}
            while len(ports) < 2:
                line = await asyncio.wait_for(proc.stderr.readline(), 20)
                assert line, "obisgate run ended"
                if match := LISTENING.search(line):
                    ports[match.group(1)] = int(match.group(2))
            printed = None
            while printed is None:
                record = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
                if record["signal"] == "volts":
                    printed = record["value"]
            client = AsyncModbusTcpClient("127.0.0.1", port=ports[b"modbus"])
            await client.connect()
            async with asyncio.timeout(20):
                while True:  # the Modbus output may take its batch just after the printer
                    answer = await client.read_holding_registers(0, count=2, device_id=1)
                    if answer.registers != [0x7FC0, 0]:  # NaN: not read yet
                        break
            client.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    got = struct.unpack(">f", struct.pack(">HH", *answer.registers))[0]
    assert got == struct.unpack(">f", struct.pack(">f", printed))[0]
    assert ports[b"iec104"] > 0
