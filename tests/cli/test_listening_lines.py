"""Where the servers listen reaches stderr through logging: the same bare lines as ever in
the text log format, one JSON record each with ``--log-format json`` (never raw text
among the JSON records)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import pytest
from tests.scada.running import meter
from tests.scada.running import signal as signal_row
from tests.services import free_port, require_module

pytestmark = pytest.mark.integration

#: Each server's line, as people and scripts read it.
LINES = {
    "web": re.compile(r"web view on http://127\.0\.0\.1:(\d+)/"),
    "modbus": re.compile(r"modbus listening on 127\.0\.0\.1:(\d+)"),
}


def config(tmp_path: Path) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(
        '[http]\nlisten = "127.0.0.1:0"\n[modbus]\nlisten = "127.0.0.1:0"\n'
        '[output]\nformat = "none"\n'
        # Nobody listens there: the device fails at once, quietly at the default level.
        + meter("m", free_port(), "1")
        + signal_row("m", "volts", "32.7.0", "FLOAT", modbus_address=0),
        encoding="utf-8",
    )
    return path


async def run_until_listening(path: Path, *options: str) -> tuple[list[str], list[str]]:
    """``obisgate run PATH OPTIONS`` until both servers said where they listen, then SIGTERM.

    Returns the stderr lines up to the second announcement, and the rest.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "obisgate", "run", str(path), *options,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while sum(bool(p.search(line)) for line in lines for p in LINES.values()) < 2:
                line = await process.stderr.readline()
                assert line, f"obisgate run ended: {lines}"
                lines.append(line.decode().rstrip("\n"))
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest = (await process.stderr.read()).decode().splitlines()
            code = await process.wait()
    assert code == 0, lines + rest
    return lines, rest


@pytest.fixture(autouse=True)
def _extras() -> None:
    require_module("aiohttp", "the web extra")


async def test_text_format_prints_the_bare_lines(tmp_path: Path) -> None:
    lines, _rest = await run_until_listening(config(tmp_path))
    for name, pattern in LINES.items():
        assert [line for line in lines if pattern.fullmatch(line)], (name, lines)
    assert all(not line.startswith("{") for line in lines)


async def test_json_format_makes_each_line_a_record(tmp_path: Path) -> None:
    lines, rest = await run_until_listening(config(tmp_path), "--log-format", "json")
    records = [json.loads(line) for line in lines + rest]  # every line is JSON
    announced = {
        name: record
        for record in records
        for name, pattern in LINES.items()
        if pattern.fullmatch(record["message"])
    }
    assert set(announced) == set(LINES)
    for record in announced.values():
        assert (record["level"], record["logger"], record["shard"]) == (
            "info",
            "obisgate.listening",
            None,
        )
        assert {"time", "pid"} <= set(record)
